"""The context branch: the beat's rhythm and shape against its own record, inside the model.

Introduced in: notebooks/20_training.ipynb.

A second input, ``"context"`` (:data:`ecgkit.data.context.N_FEATURES` values per beat,
:mod:`ecgkit.data.context`), joins the image network in one of two ways (``CONTEXT_JOIN``):

* ``"logits"``: the context ends in its own class logits, which are added to the image head's
  logits before the softmax. The prediction is a product of experts trained together: neither
  branch can drown the other, since each speaks in logits. Inside the branch the same idea
  again (:data:`CONTEXT_EXPERTS`): the 3 rhythm values go through their own small MLP (Dense 32
  -> ReLU -> Dense 32 -> ReLU) and the 71 shape values through theirs (Dense 64 -> ReLU ->
  Dense 64 -> ReLU), each to its own logits, which add; the standardisation comes first.
* ``"head"``: one MLP over the whole vector (Dense 64 -> ReLU -> Dense 64 -> ReLU); its 64
  features are concatenated with the pooled image features before the head, which mixes them (the
  design that, in a 1-D CNN, learned the shape and ignored the three RR values: three numbers
  beside thousands of image features barely move the head).

The standardisation layer (``"context_norm"``) holds the training beats' mean and variance
(:func:`adapt_context`), so the saved model takes raw context vectors.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from ecgkit.contract import CLASSES

CONTEXT_JOINS = ("logits", "head")
"""``CONTEXT_JOIN`` values: where the context branch joins the image network."""

CONTEXT_UNITS = (64, 64)
CONTEXT_EXPERTS = True
"""Two experts (``"logits"`` join): the rhythm values and the shape values each through their
own MLP to their own logits, which add (``context_logits``), instead of one MLP over all of
them (False, the design kept for the comparison). An S beat is early against the patient's
rhythm *and* shaped like the patient's usual beat: with added logits each expert's evidence
counts on its own, and three rhythm numbers are not drowned by 71 shape values.

Chosen on DS1 alone (``benchmarks/bench_context_branch.py``: the branch fitted alone, 5-fold
cross-validation grouped by patient, 3 seeds): macro-F1 0.545 (0.537-0.551) against 0.521
(0.497-0.543) for one MLP, better in every seed, S Se 0.775 against 0.720 and S +P 0.339
against 0.283. A rhythm expert of one layer of 16 gained nothing (0.517); two of 64 the same as
two of 32 (0.546). The trees on the same folds: 0.581."""
CONTEXT_MEMBERS = 1
"""Copies of the context branch (each its own initial weights, each fitted to the labels on its
own batches in :func:`warm_up`) whose logits are averaged into ``context_logits``: an ensemble
inside the model. 1: one branch, the layer names of models saved before.

Measured on DS1 alone (``benchmarks/bench_context_branch.py``, 5-fold CV by patient, 3 seeds):
3 copies 0.548 / 0.576, 5 copies 0.550 / 0.571, against 0.545 / 0.571 for one (macro-F1 without
/ with the prior correction 0.3), within the seeds' spread, at 2.4 to 3.6 times the warm-up: not
taken; the switch stays for the comparison."""
RHYTHM_UNITS = (32, 32)
"""Dense layers of the rhythm expert (:data:`CONTEXT_EXPERTS`); the shape expert has
:data:`CONTEXT_UNITS`."""
CONTEXT_NOISE = 0.0
CONTEXT_DROPOUT = 0.0
"""Training noise on the standardised context and dropout after each dense layer: off.

Measured on DS1 alone (``benchmarks/bench_context_branch.py``: the branch fitted alone as
:func:`warm_up` fits it, 5-fold cross-validation grouped by patient, 3 seeds): noise 0.3 with
dropout 0.3 scored macro-F1 0.514 against 0.517 without, and found fewer S beats (S Se 0.56
against 0.73). The switch stays for that comparison."""
CONTEXT_LOGIT_DROP = 0.0
"""Share of training beats whose context logits are dropped (``"logits"`` join): on those the
image branch must classify alone. Off; ``benchmarks/bench_learning.py`` measures it (recipe
``enhanced-context-logits-drop``)."""
IMAGE_LOGIT_DROP = 0.5
"""Share of training beats whose image logits are dropped (``"logits"`` join,
:class:`BranchDropout`): on those the context branch must classify alone, so it stays a
classifier in its own right instead of leaning on an image branch that fits the training
patients' beat shapes (measured: the image branch alone finds almost no S beats of new
patients)."""
WARMUP_STEPS = 2000
"""Batches the context branch is fitted alone before the joint training (:func:`warm_up`)."""
CONTEXT_INPUT = "context"
"""Name of the model's context input."""
NORM_LAYER = "context_norm"


