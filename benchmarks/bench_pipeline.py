"""Pipeline (a) throughput: images/s delivered by ``signal_dataset`` (augmentation off).

Run: .venv/bin/python benchmarks/bench_pipeline.py [--batches 150] [--batch-size 64]

Renders on the fly from the in-memory windows of the embedded MIT-BIH database (training split),
224x224 with grid, consuming batches as a training loop would, with no model attached.
"""

from __future__ import annotations

import argparse
import os
import time

TARGET = 2000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ecgkit.datasets import load_beats, signal_dataset

    train = load_beats(progress=False).subset("train")
    ds = signal_dataset(train, batch_size=args.batch_size, shuffle=True, repeat=True)
    it = iter(ds)
    for _ in range(10):  # warm-up: graph, thread pools, autotune
        next(it)
    n = 0
    start = time.perf_counter()
    for _ in range(args.batches):
        x, _ = next(it)
        n += int(x.shape[0])
    rate = n / (time.perf_counter() - start)
    print(f"signal_dataset, 224x224 with grid, batch {args.batch_size}, {os.cpu_count()} cores")
    print(f"{'metric':32} {'target':>10} {'measured':>10}  ok")
    print(f"{'images/s (augmentation off)':32} {'>= ' + format(TARGET, ','):>10} "
          f"{rate:>10,.0f}  {'yes' if rate >= TARGET else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
