"""Training: from parameters and beats to a trained model, logs, checkpoints and run.json.

Introduced in: notebooks/20_training.ipynb.

``train(params)`` does the whole job with the shared workbook parameters (``ecgkit.params``):
loads the beats (inter-patient split), builds the input pipelines (``ecgkit.data.batches``: images
rendered on the fly, ECG-safe augmentation from ``ecgkit.data.augment``), handles class imbalance
(``CLASS_BALANCE``, ``ecgkit.training.balance``), sets up the hardware
(``ecgkit.training.hardware``), compiles the model with ``get_training_config`` and fits it with the
callbacks of ``ecgkit.training.callbacks`` (best checkpoint by validation macro F1, resume after an
interruption, CSV and TensorBoard logs). It runs on any Keras backend (``KERAS_BACKEND``:
tensorflow, jax, torch). The best weights are loaded back into the model at the end, which is saved
whole (``model.keras``).

Every run writes ``run.json``: parameters, the class-balance choice, versions, hardware, data
summary (records and beats per class and split), the model's weight shapes, its status
(running, interrupted, failed, finished), history and final validation metrics.

A run folder belongs to one run at a time (a folder lock,
``ecgkit.training.atomic.exclusive_folder``) and to one configuration: an interrupted run
resumes only with the same parameters, data and model (``ecgkit.training.run_folder``);
``restart=True`` starts afresh instead.

``_train_in`` is the run step by step; the steps a run on an image folder takes too
(``ecgkit.training.image_training``) are in ``ecgkit.training.training_run``.

``ecgkit train --params FILE.yaml`` is the command line (``ecgkit.cli``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ecgkit.contract import CLASSES
from ecgkit.data import datasets
from ecgkit.data.augment import make_image_augment, make_signal_augment
from ecgkit.data.context import N_FEATURES
from ecgkit.evaluation.evaluate import predict_dataset
from ecgkit.evaluation.scoring import evaluate_predictions
from ecgkit.model.backbone import record_grid
from ecgkit.model.context_branch import (
    LOGIT_OFFSETS,
    PRIOR_TAU,
    adapt_context,
    choose_image_scale,
    has_context,
    has_experts,
    has_image_scale,
    has_warm_up,
    n_members,
    set_prior_shift,
    warm_up,
)
from ecgkit.model.factory import create_enhanced_resnet50
from ecgkit.params import lead_list, record_list, resolve, weights_arg
from ecgkit.training.atomic import exclusive_folder, make_folder, write_json
from ecgkit.training.balance import CLASS_BALANCE_CHOICES, class_weights, sampled_classes
from ecgkit.training.callbacks import backup_state
from ecgkit.training.hardware import replicas
from ecgkit.training.run_folder import check_resume, interrupted_run, model_signature
from ecgkit.training.training_run import (
    TrainingRun,
    TrainResult,
    compile_model,
    dtype_policy,
    fit_recorded,
    load_best,
    record_finished,
    running_info,
    save_model,
    set_up_batchnorm,
    set_up_hardware,
    start_callbacks,
    stop_recorded,
    val_batch_size,
    validation_summary,
)

# --- Data ----------------------------------------------------------------------------------------

def data_summary(beats) -> dict[str, Any]:
    """Records and beats per class for each split of a BeatSet."""
    out = {}
    for split in beats.splits:
        sub = beats.subset(split)
        out[split] = {"records": sorted(set(sub.meta["record"].astype(str))),
                      "patients": int(sub.meta["patient"].nunique()),
                      "beats": int(len(sub.labels)),
                      "per_class": {k: int(v) for k, v in sub.class_counts().items()}}
    return out


def make_datasets(train_beats, val_beats, p: dict[str, Any], steps_per_epoch: int,
                  context: str | None = "auto"):
    """Training and validation batches (``ecgkit.data.batches.Batches``) for the parameters ``p``.

    Training: an endless stream of ``steps_per_epoch`` batches per epoch, rendered on the fly
    with signal-level and image-level ECG-safe augmentation (``AUGMENT_STRENGTH``), in a new
    order every epoch; with ``CLASS_BALANCE="sampling"`` every batch is drawn equally from the
    classes with enough beats (:func:`sampled_classes`). Validation: rendered as is, in order,
    once (cached), with each beat's cap weight as its sample weight. ``context``: the context
    mode the batches carry (None: images only); ``"auto"`` takes it from the parameters
    (:func:`context_mode`).
    """
    size, grid, batch, seed = p["IMAGE_SIZE"], p["GRID"], p["BATCH_SIZE"], p["SEED"]
    strength = p["AUGMENT_STRENGTH"]
    if context == "auto":
        context = context_mode(p)
    drawn = image_context(p)
    train_ds = datasets.signal_dataset(
        train_beats, image_size=size, grid=grid, batch_size=batch, shuffle=True, seed=seed,
        signal_augment=make_signal_augment(strength) if strength > 0 else None,
        image_augment=make_image_augment(strength) if strength > 0 else None,
        repeat=True, epoch_batches=steps_per_epoch,
        balance_classes=(sampled_classes(train_beats.labels)
                         if p["CLASS_BALANCE"] == "sampling" else None), context=context,
        image_context=drawn)
    # Validation beats carry their cap weights, so the checkpoint metric estimates the macro-F1
    # of every validation beat, not of a class-balanced sample of them.
    val_ds = datasets.signal_dataset(val_beats, image_size=size, grid=grid,
                                     batch_size=val_batch_size(batch), cache=True,
                                     sample_weights="weight" in val_beats.meta.columns,
                                     context=context, image_context=drawn)
    return train_ds, val_ds


def whole_batches(beats, batch_size: int):
    """``beats`` padded to a whole number of batches with zero-weight copies of the last beat.

    With data parallelism every batch must split evenly over the devices (JAX refuses a last,
    shorter validation batch); the copies weigh nothing in the weighted validation metrics, and
    ``train`` drops their predictions from the final metrics.
    """
    extra = (-len(beats)) % batch_size
    if not extra:
        return beats
    padded = beats.take(np.concatenate([np.arange(len(beats)), np.full(extra, len(beats) - 1)]))
    weight = (beats.meta["weight"].to_numpy(np.float64) if "weight" in beats.meta.columns
              else np.ones(len(beats)))
    padded.meta["weight"] = np.concatenate([weight, np.zeros(extra)])
    return padded


# --- Training ------------------------------------------------------------------------------------

def epoch_steps(steps_per_epoch: int, n_train: int, batch_size: int) -> int:
    """Batches in one epoch: ``STEPS_PER_EPOCH``, or, when it is 0, one pass over ``n_train``
    training beats in batches of ``batch_size`` (the last one partial). The schedule and the
    BatchNorm momentum are computed from it."""
    return steps_per_epoch or math.ceil(n_train / batch_size)


EAGER_MAX_STEPS = 8
"""Runs of at most this many steps in all are faster without graph tracing on TensorFlow:
tracing a ResNet50's training step costs one to two minutes on a 2-core CPU
(benchmarks/README.md). On JAX it is the other way round (eager runs op by op): the CI-sized
demo took 121 s compiled against 250 s eagerly."""


def few_steps(epochs: int, steps_per_epoch: int) -> bool:
    """Whether a run of ``epochs`` x ``steps_per_epoch`` steps is short enough to run eagerly
    (``train(..., run_eagerly=True)``): on TensorFlow only; ``steps_per_epoch`` 0 (one pass
    over the data) never is."""
    return (keras.backend.backend() == "tensorflow"
            and 0 < epochs * steps_per_epoch <= EAGER_MAX_STEPS)


def context_mode(p: dict[str, Any]) -> str | None:
    """The context mode the model's batches carry: None for ``CONTEXT="none"``, else
    ``CONTEXT_MODE``."""
    return None if p["CONTEXT"] == "none" else p["CONTEXT_MODE"]


def image_context(p: dict[str, Any]) -> str | None:
    """The context mode drawn into the image's channels (``IMAGE_CHANNELS="context"``,
    :mod:`ecgkit.data.context_image`), None for the ECG-paper image."""
    return p["CONTEXT_MODE"] if p.get("IMAGE_CHANNELS", "paper") == "context" else None


def model_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``create_enhanced_resnet50`` that the parameters set."""
    return dict(input_shape=(p["IMAGE_SIZE"], p["IMAGE_SIZE"], 3), num_classes=len(CLASSES),
                weights=weights_arg(p["WEIGHTS"]), ecg_block=p["ECG_BLOCK"],
                attention=p["ATTENTION"], calibration=p["CALIBRATION"], pyramid=p["PYRAMID"],
                dropout=p["DROPOUT"],
                context_features=0 if p["CONTEXT"] == "none" else N_FEATURES,
                context_join="logits" if p["CONTEXT"] == "none" else p["CONTEXT"])


