"""Does notebook 40's strip network learn with more batches or larger strips? Validation only.

Run: .venv/bin/python benchmarks/bench_strip_budget.py [--configs "32 107 pad 2 12,..."]

Notebook 40 trains the enhanced ResNet50 (no ImageNet weights) on 10-s MIT-BIH rhythm strips
(NSR, AF, OTHER; ``ecgkit build-dataset --task rhythm``, 30 strips per record and class) and, at
the cpu profile's budget, scores at the majority class's level on the test patients. This
benchmark trains the same folder split (same seed, the test patients held out and never read)
with other budgets and strip sizes and prints the validation macro-F1 after each epoch, beside
the RR-irregularity logistic regression on the same validation strips: the yardstick the
network must approach before a larger budget is worth its minutes in ``make run``.

Each config is ``HEIGHT SIZE FIT EPOCHS STEPS [LR]``: strips drawn HEIGHT px high (10/3 as wide),
the model's input side SIZE, the image fit (``pad`` or ``tile``), EPOCHS x STEPS batches of 32,
the peak learning rate (default 0.001, the cpu profile's). The other settings are the cpu
profile's. The strip folders and runs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

DEFAULT_CONFIGS = "32 107 pad 2 12,32 107 pad 4 30,96 96 tile 4 30,32 107 pad 4 30 0.0003"
VAL_FRACTION, TEST_FRACTION, SEED = 0.2, 0.25, 42


def strip_folder(root: Path, height: int) -> Path:
    """The rhythm-strip folder of notebook 40 at ``height`` px (built once per height)."""
    from ecgkit import contract
    from ecgkit.data import rhythm

    folder = root / f"strips{height}"
    if not (folder / "labels.csv").exists():
        rhythm.build_rhythm_dataset(contract.EMBEDDED_DATA_DIR, folder, max_strips_per_record=30,
                                    image_size=height, grid=False, progress=False)
    return folder


@functools.cache
def rr_baseline_f1(folder: Path) -> float:
    """The RR-irregularity logistic regression's macro-F1 on the validation strips (once per
    folder: it does not depend on the network's settings)."""
    import pandas as pd

    from ecgkit import contract
    from ecgkit.data import folders, rhythm
    from ecgkit.evaluation import scoring

    images = folders.read_labelled_images(folder)
    split = folders.split_images(images, VAL_FRACTION, TEST_FRACTION, SEED)
    labels = pd.read_csv(folder / "labels.csv").set_index("file")
    train, val = split.rows("train"), split.rows("val")
    prob = rhythm.rr_irregularity_baseline(
        labels.loc[[images.names[i] for i in train]].reset_index(),
        labels.loc[[images.names[i] for i in val]].reset_index(),
        contract.EMBEDDED_DATA_DIR, classes=images.classes)
    report = scoring.evaluate_predictions(images.labels[val], prob, patients=images.groups[val],
                                          n_boot=0, classes=images.classes)
    return float(report.macro["f1"])


def train_config(root: Path, height: int, size: int, fit: str, epochs: int, steps: int,
                 lr: float) -> list[float]:
    """Validation macro-F1 after each epoch of one training run."""
    from ecgkit.training import image_training

    params = {"IMAGE_SIZE": size, "GRID": False, "VAL_FRACTION": VAL_FRACTION, "WEIGHTS": "none",
              "EPOCHS": epochs, "STEPS_PER_EPOCH": steps, "BATCH_SIZE": 32,
              "LEARNING_RATE": lr, "WARMUP_EPOCHS": 0.5, "FOCAL_GAMMA": 2.0,
              "CLASS_BALANCE": "sampling", "AUGMENT_STRENGTH": 1.0, "MIXED_PRECISION": "auto",
              "SEED": SEED, "RUN_DIR": str(root)}
    result = image_training.train_images(
        strip_folder(root, height), params=params, fit=fit, test_fraction=TEST_FRACTION,
        run_dir=root / f"run-{height}-{size}-{fit}-{epochs}x{steps}-{lr}", progress=False,
        echo=None, restart=True)
    return [float(v) for v in result.history["val_macro_f1"]]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help="comma-separated 'HEIGHT SIZE FIT EPOCHS STEPS [LR]'")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_strips_") as tmp:
        root = Path(tmp)
        for config in args.configs.split(","):
            height, size, fit, epochs, steps, *lr = config.split()
            lr = float(lr[0]) if lr else 0.001
            start = time.perf_counter()
            f1 = train_config(root, int(height), int(size), fit, int(epochs), int(steps), lr)
            seconds = time.perf_counter() - start
            rr = rr_baseline_f1(strip_folder(root, int(height)))
            rows.append((f"{height}-px strips, {size} px {fit}", f"{epochs} x {steps}", lr,
                         " / ".join(f"{v:.3f}" for v in f1), rr, seconds))
            print(f"done: {rows[-1]}", flush=True)
    print("\n| strips, model input | epochs x batches of 32 | peak LR | network: validation "
          "macro-F1 per epoch | RR irregularity, same strips | seconds |")
    print("|---|---|---:|---|---:|---:|")
    for name, budget, lr, f1, rr, seconds in rows:
        print(f"| {name} | {budget} | {lr:g} | {f1} | {rr:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
