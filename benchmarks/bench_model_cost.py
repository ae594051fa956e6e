"""Cost of the enhanced ResNet50 against the baseline: parameters, FLOPs, CPU throughput.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_model_cost.py            # 128 and 224, all variants
    .venv/bin/python benchmarks/bench_model_cost.py --quick    # 128 only, baseline + full

For each image size it builds the baseline, the full enhanced model and each enhancement
switched on alone (weights=None: cost does not depend on the weights), then reports:

* parameters (all, including batch-normalization statistics),
* FLOPs per image: ``ecgkit.model.cost.count_flops``, 2 x the multiply-accumulates of the conv and
  dense layers, computed from layer configs and shapes (not a profiler),
* training images/s (``train_on_batch`` with the real optimizer, focal loss and metrics of
  ``ecgkit.get_training_config``) and inference images/s (``predict_on_batch``).

Throughput is measured in interleaved rounds (every model runs a few steps, then the next round
starts), and each model's figure is the median over rounds, so load from other processes hits
all variants alike. XLA is off (``jit_compile=False``) for every model. Ratios are against the
baseline measured in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET_FLOPS_RATIO = 1.25
TARGET_TRAIN_RATIO = 0.8


def variants(quick):
    from ecgkit.model.factory import ENHANCEMENTS

    out = {"baseline": None, "enhanced (all)": dict.fromkeys(ENHANCEMENTS, True)}
    if not quick:
        for key in ENHANCEMENTS:
            switches = dict.fromkeys(ENHANCEMENTS, False)
            switches[key] = True
            out[f"+{key} only"] = switches
    return out


def build(size, switches):
    from ecgkit.model.factory import create_baseline_resnet50, create_enhanced_resnet50
    from ecgkit.training.training_config import get_training_config

    shape = (size, size, 3)
    if switches is None:
        model = create_baseline_resnet50(shape, 5, weights=None)
    else:
        model = create_enhanced_resnet50(shape, 5, weights=None, **switches)
    cfg = get_training_config(model)
    model.compile(optimizer=cfg["optimizer"], loss=cfg["loss"], metrics=cfg["metrics"],
                  jit_compile=False)
    return model


def timed(fn, steps):
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def measure_size(size, quick, batch, rounds, steps, warmup):
    import numpy as np

    from ecgkit.model.cost import count_flops, count_params

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(batch, size, size, 3)).astype("float32")
    y = np.eye(5, dtype="float32")[rng.integers(0, 5, size=batch)]
    models, rows = {}, {}
    for label, switches in variants(quick).items():
        t0 = time.perf_counter()
        model = build(size, switches)
        for _ in range(warmup):  # traces the train and predict functions
            model.train_on_batch(x, y)
            model.predict_on_batch(x)
        models[label] = model
        rows[label] = {"params": count_params(model), "flops": count_flops(model),
                       "train": [], "infer": []}
        print(f"  built and warmed {label} at {size} in {time.perf_counter() - t0:.0f} s",
              flush=True)
    for r in range(rounds):
        for label, model in models.items():
            rows[label]["train"].append(batch / timed(lambda m=model: m.train_on_batch(x, y),
                                                      steps))
            rows[label]["infer"].append(batch / timed(lambda m=model: m.predict_on_batch(x),
                                                      steps))
        print(f"  round {r + 1}/{rounds} done", flush=True)
    for row in rows.values():
        row["train"] = statistics.median(row["train"])
        row["infer"] = statistics.median(row["infer"])
    return rows


def table(size, rows):
    base = rows["baseline"]
    lines = [
        f"| {size}x{size} | params | GFLOPs/img | FLOPs ratio | train img/s | train ratio "
        "| infer img/s | infer ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['params']:,} | {r['flops'] / 1e9:.2f} | "
            f"{r['flops'] / base['flops']:.3f} | {r['train']:.1f} | "
            f"{r['train'] / base['train']:.2f} | {r['infer']:.1f} | "
            f"{r['infer'] / base['infer']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="128x128 only, baseline and full enhanced model, fewer rounds")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=1, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed steps per model (the first one traces)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([128] if args.quick else [128, 224])
    rounds = args.rounds or (2 if args.quick else 3)

    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one trace per model is expected: no retracing warnings
    print(f"Keras {keras.__version__}, TensorFlow {tf.__version__}, backend "
          f"{keras.backend.backend()}, {os.cpu_count()} CPU cores, batch {args.batch}, "
          f"{rounds} rounds x {args.steps} steps", flush=True)
    started = time.perf_counter()
    ok = True
    for size in sizes:
        print(f"size {size}:", flush=True)
        rows = measure_size(size, args.quick, args.batch, rounds, args.steps, args.warmup)
        print(table(size, rows), flush=True)
        full, base = rows["enhanced (all)"], rows["baseline"]
        flops_ratio = full["flops"] / base["flops"]
        train_ratio = full["train"] / base["train"]
        print(f"targets at {size}: FLOPs ratio {flops_ratio:.3f} (<= {TARGET_FLOPS_RATIO}), "
              f"training-throughput ratio {train_ratio:.2f} (>= {TARGET_TRAIN_RATIO})", flush=True)
        ok &= flops_ratio <= TARGET_FLOPS_RATIO and train_ratio >= TARGET_TRAIN_RATIO
        keras.backend.clear_session()
    print(f"total time {time.perf_counter() - started:.0f} s; targets "
          f"{'met' if ok else 'NOT met'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
