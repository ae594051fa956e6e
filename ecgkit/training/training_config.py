"""Training configuration: AdamW with warm-up cosine decay, focal loss, macro metrics.

Introduced in: notebooks/20_training.ipynb

:func:`get_training_config` returns everything ``model.compile`` needs, plus the learning-rate
schedule so it can be plotted::

    cfg = get_training_config(model, class_counts=train_beats.class_counts())
    model.compile(optimizer=cfg["optimizer"], loss=cfg["loss"], metrics=cfg["metrics"])

* **Optimizer.** ``keras.optimizers.AdamW`` (decoupled weight decay; no tensorflow-addons
  needed). Biases and batch-normalization ``gamma``/``beta`` are excluded from weight decay,
  the usual practice (this exclusion is not part of the optimizer's saved config).
* **Schedule.** ``keras.optimizers.schedules.CosineDecay`` with linear warm-up from
  ``learning_rate / 100`` to ``learning_rate`` over ``warmup_epochs``, then cosine decay to 0
  at the last step (``epochs * steps_per_epoch``).
* **Loss.** ``keras.losses.CategoricalFocalCrossentropy`` (one-hot labels): the
  ``(1 - p_t) ** gamma`` factor down-weights easy, well-classified beats (mostly class N).
  With ``class_counts`` each class also gets a weight ``alpha`` from :func:`class_alpha`.
* **Metrics.** See :mod:`ecgkit.training.metrics`: accuracy, macro precision / recall / F1 /
  specificity, and macro one-vs-rest AUC.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from ecgkit.contract import CLASSES
from ecgkit.training.metrics import classification_metrics

NO_WEIGHT_DECAY = ("bias", "gamma", "beta")
"""Variable names (substrings) excluded from AdamW's weight decay."""

WARMUP_START_FRACTION = 0.01
"""The warm-up starts at this fraction of the peak learning rate."""


def make_schedule(learning_rate=3e-4, epochs=10, steps_per_epoch=100, warmup_epochs=1.0):
    """Linear warm-up then cosine decay, as a ``keras.optimizers.schedules.CosineDecay``.

    Args:
        learning_rate: Peak learning rate, reached at the end of warm-up.
        epochs: Training epochs.
        steps_per_epoch: Optimizer steps per epoch.
        warmup_epochs: Warm-up length in epochs (fractional allowed; at most the whole run
            minus one step).

    Returns:
        The schedule; call it with a step number to get the learning rate.

    Raises:
        ValueError: non-positive rate, epochs or steps, negative warm-up.
    """
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate}")
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"`epochs` must be an integer >= 1. Received: epochs={epochs}")
    if int(steps_per_epoch) != steps_per_epoch or steps_per_epoch < 1:
        raise ValueError(
            "`steps_per_epoch` must be an integer >= 1. "
            f"Received: steps_per_epoch={steps_per_epoch}"
        )
    if not warmup_epochs >= 0:
        raise ValueError(f"`warmup_epochs` must be >= 0. Received: warmup_epochs={warmup_epochs}")
    total = int(epochs) * int(steps_per_epoch)
    warmup = min(int(round(warmup_epochs * steps_per_epoch)), total - 1)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate * WARMUP_START_FRACTION,
            decay_steps=total - warmup,
            warmup_target=learning_rate,
            warmup_steps=warmup,
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate, decay_steps=total
    )


