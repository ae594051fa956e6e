"""One training run, step by step: the steps ``train`` and ``train_images`` share.

Introduced in: notebooks/20_training.ipynb.

A run, whatever its data (beats in ``ecgkit.training.train``, an image folder in
``ecgkit.training.image_training``), goes through the same steps: seeds and hardware
(:func:`set_up_hardware`), a dtype policy for this model only (:func:`dtype_policy`), the model's
BatchNorm momentum (:func:`set_up_batchnorm`), compiled with the recipe (:func:`compile_model`),
the callbacks, fresh or resumed (:func:`start_callbacks`), run.json as fit starts
(:func:`running_info`), fit with its stop recorded (:func:`fit_recorded`), then the best weights
back (:func:`load_best`), the model saved (:func:`save_model`) and run.json finished
(:func:`record_finished`). :class:`TrainingRun` holds what every step needs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from ecgkit.model.backbone import record_provenance
from ecgkit.training.atomic import atomic_save, write_json
from ecgkit.training.callbacks import (
    BN_REESTIMATE_BATCHES,
    auto_bn_momentum,
    backup_state,
    best_state_path,
    make_callbacks,
    read_history,
    set_batchnorm_momentum,
)
from ecgkit.training.hardware import (
    hardware_settings,
    replicas,
    select_strategy,
    set_seeds,
    versions,
)
from ecgkit.training.training_config import get_training_config


@dataclass
class TrainResult:
    """What ``train.train`` and ``image_training.train_images`` return.

    Attributes:
        history: metric name -> list of per-epoch values (all epochs, across resumes, read from
            the CSV log).
        run_dir: the run folder.
        paths: name -> path of what was written (``model``, ``best``, ``run_json``, ``csv_log``,
            ``tensorboard`` on the TensorFlow backend, ``backup``).
        model: the trained model, with the best-checkpoint weights when one was saved.
        info: the content of run.json.
    """

    history: dict[str, list[float]]
    run_dir: Path
    paths: dict[str, Path]
    model: Any = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class TrainingRun:
    """What the steps of one run share: its settings, then its record as it fills in.

    Attributes:
        run_dir: the run folder (locked by the caller).
        p: the resolved parameters (``ecgkit.params.resolve``).
        previous: the interrupted run's run.json (``run_folder.interrupted_run``); None: a fresh
            run.
        started: ``time.time()`` when the run started, for run.json's ``seconds``.
        hw: the hardware settings (:func:`set_up_hardware`).
        strategy: the distribution strategy (:func:`set_up_hardware`).
        steps: batches per epoch (``train.epoch_steps``).
        run_eagerly: skip graph tracing.
        progress: Keras progress bars and checkpoint messages.
        paths: what the run writes; set by :func:`start_callbacks`.
        info: the content of run.json; set from :func:`running_info` before fit.
    """

    run_dir: Path
    p: dict[str, Any]
    previous: dict[str, Any] | None
    started: float
    hw: dict[str, Any]
    strategy: Any
    steps: int
    run_eagerly: bool
    progress: bool
    paths: dict[str, Path] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


# --- Before fit ----------------------------------------------------------------------------------

def set_up_hardware(p: dict[str, Any], strategy=None) -> tuple[dict[str, Any], Any]:
    """Seeds everything, then decides mixed precision and XLA (``hardware_settings``) and the
    strategy (``strategy``, or ``select_strategy()`` for None); returns ``(hw, strategy)``."""
    set_seeds(p["SEED"], p["DETERMINISTIC"])
    hw = hardware_settings(p["MIXED_PRECISION"], p["DETERMINISTIC"])
    return hw, select_strategy() if strategy is None else strategy


VAL_BATCH_IMAGES = 128
"""About how many images a validation batch holds (:func:`val_batch_size`)."""


def val_batch_size(batch_size: int) -> int:
    """The validation batch size for training batches of ``batch_size``: the largest multiple of
    it up to :data:`VAL_BATCH_IMAGES` (at least ``batch_size``), so it still splits evenly over
    the devices. Prediction needs no gradients, so bigger batches fit, and each call has a fixed
    cost (about a second per call when a short run predicts eagerly on 2 cores)."""
    return int(batch_size) * max(1, VAL_BATCH_IMAGES // int(batch_size))


@contextlib.contextmanager
def dtype_policy(hw: dict[str, Any]):
    """Sets the mixed-precision policy of ``hw`` for the block and puts the previous one back
    whatever happens: the policy is global in Keras, and must not leak into models built later."""
    previous = keras.mixed_precision.global_policy().name
    if hw["mixed_precision"]:
        keras.mixed_precision.set_global_policy(hw["policy"])
    try:
        yield
    finally:
        if hw["mixed_precision"]:
            keras.mixed_precision.set_global_policy(previous)


def set_up_batchnorm(run: TrainingRun, model) -> dict[str, Any]:
    """Sets the momentum of every BatchNorm layer for this run's epoch length (``BN_MOMENTUM``,
    0: ``auto_bn_momentum``), since the Keras default suits only long epochs; returns
    run.json's ``batchnorm`` entry."""
    momentum = run.p["BN_MOMENTUM"] or auto_bn_momentum(run.steps)
    return {"momentum": momentum, "layers": set_batchnorm_momentum(model, momentum),
            "auto": not run.p["BN_MOMENTUM"], "reestimated_from_batches": BN_REESTIMATE_BATCHES}


