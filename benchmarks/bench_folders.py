"""Image-folder pipeline throughput: images/s of training batches read from your own image
files (decode, pad or tile to the square, augment) beside the WFDB renderer path, in one run.

Run: .venv/bin/python benchmarks/bench_folders.py [--batches 30] [--batch-size 32] [--pages 96]

The folder path is ``ecgkit.data.images.image_files_dataset`` as ``ecgkit.training.image_training``
builds it for ``ecgkit train --images`` (shuffled, endless, worker threads), read through Keras' own
PyDataset adapter as ``fit`` reads it, at 224 px. Its files are synthetic 12-lead pages drawn
here (pink grid, 3 x 4 leads and a rhythm strip) at 1100 x 850 px (an 11 x 8.5 in page at
100 dpi), as PNG and as JPEG (quality 90), in a temporary folder. The WFDB path is the training
stream of ``train.make_datasets`` (images only, as in ``benchmarks/bench_pipeline.py``),
rendered from the beats of six embedded records.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PAGE_W, PAGE_H = 1100, 850
RECORDS = ["100", "106", "118", "119", "200", "208"]


def draw_page(seed: int):
    """A synthetic 12-lead page, uint8 BGR (PAGE_H, PAGE_W, 3)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = np.full((PAGE_H, PAGE_W, 3), (245, 245, 250), np.uint8)
    for x in range(0, PAGE_W, 8):
        cv2.line(img, (x, 0), (x, PAGE_H), (200, 200, 235) if x % 40 else (170, 170, 230), 1)
    for y in range(0, PAGE_H, 8):
        cv2.line(img, (0, y), (PAGE_W, y), (200, 200, 235) if y % 40 else (170, 170, 230), 1)
    for r in range(4):
        for c in range(3 if r < 3 else 1):
            x0, x1 = c * PAGE_W // 3 + 10, ((c + 1) * PAGE_W // 3 if r < 3 else PAGE_W) - 10
            t = np.linspace(0, 2.5 if r < 3 else 10, x1 - x0)
            s = np.exp(-((t * rng.uniform(1, 1.6) % 1 - 0.5) ** 2) / 0.0015) * rng.uniform(30, 70)
            pts = np.stack([x0 + np.arange(t.size), (r + 0.5) * PAGE_H / 4 - s], 1)
            cv2.polylines(img, [pts.astype(np.int32)], False, (0, 0, 0), 2, cv2.LINE_AA)
    return img


def write_pages(folder: Path, n: int, suffix: str) -> list[str]:
    import cv2

    files = []
    for i in range(n):
        f = folder / f"page{i:03d}{suffix}"
        cv2.imwrite(str(f), draw_page(i), [cv2.IMWRITE_JPEG_QUALITY, 90] if suffix == ".jpg"
                    else [])
        files.append(str(f))
    return files


def folder_iterator(files, size: int, batch_size: int, fit: str, strength: float):
    """The training stream of ``image_training.train_images``, read as ``fit`` reads it."""
    from bench_pipeline import read_as_fit

    from ecgkit.data.augment import make_image_augment
    from ecgkit.data.images import image_files_dataset

    labels = [i % 5 for i in range(len(files))]
    ds = image_files_dataset(files, labels, size, batch_size, shuffle=True, repeat=True,
                             fit=fit, num_classes=5,
                             epoch_batches=math.ceil(len(files) / batch_size),
                             image_augment=make_image_augment(strength) if strength else None)
    yield from read_as_fit(ds)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pages", type=int, default=96)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from bench_pipeline import batches_iterator, rate

    from ecgkit.data.datasets import load_beats

    size = 224
    print(f"{os.cpu_count()} cores, Keras backend {keras.backend.backend()}, {size} px, "
          f"batch {args.batch_size}, {args.batches} batches per row")
    print(f"{'path':52} {'images/s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        png = write_pages(Path(tmp), args.pages, ".png")
        jpg = write_pages(Path(tmp), args.pages, ".jpg")
        for label, files, fit, strength in (
                ("folder, PNG 1100x850, pad, augmentation off", png, "pad", 0.0),
                ("folder, PNG 1100x850, pad, augmentation on", png, "pad", 1.0),
                ("folder, JPEG 1100x850, pad, augmentation on", jpg, "pad", 1.0),
                ("folder, PNG 1100x850, tile, augmentation on", png, "tile", 1.0)):
            it = folder_iterator(files, size, args.batch_size, fit, strength)
            print(f"{label:52} {rate(it, args.batches):>9,.0f}", flush=True)
    beats = load_beats(records=RECORDS, progress=False)
    train, val = beats.subset("train"), beats.subset("val")
    for strength in (0.0, 1.0):
        it = batches_iterator(train, val, size, args.batch_size, strength)
        label = f"WFDB renderer (signal_dataset), augmentation {'on' if strength else 'off'}"
        print(f"{label:52} {rate(it, args.batches):>9,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