def class_alpha(class_counts, num_classes):
    """Per-class focal-loss weights, inverse to class frequency, summing to 1.

    ``alpha_c = (1 / n_c) / sum_k (1 / n_k)`` over classes with ``n_c > 0``. A class with zero
    count (absent from training) gets the largest weight of the present classes before the
    normalisation: it cannot affect training, but if it shows up in validation it is not
    ignored. No division by zero happens.

    Args:
        class_counts: Sequence of ``num_classes`` counts in class order, or a mapping from class
            name (``ecgkit.contract.CLASSES`` when ``num_classes`` is 5) or index to count, as
            ``BeatSet.class_counts()`` returns.
        num_classes: Number of classes of the model.

    Returns:
        List of ``num_classes`` floats.

    Raises:
        ValueError: wrong length, unknown class names, negative counts, or all counts zero.
    """
    if isinstance(class_counts, Mapping):
        keys = list(class_counts)
        if num_classes == len(CLASSES) and set(keys) <= set(CLASSES):
            counts = [class_counts.get(c, 0) for c in CLASSES]
        elif set(keys) <= set(range(num_classes)):
            counts = [class_counts.get(i, 0) for i in range(num_classes)]
        else:
            raise ValueError(
                f"`class_counts` keys must be class names {CLASSES} (for 5 classes) or indices "
                f"0..{num_classes - 1}. Received: class_counts={dict(class_counts)}"
            )
    else:
        counts = list(class_counts)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (num_classes,):
        raise ValueError(
            f"`class_counts` must have {num_classes} entries. Received: class_counts={counts}"
        )
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"Class counts must be >= 0. Received: class_counts={counts}")
    present = counts > 0
    if not present.any():
        raise ValueError(f"At least one class count must be > 0. Received: {counts}")
    inverse = np.zeros_like(counts)
    inverse[present] = 1.0 / counts[present]
    inverse[~present] = inverse[present].max()
    return (inverse / inverse.sum()).tolist()


def get_training_config(
    model,
    *,
    learning_rate=3e-4,
    weight_decay=1e-4,
    epochs=10,
    steps_per_epoch=100,
    warmup_epochs=1.0,
    focal_gamma=2.0,
    class_counts=None,
    label_smoothing=0.0,
):
    """Optimizer, loss, metrics and schedule for ``model.compile``.

    Args:
        model: The model to train; its output size sets the number of classes.
        learning_rate: Peak learning rate (after warm-up).
        weight_decay: AdamW decoupled weight decay.
        epochs: Epochs the schedule spans.
        steps_per_epoch: Optimizer steps per epoch (the schedule's time unit).
        warmup_epochs: Linear warm-up length in epochs.
        focal_gamma: Focal-loss focusing parameter (0 gives plain cross-entropy).
        class_counts: Optional training class counts; when given, the focal loss weights
            classes by :func:`class_alpha`. Otherwise ``alpha = 0.25`` for every class.
        label_smoothing: Label smoothing in ``[0, 1)``.

    Returns:
        Dict with ``"optimizer"`` (AdamW), ``"loss"`` (CategoricalFocalCrossentropy),
        ``"metrics"`` (list, names in ``ecgkit.training.metrics.METRIC_NAMES``) and ``"schedule"``.

    Raises:
        ValueError: invalid numbers or class counts, or a model without a class axis.
    """
    shape = getattr(model, "output_shape", None)
    if not isinstance(shape, tuple) or len(shape) != 2 or not shape[-1] or shape[-1] < 2:
        raise ValueError(
            "`model` must output class probabilities (batch, num_classes >= 2). Received: "
            f"output_shape={shape}"
        )
    num_classes = int(shape[-1])
    if not weight_decay >= 0:
        raise ValueError(f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay}")
    if not focal_gamma >= 0:
        raise ValueError(f"`focal_gamma` must be >= 0. Received: focal_gamma={focal_gamma}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(
            f"`label_smoothing` must be in [0, 1). Received: label_smoothing={label_smoothing}"
        )

    schedule = make_schedule(learning_rate, epochs, steps_per_epoch, warmup_epochs)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    alpha = 0.25 if class_counts is None else class_alpha(class_counts, num_classes)
    loss = keras.losses.CategoricalFocalCrossentropy(
        alpha=alpha, gamma=float(focal_gamma), label_smoothing=float(label_smoothing)
    )
    return {
        "optimizer": optimizer,
        "loss": loss,
        "metrics": classification_metrics(num_classes),
        "schedule": schedule,
    }
