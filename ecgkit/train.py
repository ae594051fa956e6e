"""Training: from parameters and beats to a trained model, logs, checkpoints and run.json.

Introduced in: notebooks/20_training.ipynb.

``train(params)`` does the whole job with the shared workbook parameters (``ecgkit.params``):
loads the beats (inter-patient split), builds the tf.data pipelines (images rendered on the fly,
ECG-safe augmentation), handles class imbalance (``CLASS_BALANCE``), picks the hardware strategy,
compiles the model with ``get_training_config`` and fits it with these callbacks:

- best checkpoint (weights) by validation macro F1 (validation patients only; the test patients
  never choose an epoch), written atomically: Keras' own ``ModelCheckpoint`` opens the final file
  and writes into it, so an interruption can leave a truncated file; here the weights go to a
  temporary file in the same folder and ``os.replace`` swaps it in. They are loaded back into the
  model at the end, which is saved whole (``model.keras``);
- ``keras.callbacks.BackupAndRestore``: after an interruption, running the same command again
  continues from the last finished epoch (weights, optimizer state and learning-rate schedule);
- early stopping, a CSV log, TensorBoard logs (``tensorboard`` is a dependency of ecgkit:
  TensorFlow 2.21 no longer installs it, and ``tf.summary`` cannot write without it) and Keras
  progress bars.

Every run writes ``run.json``: parameters, the class-balance choice, versions, hardware, data
summary (records and beats per class and split), history and final validation metrics.

``ecgkit train --params FILE.yaml`` is the command line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgkit.contract import CLASSES

CLASS_BALANCE_CHOICES = ("alpha", "class_weight", "sampling", "none")
MONITOR = "val_macro_f1"
EARLY_STOPPING_PATIENCE = 5


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        history: metric name -> list of per-epoch values (all epochs, across resumes, read from
            the CSV log).
        run_dir: the run folder.
        paths: name -> path of what was written (``model``, ``best``, ``run_json``, ``csv_log``,
            ``tensorboard``, ``backup``).
        model: the trained model, with the best-checkpoint weights when one was saved.
        info: the content of run.json.
    """

    history: dict[str, list[float]]
    run_dir: Path
    paths: dict[str, Path]
    model: Any = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)


# --- Hardware --------------------------------------------------------------------------------------

def select_strategy(devices: list[str] | None = None):
    """Chooses a ``tf.distribute`` strategy for the visible hardware.

    - ``TF_CONFIG`` set in the environment: ``MultiWorkerMirroredStrategy`` (several machines);
    - ``devices`` given (e.g. two logical CPUs in a test): ``MirroredStrategy(devices)``;
    - two or more GPUs: ``MirroredStrategy`` over all of them;
    - otherwise the default strategy (one GPU or the CPU).
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices:
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX; Linux /proc/cpuinfo).

    Without it, bfloat16 is emulated and slower than float32, so ``auto`` stays in float32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def hardware_settings(mixed_precision: str = "auto", deterministic: bool = False) -> dict[str, Any]:
    """Decides mixed precision and XLA from the hardware and the parameters.

    Mixed precision is used with ``"on"``, or with ``"auto"`` on a GPU (``mixed_float16``) and on
    a CPU that computes bfloat16 natively (``mixed_bfloat16``; measured 1.35x faster training
    steps than float32 for the enhanced ResNet50 at 64 px on a 2-core AMD EPYC, see
    benchmarks/README.md). float16 is never used on a CPU: it is emulated there. XLA
    (``jit_compile``) is used on GPU unless ``deterministic``: Keras turns XLA off under op
    determinism anyway, and XLA on CPU compiled slowly and ran 6x slower here.

    Returns:
        ``{"gpus", "mixed_precision" (bool), "policy" (Keras dtype policy name or None),
        "jit_compile"}``.
    """
    import tensorflow as tf

    if mixed_precision not in ("auto", "on", "off"):
        raise ValueError(f"MIXED_PRECISION must be 'auto', 'on' or 'off'. "
                         f"Received: {mixed_precision!r}")
    gpus = tf.config.list_physical_devices("GPU")
    policy = "mixed_float16" if gpus else "mixed_bfloat16"
    mp = mixed_precision == "on" or (mixed_precision == "auto" and (bool(gpus) or cpu_has_bf16()))
    return {"gpus": [g.name for g in gpus], "mixed_precision": mp,
            "policy": policy if mp else None, "jit_compile": bool(gpus) and not deterministic}


def set_seeds(seed: int, deterministic: bool = False) -> None:
    """Seeds Python, NumPy and TensorFlow; optionally makes TF ops deterministic (slower)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    """Versions of the software that produced a run."""
    import keras
    import tensorflow as tf

    try:
        from importlib.metadata import version
        ecgkit_version = version("ecgkit")
    except Exception:  # not installed as a distribution
        ecgkit_version = "unknown"
    return {"python": sys.version.split()[0], "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "ecgkit": ecgkit_version,
            "platform": platform.platform()}


