"""Learning benchmark: what a CPU training recipe buys on unseen patients, next to the baselines.

Run: .venv/bin/python benchmarks/bench_learning.py [--recipes a,b] [--images 12800]
     (about 5-8 minutes per recipe on 2 CPU cores; the default runs every recipe below)

Each recipe trains a network from random weights on the training patients of the strict AAMI
protocol (DS1 without 201; validation patients carved from them choose the best epoch) with at
most ``CAP`` beats per record and class, for a fixed number of images, then classifies the DS2
test patients. Test beats are a stratified sample (at most ``TEST_CAP`` per record and class)
with inverse-probability weights, so every figure estimates the value on all 49,623 DS2 beats of
classes N, S, V, F (the class set of most literature rows). The three baselines of
``ecgkit.baselines`` are fitted on every training beat (they are cheap) and scored on the same
test beats with the same weights, in the same run. Each recipe also gets a ``+RR`` row: the
network fused with the RR logistic regression (``ecgkit.fusion``), the weight chosen on the
validation patients (at most ``TEST_CAP`` beats per record and class, weighted), as notebook 30
does.

Columns: Se and +P per class, macro-F1 over N/S/V/F, images the network saw, and wall time
(training incl. graph tracing and validation; evaluation; for the baselines, fitting and
predicting all three together). Figures go to stdout and, with
``--out``, to a CSV.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

CAP = 300
TEST_CAP = 100
SPLIT = "inter-patient-strict"
CLASS_SET = ("N", "S", "V", "F")

COMMON = {"SPLIT": SPLIT, "MAX_BEATS_PER_RECORD": CAP, "WEIGHTS": "none", "EPOCHS": 4,
          "WARMUP_EPOCHS": 0.5, "MIXED_PRECISION": "auto", "SEED": 42}
RECIPES: dict[str, dict] = {
    # name: parameter overrides (ecgkit.params names); "model": baseline or enhanced
    "enhanced-64-sampling": {"model": "enhanced", "IMAGE_SIZE": 64, "GRID": False,
                             "BATCH_SIZE": 32, "LEARNING_RATE": 1e-3,
                             "CLASS_BALANCE": "sampling", "AUGMENT_STRENGTH": 1.0},
    "enhanced-64-alpha": {"model": "enhanced", "IMAGE_SIZE": 64, "GRID": False,
                          "BATCH_SIZE": 32, "LEARNING_RATE": 1e-3, "CLASS_BALANCE": "alpha",
                          "AUGMENT_STRENGTH": 1.0},
    "enhanced-48-sampling": {"model": "enhanced", "IMAGE_SIZE": 48, "GRID": False,
                             "BATCH_SIZE": 64, "LEARNING_RATE": 2e-3,
                             "CLASS_BALANCE": "sampling", "AUGMENT_STRENGTH": 0.5},
    "enhanced-96-sampling": {"model": "enhanced", "IMAGE_SIZE": 96, "GRID": False,
                             "BATCH_SIZE": 32, "LEARNING_RATE": 1e-3,
                             "CLASS_BALANCE": "sampling", "AUGMENT_STRENGTH": 1.0},
    "enhanced-64-grid": {"model": "enhanced", "IMAGE_SIZE": 64, "GRID": True,
                         "BATCH_SIZE": 32, "LEARNING_RATE": 1e-3,
                         "CLASS_BALANCE": "sampling", "AUGMENT_STRENGTH": 1.0},
    "baseline-64-sampling": {"model": "baseline", "IMAGE_SIZE": 64, "GRID": False,
                             "BATCH_SIZE": 32, "LEARNING_RATE": 1e-3,
                             "CLASS_BALANCE": "sampling", "AUGMENT_STRENGTH": 1.0},
}


def run_recipe(name: str, recipe: dict, beats, val, test, images: int, run_root: Path) -> dict:
    """Trains one recipe and returns its validation and DS2 probabilities with timings."""
    from ecgkit.evaluate import predict_beats
    from ecgkit.factory import create_baseline_resnet50, create_enhanced_resnet50
    from ecgkit.train import train

    p = {**COMMON, **{k: v for k, v in recipe.items() if k != "model"}}
    steps = max(1, images // (p["BATCH_SIZE"] * p["EPOCHS"]))
    p["STEPS_PER_EPOCH"] = steps
    factory = create_enhanced_resnet50 if recipe["model"] == "enhanced" else \
        create_baseline_resnet50
    size = p["IMAGE_SIZE"]
    t0 = time.perf_counter()
    result = train(p, beats=beats, model=lambda: factory((size, size, 3), 5, weights=None),
                   run_dir=run_root / name, progress=False)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, prob = predict_beats(result.model, test, grid=p["GRID"], batch_size=128)
    eval_s = time.perf_counter() - t0
    _, val_prob = predict_beats(result.model, val, grid=p["GRID"], batch_size=128)
    return {"prob": prob, "val_prob": val_prob, "train_s": train_s, "eval_s": eval_s,
            "images": steps * p["BATCH_SIZE"] * p["EPOCHS"],
            "best_epoch": (result.info.get("best") or {}).get("epoch")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default=",".join(RECIPES),
                    help=f"comma-separated, from: {', '.join(RECIPES)}")
    ap.add_argument("--images", type=int, default=12_800, help="training images per recipe")
    ap.add_argument("--data", default=None, help="WFDB folder (default: data/mitdb)")
    ap.add_argument("--out", default=None, help="also write the table to this CSV")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe(s) {unknown}; known: {list(RECIPES)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import pandas as pd

    from ecgkit.baselines import comparison_table, rr_logistic_regression, run_baselines
    from ecgkit.contract import DS2
    from ecgkit.datasets import load_beats
    from ecgkit.fusion import choose_weight, fuse

    beats = load_beats(args.data, split=SPLIT, max_beats_per_record=CAP, progress=False)
    sample = load_beats(args.data, split=SPLIT, max_beats_per_record=TEST_CAP, progress=False)
    val, test = sample.subset("val"), sample.subset("test")
    # The baselines are cheap: they get every training beat (the network gets at most CAP per
    # record and class), which makes them as strong as they can be here.
    train_all = load_beats(args.data, split=SPLIT, progress=False).subset("train")
    t0 = time.perf_counter()
    results = run_baselines(train_all, test)
    base_s = time.perf_counter() - t0
    val_rr = rr_logistic_regression(train_all, val)
    extra = {n: {"images": 0, "train_s": float("nan"), "eval_s": base_s} for n in results}
    print(f"{len(test)} DS2 test beats (cap {TEST_CAP} per record and class, weighted); "
          f"baselines fitted on all {len(train_all)} training beats in {base_s:.0f} s",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_learning_") as tmp:
        for name in names:
            r = run_recipe(name, RECIPES[name], beats, val, test, args.images, Path(tmp))
            results[name] = r.pop("prob")
            w, _ = choose_weight(r.pop("val_prob"), val_rr, val.labels,
                                 weights=val.meta["weight"].to_numpy(), class_set=CLASS_SET)
            results[f"{name}+RR"] = fuse(results[name], results["rr_logistic_regression"], w)
            extra[name] = r
            extra[f"{name}+RR"] = {**r, "fusion_weight": w}
            print(f"  {name}: {r['images']:,} images, training {r['train_s']:.0f} s, "
                  f"best epoch {r['best_epoch']}, fusion weight {w}", flush=True)
    table = comparison_table(results, test, class_set=CLASS_SET, records=DS2)
    for col in ("images", "train_s", "eval_s", "fusion_weight"):
        table[col] = [extra.get(n, {}).get(col, float("nan")) for n in table.index]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"\nDS2 (strict AAMI, N/S/V/F, weighted), {os.cpu_count()} cores")
        print(table.round(3).to_string())
    if args.out:
        table.to_csv(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