def compile_model(run: TrainingRun, model, class_counts=None) -> None:
    """Compiles ``model`` with the recipe of ``get_training_config`` (AdamW, warm-up cosine
    over the run's steps, focal loss, macro metrics); ``class_counts``: the training counts
    for the focal loss's alpha (``CLASS_BALANCE="alpha"``), None: no alpha."""
    p = run.p
    cfg = get_training_config(
        model, learning_rate=p["LEARNING_RATE"], weight_decay=p["WEIGHT_DECAY"],
        epochs=p["EPOCHS"], steps_per_epoch=run.steps, warmup_epochs=p["WARMUP_EPOCHS"],
        focal_gamma=p["FOCAL_GAMMA"], class_counts=class_counts)
    model.compile(optimizer=cfg["optimizer"], loss=cfg["loss"], metrics=cfg["metrics"],
                  jit_compile=run.hw["jit_compile"] and not run.run_eagerly,
                  run_eagerly=run.run_eagerly)


def start_or_resume(paths: dict[str, Path], previous: dict[str, Any] | None) -> int:
    """The epochs an interrupted run (``previous``, ``run_folder.interrupted_run``) finished;
    for a fresh run (None) 0, after removing the old log, best checkpoint and backup."""
    if previous is not None:
        return int(previous["epochs_done"])
    for stale in (paths["csv_log"], paths["best"], best_state_path(paths["best"])):
        if stale.exists():
            stale.unlink()
    if paths["backup"].is_dir():  # a discarded run's, or a backup never committed
        shutil.rmtree(paths["backup"])
    return 0


def start_callbacks(run: TrainingRun, train_ds, extra=()) -> tuple[list, int]:
    """The callbacks (``make_callbacks``, then ``extra``) and, in ``run.paths``, what they
    write; a fresh run clears an old run's files, a resumed one continues the training stream
    where it stopped. Returns ``(callbacks, epochs finished before)``."""
    cbs, run.paths = make_callbacks(run.run_dir, progress=run.progress, extra=extra,
                                    bn_batches=train_ds)
    done_before = start_or_resume(run.paths, run.previous)
    train_ds.start = done_before * run.steps  # a resumed run continues the stream
    run.paths["run_json"] = run.run_dir / "run.json"
    return cbs, done_before


def running_info(run: TrainingRun, data, model: dict[str, Any], class_balance: dict[str, Any],
                 batchnorm: dict[str, Any], resumed_after_epochs: int) -> dict[str, Any]:
    """run.json as fit starts (status ``"running"``): the parameters, ``class_balance``,
    versions, hardware, ``data``, the ``model``'s signature (``run_folder.model_signature``),
    the schedule and ``batchnorm``; what a resume is checked against."""
    return {"params": run.p, "class_balance": class_balance, "versions": versions(),
            "hardware": {**run.hw, "run_eagerly": run.run_eagerly,
                         "strategy": type(run.strategy).__name__,
                         "replicas": replicas(run.strategy)},
            "data": data, "model": model, "steps_per_epoch": run.steps, "batchnorm": batchnorm,
            "resumed_after_epochs": resumed_after_epochs, "status": "running"}