# --- Class imbalance -----------------------------------------------------------------------------

def class_weights(counts: dict[str, int]) -> dict[int, float]:
    """Inverse-frequency class weights n / (k * n_c) for the classes present (absent: 0)."""
    n = sum(counts.values())
    present = [c for c in CLASSES if counts.get(c, 0) > 0]
    return {i: (n / (len(present) * counts[c]) if counts.get(c, 0) > 0 else 0.0)
            for i, c in enumerate(CLASSES)}


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


def _take(beats, idx):
    """A BeatSet restricted to the given row indices."""
    idx = np.asarray(idx)
    return dataclasses.replace(beats, windows=beats.windows[idx], labels=beats.labels[idx],
                               meta=beats.meta.iloc[idx].reset_index(drop=True))


SAMPLING_MIN_BEATS = 50
"""With ``CLASS_BALANCE="sampling"`` a class is drawn as often as the others only if training has
at least this many of its beats: drawing a fifth of every batch from a handful of beats (Q has 8
under the strict protocol) repeats them thousands of times. Rarer classes are left out of the
stream (run.json lists them)."""


def sampled_classes(labels) -> list[int]:
    """Classes that balanced sampling draws from: those with at least SAMPLING_MIN_BEATS beats
    (every class present when none has that many: a tiny test set)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(CLASSES))
    big = [k for k in range(len(CLASSES)) if counts[k] >= SAMPLING_MIN_BEATS]
    return big or [k for k in range(len(CLASSES)) if counts[k] > 0]


# --- Data pipelines --------------------------------------------------------------------------------

def make_datasets(train_beats, val_beats, p: dict[str, Any], steps_per_epoch: int | None):
    """Training and validation tf.data sets for the parameters ``p``.

    Training: on-the-fly rendering with signal-level and image-level ECG-safe augmentation
    (``AUGMENT_STRENGTH``), shuffled; with ``CLASS_BALANCE="sampling"`` an endless stream drawn
    equally from every class with enough beats (:func:`sampled_classes`). Validation: rendered
    as is, in order, with each beat's cap weight as its sample weight.
    """
    import tensorflow as tf

    from ecgkit.augment import augment_dataset, make_signal_augment
    from ecgkit.datasets import signal_dataset

    size, grid, batch, seed = p["IMAGE_SIZE"], p["GRID"], p["BATCH_SIZE"], p["SEED"]
    strength = p["AUGMENT_STRENGTH"]
    sig_aug = make_signal_augment(strength) if strength > 0 else None
    repeat = bool(steps_per_epoch)
    if p["CLASS_BALANCE"] == "sampling":
        parts = []
        for k in sampled_classes(train_beats.labels):
            sub = _take(train_beats, np.flatnonzero(train_beats.labels == k))
            parts.append(signal_dataset(sub, image_size=size, grid=grid, batch_size=batch,
                                        shuffle=True, seed=seed + int(k),
                                        signal_augment=sig_aug, repeat=True).unbatch())
        train_ds = tf.data.Dataset.sample_from_datasets(
            parts, weights=[1.0 / len(parts)] * len(parts), seed=seed).batch(batch)
    else:
        train_ds = signal_dataset(train_beats, image_size=size, grid=grid, batch_size=batch,
                                  shuffle=True, seed=seed, signal_augment=sig_aug, repeat=repeat)
    train_ds = augment_dataset(train_ds, strength, seed=seed).prefetch(tf.data.AUTOTUNE)
    # Validation beats carry their cap weights, so the checkpoint metric estimates the macro-F1
    # of every validation beat, not of a class-balanced sample of them.
    val_ds = signal_dataset(val_beats, image_size=size, grid=grid, batch_size=batch,
                            shuffle=False, sample_weights="weight" in val_beats.meta.columns
                            ).cache().prefetch(tf.data.AUTOTUNE)
    return train_ds, val_ds


# --- Callbacks ---------------------------------------------------------------------------------------

class _Lazy:
    """Builds the callback classes on first use, so importing this module does not import Keras."""

    _cache: dict[str, type] = {}

    @classmethod
    def get(cls, name):
        if name not in cls._cache:
            cls._cache.update(_make_callback_classes())
        return cls._cache[name]


def atomic_save(model, path: str | Path) -> Path:
    """Saves ``model`` to ``path`` so that the file is never half-written.

    ``*.weights.h5`` saves the weights only (``model.save_weights``); any other name (``.keras``)
    saves the whole model. Either way the file is written to a temporary name in the same folder,
    then ``os.replace`` (atomic on POSIX and Windows for one file system) puts it in place: a
    reader sees the old file or the new one, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights_only = path.name.endswith(".weights.h5")
    suffix = ".weights.h5" if weights_only else path.suffix
    stem = path.name[: -len(suffix)] if suffix else path.name
    tmp = path.with_name(f".{stem}.tmp-{os.getpid()}{suffix}")
    try:
        (model.save_weights if weights_only else model.save)(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _make_callback_classes() -> dict[str, type]:
    import keras

    class AtomicBestCheckpoint(keras.callbacks.Callback):
        """Saves the weights when ``monitor`` improves, atomically (temp file + os.replace).

        Weights only: the best epoch's weights are all that is restored at the end, and they are
        a third of a full ``.keras`` file with AdamW's state (the run's resume state is kept by
        ``BackupAndRestore``; the final model is saved whole as ``model.keras``).

        The best value so far is kept in a small JSON next to the model, so a resumed run does
        not overwrite a better checkpoint from before the interruption.
        """

        def __init__(self, filepath, monitor=MONITOR, mode="max", verbose=0):
            super().__init__()
            if mode not in ("max", "min"):
                raise ValueError(f"mode must be 'max' or 'min'. Received: mode={mode}")
            self.filepath = Path(filepath)
            self.monitor, self.mode, self.verbose = monitor, mode, verbose
            self.state_path = best_state_path(self.filepath)
            self.best = None
            self.best_epoch = None

        def on_train_begin(self, logs=None):
            if self.state_path.is_file() and self.filepath.is_file():
                state = json.loads(self.state_path.read_text())
                self.best, self.best_epoch = state["best"], state["epoch"]

        def _better(self, value):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return False
            if self.best is None:
                return True
            return value > self.best if self.mode == "max" else value < self.best

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if self.monitor not in logs:
                raise KeyError(f"checkpoint monitor {self.monitor!r} is not among the logged "
                               f"metrics {sorted(logs)}: is validation data given and is the "
                               "metric compiled?")
            value = float(logs[self.monitor])
            if self._better(value):
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved to {value:.4f}; "
                          f"saving {self.filepath}")
                self.best, self.best_epoch = value, epoch + 1
                atomic_save(self.model, self.filepath)
                tmp = self.state_path.with_name(self.state_path.name + ".tmp")
                tmp.write_text(json.dumps({"best": value, "epoch": epoch + 1,
                                           "monitor": self.monitor}))
                os.replace(tmp, self.state_path)

    class LearningRateLogger(keras.callbacks.Callback):
        """Adds the optimizer's current learning rate to the epoch logs (for CSV and plots)."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and "learning_rate" not in logs:
                lr = self.model.optimizer.learning_rate
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))

    class ReestimateBatchNorm(keras.callbacks.Callback):
        """Before every validation, recomputes BatchNorm's moving statistics with the current
        weights from a few training batches ("precise BN", Wu & Johnson 2021).

        The moving averages lag behind weights that change fast: in a short run from random
        weights the network can be right in training mode and predict one class in inference
        mode (notebook 20 measures it). Here batch ``i`` (0-based) is passed in training mode
        with momentum ``i / (i + 1)``, so the averages become the plain mean of the batches'
        statistics; the configured momentum is put back afterwards. Costs ``batches`` forward
        passes per validation. The best checkpoint and the final model carry these statistics.
        """

        def __init__(self, dataset, batches=BN_REESTIMATE_BATCHES):
            super().__init__()
            self.dataset, self.batches = dataset, int(batches)

        def on_test_begin(self, logs=None):
            layers = [layer for layer in _all_layers(self.model)
                      if isinstance(layer, keras.layers.BatchNormalization)]
            if not layers or self.batches < 1:
                return
            saved = [layer.momentum for layer in layers]
            try:
                for i, batch in enumerate(self.dataset.take(self.batches)):
                    for layer in layers:
                        layer.momentum = i / (i + 1)
                    self.model(batch[0], training=True)
            finally:
                for layer, momentum in zip(layers, saved):
                    layer.momentum = momentum

    return {"AtomicBestCheckpoint": AtomicBestCheckpoint,
            "LearningRateLogger": LearningRateLogger,
            "ReestimateBatchNorm": ReestimateBatchNorm}


def best_state_path(best: Path) -> Path:
    """The JSON beside the best checkpoint: its epoch and monitored value."""
    return best.with_name(best.name.replace(".weights.h5", ".json"))


def make_callbacks(run_dir: Path, progress: bool = True, patience: int = EARLY_STOPPING_PATIENCE,
                   extra=(), bn_batches=None) -> tuple[list, dict[str, Path]]:
    """The training callbacks and the paths they write, in the order they must run.

    ``bn_batches``: a data set of training batches for :class:`ReestimateBatchNorm` (None: the
    BatchNorm statistics are not re-estimated).
    """
    import keras

    paths = {"best": run_dir / "checkpoints" / "best.weights.h5",
             "backup": run_dir / "backup",
             "csv_log": run_dir / "history.csv",
             "tensorboard": run_dir / "tensorboard"}
    callbacks = [
        *([_Lazy.get("ReestimateBatchNorm")(bn_batches)] if bn_batches is not None else []),
        _Lazy.get("LearningRateLogger")(),
        _Lazy.get("AtomicBestCheckpoint")(paths["best"], monitor=MONITOR, mode="max",
                                          verbose=int(progress)),
        keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max", patience=patience,
                                      verbose=int(progress)),
        keras.callbacks.CSVLogger(str(paths["csv_log"]), append=True),
        keras.callbacks.TensorBoard(log_dir=str(paths["tensorboard"]), write_graph=False,
                                    profile_batch=0),
        # Last among the savers: the backup of an epoch is written once everything else about
        # that epoch (checkpoint, CSV row) is on disk, so a resume never skips a CSV row.
        keras.callbacks.BackupAndRestore(str(paths["backup"]), save_freq="epoch",
                                         delete_checkpoint=True, double_checkpoint=True),
        *extra,
    ]
    return callbacks, paths


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The CSV log as a dict (one row per finished epoch; a resumed run's rows are appended)."""
    import pandas as pd

    if not Path(csv_path).is_file() or Path(csv_path).stat().st_size == 0:
        return {}
    df = pd.read_csv(csv_path)
    # After a resume the same epoch may appear twice (if it was logged but not backed up):
    # the later row wins.
    df = df.drop_duplicates(subset="epoch", keep="last").sort_values("epoch")
    return {c: df[c].astype(float).tolist() for c in df.columns}


