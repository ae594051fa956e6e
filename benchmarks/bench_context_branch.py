"""The context branch's regularisation, chosen by grouped cross-validation on DS1 alone.

Run: .venv/bin/python benchmarks/bench_context_branch.py [--folds 5] [--seeds 0,1,2] [--cap 300]
(about 6 minutes on 2 cores)

The context branch of the network (:mod:`ecgkit.context_branch`: standardisation, two dense
layers of 64, its own logits) is fitted alone exactly as training fits it first
(:func:`~ecgkit.context_branch.warm_up`: 2,000 balanced batches of 32, focal loss, AdamW), once
without (training's setting) and once with training noise and dropout
(``context_branch(noise=0.3, dropout=0.3)``). The DS1 patients of the strict AAMI
protocol (201 out) are split into ``--folds`` groups of whole patients (``GroupKFold``, the
folds of ``bench_trees.py``); each variant is fitted on the other folds and scored on the
held-out patients (macro-F1 over N/S/V/F, S Se and +P, cap weights), for every seed. The tree
baseline on the same context is scored on the same folds, beside them. DS2 is not read.

Beats: at most ``--cap`` per record and class, weighted N/n (as ``bench_trees.py``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

VARIANTS = {"no noise, no dropout": (0.0, 0.0), "noise 0.3, dropout 0.3": (0.3, 0.3)}


def scores(y, prob, w) -> tuple[float, float, float]:
    from ecgkit.contract import CLASS_SET
    from ecgkit.scoring import evaluate_predictions

    r = evaluate_predictions(y, prob, n_boot=0, weights=w, class_set=CLASS_SET)
    return (r.macro["f1"], r.per_class.loc["S", "sensitivity"], r.per_class.loc["S", "ppv"])


def branch_alone(x_fit, y_fit, x_held, *, noise: float, dropout: float, seed: int,
                 steps: int) -> np.ndarray:
    """The context branch fitted alone on (x_fit, y_fit) as training's warm-up fits it; its
    probabilities on x_held."""
    import keras

    from ecgkit.context_branch import CONTEXT_INPUT, adapt_context, context_branch, warm_up
    from ecgkit.contract import CLASSES

    keras.utils.set_random_seed(seed)
    inp = keras.Input((x_fit.shape[1],), name=CONTEXT_INPUT)
    model = keras.Model(inp, context_branch(inp, len(CLASSES), noise=noise, dropout=dropout))
    adapt_context(model, x_fit)
    warm_up(model, x_fit, y_fit, steps=steps, seed=seed)
    z = np.asarray(model.predict(x_held, batch_size=4096, verbose=0), np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cap", type=int, default=300)
    ap.add_argument("--steps", type=int, default=None, help="warm-up batches (default: training's)")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]

    from sklearn.model_selection import GroupKFold

    from ecgkit.baselines import gradient_boosted_trees
    from ecgkit.context_branch import WARMUP_STEPS
    from ecgkit.datasets import load_beats

    steps = args.steps or WARMUP_STEPS
    t0 = time.perf_counter()
    beats = load_beats(split="inter-patient-strict", max_beats_per_record=args.cap,
                       progress=False)
    ds1 = beats.take(beats.meta["split"].isin(["train", "val"]).to_numpy())
    x = np.asarray(ds1.context_of("offline"), np.float32)
    y = np.asarray(ds1.labels)
    w = ds1.meta["weight"].to_numpy()
    groups = ds1.meta["patient"].to_numpy()
    folds = list(GroupKFold(args.folds).split(x, y, groups))
    print(f"loaded in {time.perf_counter() - t0:.0f} s: DS1 {len(ds1)} beats of "
          f"{ds1.meta['patient'].nunique()} patients, {args.folds} folds of patients", flush=True)

    rows = []
    for name, (noise, dropout) in VARIANTS.items():
        for seed in seeds:
            t0 = time.perf_counter()
            s = [scores(y[h], branch_alone(x[f], y[f], x[h], noise=noise, dropout=dropout,
                                           seed=seed, steps=steps), w[h]) for f, h in folds]
            rows.append((name, seed, *np.nanmean(np.array(s, float), axis=0),
                         time.perf_counter() - t0))
            print(f"{name:24s} seed {seed}: CV macro-F1 {rows[-1][2]:.3f}, S Se {rows[-1][3]:.3f}"
                  f" +P {rows[-1][4]:.3f} ({rows[-1][5]:.0f} s)", flush=True)
    t0 = time.perf_counter()
    s = [scores(y[h], gradient_boosted_trees(ds1.take(f), ds1.take(h)), w[h]) for f, h in folds]
    trees = np.nanmean(np.array(s, float), axis=0)
    trees_s = time.perf_counter() - t0

    print()
    print(f"| context classifier (DS1, {args.folds}-fold CV by patient) | seeds | macro-F1 mean "
          f"(min-max) | S Se | S +P | time per seed |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in VARIANTS:
        r = np.array([row[2:] for row in rows if row[0] == name], float)
        print(f"| branch alone, {name} | {len(r)} | {r[:, 0].mean():.3f} ({r[:, 0].min():.3f}-"
              f"{r[:, 0].max():.3f}) | {r[:, 1].mean():.3f} | {r[:, 2].mean():.3f} | "
              f"{r[:, 3].mean():.0f} s |")
    print(f"| gradient-boosted trees (baseline) | - | {trees[0]:.3f} | {trees[1]:.3f} | "
          f"{trees[2]:.3f} | {trees_s:.0f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