def provenance(p: dict[str, Any], beats, context: str | None = "auto") -> dict[str, Any]:
    """What a trained model records about its training (``backbone.record_provenance``);
    ``context``: the mode its batches carry (None: image only; ``"auto"``: the parameters')."""
    if context == "auto":
        context = context_mode(p)
    splits = {s: sorted(set(beats.meta.loc[beats.meta["split"] == s, "record"].astype(str)))
              for s in beats.splits}
    return {"split": p["SPLIT"], "val_records": splits.get("val", []),
            "train_records": splits.get("train", []), "seed": p["SEED"],
            "image_size": p["IMAGE_SIZE"], "grid": p["GRID"],
            "context": "none" if context is None else p["CONTEXT"],
            "context_mode": context or image_context(p) or "none",
            "image_channels": p.get("IMAGE_CHANNELS", "paper"), "classes": list(CLASSES),
            "records": p["RECORDS"], "data_dir": p["DATA_DIR"]}


def resumable(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds an interrupted run's backup (``AtomicBackupAndRestore``): its
    weights, context branch included, are restored, so nothing is fitted before them."""
    return backup_state(Path(run_dir) / "backup") is not None


def baseline_model(p: dict[str, Any]):
    """The plain ResNet50 baseline with the same inputs, context branch and head as the model
    ``train(p)`` builds: an ablation of the four enhancements alone."""
    from ecgkit.model.factory import ENHANCEMENTS, create_baseline_resnet50

    kwargs = {k: v for k, v in model_kwargs(resolve(p)).items() if k not in ENHANCEMENTS}
    return create_baseline_resnet50(**kwargs)


def train(params: dict[str, Any] | None = None, beats=None, model=None,
          run_dir: str | Path | None = None, progress: bool = True, strategy=None,
          callbacks=(), run_eagerly: bool = False, restart: bool = False) -> TrainResult:
    """Trains a model with the workbook parameters and returns its history and outputs.

    Args:
        params: UPPER_CASE parameters (``ecgkit.params``); missing ones take their defaults,
            unknown names raise ``ParamError``.
        beats: a ``BeatSet`` with train/val(/test) splits; None loads ``RECORDS`` (default
            all) of ``DATA_DIR`` (default the embedded database) with ``SPLIT``, ``LEAD``,
            ``MAX_BEATS_PER_RECORD``, ``VAL_FRACTION``.
        model: a Keras model taking (IMAGE_SIZE, IMAGE_SIZE, 3) 0..255 images, or a
            zero-argument function building one (called inside the strategy's scope, as a
            multi-device strategy requires); None builds ``create_enhanced_resnet50`` from the
            model parameters. It is compiled here with ``get_training_config``.
        run_dir: output folder; default ``RUN_DIR/train``. Running again with the same folder
            after an interruption resumes from the last finished epoch, with the same
            parameters (``ecgkit.training.run_folder.RESUME_FREE_PARAMS`` aside), beats and model
            only. One training at a time writes into a folder.
        progress: Keras progress bars and checkpoint messages.
        strategy: a ``tf.distribute`` strategy (TensorFlow) or ``keras.distribution``
            distribution (JAX); None calls ``ecgkit.training.hardware.select_strategy()``.
        callbacks: extra Keras callbacks, run after ours.
        run_eagerly: skip graph tracing (for runs of a few steps, where tracing a ResNet50's
            training step costs more than it saves; slower per step).
        restart: discard an interrupted run in ``run_dir`` and start afresh.

    Returns:
        A ``TrainResult``.

    Raises:
        ParamError: unknown or mistyped parameters.
        ValueError: no training or validation beats, or an unknown CLASS_BALANCE.
        ecgkit.training.run_folder.RunFolderError: ``run_dir`` holds an interrupted run of other
            parameters, beats or model (raised before anything in it is written).
        ecgkit.training.atomic.FolderInUseError: another training is writing into ``run_dir``.
        KeyboardInterrupt: an interruption; run.json then says ``"interrupted"`` and the
            same call resumes the run.
    """
    p = resolve(params or {})
    if p["CLASS_BALANCE"] not in CLASS_BALANCE_CHOICES:
        raise ValueError(f"CLASS_BALANCE must be one of {CLASS_BALANCE_CHOICES}. "
                         f"Received: {p['CLASS_BALANCE']!r}")
    run_dir = Path(run_dir) if run_dir is not None else Path(p["RUN_DIR"]) / "train"
    make_folder(run_dir)
    with exclusive_folder(run_dir, "training"):
        return _train_in(run_dir, p, beats, model, progress, strategy, callbacks, run_eagerly,
                         restart)


def _train_in(run_dir: Path, p: dict[str, Any], beats, model, progress: bool, strategy,
              callbacks, run_eagerly: bool, restart: bool) -> TrainResult:
    """``train`` in its locked folder, step by step: check the resume, load the beats, prepare
    the model, make the batches and callbacks, fit, finish."""
    started = time.time()
    previous = None if restart else interrupted_run(run_dir)
    check_resume(run_dir, previous, params=p)  # before the beats: a refusal comes at once
    hw, strategy = set_up_hardware(p, strategy)

    beats = training_beats(p, beats, progress)
    summary = data_summary(beats)
    check_resume(run_dir, previous, data=summary)
    train_beats = beats.subset("train")
    # validation, predicted every epoch, is a weighted sample when TEST_MAX_BEATS_PER_RECORD caps it
    val_beats = datasets.cap_beats(beats.subset("val"), p["TEST_MAX_BEATS_PER_RECORD"], p["SEED"])
    steps = epoch_steps(p["STEPS_PER_EPOCH"], len(train_beats.labels), p["BATCH_SIZE"])
    check_batch_split(p["BATCH_SIZE"], strategy)
    run = TrainingRun(run_dir=run_dir, p=p, previous=previous, started=started, hw=hw,
                      strategy=strategy, steps=steps, run_eagerly=run_eagerly, progress=progress)
    balance = class_balance(p, train_beats)
    alpha_counts = balance["train_counts"] if balance["mode"] == "alpha" else None

    with dtype_policy(hw):
        with strategy.scope():
            model = build_model(model, p)
            signature = model_signature(model)
            check_resume(run_dir, previous, model=signature)  # Keras would fail to load it
            batchnorm = set_up_batchnorm(run, model)
            record_grid(model, p["GRID"])  # saved with the model, for evaluation to read back
            context = prepare_context(run, model, train_beats)
            compile_model(run, model, alpha_counts)
        padded = (whole_batches(val_beats, val_batch_size(p["BATCH_SIZE"]))
                  if replicas(strategy) > 1 else val_beats)
        train_ds, val_ds = make_datasets(train_beats, padded, p, steps, context["mode"])
        cbs, done_before = start_callbacks(run, train_ds, callbacks)
        run.info = {**running_info(run, summary, signature, balance, batchnorm, done_before),
                    "tensorboard": (str(run.paths["tensorboard"]) if "tensorboard" in run.paths
                                    else None),
                    "context": context}
        write_json(run.paths["run_json"], run.info)
        fit_recorded(run, model, train_ds, val_ds, cbs, balance["class_weight"])

    with stop_recorded(run.info, run.paths, started):  # a failure after fit too
        return finish_training(run, model, beats, train_beats.labels, val_ds, val_beats,
                               context["mode"])


# --- The steps of a run on beats -----------------------------------------------------------------

def training_beats(p: dict[str, Any], beats, progress: bool = True):
    """``beats``, or for None the ``RECORDS`` of ``DATA_DIR`` loaded with the split parameters;
    raises without training or validation beats, which a run cannot do without."""
    if beats is None:
        beats = datasets.load_beats(
            p["DATA_DIR"] or None, split=p["SPLIT"], records=record_list(p["RECORDS"]),
            lead=p["LEAD"], max_beats_per_record=p["MAX_BEATS_PER_RECORD"],
            val_fraction=p["VAL_FRACTION"], seed=p["SEED"], progress=progress,
            fallback_leads=lead_list(p["FALLBACK_LEADS"]), unknown_symbols=p["UNKNOWN_SYMBOLS"])
    if "train" not in beats.splits:
        raise ValueError(f"no training beats (splits present: {beats.splits}): check DATA_DIR "
                         "and SPLIT")
    if "val" not in beats.splits:
        raise ValueError("no validation beats: the best checkpoint is chosen on validation "
                         "patients, so VAL_FRACTION must leave at least one patient")
    return beats


def check_batch_split(batch_size: int, strategy) -> None:
    """Raises unless a batch splits evenly over the strategy's devices, as data parallelism
    needs."""
    n_replicas = replicas(strategy)
    if batch_size % n_replicas:
        raise ValueError(f"BATCH_SIZE {batch_size} must split evenly over the {n_replicas} "
                         f"devices of the {type(strategy).__name__}: use a multiple of "
                         f"{n_replicas}")


def class_balance(p: dict[str, Any], train_beats) -> dict[str, Any]:
    """How the run evens out the classes (``CLASS_BALANCE``), as run.json records it: the mode,
    the training counts, the class weights ``fit`` gets and the classes sampling draws."""
    mode, counts = p["CLASS_BALANCE"], train_beats.class_counts()
    return {"mode": mode, "train_counts": counts,
            "class_weight": class_weights(counts) if mode == "class_weight" else None,
            "sampled_classes": ([CLASSES[k] for k in sampled_classes(train_beats.labels)]
                                if mode == "sampling" else None)}


def build_model(model, p: dict[str, Any]):
    """The model to train: ``model``, what a zero-argument ``model`` builds, or for None
    ``create_enhanced_resnet50`` from the parameters; call it in the strategy's scope."""
    if model is None:
        return create_enhanced_resnet50(**model_kwargs(p))
    if callable(model) and not hasattr(model, "fit"):
        return model()
    return model


def prepare_context(run: TrainingRun, model, train_beats) -> dict[str, Any]:
    """Readies a model's context branch: the training patients' mean and variance, saved with
    it, and on a fresh run the branch's warm-up alone; returns run.json's ``context`` entry,
    whose ``mode`` (None: images only) the batches carry. The model decides (one passed in may
    have no context input)."""
    p = run.p
    mode = p["CONTEXT_MODE"] if has_context(model) else None
    losses = None
    if mode is not None:
        adapt_context(model, train_beats.context_of(mode))
        if has_warm_up(model) and p["CONTEXT_STEPS"] and run.previous is None:
            losses = warm_up(
                model, train_beats.context_of(mode), train_beats.labels,
                steps=p["CONTEXT_STEPS"], batch_size=p["BATCH_SIZE"],
                learning_rate=p["LEARNING_RATE"], focal_gamma=p["FOCAL_GAMMA"], seed=p["SEED"],
                classes=sampled_classes(train_beats.labels))
    return {"mode": mode, "join": p["CONTEXT"] if mode else None,
            "experts": bool(mode) and has_experts(model),
            "members": n_members(model) if mode else 0,
            "warm_up_steps": p["CONTEXT_STEPS"] if losses else 0,
            "warm_up_loss_every_100": losses}


def finish_training(run: TrainingRun, model, beats, train_labels, val_ds, val_beats,
                    context: str | None) -> TrainResult:
    """After fit: the best weights back, the image logits' weight chosen on validation and the
    prior correction set (a context model: ``context_branch.set_prior_shift``), the model saved
    with its provenance, run.json finished."""
    load_best(run, model)
    image_scale = None
    if context is not None and has_image_scale(model):
        scale, curve = choose_image_scale(model, val_ds, val_beats.labels,
                                          val_beats.meta["weight"].to_numpy())
        image_scale = {"chosen": scale, "val_cross_entropy": curve}
    shift = set_prior_shift(model, train_labels)
    prior = shift and {"tau": PRIOR_TAU, "offsets": dict(LOGIT_OFFSETS),
                       "shift": dict(zip(CLASSES, shift))}
    save_model(run, model, {**provenance(run.p, beats, context),
                            "image_scale": image_scale and image_scale["chosen"],
                            "prior_tau": prior and PRIOR_TAU,
                            "logit_offsets": prior and dict(LOGIT_OFFSETS)})
    return record_finished(run, model, _final_metrics(model, val_ds, val_beats),
                           image_scale=image_scale, prior_shift=prior)


def _final_metrics(model, val_ds, val_beats) -> dict[str, Any]:
    """Validation metrics of the final (best) model, computed with ecgkit.evaluation.evaluate
    (weighted by the cap weights when the beats have them)."""
    y_true, y_prob = predict_dataset(model, val_ds)
    y_true, y_prob = y_true[:len(val_beats)], y_prob[:len(val_beats)]  # whole_batches' copies
    weights = (val_beats.meta["weight"].to_numpy() if "weight" in val_beats.meta.columns
               else None)
    return validation_summary(evaluate_predictions(y_true, y_prob, n_boot=0, weights=weights))