# --- Training ----------------------------------------------------------------------------------------

def _build_model(p: dict[str, Any]):
    from ecgkit.factory import create_enhanced_resnet50

    weights = None if p["WEIGHTS"] in ("", "none") else p["WEIGHTS"]
    return create_enhanced_resnet50(
        input_shape=(p["IMAGE_SIZE"], p["IMAGE_SIZE"], 3), num_classes=len(CLASSES),
        weights=weights, ecg_block=p["ECG_BLOCK"], attention=p["ATTENTION"],
        calibration=p["CALIBRATION"], pyramid=p["PYRAMID"], dropout=p["DROPOUT"])


BN_REESTIMATE_BATCHES = 8
"""Training batches used to recompute the BatchNorm statistics before each validation."""

BN_MOMENTUM_RANGE = (0.9, 0.99)
BN_WINDOW_EPOCH_FRACTION = 5
"""With ``BN_MOMENTUM: 0`` the momentum is ``1 - BN_WINDOW_EPOCH_FRACTION / steps_per_epoch``,
clipped to ``BN_MOMENTUM_RANGE``: the moving averages then cover about the last fifth of an epoch,
so the statistics used for validation are those of the current weights."""


def auto_bn_momentum(steps_per_epoch: int) -> float:
    """BatchNorm momentum for a run of ``steps_per_epoch`` steps between validations.

    A moving average with momentum ``m`` remembers its start for about ``1 / (1 - m)`` steps.
    Keras' default 0.99 (about 100 steps) suits long epochs; in an epoch of 50 steps the
    statistics validation uses would still be mostly the initial ones (0.99**50 = 0.6) and the
    network, in inference mode, predicts one class (notebook 20 shows this collapse). Here the
    window is a fifth of an epoch: 0.9 for 50 steps, 0.95 for 100, 0.99 from 500 steps up.
    On top of this, ``train`` recomputes the statistics from training batches before every
    validation (``ReestimateBatchNorm``), which also covers runs of a few dozen steps.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1. Received: steps_per_epoch={steps_per_epoch}")
    lo, hi = BN_MOMENTUM_RANGE
    return float(min(hi, max(lo, 1.0 - BN_WINDOW_EPOCH_FRACTION / steps_per_epoch)))


def set_batchnorm_momentum(model, momentum: float) -> int:
    """Sets the moving-average momentum of every BatchNormalization layer; returns how many.

    Keras' default 0.99 suits long runs. In a run of a few dozen steps from random weights the
    moving statistics stay close to their initial values (0.99**72 ~ 0.5), so in inference mode
    (validation, test) the network sees mis-normalised activations and tends to predict one
    class. A lower momentum (e.g. 0.9) lets the statistics follow the data within such a run
    (:func:`auto_bn_momentum`; ``train`` does this for every run). Must be called before the
    model is compiled and traced.
    """
    import keras

    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1). Received: momentum={momentum}")
    n = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            n += 1
    return n


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if math.isnan(float(o)) else float(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_json(path: Path, data: dict) -> None:
    """Writes JSON atomically (temp file + os.replace)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default))
    os.replace(tmp, path)


