"""The end-to-end demo: train the enhanced ResNet50 on the embedded MIT-BIH data and evaluate it.

Introduced in: notebooks/00_setup_and_tour.ipynb.

``ecgkit demo`` (or ``python enhanced_resnet50_demo.py``) creates the enhanced model, trains it
on beats of the embedded records (training patients of the strict AAMI protocol; the best epoch
is chosen on validation patients), evaluates it on the test patients (accuracy, and per-class
and macro precision, recall, F1 and specificity, weighted so that they estimate every test
beat), scores the four baselines of :mod:`ecgkit.evaluation.baselines` on the same test beats, and
saves the confusion matrix and the training history figures, the comparison table and the trained
model. The closing lines say, computed from the figures, whether the network predicts every
class present and whether it beats always-N (:func:`ecgkit.evaluation.baselines.verdict`). The
settings are the workbook parameters of the ``demo`` profile (``params/demo.yaml``), sized to
finish in minutes on a 2-core CPU: small images, a per-record cap of beats per class, a few short
epochs. They are far from what the model needs to be good; the closing message says how to run the
full-size version.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from ecgkit.contract import CLASS_SET

PROFILE = "demo"
"""The demo's recipe: ``params/demo.yaml`` (the cpu profile's, for the enhanced model alone)."""

CI = {"IMAGE_SIZE": 64, "MAX_BEATS_PER_RECORD": 2, "TEST_MAX_BEATS_PER_RECORD": 2, "EPOCHS": 1,
      "STEPS_PER_EPOCH": 2, "BATCH_SIZE": 8, "BOOTSTRAP": 10, "CONTEXT_STEPS": 50}
"""Overrides of the demo profile for tests (``ecgkit demo --ci``): seconds, and it learns
nothing."""


def demo_params(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The demo's parameters: the defaults, then the demo profile, then ``overrides``, validated.

    Raises:
        ecgkit.params.ParamError: an unknown name, a wrong type or a value out of range.
    """
    from ecgkit.params import load_profile, resolve

    return resolve({**load_profile(PROFILE), **(overrides or {})})


FULL_SIZE_HINT = """\
Full-size version (GPU recommended; hours on a CPU), on the same 48 embedded records:
  ecgkit train --params gpu --run-dir runs/full
  ecgkit evaluate --model runs/full/model.keras --split test
(profile params/gpu.yaml: 224x224 images, ImageNet weights, no beat cap, more epochs)"""


def run_demo(out_dir: str | Path = "runs/demo", overrides: dict[str, Any] | None = None,
             data_dir: str | Path | None = None, progress: bool = True,
             command: str = "ecgkit.run_demo") -> dict[str, Any]:
    """Trains and evaluates the enhanced ResNet50 on the embedded data; writes a report.

    Five steps, each a function of this module: load the beats, train (``ecgkit.training.train``),
    evaluate on the test patients, compare with the baselines
    (:func:`ecgkit.evaluation.baselines.compare`) and save (:func:`save_outputs`,
    :func:`summarise`).

    Args:
        out_dir: output folder: ``metrics.json``, ``confusion_matrix.png``,
            ``training_history.png``, ``baselines.csv`` (network and baselines over N/S/V/F on
            the same test beats), ``enhanced_resnet50.keras``, ``evaluation/`` (all report
            files) and ``train/`` (the training run: logs, checkpoints, run.json).
        overrides: parameters over the demo profile (``CI``, or your own ``{"EPOCHS": 2}``).
        data_dir: WFDB folder; None = the embedded database (data/mitdb).
        progress: progress bars and messages.
        command: how the demo was started, recorded in ``metrics.json``.

    Returns:
        The content of ``metrics.json`` (parameters, timings, test metrics, paths).
    """
    from ecgkit.evaluation.baselines import compare, run_baselines
    from ecgkit.evaluation.evaluate import evaluate_model
    from ecgkit.training.train import few_steps, train

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = demo_params(overrides)
    p["WARMUP_EPOCHS"] = min(p["WARMUP_EPOCHS"], p["EPOCHS"] / 2)  # at most half of a short run
    p.update(RUN_DIR=str(out), DATA_DIR=str(data_dir or p["DATA_DIR"]))
    say = print if progress else (lambda *a, **k: None)
    seconds = {}
    t0 = time.time()

    say(f"[1/5] loading beats ({p['SPLIT']}; cap {p['MAX_BEATS_PER_RECORD']} per record and class)")
    beats, test = load_demo_beats(p, progress)
    say(f"[2/5] training the enhanced ResNet50 ({p['IMAGE_SIZE']}x{p['IMAGE_SIZE']}, "
        f"{p['EPOCHS']} epochs x {p['STEPS_PER_EPOCH']} steps x {p['BATCH_SIZE']} images)")
    t = time.time()
    result = train(p, beats=beats, run_dir=out / "train", progress=progress,
                   run_eagerly=few_steps(p["EPOCHS"], p["STEPS_PER_EPOCH"]))
    seconds["train"] = time.time() - t
    say(f"[3/5] evaluating on the test patients (cap {p['TEST_MAX_BEATS_PER_RECORD']} per "
        "record and class)")
    t = time.time()
    report = evaluate_model(result.model, test, out / "evaluation", image_size=p["IMAGE_SIZE"],
                            grid=p["GRID"], batch_size=p["BATCH_SIZE"], n_boot=p["BOOTSTRAP"],
                            seed=p["SEED"])
    seconds["evaluate"] = time.time() - t
    say(f"[4/5] the baselines on the same test beats (fitted on the "
        f"{len(beats.subset('train'))} training beats)")
    t = time.time()
    results = {"network": report.y_prob, **run_baselines(beats.subset("train"), test)}
    comparison = compare(results, test, class_set=CLASS_SET, n_boot=p["BOOTSTRAP"],
                         seed=p["SEED"])
    seconds["baselines"] = time.time() - t
    say("[5/5] saving figures, the comparison and the model")
    paths = save_outputs(out, result, report, comparison.table)
    seconds["total"] = time.time() - t0
    summary = summarise(p, result, report, comparison, paths, seconds, command)
    paths["metrics"].write_text(json.dumps(summary, indent=2, default=str))
    say(closing_text(summary, report, comparison, out, paths))
    return summary


