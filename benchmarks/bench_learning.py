"""Learning benchmark: what a CPU training recipe buys on unseen patients, next to the baselines,
over several seeds.

Run: .venv/bin/python benchmarks/bench_learning.py [--recipes a,b] [--seeds 42,43,44]
     [--out table.csv] [--save DIR]   (about 9 minutes per recipe and seed on 2 CPU cores)

Each recipe trains a network from random weights with ``ecgkit.training.train.train`` on the
training patients of the strict AAMI protocol (DS1 without 201; the validation patients carved from
DS1 choose the best epoch: ``ecgkit.data.splits``), every training beat available to the balanced
sampler, then classifies the DS2 test patients once. Recipes, the context design and epochs are
chosen on the validation patients (the ``val macro-F1`` column: DS1 only); DS2 is the exam.
Test beats are a stratified sample (at most ``TEST_CAP`` per record and class) with
inverse-probability weights, so every figure estimates the value on all 49,623 DS2 beats of
classes N, S, V, F.

Rows: every seed of every recipe; a ``mean`` and ``min``/``max`` row per recipe; the four
baselines of ``ecgkit.evaluation.baselines`` (fitted on every training beat, scored on the same test
beats with the same weights; the trees once with offline and once with causal context); late fusion
of each image-only recipe with the RR logistic regression (``ecgkit.evaluation.fusion``, weight
chosen on the validation patients); with ``--prior-tau``, each context recipe's runs again with the
prior correction of ``bench_context_branch.py`` (rows ``+prior``: the same models, their decisions
moved toward the training patients' class mix), for runs trained before ``train`` put the correction
in the model (a run whose run.json has ``prior_shift`` already carries it and gets no such row);
with ``--also-at TAU,S_OFFSET``, each run that carries the correction again at that other
operating point (rows ``+tau T, S o``: the same models, their saved shift replaced by ``TAU *
log training prior`` plus ``S_OFFSET`` on the S logit by ``context_branch.prior_shift_vector``,
what ``train`` puts in the layer).
Below the table: for each recipe, the paired patient bootstrap of its seeds pooled (every seed's
predictions of a patient's beats go into a resample together) against the RR-LR, the 1-NN and the
trees.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ecgkit.contract import CLASS_SET

TEST_CAP = 100
SPLIT = "inter-patient-strict"

RECIPE_KEYS = ("SPLIT", "MAX_BEATS_PER_RECORD", "TEST_MAX_BEATS_PER_RECORD", "WEIGHTS", "EPOCHS",
               "STEPS_PER_EPOCH", "BATCH_SIZE", "LEARNING_RATE", "WARMUP_EPOCHS", "FOCAL_GAMMA",
               "CLASS_BALANCE", "AUGMENT_STRENGTH", "IMAGE_SIZE", "GRID", "MIXED_PRECISION",
               "CONTEXT_MODE", "CONTEXT_STEPS", "IMAGE_CHANNELS")


def common() -> dict:
    """The cpu profile's training recipe (``params/cpu.yaml``), which every recipe below changes
    in one or two settings: the benchmark measures what ``make run`` trains."""
    from ecgkit.params import load_profile, resolve

    p = resolve(load_profile("cpu"))
    out = {k: p[k] for k in RECIPE_KEYS}
    assert out["SPLIT"] == SPLIT and out["TEST_MAX_BEATS_PER_RECORD"] == TEST_CAP, out
    return out

# The gpu profile's recipe (params/gpu.yaml: 224 px with the paper grid, one pass over every
# training beat per epoch, batch 64, learning rate 3e-4, one warm-up epoch) from random weights,
# cut to GPU_EPOCHS epochs: benchmarks/gpu_study.py trains it on a lent GPU within 15 minutes of
# device time, where ImageNet weights cannot be downloaded.
GPU_EPOCHS = 5
GPU = {"IMAGE_SIZE": 224, "GRID": True, "STEPS_PER_EPOCH": 0, "BATCH_SIZE": 64,
       "LEARNING_RATE": 0.0003, "WARMUP_EPOCHS": 1.0, "EPOCHS": GPU_EPOCHS, "WEIGHTS": "none"}

RECIPES: dict[str, dict] = {
    # name: parameter overrides (ecgkit.params names); "model": baseline or enhanced
    "enhanced-context-logits": {"model": "enhanced", "CONTEXT": "logits"},
    "enhanced-context-logits-causal": {"model": "enhanced", "CONTEXT": "logits",
                                       "CONTEXT_MODE": "causal"},
    "enhanced-context-head": {"model": "enhanced", "CONTEXT": "head"},
    "enhanced-context-logits-drop": {"model": "enhanced", "CONTEXT": "logits",
                                     "context_drop": 0.3},
    "baseline-context-logits": {"model": "baseline", "CONTEXT": "logits"},
    "enhanced-context-logits-2-epochs": {"model": "enhanced", "CONTEXT": "logits", "EPOCHS": 2},
    "baseline-context-logits-2-epochs": {"model": "baseline", "CONTEXT": "logits", "EPOCHS": 2},
    "enhanced-image-only": {"model": "enhanced", "CONTEXT": "none"},
    # the image-native design: the context drawn into the image's channels
    # (ecgkit.data.context_image)
    "enhanced-image-context": {"model": "enhanced", "CONTEXT": "none", "IMAGE_CHANNELS": "context"},
    "enhanced-context-logits-image-context": {"model": "enhanced", "CONTEXT": "logits",
                                              "IMAGE_CHANNELS": "context"},
    "gpu-enhanced": {"model": "enhanced", "CONTEXT": "logits", **GPU},
    "gpu-baseline": {"model": "baseline", "CONTEXT": "logits", **GPU},
}


def recipe_params(recipe: dict, seed: int) -> dict:
    """The parameters a recipe trains with: the cpu profile's, the recipe's changes, the seed."""
    return {**common(), **{k: v for k, v in recipe.items() if k.isupper()}, "SEED": seed}


def run_info(run_dir: Path) -> dict:
    """A saved run's run.json, or {} when it cannot be read."""
    import json

    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def stale(run_dir: Path, recipe: dict, seed: int) -> list[str]:
    """The parameters on which a saved run (its run.json) differs from what the recipe trains
    now (the cpu profile may have changed since), and ``experts`` or ``members`` when its
    context branch's design differs (``ecgkit.model.context_branch.CONTEXT_EXPERTS``,
    ``CONTEXT_MEMBERS``): such a run is trained again, never mixed in. A run without run.json
    counts as stale."""
    from ecgkit.model.context_branch import CONTEXT_EXPERTS, CONTEXT_MEMBERS
    from ecgkit.params import defaults

    info = run_info(run_dir)
    if "params" not in info:
        return ["run.json"]
    saved = {**defaults(), **info["params"]}  # a parameter added since: its default
    changed = sorted(k for k, v in recipe_params(recipe, seed).items() if saved.get(k) != v)
    branch = info.get("context") or {}
    if recipe.get("CONTEXT") != "none" and branch.get("experts", False) != CONTEXT_EXPERTS:
        changed.append("experts")
    if (recipe.get("CONTEXT") not in ("none", "head")
            and branch.get("members", 1) != CONTEXT_MEMBERS):
        changed.append("members")
    return changed