# --- Fit -----------------------------------------------------------------------------------------

@contextlib.contextmanager
def stop_recorded(info: dict[str, Any], paths: dict[str, Path], started: float):
    """Records in run.json how the run stopped when the block raises, and re-raises:
    ``"interrupted"`` for a Ctrl-C (``KeyboardInterrupt``), else ``"failed"`` with the error;
    ``resumable_after_epochs``: the epochs the backup holds (0: none)."""
    try:
        yield
    except BaseException as exc:
        backup = backup_state(paths["backup"])
        interrupted = isinstance(exc, KeyboardInterrupt)
        info.update({"status": "interrupted" if interrupted else "failed",
                     "epochs_run": len(read_history(paths["csv_log"]).get("epoch", [])),
                     "resumable_after_epochs": backup["epoch"] if backup else 0,
                     "seconds": round(time.time() - started, 1)})
        if not interrupted:
            info["error"] = f"{type(exc).__name__}: {exc}"
        write_json(paths["run_json"], info)
        raise


def fit_recorded(run: TrainingRun, model, train_ds, val_ds, callbacks,
                 class_weight=None) -> None:
    """Fits ``model`` for ``EPOCHS`` epochs of ``run.steps`` batches, in the strategy's scope
    (JAX's keras.distribution shards the batches inside it); run.json records an interruption
    or a failure (:func:`stop_recorded`)."""
    verbose = (1 if sys.stdout.isatty() else 2) if run.progress else 0
    with stop_recorded(run.info, run.paths, run.started), run.strategy.scope():
        model.fit(train_ds, validation_data=val_ds, epochs=run.p["EPOCHS"],
                  steps_per_epoch=run.steps, class_weight=class_weight, callbacks=callbacks,
                  verbose=verbose, shuffle=False)


# --- After fit -----------------------------------------------------------------------------------

def load_best(run: TrainingRun, model) -> None:
    """Loads the best checkpoint's weights (best validation macro-F1) into ``model``, when one
    was saved: the last epoch's are not the ones to keep."""
    if run.paths["best"].is_file():
        model.load_weights(run.paths["best"])


def save_model(run: TrainingRun, model, provenance: dict[str, Any]) -> None:
    """Saves ``model`` whole as ``model.keras`` with ``provenance``, what it records about its
    training (``backbone.record_provenance``), for evaluation and prediction to read back."""
    record_provenance(model, provenance)
    run.paths["model"] = atomic_save(model, run.run_dir / "model.keras")


def validation_summary(report) -> dict[str, Any]:
    """run.json's ``final_metrics``: the best model's validation figures from a
    ``scoring.Report`` (accuracy, macro averages, per class, absent classes)."""
    d = report.to_dict()
    return {"split": "val", "accuracy": d["accuracy"], "macro": d["macro"],
            "per_class": d["per_class"], "absent_classes": d["absent_classes"]}


def record_finished(run: TrainingRun, model, final_metrics: dict[str, Any],
                    **extra: Any) -> TrainResult:
    """Writes run.json as finished (history, best epoch, seconds, ``final_metrics`` on
    validation, ``extra`` entries, paths) and returns the run's ``TrainResult``."""
    history = read_history(run.paths["csv_log"])
    best_state = best_state_path(run.paths["best"])
    run.info.update({
        "status": "finished", "epochs_run": len(history.get("epoch", [])),
        "best": json.loads(best_state.read_text()) if best_state.is_file() else None,
        "history": history, "seconds": round(time.time() - run.started, 1),
        "final_metrics": final_metrics, **extra,
        "paths": {name: str(path) for name, path in run.paths.items()},
    })
    write_json(run.paths["run_json"], run.info)
    return TrainResult(history=history, run_dir=run.run_dir, paths=run.paths, model=model,
                       info=run.info)
