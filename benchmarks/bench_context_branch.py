"""The context branch's settings, chosen by grouped cross-validation on DS1 alone.

Run: .venv/bin/python benchmarks/bench_context_branch.py [--folds 5] [--seeds 0,1,2] [--cap 300]
[--variants a,b] [--taus 0,0.15,0.3] [--s-offsets 0,0.5] [--min-s-se 0.75]  (about 6 minutes on
2 cores for the default two variants; all 15: about 20)

The context branch of the network (:mod:`ecgkit.model.context_branch`) is fitted alone exactly as
training fits it first (:func:`~ecgkit.model.context_branch.warm_up`: 2,000 balanced batches of 32,
focal loss, AdamW), in each variant of :data:`VARIANTS`: by default one MLP over the 74 values
(standardisation, two dense layers of 64, its logits; the design before) and two experts
(training's design: rhythm and shape through their own MLPs, logits added). The DS1 patients of
the strict AAMI protocol (201 out) are split into ``--folds`` groups of whole patients
(``GroupKFold``, the folds of ``bench_trees.py``); each variant is fitted on the other folds and
scored on the held-out patients (macro-F1 over N/S/V/F, S Se and +P, cap weights), for every
seed. The tree baseline on the same context is scored on the same folds, beside them. DS2 is not
read.

The other variants ask whether the branch's remaining gap to the trees is a matter of its settings:
its inputs (log RR ratios, shape values scaled per record, coarser shape steps), its loss (cross-
entropy instead of focal), its length (1,000 or 4,000 batches), its width (one layer of 32, two of
128), and its design: two experts (``context_branch(experts=True)``: the rhythm values and the shape
values through separate MLPs whose logits add). Every variant is also scored with a prior correction
of its logits, ``+ tau * log(training prior)`` for ``tau`` in ``--taus`` (the branch learns on
balanced batches; the correction moves its decisions toward the patients' real class mix), and
with each S logit offset in ``--s-offsets`` added on top (a threshold on S alone). With
``--min-s-se X`` the script names the operating point the folds choose: the highest macro-F1
among the (tau, S offset) pairs whose S sensitivity, mean of the seeds, is at least X.

Beats: at most ``--cap`` per record and class, weighted N/n (as ``bench_trees.py``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TAUS = (0.0, 0.15, 0.3)
"""Prior corrections scored for every variant by default (0: the branch as trained)."""


def log_rr(x, records):
    """The three RR ratios as logarithms (symmetric around 1, tails shortened)."""
    x = x.copy()
    x[:, :3] = np.log(np.clip(x[:, :3], 0.05, 20.0))
    return x


def per_record_scale(x, records):
    """Shape values divided by their record's median absolute value."""
    x = x.copy()
    for r in np.unique(records):
        m = records == r
        x[m, 3:] /= np.median(np.abs(x[m, 3:])) + 1e-3
    return x


def coarse_shape(x, records):
    """Shape values averaged in pairs (20-ms steps instead of 10)."""
    s = x[:, 3:]
    n = s.shape[1] // 2 * 2
    return np.hstack([x[:, :3], s[:, :n].reshape(len(s), -1, 2).mean(-1)])


VARIANTS = {  # name: (transform of the context vectors, keyword arguments of branch_alone)
    "one MLP": (None, {}),
    "noise 0.3 and dropout 0.3": (None, {"noise": 0.3, "dropout": 0.3}),
    "log RR ratios": (log_rr, {}),
    "shape scaled per record": (per_record_scale, {}),
    "shape in 20-ms steps": (coarse_shape, {}),
    "cross-entropy (gamma 0)": (None, {"focal_gamma": 0.0}),
    "1000 batches": (None, {"steps": 1000}),
    "4000 batches": (None, {"steps": 4000}),
    "one layer of 32": (None, {"units": (32,)}),
    "two layers of 128": (None, {"units": (128, 128)}),
    "two experts: rhythm 32x2": (None, {"experts": True}),
    "two experts: rhythm 16": (None, {"experts": True, "rhythm_units": (16,)}),
    "two experts: rhythm 64x2": (None, {"experts": True, "rhythm_units": (64, 64)}),
    "two experts: 3 copies averaged": (None, {"experts": True, "members": 3}),
    "two experts: 5 copies averaged": (None, {"experts": True, "members": 5}),
}
"""Each changes one thing of the one-MLP design (``experts=False``) but the last five, the
two-expert design; ``two experts: rhythm 32x2`` is training's (:data:`~ecgkit.model.context_branch.
CONTEXT_EXPERTS`)."""


