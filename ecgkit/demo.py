"""The end-to-end demo: train the enhanced ResNet50 on the embedded MIT-BIH data and evaluate it.

Introduced in: notebooks/00_setup_and_tour.ipynb.

``ecgkit demo`` (or ``python enhanced_resnet50_demo.py``) creates the enhanced model, trains it
on beats of the embedded records (training patients; the best epoch is chosen on validation
patients), evaluates it on the test patients (accuracy, and per-class and macro precision,
recall, F1 and specificity), saves the confusion matrix and the training history figures and
the trained model. The default settings are sized to finish in minutes on a 2-core CPU: small
images, a per-record cap of beats per class, a few short epochs. They are far from what the
model needs to be good; the closing message says how to run the full-size version.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ecgkit.contract import PROJECT_ROOT


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of a demo run. ``DEFAULT`` fits a 2-core CPU in minutes; ``CI`` runs in seconds."""

    image_size: int = 96
    max_beats_per_record: int = 30
    epochs: int = 6
    steps_per_epoch: int = 12
    batch_size: int = 24
    learning_rate: float = 1e-3
    augment_strength: float = 0.5
    bn_momentum: float = 0.9  # see ecgkit.train.set_batchnorm_momentum: short runs need < 0.99
    test_max_beats_per_record: int = 30
    bootstrap: int = 100
    seed: int = 42
    eager: bool = False  # skip graph tracing: faster only for a handful of steps


DEFAULT = DemoSettings()
CI = DemoSettings(image_size=64, max_beats_per_record=2, epochs=1, steps_per_epoch=2,
                  batch_size=8, test_max_beats_per_record=2, bootstrap=10, eager=True)

FULL_SIZE_HINT = """\
Full-size version (GPU recommended; hours on a CPU), on the same 48 embedded records:
  ecgkit train --params gpu --run-dir runs/full
  ecgkit evaluate --model runs/full/model.keras --split test
(profile params/gpu.yaml: 224x224 images, ImageNet weights, no beat cap, more epochs)"""


