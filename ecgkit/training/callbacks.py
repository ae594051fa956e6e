"""The Keras callbacks of a training run: best checkpoint, logs, resume, BatchNorm statistics.

Introduced in: notebooks/20_training.ipynb.

:func:`make_callbacks` returns them in the order they must run:

- :class:`ReestimateBatchNorm` recomputes the BatchNorm statistics before every validation;
- :class:`LearningRateLogger` adds the learning rate to the epoch logs;
- :class:`AtomicBestCheckpoint` keeps the weights of the best epoch by validation macro F1
  (validation patients only; the test patients never choose an epoch), written atomically
  (``ecgkit.training.atomic``);
- early stopping, a CSV log, and on the TensorFlow backend TensorBoard logs (``tensorboard`` is
  a dependency of ecgkit: TensorFlow 2.21 no longer installs it, and ``tf.summary`` cannot
  write without it; Keras' TensorBoard callback needs TensorFlow, so JAX and PyTorch runs keep
  the CSV log, which notebook 20 plots);
- :class:`AtomicBackupAndRestore` (Keras' ``BackupAndRestore``, its backup written as one
  consistent pair): after an interruption, running the same command again continues from the
  last finished epoch (weights, optimizer state and learning-rate schedule).

:class:`BatchLossRecorder`, an extra callback a caller passes to ``train``, records the loss of
every batch (the short runs of notebooks/21_hyperparameter_explorer.ipynb).

The BatchNorm momentum itself is set before compiling (:func:`set_batchnorm_momentum`,
:func:`auto_bn_momentum`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ecgkit.training.atomic import atomic_save, write_json

MONITOR = "val_macro_f1"
EARLY_STOPPING_PATIENCE = 5

BN_REESTIMATE_BATCHES = 8
BN_REESTIMATE_VALUES = 256 * 64 * 64 * 3
"""Training batches used to recompute the BatchNorm statistics before each validation, and at
most how many input values (256 images of 64 x 64 x 3) go through the network in one pass
(:class:`ReestimateBatchNorm`)."""

BN_MOMENTUM_RANGE = (0.9, 0.99)
BN_WINDOW_EPOCH_FRACTION = 5
"""With ``BN_MOMENTUM: 0`` the momentum is ``1 - BN_WINDOW_EPOCH_FRACTION / steps_per_epoch``,
clipped to ``BN_MOMENTUM_RANGE``: the moving averages then cover about the last fifth of an epoch,
so the statistics used for validation are those of the current weights."""


def best_state_path(best: Path) -> Path:
    """The JSON beside the best checkpoint: its epoch and monitored value."""
    return best.with_name(best.name.replace(".weights.h5", ".json"))


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Saves the weights when ``monitor`` improves, atomically (temp file + os.replace).

    ``model.save_weights``: the best epoch's weights are what is restored at the end (the run's
    resume state is kept by ``BackupAndRestore``; the final model is saved whole as
    ``model.keras``). Keras 3.15 writes the compiled optimizer's variables into this file too
    (AdamW's two moments: two thirds of its 330 MB for the enhanced ResNet50).

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
            write_json(self.state_path, {"best": value, "epoch": epoch + 1,
                                         "monitor": self.monitor})


BACKUP_STATE = "training_metadata.json"
"""The file of a backup folder that names the epoch and the weights file: its commit."""


def backup_state(backup_dir: str | Path) -> dict | None:
    """The last committed backup in ``backup_dir``: ``{"epoch": N, "weights": FILE, ...}`` when
    its state file and the weights it names are there, else None (nothing to resume).

    A state without ``"weights"`` is Keras' own layout (``latest.weights.h5``).
    """
    state_path = Path(backup_dir) / BACKUP_STATE
    try:
        state = json.loads(state_path.read_text())
        epoch = int(state["epoch"])
    except (OSError, ValueError, KeyError, TypeError):  # absent, or not ours
        return None
    weights = Path(backup_dir) / state.get("weights", "latest.weights.h5")
    return {**state, "epoch": epoch, "weights": weights} if weights.is_file() else None


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backup is one consistent pair, whatever the moment of a Ctrl-C.

    Keras writes ``latest.weights.h5`` in place, then ``training_metadata.json``: a Ctrl-C in
    between leaves the weights of one epoch beside the number of another, or, at the first
    backup, weights without a number, which the next run would take for a fresh start while
    Keras loads them. Here the weights of epoch N go to ``epoch-N.weights.h5``
    (``atomic_save``), then the state file, which names them, replaces the old one atomically:
    that replacement is the commit. The older weights are removed afterwards. A backup is
    thus the state file and the weights it names (:func:`backup_state`), or nothing. Saves at
    the end of every epoch; the folder is deleted when the training ends.
    """

    def __init__(self, backup_dir: str | Path):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=True)
        self.folder = Path(backup_dir)

    def on_train_begin(self, logs=None):
        self._load_model()

    def _load_model(self):
        state = backup_state(self.folder)
        if state is None:
            return
        if not self.model.built:
            raise ValueError(f"{self.folder}: the model must be built before it can be "
                             f"restored. Received: an unbuilt model {self.model.name!r}")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its state is restored
        self.model.load_weights(state["weights"])
        self.model._initial_epoch = state["epoch"]  # as Keras' BackupAndRestore does

    def _save_model(self):
        weights = f"epoch-{self._current_epoch}.weights.h5"
        atomic_save(self.model, self.folder / weights)
        write_json(self.folder / BACKUP_STATE, {"epoch": self._current_epoch, "batch": 0,
                                                 "weights": weights})
        for old in self.folder.iterdir():  # earlier epochs, a killed save's temporary file
            if old.name not in (weights, BACKUP_STATE) and not old.is_dir():
                old.unlink(missing_ok=True)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs (for CSV and plots)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "learning_rate" not in logs:
            lr = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))