def run_recipe(name: str, recipe: dict, seed: int, beats, val, test, run_root: Path,
               callbacks=()) -> dict:
    """Trains one recipe with one seed (``callbacks``: extra Keras callbacks for ``fit``);
    returns its validation and DS2 probabilities."""
    import ecgkit.model.context_branch as branch
    from ecgkit.evaluation.evaluate import predict_beats
    from ecgkit.training.train import baseline_model, train

    p = recipe_params(recipe, seed)
    branch.CONTEXT_LOGIT_DROP = recipe.get("context_drop", 0.0)  # a switch, not a parameter
    t0 = time.perf_counter()
    model = (lambda: baseline_model(p)) if recipe["model"] == "baseline" else None
    result = train(p, beats=beats, model=model, run_dir=run_root / f"{name}-{seed}",
                   progress=False, callbacks=callbacks)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, prob = predict_beats(result.model, test, batch_size=128)
    eval_s = time.perf_counter() - t0
    _, val_prob = predict_beats(result.model, val, batch_size=128)
    best = result.info.get("best") or {}
    return {"prob": prob, "val_prob": val_prob, "train_s": train_s, "eval_s": eval_s,
            "images": result.info["steps_per_epoch"] * p["BATCH_SIZE"] * p["EPOCHS"],
            "best_epoch": best.get("epoch"), "val_macro_f1": best.get("best")}


