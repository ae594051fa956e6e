"""The tree baseline's feature set, chosen by grouped cross-validation on DS1; DS2 scored once.

Run: .venv/bin/python benchmarks/bench_trees.py [--folds 5] [--cap 300]   (about 5 minutes)

``ecgkit.evaluation.baselines.gradient_boosted_trees`` can read four feature sets
(``TREE_FEATURE_SETS``). Which one it uses by default is chosen here on the training patients alone:
the DS1 patients of the strict AAMI protocol (train and validation sides, 201 out) are split into
``--folds`` groups of whole patients (``GroupKFold``); each set is fitted on the other folds and
scored (macro-F1 over N/S/V/F, cap weights) on the held-out patients; the mean over folds decides.
The choice is made with offline context (the whole record). Then the chosen set, and only it,
is fitted on every DS1 patient and scored once on DS2, in both context modes (offline: the
whole record; causal: only the past).

Beats: at most ``--cap`` per record and class (the cpu profile's cap), weighted N/n so that every
figure estimates the value on all beats; DS2 at most 100 per record and class, weighted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def macro_f1(y, prob, w) -> float:
    from ecgkit.contract import CLASS_SET
    from ecgkit.evaluation.scoring import evaluate_predictions

    return evaluate_predictions(y, prob, n_boot=0, weights=w,
                                class_set=CLASS_SET).macro["f1"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cap", type=int, default=300)
    args = ap.parse_args(argv)

    from sklearn.model_selection import GroupKFold

    from ecgkit.data.datasets import load_beats
    from ecgkit.evaluation.baselines import (
        TREE_FEATURE_SETS,
        comparison_table,
        gradient_boosted_trees,
    )

    t0 = time.perf_counter()
    beats = load_beats(split="inter-patient-strict", max_beats_per_record=args.cap,
                       progress=False)
    ds1 = beats.take(beats.meta["split"].isin(["train", "val"]).to_numpy())
    test = load_beats(split="inter-patient-strict", max_beats_per_record=100,
                      progress=False).subset("test")
    print(f"loaded in {time.perf_counter() - t0:.0f} s: DS1 {len(ds1)} beats of "
          f"{ds1.meta['patient'].nunique()} patients; DS2 {len(test)} beats (weighted "
          f"{test.meta['weight'].sum():,.0f})")
    groups = ds1.meta["patient"].to_numpy()
    folds = list(GroupKFold(args.folds).split(ds1.windows, ds1.labels, groups))
    rows = []
    for mode in ("offline",):  # the set is chosen once, with offline context
        for features in TREE_FEATURE_SETS:
            t0 = time.perf_counter()
            scores = []
            for fit, held in folds:
                prob = gradient_boosted_trees(ds1.take(fit), ds1.take(held), features=features,
                                              mode=mode)
                scores.append(macro_f1(ds1.labels[held], prob,
                                       ds1.meta["weight"].to_numpy()[held]))
            rows.append((mode, features, float(np.mean(scores)), float(np.std(scores)),
                         time.perf_counter() - t0))
            print(f"CV {mode:8s} {features:9s} macro-F1 {np.mean(scores):.3f} "
                  f"(sd {np.std(scores):.3f} over {args.folds} folds of patients) "
                  f"{rows[-1][-1]:.0f} s", flush=True)
    print()
    print("| mode | feature set | DS1 grouped CV macro-F1 (mean, sd) | time |")
    print("|---|---|---:|---:|")
    for mode, features, m, sd, s in rows:
        print(f"| {mode} | {features} | {m:.3f} ({sd:.3f}) | {s:.0f} s |")
    print()
    best = max(rows, key=lambda r: r[2])
    for mode in ("offline", "causal"):
        t0 = time.perf_counter()
        prob = gradient_boosted_trees(ds1, test, features=best[1], mode=mode)
        fit_s = time.perf_counter() - t0
        table = comparison_table({f"trees ({best[1]}, {mode})": prob}, test)
        print(f"DS2, scored once, {mode} context, chosen set {best[1]!r} (fit {fit_s:.0f} s):")
        print(table.round(3).to_string())
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