class BatchLossRecorder(keras.callbacks.Callback):
    """Records the training loss of every batch and the logs of every epoch, as they happen.

    Used by the short runs of notebook 21 (``ecgkit.workbook.widgets.training_comparison_widget``),
    which plot the loss against the step. At the end of a batch Keras reports the mean loss of the
    epoch's batches so far; the loss of the batch itself is recovered from two successive means
    (``(b + 1) m_b - b m_(b-1)`` for batch ``b``), which holds for batches of equal size, as
    ``train``'s endless training stream gives.

    Each ``listeners`` function is called as ``listener(event, recorder)`` with ``event`` one
    of ``"begin"``, ``"batch"``, ``"validation"`` and ``"epoch"`` (for a progress display).

    Attributes:
        steps: the step number of every batch (1, 2, ... across epochs).
        losses: the training loss of every batch.
        epoch_end_steps: the step at which each finished epoch ended.
        epoch_logs: the logs of each finished epoch (``val_macro_f1`` and the others).
        total_steps: epochs x batches per epoch, from ``fit``'s parameters (None if unknown).
    """

    def __init__(self, listener=None):
        super().__init__()
        self.listeners = [listener] if listener is not None else []
        self._reset()

    def _reset(self):
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.epoch_end_steps: list[int] = []
        self.epoch_logs: list[dict[str, float]] = []
        self.total_steps = None
        self._epoch_start, self._seen, self._mean = 0, 0, 0.0

    def _notify(self, event: str):
        for listener in self.listeners:
            listener(event, self)

    def on_train_begin(self, logs=None):
        self._reset()
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        self.total_steps = int(epochs * steps) if epochs and steps else None
        self._notify("begin")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._seen, self._mean = len(self.steps), 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        seen = int(batch) + 1  # batches of this epoch so far (several with steps_per_execution)
        mean = float(keras.ops.convert_to_numpy(logs["loss"]))
        new = max(seen - self._seen, 1)
        self.losses.append((seen * mean - self._seen * self._mean) / new)
        self.steps.append(self._epoch_start + seen)
        self._seen, self._mean = seen, mean
        self._notify("batch")

    def on_test_begin(self, logs=None):
        self._notify("validation")

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end_steps.append(self.steps[-1] if self.steps else 0)
        self.epoch_logs.append({k: float(keras.ops.convert_to_numpy(v))
                                for k, v in (logs or {}).items()})
        self._notify("epoch")