@keras.saving.register_keras_serializable(package="ecgkit")
class BranchDropout(layers.Layer):
    """In training, sets a whole branch's output to 0 for a random share ``rate`` of the beats
    (no rescaling: the branch is absent, not amplified); in inference, the identity.

    Applied to the image head's logits before they are added to the context branch's: a
    training beat then is classified by both branches, or by the context alone. In inference the
    branch is multiplied by ``scale``, the weight of the image logits against the context's,
    which ``ecgkit.training.train`` chooses on the validation patients after training
    (:func:`choose_image_scale`) and which is saved with the model.
    """

    def __init__(self, rate: float = IMAGE_LOGIT_DROP, seed: int | None = None,
                 scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.scale = float(scale)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training:
            return inputs if self.scale == 1.0 else inputs * self.scale
        if self.rate == 0.0:
            return inputs
        shape = (keras.ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        keep = keras.random.uniform(shape, seed=self.seed_generator) >= self.rate
        return inputs * keras.ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "scale": self.scale}


PRIOR_TAU = 0.2
"""Weight of the prior correction ``ecgkit.training.train`` sets in a context model after training
(:func:`set_prior_shift`): the logits get ``PRIOR_TAU * log(training class frequency)`` plus
:data:`LOGIT_OFFSETS`.

Chosen on DS1 alone with the offsets (``benchmarks/bench_context_branch.py --taus 0,0.1,0.15,0.2,
0.3 --s-offsets 0,0.25,0.5,0.75,1 --min-s-se 0.75``: the two-expert branch fitted alone, 5-fold
cross-validation grouped by patient, 3 seeds): the highest macro-F1 among the operating points
whose S sensitivity reaches the 0.75 that issue #16 asks for. tau 0.2 with S offset 0.5: macro-F1
0.558, S Se 0.751, S +P 0.400. The correction alone would give more macro-F1 (0.571 at tau 0.3,
the setting until 2026-12-05) with less S sensitivity (0.634): the correction trades S
sensitivity for S precision, and the S offset trades some back."""
LOGIT_OFFSETS = {"S": 0.5}
"""Added to the logits of these classes after training, with the prior correction
(:data:`PRIOR_TAU`): a threshold on S, chosen on DS1 with it."""
PRIOR_LAYER = "prior_shift"


@keras.saving.register_keras_serializable(package="ecgkit")
class PriorShift(layers.Layer):
    """Adds a fixed vector to the logits: ``tau * log(training class frequency)``, set after
    training (:func:`set_prior_shift`) and saved with the model; zero, the identity, until then
    and throughout training.

    A network trained on class-balanced batches decides as if every class were equally common;
    the shift moves its decisions toward the class mix of real patients (post-hoc logit
    adjustment, Menon et al. 2021, with a weight ``tau`` chosen on DS1). The shift is a
    non-trainable weight, so a prediction function traced before it was set still reads the
    current value.
    """

    def build(self, input_shape):
        self.shift = self.add_weight(name="shift", shape=(int(input_shape[-1]),),
                                     initializer="zeros", trainable=False)

    def call(self, inputs):
        return inputs + keras.ops.cast(self.shift, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="ecgkit")
class Columns(layers.Layer):
    """Columns ``start`` to ``stop`` (exclusive) of a ``(batch, features)`` input: the rhythm or
    the shape part of a context vector."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= int(start) < int(stop):
            raise ValueError(f"need 0 <= start < stop. Received: start={start}, stop={stop}")
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[:, self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def _mlp(x, units, name: str, dropout: float):
    for i, u in enumerate(units, start=1):
        x = layers.Dense(u, activation="relu", name=f"{name}_dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
    return x


def context_branch(context, num_classes: int, join: str = "logits", name: str = "context",
                   noise: float = CONTEXT_NOISE, dropout: float = CONTEXT_DROPOUT,
                   logit_drop: float | None = None, experts: bool | None = None,
                   members: int | None = None):
    """The MLP on the context vector.

    Args:
        context: the context input ``(batch, features)``.
        num_classes: classes of the logits (``join="logits"``).
        join: ``"logits"`` (returns logits ``(batch, num_classes)``) or ``"head"`` (returns
            features ``(batch, 64)``).
        name: prefix of the layer names.
        noise: standard deviation of the training noise on the standardised context (0: none).
        dropout: dropout rate after each dense layer in training (0: none).
        logit_drop: share of training beats whose logits are dropped (:class:`BranchDropout`;
            None: :data:`CONTEXT_LOGIT_DROP`).
        experts: rhythm and shape through separate MLPs whose logits add (``"logits"`` join
            only; None: :data:`CONTEXT_EXPERTS`).
        members: copies of the branch whose logits are averaged (``"logits"`` join only; None:
            :data:`CONTEXT_MEMBERS`); member ``j``'s layers are named ``{name}{j}_...`` and its
            logits ``{name}{j}_logits``.

    Raises:
        ValueError: an unknown ``join``, or ``noise`` < 0, or ``dropout`` outside [0, 1), or
            ``members`` < 1.
    """
    if join not in CONTEXT_JOINS:
        raise ValueError(f"CONTEXT_JOIN must be one of {CONTEXT_JOINS}. Received: {join!r}")
    if not noise >= 0 or not 0 <= dropout < 1:
        raise ValueError(f"noise must be >= 0 and dropout in [0, 1). Received: noise={noise}, "
                         f"dropout={dropout}")
    x = layers.Normalization(name=NORM_LAYER)(context)
    if noise:
        x = layers.GaussianNoise(noise, name=f"{name}_noise")(x)
    if join == "head":
        return _mlp(x, CONTEXT_UNITS, name, dropout)
    k = CONTEXT_MEMBERS if members is None else members
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"members must be an integer >= 1. Received: members={members!r}")
    parts = None
    if CONTEXT_EXPERTS if experts is None else experts:
        from ecgkit.data.context import N_RHYTHM

        parts = {"rhythm": (Columns(0, N_RHYTHM, name=f"{name}_rhythm")(x), RHYTHM_UNITS),
                 "shape": (Columns(N_RHYTHM, int(context.shape[-1]), name=f"{name}_shape")(x),
                           CONTEXT_UNITS)}

    def member(prefix: str, out: str):
        if parts is None:
            return layers.Dense(int(num_classes), dtype="float32", name=out)(
                _mlp(x, CONTEXT_UNITS, prefix, dropout))
        return layers.Add(dtype="float32", name=out)([
            layers.Dense(int(num_classes), dtype="float32", name=f"{prefix}_{part}_logits")(
                _mlp(v, units, f"{prefix}_{part}", dropout))
            for part, (v, units) in parts.items()])

    if k == 1:
        x = member(name, f"{name}_logits")
    else:
        x = layers.Average(dtype="float32", name=f"{name}_logits")(
            [member(f"{name}{j}", f"{name}{j}_logits") for j in range(int(k))])
    rate = CONTEXT_LOGIT_DROP if logit_drop is None else logit_drop
    return BranchDropout(rate, name=f"{name}_logit_drop")(x) if rate else x


def has_context(model) -> bool:
    """Whether ``model`` takes a context input (besides the image)."""
    return any(getattr(t, "name", "").split(":")[0] == CONTEXT_INPUT
               for t in getattr(model, "inputs", []) or [])


def context_size(model) -> int:
    """Length of the context vector ``model`` takes (0 without a context input)."""
    for t in getattr(model, "inputs", []) or []:
        if getattr(t, "name", "").split(":")[0] == CONTEXT_INPUT:
            return int(t.shape[-1])
    return 0


IMAGE_SCALE_GRID = tuple(round(0.1 * i, 1) for i in range(11))
"""Weights of the image logits :func:`choose_image_scale` tries: 0 (the context alone) to 1."""
DROP_LAYER = "image_logit_drop"


def choose_image_scale(model, batches, labels, weights=None,
                       grid=IMAGE_SCALE_GRID) -> tuple[float, dict[float, float]]:
    """Chooses, on validation beats, how much the image logits weigh against the context's, and
    sets it in the model (``BranchDropout.scale``, saved with it).

    Both branches' logits are computed once on ``batches`` (validation inputs, in order); each
    weight ``s`` of ``grid`` scores ``softmax(context + s * image)`` by the class-balanced
    cross-entropy (``ecgkit.evaluation.fusion.balanced_cross_entropy``: smooth, every probability
    counts, every class the same total weight), and the lowest wins (ties: the larger weight).

    Args:
        model: a model with the ``"logits"`` context branch (layer ``"image_logit_drop"``).
        batches: ``ecgkit.data.batches.Batches`` of the validation beats (inputs with context).
        labels: their classes.
        weights: their cap weights (N/n), or None.
        grid: the weights to try.

    Returns:
        ``(chosen weight, {weight: validation cross-entropy})``.
    """
    from ecgkit.data.batches import made_ahead
    from ecgkit.evaluation.fusion import balanced_cross_entropy

    drop = model.get_layer(DROP_LAYER)
    both = keras.Model(model.input, [drop.input, model.get_layer("context_logits").output])
    zi, zc = [], []
    for x, *_ in made_ahead(batches):
        a, c = both.predict_on_batch(x)
        zi.append(np.asarray(a, np.float64))
        zc.append(np.asarray(c, np.float64))
    n = len(labels)
    zi, zc = np.concatenate(zi)[:n], np.concatenate(zc)[:n]
    curve = {}
    for s in grid:
        z = zc + s * zi
        p = np.exp(z - z.max(axis=1, keepdims=True))
        curve[float(s)] = balanced_cross_entropy(labels, p / p.sum(axis=1, keepdims=True),
                                                 weights)
    best = min(curve, key=lambda s: (round(curve[s], 12), -s))
    drop.scale = float(best)
    return float(best), curve


def image_weight(model) -> float | None:
    """The weight of the image logits against the context's that training chose on validation
    (:func:`choose_image_scale`); None for a model without a context branch's logits. 0 means
    the model classifies from its context alone."""
    if not has_image_scale(model):
        return None
    return float(model.get_layer(DROP_LAYER).scale)


def has_image_scale(model) -> bool:
    """Whether ``model`` adds dropped, scaled image logits to a context branch's."""
    names = {layer.name for layer in model.layers}
    return DROP_LAYER in names and "context_logits" in names


def log_class_frequency(labels, n_classes: int) -> np.ndarray:
    """``log`` of each class's share of ``labels`` (int class indices), each class counted once
    more, so an absent class gets a large negative value, not -inf: what :func:`set_prior_shift`
    multiplies by ``tau``."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=int(n_classes))
    return np.log((counts + 1.0) / (counts.sum() + counts.size))


def prior_shift_vector(labels, n_classes: int, tau: float = None,
                       offsets: dict[str, float] = None) -> np.ndarray:
    """``tau * log(class frequency of labels)`` (:func:`log_class_frequency`) plus ``offsets``
    on their classes' logits: what :func:`set_prior_shift` puts in a model (float32).

    Args:
        labels: int class indices of the training beats.
        n_classes: the model's classes, the first ``n_classes`` of ``ecgkit.contract.CLASSES``.
        tau: the weight (None: :data:`PRIOR_TAU`).
        offsets: class name to a constant added to its logit (None: :data:`LOGIT_OFFSETS`);
            names outside the model's classes are refused.
    """
    tau = PRIOR_TAU if tau is None else float(tau)
    offsets = LOGIT_OFFSETS if offsets is None else offsets
    unknown = sorted(set(offsets) - set(CLASSES[:n_classes]))
    if unknown:
        raise ValueError(f"logit offsets for unknown class(es) {unknown}; the model's classes "
                         f"are {list(CLASSES[:n_classes])}")
    shift = tau * log_class_frequency(labels, n_classes)
    for name, value in offsets.items():
        shift[CLASSES.index(name)] += float(value)
    return shift.astype(np.float32)


def set_prior_shift(model, labels, tau: float = None,
                    offsets: dict[str, float] = None) -> list[float] | None:
    """Sets the model's :class:`PriorShift` to :func:`prior_shift_vector` (``tau * log(class
    frequency of labels)`` plus ``offsets``; None: :data:`PRIOR_TAU`, :data:`LOGIT_OFFSETS`);
    returns the shift, or None for a model without that layer. ``tau`` 0 with no offsets clears
    the shift; offsets for classes the model lacks are refused (ValueError).

    Args:
        model: a model built with a context branch (``"logits"`` join).
        labels: int class indices of the training beats.
    """
    layer = next((lay for lay in model.layers if lay.name == PRIOR_LAYER), None)
    if layer is None:
        return None
    shift = prior_shift_vector(labels, layer.shift.shape[0], tau, offsets)
    layer.shift.assign(shift)
    return [float(v) for v in shift]


def has_experts(model) -> bool:
    """Whether ``model``'s context branch is two experts (:data:`CONTEXT_EXPERTS`)."""
    return any(layer.name.startswith("context") and layer.name.endswith("_rhythm_logits")
               for layer in model.layers)


