"""Class imbalance: the ``CLASS_BALANCE`` choices and what each needs.

Introduced in: notebooks/20_training.ipynb.

MIT-BIH is about 90% N beats. ``train`` offers four answers (``CLASS_BALANCE``):

- ``"alpha"``: per-class weights inside the focal loss (``training_config.class_alpha``);
- ``"class_weight"``: Keras ``class_weight`` from :func:`class_weights`;
- ``"sampling"``: batches drawn equally from every class with enough beats
  (:func:`sampled_classes`; ``train.make_datasets`` builds the stream);
- ``"none"``: the data as it comes.
"""

from __future__ import annotations

import numpy as np

from ecgkit.contract import CLASSES

CLASS_BALANCE_CHOICES = ("alpha", "class_weight", "sampling", "none")

SAMPLING_MIN_BEATS = 50
"""With ``CLASS_BALANCE="sampling"`` a class is drawn as often as the others only if training has
at least this many of its beats: drawing a fifth of every batch from a handful of beats (Q has 8
under the strict protocol) repeats them thousands of times. Rarer classes are left out of the
stream (run.json lists them)."""


def class_weights(counts: dict[str, int], classes=CLASSES) -> dict[int, float]:
    """Inverse-frequency class weights n / (k * n_c) for the classes present (absent: 0);
    ``classes``: the class names in label order (default ecgkit's; an image folder's own)."""
    n = sum(counts.values())
    present = [c for c in classes if counts.get(c, 0) > 0]
    return {i: (n / (len(present) * counts[c]) if counts.get(c, 0) > 0 else 0.0)
            for i, c in enumerate(classes)}


def sampled_classes(labels, num_classes: int = len(CLASSES)) -> list[int]:
    """Classes that balanced sampling draws from: those with at least SAMPLING_MIN_BEATS beats
    (every class present when none has that many: a tiny test set); ``num_classes``: how many
    classes the labels index (default ecgkit's 5; an image folder's own)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    big = [k for k in range(num_classes) if counts[k] >= SAMPLING_MIN_BEATS]
    return big or [k for k in range(num_classes) if counts[k] > 0]