class ReestimateBatchNorm(keras.callbacks.Callback):
    """Before every validation, recomputes BatchNorm's moving statistics with the current
    weights from a few training batches ("precise BN", Wu & Johnson 2021).

    The moving averages lag behind weights that change fast: in a short run from random
    weights the network can be right in training mode and predict one class in inference
    mode (notebook 20 measures it). Here the next ``batches`` training batches are joined into
    chunks of at most :data:`BN_REESTIMATE_VALUES` input values, and chunk ``i`` (0-based) is passed
    in training mode with momentum ``i / (i + 1)``, so the averages become the plain mean of the
    chunks' statistics; the configured momentum is put back afterwards. One forward pass over
    the joined batches instead of one per batch: the pass runs eagerly, where each call costs
    about a second of overhead on 2 cores. The best checkpoint and the final model carry these
    statistics.
    """

    def __init__(self, dataset, batches=BN_REESTIMATE_BATCHES):
        """``dataset``: training batches by number (``dataset[i]``, e.g. an endless
        ``ecgkit.data.batches.Batches``); each validation takes the next ``batches`` of them."""
        super().__init__()
        self.dataset, self.batches = dataset, int(batches)
        self.drawn = 0

    def _next_batches(self) -> list:
        out = []
        for _ in range(self.batches):
            out.append(self.dataset[self.drawn % len(self.dataset)
                                    if self.dataset.num_batches else self.drawn][0])
            self.drawn += 1
        return out

    def on_test_begin(self, logs=None):
        layers = [layer for layer in _all_layers(self.model)
                  if isinstance(layer, keras.layers.BatchNormalization)]
        if not layers or self.batches < 1:
            return
        inputs = self._next_batches()
        values = sum(np.asarray(x).size for x in keras.tree.flatten(inputs[0]))
        per_chunk = max(1, BN_REESTIMATE_VALUES // max(1, values))
        chunks = [keras.tree.map_structure(lambda *xs: np.concatenate(xs, axis=0),
                                           *inputs[a:a + per_chunk])
                  for a in range(0, len(inputs), per_chunk)]
        saved = [layer.momentum for layer in layers]
        try:
            for i, chunk in enumerate(chunks):
                for layer in layers:
                    layer.momentum = i / (i + 1)
                self.model(keras.tree.map_structure(keras.ops.convert_to_tensor, chunk),
                           training=True)
        finally:
            for layer, momentum in zip(layers, saved):
                layer.momentum = momentum


def make_callbacks(run_dir: Path, progress: bool = True, patience: int = EARLY_STOPPING_PATIENCE,
                   extra=(), bn_batches=None) -> tuple[list, dict[str, Path]]:
    """The training callbacks and the paths they write, in the order they must run.

    ``bn_batches``: a data set of training batches for :class:`ReestimateBatchNorm` (None: the
    BatchNorm statistics are not re-estimated).
    """
    paths = {"best": run_dir / "checkpoints" / "best.weights.h5",
             "backup": run_dir / "backup",
             "csv_log": run_dir / "history.csv"}
    tensorboard = []
    if keras.backend.backend() == "tensorflow":
        paths["tensorboard"] = run_dir / "tensorboard"
        tensorboard = [keras.callbacks.TensorBoard(log_dir=str(paths["tensorboard"]),
                                                   write_graph=False, profile_batch=0)]
    callbacks = [
        *([ReestimateBatchNorm(bn_batches)] if bn_batches is not None else []),
        LearningRateLogger(),
        AtomicBestCheckpoint(paths["best"], monitor=MONITOR, mode="max", verbose=int(progress)),
        keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max", patience=patience,
                                      verbose=int(progress)),
        keras.callbacks.CSVLogger(str(paths["csv_log"]), append=True),
        *tensorboard,
        # Last among the savers: the backup of an epoch is written once everything else about
        # that epoch (checkpoint, CSV row) is on disk, so a resume never skips a CSV row.
        AtomicBackupAndRestore(paths["backup"]),
        *extra,
    ]
    return callbacks, paths


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The CSV log as a dict (one row per finished epoch; a resumed run's rows are appended)."""
    if not Path(csv_path).is_file() or Path(csv_path).stat().st_size == 0:
        return {}
    df = pd.read_csv(csv_path)
    # After a resume the same epoch may appear twice (if it was logged but not backed up):
    # the later row wins.
    df = df.drop_duplicates(subset="epoch", keep="last").sort_values("epoch")
    return {c: df[c].astype(float).tolist() for c in df.columns}


# --- BatchNorm momentum ------------------------------------------------------------------------

def auto_bn_momentum(steps_per_epoch: int) -> float:
    """BatchNorm momentum for a run of ``steps_per_epoch`` steps between validations.

    A moving average with momentum ``m`` remembers its start for about ``1 / (1 - m)`` steps.
    Keras' default 0.99 (about 100 steps) suits long epochs; in an epoch of 50 steps the
    statistics validation uses would still be mostly the initial ones (0.99**50 = 0.6) and the
    network, in inference mode, predicts one class (notebook 20 shows this collapse). Here the
    window is a fifth of an epoch: 0.9 for 50 steps, 0.95 for 100, 0.99 from 500 steps up.
    On top of this, ``train`` recomputes the statistics from training batches before every
    validation (:class:`ReestimateBatchNorm`), which also covers runs of a few dozen steps.
    """
    if steps_per_epoch < 1:
        raise ValueError("steps_per_epoch must be >= 1. "
                         f"Received: steps_per_epoch={steps_per_epoch}")
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