def load_demo_beats(p: dict[str, Any], progress: bool = True):
    """The beats to train on (capped per record and class) and the test beats (the test cap)."""
    from ecgkit.data.datasets import load_beats

    data_dir = p["DATA_DIR"] or None
    beats = load_beats(data_dir, split=p["SPLIT"], max_beats_per_record=p["MAX_BEATS_PER_RECORD"],
                       seed=p["SEED"], progress=progress)
    test = beats
    if p["TEST_MAX_BEATS_PER_RECORD"] != p["MAX_BEATS_PER_RECORD"]:
        test = load_beats(data_dir, split=p["SPLIT"],
                          max_beats_per_record=p["TEST_MAX_BEATS_PER_RECORD"], seed=p["SEED"],
                          progress=progress)
    return beats, test.subset("test")


def save_outputs(out: Path, result, report, table) -> dict[str, Path]:
    """Writes the comparison table, the model and the two figures; returns every path."""
    from ecgkit.workbook import plots

    paths = {"model": out / "enhanced_resnet50.keras",
             "confusion_matrix": out / "confusion_matrix.png",
             "training_history": out / "training_history.png",
             "baselines": out / "baselines.csv",
             "metrics": out / "metrics.json"}
    table.to_csv(paths["baselines"])
    shutil.copyfile(result.paths["model"], paths["model"])
    counts = "weighted counts" if report.weights is not None else "counts"
    for key, fig in (("confusion_matrix", plots.plot_confusion_matrix(
                         report.confusion, title=f"Confusion matrix ({counts})")),
                     ("training_history", plots.plot_history(
                         {k: v for k, v in result.history.items() if k != "epoch"}))):
        fig.savefig(paths[key], dpi=110, bbox_inches="tight")
    return paths


def summarise(p: dict[str, Any], result, report, comparison, paths: dict[str, Path],
              seconds: dict[str, float], command: str) -> dict[str, Any]:
    """The content of ``metrics.json``: parameters, timings, test metrics, baselines, verdict."""
    from ecgkit.evaluation.literature import literature_table

    d = report.to_dict()
    table, coverage = comparison.table, comparison.coverage["network"]
    return {
        "command": command,
        "params": p, "data_dir": str(p["DATA_DIR"] or "embedded data/mitdb"),
        "data": result.info["data"], "hardware": result.info["hardware"],
        "versions": result.info["versions"],
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "best_epoch": result.info.get("best"),
        "test": {"n": d["n"], "n_weighted": d["n_weighted"], "accuracy": d["accuracy"],
                 "macro_precision": d["macro"]["ppv"], "macro_recall": d["macro"]["sensitivity"],
                 "macro_f1": d["macro"]["f1"], "macro_specificity": d["macro"]["specificity"],
                 "weighted": d["weighted"], "per_class": d["per_class"],
                 "absent_classes": d["absent_classes"], "ece": d["ece"], "ci": d["ci"],
                 "confusion": d["confusion"]},
        "baselines": {
            "class_set": list(CLASS_SET), "fitted_on": "training patients' beats",
            "table": {name: {k: _json_safe(v) for k, v in row.items()}
                      for name, row in table.to_dict(orient="index").items()},
            "versus_network": {name: {k: v[k] for k in ("difference", "lo", "hi",
                                                        "share_above_zero", "n_boot")}
                               for name, v in comparison.versus["network"].items()},
        },
        "coverage": coverage,
        "predicts_every_class_present": not coverage["never_predicted"],
        "beats_always_n": bool(table.loc["network", "macro_f1"]
                               > table.loc["always_n", "macro_f1"]),
        "verdict": comparison.verdicts["network"],
        "literature": literature_table(report).to_dict(orient="records"),
        "paths": {k: str(v) for k, v in paths.items()},
    }


def closing_text(summary: dict[str, Any], report, comparison, out: Path,
                 paths: dict[str, Path]) -> str:
    """What the demo prints at the end: test metrics, the comparison, the verdict, the files."""
    import pandas as pd

    from ecgkit.evaluation.scoring import format_summary

    t, s = summary["test"], summary["seconds"]
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        table = comparison.table.round(3).to_string()
    return "\n".join([
        "",
        f"Test patients ({t['n']} beats, weighted {t['n_weighted']:,.0f}): accuracy "
        f"{t['accuracy']:.3f}, macro precision {t['macro_precision']:.3f}, recall "
        f"{t['macro_recall']:.3f}, F1 {t['macro_f1']:.3f}, specificity "
        f"{t['macro_specificity']:.3f}",
        format_summary(report),
        f"\nThe network beside the baselines ({'/'.join(CLASS_SET)}, the same weighted test "
        f"beats):\n{table}",
        f"\n{comparison.verdicts['network']}",
        f"\nWritten to {out}: {', '.join(f.name for f in paths.values())}",
        f"Time: {s['total']:.0f} s (training {s['train']:.0f} s)\n",
        FULL_SIZE_HINT])


def _json_safe(v: Any) -> Any:
    """Numbers as JSON takes them; NaN (e.g. the +P of a class never predicted) becomes None."""
    import math

    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) else float(v)
    return v