def study_beats(data=None):
    """``(beats, val, test)``: every beat of ``data`` (default the embedded database) in the
    strict split (training takes its validation patients' cap from the parameters), and the
    weighted samples (``TEST_CAP`` per record and class) of the validation and test patients
    that every run and baseline is scored on."""
    from ecgkit.data.datasets import load_beats

    beats = load_beats(data, split=SPLIT, progress=False)
    sample = load_beats(data, split=SPLIT, max_beats_per_record=TEST_CAP, progress=False)
    return beats, sample.subset("val"), sample.subset("test")


def save_run(path: Path, r: dict) -> None:
    """Writes ``run_recipe``'s result to ``path`` (.npz; None as NaN), as ``--save`` keeps it."""
    import numpy as np

    np.savez(path, **{k: np.asarray(v, dtype=float if v is None else None) for k, v in r.items()})


def has_prior(run_dir: Path) -> bool:
    """Whether a run's model already carries the prior correction (trained since ``train``
    sets it: run.json ``prior_shift``); ``--prior-tau`` must not apply it a second time."""
    return bool((run_info(run_dir).get("prior_shift") or {}).get("tau"))


def prior_corrected(prob, log_prior, tau: float):
    """``softmax(log prob + tau * log_prior)``: the network's decisions moved toward the
    training patients' class mix (it learned on balanced batches), as the model's
    ``prior_shift`` layer moves them (``log_prior``: ``context_branch.log_class_frequency``)."""
    import numpy as np

    z = np.log(np.clip(prob, 1e-12, None)) + tau * log_prior
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def saved_shift(run_dir: Path, n_classes: int):
    """The logit shift a run's model carries (run.json ``prior_shift``), classes in
    ``ecgkit.contract.CLASSES`` order."""
    import numpy as np

    from ecgkit.contract import CLASSES

    shift = run_info(run_dir)["prior_shift"]["shift"]
    return np.array([shift[c] for c in CLASSES[:n_classes]], float)


def reshifted(prob, old_shift, new_shift):
    """``softmax(log prob - old_shift + new_shift)``: a model's probabilities with the shift its
    ``prior_shift`` layer added replaced by another (the logits are unchanged)."""
    import numpy as np

    z = np.log(np.clip(prob, 1e-30, None)) - old_shift + new_shift
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def pooled_bootstrap(test, runs: list, other, n_boot: int = 200) -> dict:
    """Paired patient bootstrap of a recipe's seeds pooled against one baseline: each seed's
    predictions are one copy of the test beats, with the same patients and weights."""
    import numpy as np

    from ecgkit.evaluation.scoring import paired_bootstrap

    k = len(runs)
    return paired_bootstrap(np.tile(test.labels, k), np.concatenate(runs),
                            np.tile(other, (k, 1)), np.tile(test.meta["patient"].to_numpy(), k),
                            weights=np.tile(test.meta["weight"].to_numpy(), k),
                            class_set=CLASS_SET, n_boot=n_boot, seed=0)


def pooled_pair(test, runs_a: list, runs_b: list, n_boot: int = 200) -> dict:
    """Paired patient bootstrap of two recipes, their seeds pooled and paired (seed s of A with
    seed s of B on the same copy of the test beats): the ablation's question."""
    import numpy as np

    from ecgkit.evaluation.scoring import paired_bootstrap

    k = len(runs_a)
    return paired_bootstrap(np.tile(test.labels, k), np.concatenate(runs_a),
                            np.concatenate(runs_b), np.tile(test.meta["patient"].to_numpy(), k),
                            weights=np.tile(test.meta["weight"].to_numpy(), k),
                            class_set=CLASS_SET, n_boot=n_boot, seed=0)