def ds1_folds(cap: int, n_folds: int):
    """The DS1 patients of the strict AAMI protocol (201 out), at most ``cap`` beats per record
    and class (weighted N/n), split into ``n_folds`` groups of whole patients (``GroupKFold``,
    the folds of ``bench_trees.py``): ``(ds1 BeatSet, offline context vectors, labels, cap
    weights, folds)``."""
    from sklearn.model_selection import GroupKFold

    from ecgkit.data.datasets import load_beats

    beats = load_beats(split="inter-patient-strict", max_beats_per_record=cap, progress=False)
    ds1 = beats.take(beats.meta["split"].isin(["train", "val"]).to_numpy())
    x = np.asarray(ds1.context_of("offline"), np.float32)
    y = np.asarray(ds1.labels)
    folds = list(GroupKFold(n_folds).split(x, y, ds1.meta["patient"].to_numpy()))
    return ds1, x, y, ds1.meta["weight"].to_numpy(), folds


def scores(y, prob, w) -> tuple[float, float, float]:
    from ecgkit.contract import CLASS_SET
    from ecgkit.evaluation.scoring import evaluate_predictions

    r = evaluate_predictions(y, prob, n_boot=0, weights=w, class_set=CLASS_SET)
    return (r.macro["f1"], r.per_class.loc["S", "sensitivity"], r.per_class.loc["S", "ppv"])


def branch_alone(x_fit, y_fit, x_held, *, seed: int, steps: int, noise: float = 0.0,
                 dropout: float = 0.0, focal_gamma: float = 2.0, units=None,
                 experts: bool = False, rhythm_units=None, members: int = 1) -> np.ndarray:
    """The context branch fitted alone on (x_fit, y_fit) as training's warm-up fits it; its
    logits on x_held."""
    import keras

    import ecgkit.model.context_branch as cb
    from ecgkit.contract import CLASSES

    keras.utils.set_random_seed(seed)
    inp = keras.Input((x_fit.shape[1],), name=cb.CONTEXT_INPUT)
    trained = cb.CONTEXT_UNITS, cb.RHYTHM_UNITS
    cb.CONTEXT_UNITS = tuple(units or cb.CONTEXT_UNITS)
    cb.RHYTHM_UNITS = tuple(rhythm_units or cb.RHYTHM_UNITS)
    try:
        model = keras.Model(inp, cb.context_branch(inp, len(CLASSES), noise=noise,
                                                   dropout=dropout, experts=experts,
                                                   members=members))
    finally:
        cb.CONTEXT_UNITS, cb.RHYTHM_UNITS = trained
    cb.adapt_context(model, x_fit)
    cb.warm_up(model, x_fit, y_fit, steps=steps, seed=seed, focal_gamma=focal_gamma)
    return np.asarray(model.predict(x_held, batch_size=4096, verbose=0), np.float64)


