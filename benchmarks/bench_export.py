"""Full-database export: wall time of ``build_dataset`` on all 48 MIT-BIH records.

Run: .venv/bin/python benchmarks/bench_export.py [--workers 2] [--out /tmp/ecgkit-full-export]

Equivalent command: ecgkit build-dataset data/mitdb OUT --split none --workers 2
(``--split none`` so that all 48 records are exported; the inter-patient split leaves out 201
and would export 47.) The output folder is deleted first, so nothing is resumed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    from ecgkit.contract import EMBEDDED_DATA_DIR
    from ecgkit.data.export import build_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(EMBEDDED_DATA_DIR),
                    help="WFDB folder with all 48 records (default: data/mitdb)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "ecgkit-full-export"))
    ap.add_argument("--keep", action="store_true", help="keep the exported images")
    ap.add_argument("--fallback-lead", default="V5", help="lead for 102 and 104 (no MLII)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    m = build_dataset(args.source, out, split="none", workers=args.workers, progress=False,
                      fallback_leads=(args.fallback_lead,))
    wall = time.perf_counter() - start
    size_mb = sum(f.stat().st_size for f in out.rglob("*.png")) / 1e6
    print(f"full export: {m.record.nunique()} records, {len(m):,} images 224x224 with grid, "
          f"{args.workers} workers on {os.cpu_count()} cores, {size_mb:,.0f} MB of PNG")
    print(f"{'metric':28} {'measured':>12}")
    print(f"{'wall time (s)':28} {wall:>12,.1f}")
    print(f"{'images/s':28} {len(m) / wall:>12,.0f}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