def train(params: dict[str, Any] | None = None, beats=None, model=None,
          run_dir: str | Path | None = None, progress: bool = True, strategy=None,
          callbacks=(), run_eagerly: bool = False) -> TrainResult:
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
            after an interruption resumes from the last finished epoch.
        progress: Keras progress bars and checkpoint messages.
        strategy: a ``tf.distribute`` strategy; None calls ``select_strategy()``.
        callbacks: extra Keras callbacks, run after ours.
        run_eagerly: skip graph tracing (for runs of a few steps, where tracing a ResNet50's
            training step costs more than it saves; slower per step).

    Returns:
        A ``TrainResult``.

    Raises:
        ParamError: unknown or mistyped parameters.
        ValueError: no training or validation beats, or an unknown CLASS_BALANCE.
    """
    import keras

    from ecgkit.backbone import record_grid
    from ecgkit.params import lead_list, record_list, resolve
    from ecgkit.training_config import get_training_config

    p = resolve(params or {})
    if p["CLASS_BALANCE"] not in CLASS_BALANCE_CHOICES:
        raise ValueError(f"CLASS_BALANCE must be one of {CLASS_BALANCE_CHOICES}. "
                         f"Received: {p['CLASS_BALANCE']!r}")
    run_dir = Path(run_dir) if run_dir is not None else Path(p["RUN_DIR"]) / "train"
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    set_seeds(p["SEED"], p["DETERMINISTIC"])
    hw = hardware_settings(p["MIXED_PRECISION"], p["DETERMINISTIC"])
    if strategy is None:
        strategy = select_strategy()

    if beats is None:
        from ecgkit.datasets import load_beats

        beats = load_beats(p["DATA_DIR"] or None, split=p["SPLIT"],
                           records=record_list(p["RECORDS"]), lead=p["LEAD"],
                           max_beats_per_record=p["MAX_BEATS_PER_RECORD"],
                           val_fraction=p["VAL_FRACTION"], seed=p["SEED"], progress=progress,
                           fallback_leads=lead_list(p["FALLBACK_LEADS"]),
                           unknown_symbols=p["UNKNOWN_SYMBOLS"])
    if "train" not in beats.splits:
        raise ValueError(f"no training beats (splits present: {beats.splits}): check DATA_DIR "
                         "and SPLIT")
    if "val" not in beats.splits:
        raise ValueError("no validation beats: the best checkpoint is chosen on validation "
                         "patients, so VAL_FRACTION must leave at least one patient")
    train_beats, val_beats = beats.subset("train"), beats.subset("val")
    counts = train_beats.class_counts()
    batch = p["BATCH_SIZE"]
    steps = p["STEPS_PER_EPOCH"] or None
    if p["CLASS_BALANCE"] == "sampling" and steps is None:
        steps = math.ceil(len(train_beats.labels) / batch)  # the stream is endless
    schedule_steps = steps or math.ceil(len(train_beats.labels) / batch)
    train_ds, val_ds = make_datasets(train_beats, val_beats, p, steps)

    # The dtype policy is global in Keras: set it for this model only, and put the previous one
    # back whatever happens (an error while building, compiling or fitting included).
    previous_policy = keras.mixed_precision.global_policy().name
    if hw["mixed_precision"]:
        keras.mixed_precision.set_global_policy(hw["policy"])
    try:
        balance = p["CLASS_BALANCE"]
        bn_momentum = p["BN_MOMENTUM"] or auto_bn_momentum(steps or schedule_steps)
        with strategy.scope():
            if model is None:
                model = _build_model(p)
            elif callable(model) and not hasattr(model, "fit"):
                model = model()
            n_bn = set_batchnorm_momentum(model, bn_momentum)
            record_grid(model, p["GRID"])  # saved with the model, for evaluation to read back
            cfg = get_training_config(
                model, learning_rate=p["LEARNING_RATE"], weight_decay=p["WEIGHT_DECAY"],
                epochs=p["EPOCHS"], steps_per_epoch=schedule_steps,
                warmup_epochs=p["WARMUP_EPOCHS"], focal_gamma=p["FOCAL_GAMMA"],
                class_counts=counts if balance == "alpha" else None)
            model.compile(optimizer=cfg["optimizer"], loss=cfg["loss"], metrics=cfg["metrics"],
                          jit_compile=hw["jit_compile"] and not run_eagerly, run_eagerly=run_eagerly)
        cw = class_weights(counts) if balance == "class_weight" else None

        cbs, paths = make_callbacks(run_dir, progress=progress, extra=callbacks,
                                    bn_batches=train_ds)
        done_before = len(read_history(paths["csv_log"]).get("epoch", []))
        resuming = (paths["backup"] / "training_metadata.json").is_file()
        if not resuming:  # a fresh run starts a fresh log and a fresh best checkpoint
            for stale in (paths["csv_log"], paths["best"], best_state_path(paths["best"])):
                if stale.exists():
                    stale.unlink()
            done_before = 0
        paths["run_json"] = run_dir / "run.json"
        info: dict[str, Any] = {
            "params": p, "class_balance": {
                "mode": balance, "train_counts": counts, "class_weight": cw,
                "sampled_classes": ([CLASSES[k] for k in sampled_classes(train_beats.labels)]
                                    if balance == "sampling" else None)},
            "versions": versions(),
            "tensorboard": str(paths["tensorboard"]),
            "hardware": {**hw, "run_eagerly": run_eagerly, "strategy": type(strategy).__name__,
                         "replicas": int(strategy.num_replicas_in_sync)},
            "data": data_summary(beats), "steps_per_epoch": steps or schedule_steps,
            "batchnorm": {"momentum": bn_momentum, "layers": n_bn,
                          "auto": not p["BN_MOMENTUM"],
                          "reestimated_from_batches": BN_REESTIMATE_BATCHES},
            "resumed_after_epochs": done_before if resuming else 0, "status": "running",
        }
        write_json(paths["run_json"], info)

        verbose = (1 if sys.stdout.isatty() else 2) if progress else 0
        model.fit(train_ds, validation_data=val_ds, epochs=p["EPOCHS"], steps_per_epoch=steps,
                  class_weight=cw, callbacks=cbs, verbose=verbose, shuffle=False)
    finally:
        if hw["mixed_precision"]:  # do not leak the policy into models built later
            keras.mixed_precision.set_global_policy(previous_policy)

    best_state = best_state_path(paths["best"])
    if paths["best"].is_file():
        model.load_weights(paths["best"])
    paths["model"] = atomic_save(model, run_dir / "model.keras")
    history = read_history(paths["csv_log"])
    info.update({
        "status": "finished", "epochs_run": len(history.get("epoch", [])),
        "best": json.loads(best_state.read_text()) if best_state.is_file() else None,
        "history": history, "seconds": round(time.time() - started, 1),
        "final_metrics": _final_metrics(model, val_ds, val_beats),
        "paths": {k: str(v) for k, v in paths.items()},
    })
    write_json(paths["run_json"], info)
    return TrainResult(history=history, run_dir=run_dir, paths=paths, model=model, info=info)


def _final_metrics(model, val_ds, val_beats) -> dict[str, Any]:
    """Validation metrics of the final (best) model, computed with ecgkit.evaluate (weighted by
    the cap weights when the beats have them)."""
    from ecgkit.evaluate import evaluate_predictions, predict_dataset

    y_true, y_prob = predict_dataset(model, val_ds)
    weights = (val_beats.meta["weight"].to_numpy() if "weight" in val_beats.meta.columns
               else None)
    r = evaluate_predictions(y_true, y_prob, n_boot=0, weights=weights)
    d = r.to_dict()
    return {"split": "val", "accuracy": d["accuracy"], "macro": d["macro"],
            "per_class": d["per_class"], "absent_classes": d["absent_classes"]}


# --- Command line ------------------------------------------------------------------------------------

def _cmd_train(args) -> int:
    from ecgkit.params import ParamError, load_profile, parse_assignments, resolve

    try:
        overrides = load_profile(args.params) if args.params else {}
        overrides.update(parse_assignments(args.set or []))
        if args.fallback_lead:
            overrides["FALLBACK_LEADS"] = ",".join(args.fallback_lead)
        if args.unknown_symbols:
            overrides["UNKNOWN_SYMBOLS"] = args.unknown_symbols
        weights = resolve(overrides)["WEIGHTS"]
        if weights not in ("", "none", "imagenet") and not Path(weights).is_file():
            raise ParamError(f"parameter WEIGHTS: no such weights file {weights!r} (use "
                             "'imagenet', 'none' or the path of a .weights.h5 file)")
    except ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = train(overrides, run_dir=args.run_dir, progress=not args.quiet)
    best = result.info.get("best") or {}
    print(f"run folder: {result.run_dir}")
    print(f"model: {result.paths['model']}")
    if best:
        print(f"best {best.get('monitor', MONITOR)} {best['best']:.4f} at epoch {best['epoch']}")
    return 0


def register_cli(subparsers) -> None:
    """Adds ``ecgkit train``."""
    p = subparsers.add_parser(
        "train", help="train a model with a parameter profile (resumes after an interruption)",
        description="Trains the enhanced ResNet50 with the workbook parameters from a YAML "
                    "profile (names from ecgkit.params; unknown names are errors). Running the "
                    "same command again after an interruption resumes from the last finished "
                    "epoch.")
    p.add_argument("--params", help="YAML profile file, or a profile name (smoke, cpu, gpu)")
    p.add_argument("--set", nargs="*", metavar="NAME=VALUE", help="override single parameters")
    p.add_argument("--run-dir", default=None, help="output folder (default RUN_DIR/train)")
    p.add_argument("--fallback-lead", action="append", metavar="LEAD",
                   help="lead to use when a record lacks LEAD (repeatable; parameter "
                        "FALLBACK_LEADS)")
    p.add_argument("--unknown-symbols", choices=("error", "skip"), default=None,
                   help="annotation symbols that are neither beats nor known non-beats "
                        "(parameter UNKNOWN_SYMBOLS; default error)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)
