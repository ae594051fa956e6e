"""Classification head: dense layers with batch normalization and dropout, float32 softmax.

Introduced in: notebooks/14_pyramid_and_head.ipynb

The head turns the pooled feature vector into class probabilities. Each hidden layer is
``Dense (no bias) -> BatchNormalization -> ReLU -> Dropout``; the output is a ``Dense`` layer
with ``num_classes`` logits followed by a softmax layer named ``"predictions"`` whose dtype is
float32, so probabilities (and the loss computed from them) stay in full precision under the
``mixed_float16`` policy.
"""

from __future__ import annotations

from keras import layers

from ecgkit.model.context_branch import PRIOR_LAYER, BranchDropout, PriorShift


def classification_head(x, num_classes, units=(512, 256), dropout=0.5, name="head",
                        extra_logits=None):
    """Dense/BN/ReLU/Dropout layers and a float32 softmax output named ``"predictions"``.

    Args:
        x: Pooled features ``(batch, D)``.
        num_classes: Number of classes (>= 2).
        units: Width of each hidden layer, in order (may be empty).
        dropout: Dropout rate after each hidden layer, in ``[0, 1)``.
        name: Prefix of every sublayer name except the output ``"predictions"``.
        extra_logits: Optional logits ``(batch, num_classes)`` of another branch (the context
            branch, :mod:`ecgkit.model.context_branch`), added to the head's before the softmax;
            the sum then passes a :class:`~ecgkit.model.context_branch.PriorShift` (zero until
            ``ecgkit.training.train`` sets it after training).

    Returns:
        Probabilities ``(batch, num_classes)`` in float32.

    Raises:
        ValueError: ``num_classes < 2``, non-positive ``units`` or ``dropout`` out of range.
    """
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(
            f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes}"
        )
    units = tuple(units)
    if any(int(u) != u or u < 1 for u in units):
        raise ValueError(f"`units` must be positive integers. Received: units={units}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")

    for i, u in enumerate(units, start=1):
        x = layers.Dense(int(u), use_bias=False, name=f"{name}_dense_{i}")(x)
        x = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn_{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu_{i}")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
    x = layers.Dense(int(num_classes), name=f"{name}_logits")(x)
    if extra_logits is not None:
        x = BranchDropout(name="image_logit_drop")(x)
        x = layers.Add(name="logits")([x, extra_logits])
        x = PriorShift(dtype="float32", name=PRIOR_LAYER)(x)
    return layers.Activation("softmax", dtype="float32", name="predictions")(x)