def print_ds1(val_results: dict, val, pooled: dict, seeds: list) -> None:
    """The validation patients' table (DS1, weighted sample; what designs are chosen by): every
    run, and each recipe's mean and min-max over its seeds."""
    import pandas as pd

    from ecgkit.evaluation.baselines import comparison_table

    if not val_results:
        return
    table = comparison_table(val_results, val, class_set=CLASS_SET)
    cols = ["macro_f1", "N_Se", "S_Se", "S_PP", "V_Se", "V_PP", "F_Se", "F_PP"]
    rows = []
    for name in pooled:
        base, _, suffix = name.partition(" +")
        runs = table.loc[[f"{base} seed {s}" + (f" +{suffix}" if suffix else "") for s in seeds]]
        f1 = runs["macro_f1"]
        rows.append(pd.Series({**runs[cols].mean().to_dict(), "min": f1.min(), "max": f1.max()},
                              name=name))
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(f"\nValidation patients (DS1, {sorted(set(val.meta['record']))}), N/S/V/F, "
              "weighted:")
        print(table[cols].round(3).to_string())
        print("\nPer recipe, mean over seeds (min-max of macro-F1):")
        print(pd.DataFrame(rows).round(3).to_string())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="enhanced-context-logits",
                    help=f"comma-separated, from: {', '.join(RECIPES)}")
    ap.add_argument("--seeds", default="42,43,44", help="comma-separated seeds")
    ap.add_argument("--data", default=None, help="WFDB folder (default: data/mitdb)")
    ap.add_argument("--out", default=None, help="also write the table to this CSV")
    ap.add_argument("--save", default=None, metavar="DIR",
                    help="keep each run's DS2 probabilities in DIR/RECIPE-SEED.npz and its run "
                         "folder (model.keras) in DIR/runs; a run whose file is there, trained "
                         "with the same parameters, is not trained again (an interrupted study "
                         "resumes)")
    ap.add_argument("--prior-tau", type=float, default=0.0, metavar="TAU",
                    help="also score each context recipe's runs with the prior correction "
                         "softmax(log p + TAU * log training prior) (a post-hoc shift toward the "
                         "real class mix, chosen on DS1 by bench_context_branch.py; rows "
                         "'RECIPE +prior'); 0: not")
    ap.add_argument("--also-at", default=None, metavar="TAU,S_OFFSET",
                    help="also score each run that carries the prior correction at this other "
                         "operating point (rows 'RECIPE +tau T, S o')")
    ap.add_argument("--ds1-only", action="store_true",
                    help="print the validation patients' table (DS1) and stop before DS2 is "
                         "scored: the table a design is chosen by")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe(s) {unknown}; known: {list(RECIPES)}")
    also_at = None
    if args.also_at:
        try:
            also_at = tuple(float(v) for v in args.also_at.split(","))
        except ValueError:
            also_at = ()
        if len(also_at) != 2:
            ap.error(f"--also-at takes TAU,S_OFFSET, two numbers; got {args.also_at!r}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import numpy as np
    import pandas as pd

    from ecgkit.contract import CLASSES, DS2
    from ecgkit.evaluation.baselines import (
        comparison_table,
        gradient_boosted_trees,
        rr_logistic_regression,
        run_baselines,
    )
    from ecgkit.evaluation.fusion import choose_weight, fuse
    from ecgkit.model.context_branch import log_class_frequency, prior_shift_vector

    beats, val, test = study_beats(args.data)
    train_all = beats.subset("train")
    log_prior = log_class_frequency(train_all.labels, len(CLASSES))
    t0 = time.perf_counter()
    results = run_baselines(train_all, test)
    results["trees (causal)"] = gradient_boosted_trees(train_all, test, mode="causal")
    base_s = time.perf_counter() - t0
    val_rr = rr_logistic_regression(train_all, val)
    extra = {n: {"eval_s": base_s} for n in results}
    print(f"{len(test)} DS2 test beats (cap {TEST_CAP} per record and class, weighted); "
          f"validation records {val.records()}; baselines fitted on all {len(train_all)} "
          f"training beats in {base_s:.0f} s", flush=True)
    pooled: dict[str, list] = {}
    val_results: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="bench_learning_") as tmp:
        run_root = Path(args.save) / "runs" if args.save else Path(tmp)  # --save keeps models
        for name in names:
            for seed in seeds:
                row = f"{name} seed {seed}"
                saved = Path(args.save) / f"{name}-{seed}.npz" if args.save else None
                changed = saved is not None and saved.is_file() and stale(
                    run_root / f"{name}-{seed}", RECIPES[name], seed)
                if changed:
                    print(f"  {row}: the saved run differs in {', '.join(changed)}: trained "
                          "again", flush=True)
                if saved is not None and saved.is_file() and not changed:
                    with np.load(saved) as f:
                        r = {k: (f[k] if f[k].ndim else f[k].item()) for k in f.files}
                else:
                    r = run_recipe(name, RECIPES[name], seed, beats, val, test, run_root)
                    if saved is not None:
                        saved.parent.mkdir(parents=True, exist_ok=True)
                        save_run(saved, r)
                results[row] = r.pop("prob")
                pooled.setdefault(name, []).append(results[row])
                extra[row] = r
                val_prob = val_results[row] = r.pop("val_prob")
                if args.prior_tau and not has_prior(run_root / f"{name}-{seed}"):
                    results[f"{row} +prior"] = prior_corrected(results[row], log_prior,
                                                               args.prior_tau)
                    val_results[f"{row} +prior"] = prior_corrected(val_prob, log_prior,
                                                                   args.prior_tau)
                    pooled.setdefault(f"{name} +prior", []).append(results[f"{row} +prior"])
                if also_at and has_prior(run_root / f"{name}-{seed}"):
                    n = results[row].shape[1]
                    old = saved_shift(run_root / f"{name}-{seed}", n)
                    new = prior_shift_vector(train_all.labels, n, also_at[0], {"S": also_at[1]})
                    label = f"+tau {also_at[0]:g}, S {also_at[1]:g}"
                    results[f"{row} {label}"] = reshifted(results[row], old, new)
                    val_results[f"{row} {label}"] = reshifted(val_prob, old, new)
                    pooled.setdefault(f"{name} {label}", []).append(results[f"{row} {label}"])
                if RECIPES[name].get("CONTEXT") == "none":
                    w, _ = choose_weight(val_prob, val_rr, val.labels,
                                         weights=val.meta["weight"].to_numpy(),
                                         class_set=CLASS_SET)
                    results[f"{row} +RR"] = fuse(results[row], results["rr_logistic_regression"],
                                                 w)
                    extra[f"{row} +RR"] = {"fusion_weight": w}
                print(f"  {row}: training {r['train_s']:.0f} s, best epoch {r['best_epoch']}, "
                      f"val macro-F1 {r['val_macro_f1']:.3f}", flush=True)
    print_ds1(val_results, val, pooled, seeds)
    if args.ds1_only:
        return 0
    table = comparison_table(results, test, class_set=CLASS_SET, records=DS2)
    for col in ("val_macro_f1", "best_epoch", "train_s", "eval_s", "fusion_weight"):
        table[col] = [extra.get(n, {}).get(col, np.nan) for n in table.index]
    metrics = [c for c in table.columns if c.endswith(("_Se", "_PP")) or c == "macro_f1"]
    summary = []
    for name in pooled:
        base, _, suffix = name.partition(" +")
        rows = table.loc[[f"{base} seed {s}" + (f" +{suffix}" if suffix else "") for s in seeds]]
        for stat in ("mean", "min", "max"):
            summary.append(rows[metrics + ["val_macro_f1", "train_s"]].agg(stat).rename(
                f"{name} ({stat} of {len(seeds)} seeds)"))
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(f"\nDS2 (strict AAMI, N/S/V/F, weighted), {os.cpu_count()} cores")
        print(table.round(3).to_string())
        if summary:
            print("\nPer recipe over seeds:")
            print(pd.DataFrame(summary).round(3).to_string())
    for name, runs in pooled.items():
        for other in ("rr_logistic_regression", "nearest_neighbour", "gradient_boosted_trees",
                      "trees (causal)"):
            v = pooled_bootstrap(test, runs, results[other])
            print(f"{name} ({len(runs)} seeds pooled) - {other}: {v['difference']:+.3f} "
                  f"[{v['lo']:+.3f}, {v['hi']:+.3f}], > 0 in {v['share_above_zero']:.0%}")
    done = list(pooled)
    for i, a in enumerate(done):  # the ablation: recipe against recipe, seeds paired
        for b in done[i + 1:]:
            v = pooled_pair(test, pooled[a], pooled[b])
            print(f"{a} - {b} ({len(seeds)} seeds pooled, paired by seed and patient): "
                  f"{v['difference']:+.3f} [{v['lo']:+.3f}, {v['hi']:+.3f}], "
                  f"> 0 in {v['share_above_zero']:.0%}")
    if args.out:
        table.to_csv(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