def member_logits(model, name: str = "context") -> list:
    """The logits tensors of the context branch's members (:data:`CONTEXT_MEMBERS`), one for a
    branch without copies; empty for a model without the ``"logits"`` join."""
    names = {layer.name for layer in model.layers}
    if f"{name}_logits" not in names:
        return []
    copies = []
    while f"{name}{len(copies)}_logits" in names:
        copies.append(f"{name}{len(copies)}_logits")
    return [model.get_layer(c).output for c in copies or [f"{name}_logits"]]


def n_members(model) -> int:
    """How many copies the context branch averages (0: no ``"logits"`` context branch)."""
    return len(member_logits(model))


def has_warm_up(model) -> bool:
    """Whether ``model``'s context branch has logits of its own (``"logits"`` join), which
    :func:`warm_up` can fit alone."""
    return any(layer.name == "context_logits" for layer in model.layers)


def image_size_of(model) -> int:
    """Side in pixels of the images ``model`` takes (its ``"image"`` input, or its only one)."""
    for t in getattr(model, "inputs", []) or []:
        if getattr(t, "name", "").split(":")[0] != CONTEXT_INPUT and len(t.shape) == 4:
            return int(t.shape[1])
    return int(model.input_shape[1])


def adapt_context(model, vectors) -> None:
    """Sets the model's context standardisation to the mean and variance of ``vectors``
    (the training beats' context, float (n, features))."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[0] < 2:
        raise ValueError(f"adapt_context needs (n >= 2, features) vectors. Received {v.shape}")
    norm = model.get_layer(NORM_LAYER)
    norm.adapt(v)


def warm_up(model, vectors, labels, *, steps: int = WARMUP_STEPS, batch_size: int = 32,
            learning_rate: float = 1e-3, focal_gamma: float = 2.0, classes=None,
            seed: int = 0) -> list[float]:
    """Fits the context branch alone (its logits through a softmax), before the joint training.

    The branch is a small MLP on 74 numbers: thousands of steps cost seconds, where the image
    network gets a few hundred in minutes. Starting the joint training from a branch that
    already classifies lets the image network learn what the context misses. Batches are
    drawn equally from ``classes`` (balanced, as ``CLASS_BALANCE=sampling`` draws images), with
    the same focal loss; AdamW with a fixed learning rate. The standardisation must be adapted
    first (:func:`adapt_context`).

    Args:
        model: a model with the ``"logits"`` context branch.
        vectors: float (n, features) context vectors of the training beats.
        labels: int (n,) their classes.
        steps: batches.
        batch_size: beats per batch.
        learning_rate: AdamW learning rate.
        focal_gamma: focal loss gamma.
        classes: the classes batches are drawn from (default every class present).
        seed: the draws' seed.

    Returns:
        The loss of every 100th batch.

    Raises:
        ValueError: a model without the ``"logits"`` context branch, or bad inputs.
    """
    names = {layer.name for layer in model.layers}
    if "context_logits" not in names:
        raise ValueError(f"model {model.name!r} has no 'logits' context branch to warm up")
    x = np.asarray(vectors, dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"vectors (n, features) and labels (n,) must match. Received: "
                         f"{x.shape}, {y.shape}")
    n_out = int(model.get_layer("context_logits").output.shape[-1])
    classes = sorted(set(y.tolist())) if classes is None else list(classes)
    by_class = [np.flatnonzero(y == k) for k in classes]
    by_class = [m for m in by_class if m.size]
    outputs = [layers.Activation("softmax", dtype="float32")(z) for z in member_logits(model)]
    k = len(outputs)
    branch = keras.Model(model.get_layer(NORM_LAYER).input, outputs)
    focal = keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=focal_gamma)
    branch.compile(optimizer=keras.optimizers.AdamW(learning_rate), loss=[focal] * k)
    rng = np.random.default_rng([seed, 7])
    eye = np.eye(n_out, dtype=np.float32)
    losses = []
    # copies of the branch (CONTEXT_MEMBERS) each learn from batches of their own: one batch of
    # k x batch_size beats, each copy's loss weighted on its own rows only (k: the loss is a
    # mean over all rows)
    own = [np.repeat(np.eye(k, dtype=np.float32)[j] * k, batch_size) for j in range(k)]
    for step in range(int(steps)):
        pick = rng.integers(0, len(by_class), batch_size * k)
        idx = np.array([m[rng.integers(0, m.size)] for m in (by_class[c] for c in pick)])
        target = eye[y[idx]]
        loss = branch.train_on_batch(x[idx], [target] * k,
                                     sample_weight=own if k > 1 else None)
        if step % 100 == 0:  # the copies' mean loss
            losses.append(float(np.asarray(loss).ravel()[0]) / k)
    return losses
