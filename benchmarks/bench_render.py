"""Renderer throughput: ecgkit's OpenCV renderer vs a plain matplotlib rendering, one core.

Run: .venv/bin/python benchmarks/bench_render.py [--n 4096] [--n-matplotlib 300]

Both draw the same real beat windows (the embedded MIT-BIH database) at 224x224 with an ECG-paper
grid. matplotlib gets its best plain form: one Agg figure reused, the line's data replaced and
the canvas redrawn per image. Single-threaded (OpenCV threads = 1; BLAS/OpenMP threads = 1).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

TARGET_PER_CORE = 5000
TARGET_SPEEDUP = 50


def real_windows(n: int) -> np.ndarray:
    from ecgkit.data.datasets import load_beats

    beats = load_beats(split="none", progress=False)
    idx = np.random.default_rng(0).choice(len(beats), size=n, replace=n > len(beats))
    return np.ascontiguousarray(beats.windows[idx])


def bench_ecgkit(windows: np.ndarray, batch: int = 256, size: int = 224) -> float:
    import cv2

    from ecgkit.data.render import render_batch

    cv2.setNumThreads(1)
    render_batch(windows[:batch], size, True)  # warm-up (background cache)
    start = time.perf_counter()
    for i in range(0, len(windows), batch):
        render_batch(windows[i:i + batch], size, True)
    return len(windows) / (time.perf_counter() - start)


def bench_matplotlib(windows: np.ndarray, size: int = 224) -> float:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MultipleLocator

    from ecgkit.contract import FS
    from ecgkit.data.render import paper_geometry

    g = paper_geometry(size)
    t = np.arange(windows.shape[1]) / FS
    fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, t[-1])
    ax.set_ylim(g["mv_low"], g["mv_high"])
    ax.xaxis.set_major_locator(MultipleLocator(0.2))   # 5 mm at 25 mm/s
    ax.xaxis.set_minor_locator(MultipleLocator(0.04))  # 1 mm
    ax.yaxis.set_major_locator(MultipleLocator(0.5))   # 5 mm at 10 mm/mV
    ax.yaxis.set_minor_locator(MultipleLocator(0.1))
    ax.grid(which="major", color="#ec9494", linewidth=0.6)
    ax.grid(which="minor", color="#ffd6d6", linewidth=0.3)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    (line,) = ax.plot(t, windows[0] - np.median(windows[0]), color="black", linewidth=0.8)
    start = time.perf_counter()
    for w in windows:
        line.set_ydata(np.clip(w - np.median(w), g["mv_low"], g["mv_high"]))
        fig.canvas.draw()
        img = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    assert img.shape == (size, size, 3)
    plt.close(fig)
    return len(windows) / (time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096, help="windows for ecgkit")
    ap.add_argument("--n-matplotlib", type=int, default=300, help="windows for matplotlib")
    args = ap.parse_args(argv)
    windows = real_windows(args.n)
    ours = max(bench_ecgkit(windows) for _ in range(3))
    theirs = bench_matplotlib(windows[: args.n_matplotlib])
    rows = [("ecgkit (OpenCV) images/s per core", f">= {TARGET_PER_CORE:,}", f"{ours:,.0f}",
             ours >= TARGET_PER_CORE),
            ("matplotlib (Agg) images/s per core", "-", f"{theirs:,.0f}", None),
            ("speed-up vs matplotlib", f">= {TARGET_SPEEDUP}x", f"{ours / theirs:,.0f}x",
             ours / theirs >= TARGET_SPEEDUP)]
    print("224x224 RGB, ECG-paper grid, real MIT-BIH windows, 1 core")
    print(f"{'metric':38} {'target':>10} {'measured':>10}  ok")
    for name, target, value, ok in rows:
        print(f"{name:38} {target:>10} {value:>10}  "
              f"{'' if ok is None else ('yes' if ok else 'NO')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