def run_demo(out_dir: str | Path = "runs/demo", settings: DemoSettings = DEFAULT,
             data_dir: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Trains and evaluates the enhanced ResNet50 on the embedded data; writes a report.

    Args:
        out_dir: output folder: ``metrics.json``, ``confusion_matrix.png``,
            ``training_history.png``, ``enhanced_resnet50.keras``, ``evaluation/`` (all report
            files) and ``train/`` (the training run: logs, checkpoints, run.json).
        settings: sizes (``DEFAULT`` or ``CI``, or your own ``DemoSettings``).
        data_dir: WFDB folder; None = the embedded database (data/mitdb).
        progress: progress bars and messages.

    Returns:
        The content of ``metrics.json`` (settings, timings, test metrics, paths).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecgkit import plots
    from ecgkit.datasets import load_beats
    from ecgkit.evaluate import evaluate_model, format_summary, literature_table
    from ecgkit.train import set_batchnorm_momentum, train

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = settings
    t0 = time.time()
    say = print if progress else (lambda *a, **k: None)

    say(f"[1/4] loading beats (cap {s.max_beats_per_record} per record and class)")
    beats = load_beats(data_dir, max_beats_per_record=s.max_beats_per_record, seed=s.seed,
                       progress=progress)
    params = {"IMAGE_SIZE": s.image_size, "EPOCHS": s.epochs, "STEPS_PER_EPOCH": s.steps_per_epoch,
              "BATCH_SIZE": s.batch_size, "MAX_BEATS_PER_RECORD": s.max_beats_per_record,
              "SEED": s.seed, "WEIGHTS": "none", "LEARNING_RATE": s.learning_rate,
              "AUGMENT_STRENGTH": s.augment_strength, "WARMUP_EPOCHS": min(1.0, s.epochs / 2),
              "RUN_DIR": str(out), "DATA_DIR": str(data_dir or "")}
    say(f"[2/4] training the enhanced ResNet50 ({s.image_size}x{s.image_size}, {s.epochs} "
        f"epochs x {s.steps_per_epoch} steps x {s.batch_size} images)")
    t_train = time.time()
    def build():
        from ecgkit.factory import create_enhanced_resnet50

        model = create_enhanced_resnet50((s.image_size, s.image_size, 3), 5, weights=None)
        set_batchnorm_momentum(model, s.bn_momentum)
        return model

    result = train(params, beats=beats, model=build, run_dir=out / "train", progress=progress,
                   run_eagerly=s.eager)
    train_s = time.time() - t_train

    say(f"[3/4] evaluating on the test patients (cap {s.test_max_beats_per_record} per record "
        "and class)")
    test = beats
    if s.test_max_beats_per_record != s.max_beats_per_record:
        test = load_beats(data_dir, max_beats_per_record=s.test_max_beats_per_record,
                          seed=s.seed, progress=progress)
    test = test.subset("test")
    t_eval = time.time()
    report = evaluate_model(result.model, test, out / "evaluation", image_size=s.image_size,
                            batch_size=s.batch_size, n_boot=s.bootstrap, seed=s.seed)
    eval_s = time.time() - t_eval

    say("[4/4] saving figures and the model")
    paths = {"model": out / "enhanced_resnet50.keras",
             "confusion_matrix": out / "confusion_matrix.png",
             "training_history": out / "training_history.png",
             "metrics": out / "metrics.json"}
    shutil.copyfile(result.paths["model"], paths["model"])
    for key, fig in (("confusion_matrix", plots.plot_confusion_matrix(report.confusion)),
                     ("training_history", plots.plot_history(
                         {k: v for k, v in result.history.items() if k != "epoch"}))):
        fig.savefig(paths[key], dpi=110, bbox_inches="tight")
        plt.close(fig)

    d = report.to_dict()
    summary = {
        "command": " ".join(["ecgkit demo", *sys.argv[2:]]) if sys.argv[1:2] == ["demo"]
        else " ".join(sys.argv),
        "settings": asdict(s), "data_dir": str(data_dir or "embedded data/mitdb"),
        "data": result.info["data"], "hardware": result.info["hardware"],
        "versions": result.info["versions"],
        "seconds": {"total": round(time.time() - t0, 1), "train": round(train_s, 1),
                    "evaluate": round(eval_s, 1)},
        "best_epoch": result.info.get("best"),
        "test": {"n": d["n"], "accuracy": d["accuracy"],
                 "macro_precision": d["macro"]["ppv"], "macro_recall": d["macro"]["sensitivity"],
                 "macro_f1": d["macro"]["f1"], "macro_specificity": d["macro"]["specificity"],
                 "weighted": d["weighted"], "per_class": d["per_class"],
                 "absent_classes": d["absent_classes"], "ece": d["ece"], "ci": d["ci"],
                 "confusion": d["confusion"]},
        "literature": literature_table(report).to_dict(orient="records"),
        "paths": {k: str(v) for k, v in paths.items()},
    }
    paths["metrics"].write_text(json.dumps(summary, indent=2, default=str))

    t = summary["test"]
    say("")
    say(f"Test patients ({t['n']} beats): accuracy {t['accuracy']:.3f}, macro precision "
        f"{t['macro_precision']:.3f}, recall {t['macro_recall']:.3f}, F1 {t['macro_f1']:.3f}, "
        f"specificity {t['macro_specificity']:.3f}")
    say(format_summary(report))
    say(f"\nWritten to {out}: {', '.join(p.name for p in paths.values())}")
    say(f"Time: {summary['seconds']['total']:.0f} s (training {train_s:.0f} s)\n")
    say(FULL_SIZE_HINT)
    return summary


def _cmd_demo(args) -> int:
    base = CI if args.ci else DEFAULT
    overrides = {k: v for k, v in {
        "image_size": args.image_size, "epochs": args.epochs,
        "steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size,
        "max_beats_per_record": args.max_beats_per_record}.items() if v is not None}
    settings = DemoSettings(**{**asdict(base), **overrides})
    run_demo(args.out, settings, data_dir=args.data, progress=not args.quiet)
    return 0


def register_cli(subparsers) -> None:
    """Adds ``ecgkit demo``."""
    p = subparsers.add_parser(
        "demo", help="train and evaluate the enhanced ResNet50 on the embedded data (minutes)",
        description="Creates the enhanced ResNet50, trains it on the embedded MIT-BIH data, "
                    "evaluates it on the test patients and saves figures, metrics and the model.")
    p.add_argument("--out", default=str(PROJECT_ROOT / "runs" / "demo"), help="output folder")
    p.add_argument("--data", default=None,
                   help="WFDB folder (default: the embedded database, data/mitdb)")
    p.add_argument("--ci", action="store_true", help="tiny settings (seconds; for tests)")
    p.add_argument("--image-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-beats-per-record", type=int)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``enhanced_resnet50_demo.py``: the same options as ``ecgkit demo``."""
    import argparse

    parser = argparse.ArgumentParser(prog="enhanced_resnet50_demo.py",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    register_cli(sub)
    args = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