def corrected(logits, log_prior, tau: float, s_offset: float = 0.0) -> np.ndarray:
    """Softmax of ``logits + tau * log_prior``, with ``s_offset`` added to the S logit."""
    from ecgkit.contract import CLASSES

    z = logits + tau * log_prior
    z[:, CLASSES.index("S")] += s_offset
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cap", type=int, default=300)
    ap.add_argument("--steps", type=int, default=None, help="warm-up batches (default: training's)")
    ap.add_argument("--taus", default=",".join(f"{t:g}" for t in TAUS),
                    help="prior corrections to score, comma-separated")
    ap.add_argument("--s-offsets", default="0",
                    help="S logit offsets to score on top of each tau, comma-separated")
    ap.add_argument("--min-s-se", type=float, default=None,
                    help="name the best (tau, S offset) by macro-F1 among those with this S Se")
    ap.add_argument("--variants", default="one MLP,two experts: rhythm 32x2",
                    help=f"comma-separated, or 'all'; from: {', '.join(VARIANTS)}")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    taus = [float(t) for t in args.taus.split(",")]
    offsets = [float(o) for o in args.s_offsets.split(",")]
    points = [(tau, o) for tau in taus for o in offsets]
    names = list(VARIANTS) if args.variants == "all" else [
        v.strip() for v in args.variants.split(",") if v.strip()]
    if set(names) - set(VARIANTS):
        ap.error(f"unknown variant(s) {sorted(set(names) - set(VARIANTS))}")

    from ecgkit.contract import CLASSES
    from ecgkit.evaluation.baselines import gradient_boosted_trees
    from ecgkit.model.context_branch import WARMUP_STEPS

    steps = args.steps or WARMUP_STEPS
    t0 = time.perf_counter()
    ds1, x, y, w, folds = ds1_folds(args.cap, args.folds)
    records = ds1.meta["record"].to_numpy()
    print(f"loaded in {time.perf_counter() - t0:.0f} s: DS1 {len(ds1)} beats of "
          f"{ds1.meta['patient'].nunique()} patients, {args.folds} folds of patients", flush=True)

    rows = []  # (variant, tau, S offset, seed, macro-F1, S Se, S +P, seconds)
    for name in names:
        transform, kwargs = VARIANTS[name]
        xv = x if transform is None else transform(x, records)
        kwargs = {"steps": steps, **kwargs}
        for seed in seeds:
            t0 = time.perf_counter()
            held = []
            for f, h in folds:
                prior = np.bincount(y[f], weights=w[f], minlength=len(CLASSES)) + 1e-9
                held.append((h, branch_alone(xv[f], y[f], xv[h], seed=seed, **kwargs),
                             np.log(prior / prior.sum())))
            seconds = time.perf_counter() - t0
            for tau, o in points:
                s = [scores(y[h], corrected(z, lp, tau, o), w[h]) for h, z, lp in held]
                rows.append((name, tau, o, seed, *np.nanmean(np.array(s, float), axis=0),
                             seconds))
            r = rows[-len(points)]
            print(f"{name:24s} seed {seed}: CV macro-F1 {r[4]:.3f}, S Se {r[5]:.3f} +P {r[6]:.3f}"
                  f" ({seconds:.0f} s)", flush=True)
    t0 = time.perf_counter()
    s = [scores(y[h], gradient_boosted_trees(ds1.take(f), ds1.take(h)), w[h]) for f, h in folds]
    trees = np.nanmean(np.array(s, float), axis=0)
    trees_s = time.perf_counter() - t0

    print()
    print(f"| context classifier (DS1, {args.folds}-fold CV by patient) | prior correction "
          f"tau | S offset | seeds | macro-F1 mean (min-max) | S Se | S +P | time per seed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    means = {}  # (variant, tau, S offset): (macro-F1, S Se, S +P), means of the seeds
    for name in names:
        for tau, o in points:
            r = np.array([row[4:] for row in rows if row[:3] == (name, tau, o)], float)
            means[name, tau, o] = r[:, :3].mean(axis=0)
            print(f"| branch alone, {name} | {tau:g} | {o:g} | {len(r)} | {r[:, 0].mean():.3f} "
                  f"({r[:, 0].min():.3f}-{r[:, 0].max():.3f}) | {r[:, 1].mean():.3f} | "
                  f"{r[:, 2].mean():.3f} | {r[:, 3].mean():.0f} s |")
    print(f"| gradient-boosted trees (baseline) | - | - | - | {trees[0]:.3f} | {trees[1]:.3f} | "
          f"{trees[2]:.3f} | {trees_s:.0f} s |")
    if args.min_s_se is not None:
        print()
        for name in names:
            ok = {k: m for k, m in means.items() if k[0] == name and m[1] >= args.min_s_se}
            if not ok:
                print(f"{name}: no (tau, S offset) reaches S Se {args.min_s_se:g} on these folds")
                continue
            (_, tau, o), m = max(ok.items(), key=lambda kv: kv[1][0])
            print(f"{name}: chosen at S Se >= {args.min_s_se:g}: tau {tau:g}, S offset {o:g} "
                  f"(macro-F1 {m[0]:.3f}, S Se {m[1]:.3f}, S +P {m[2]:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
