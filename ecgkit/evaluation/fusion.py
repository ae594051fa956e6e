"""Late fusion: the network's probabilities combined with the RR-interval logistic regression's.

Introduced in: notebooks/30_evaluation.ipynb.

Supraventricular premature beats (S) usually look like normal beats; what marks them is their
timing against the patient's own rhythm. A beat image shows 1.5 s either side of the R peak, so
the neighbouring beats are in the picture, but a network trained for minutes on a CPU on a few
thousand beats of 18 patients learns the shape far better than the rhythm (S sensitivity near 0
in the cpu profile), while :func:`ecgkit.evaluation.baselines.rr_logistic_regression` reads the RR
ratios directly (de Chazal et al. 2004 combine morphology and interval features in one classifier).

:func:`fuse` combines the two as a product of experts, a weighted geometric mean of the
probabilities::

    p(class) proportional to p_network(class) ** (1 - w) * p_rr(class) ** w

``w = 0`` is the network alone, ``w = 1`` the RR logistic regression alone. :func:`choose_weight`
picks ``w`` on the **validation** patients (the ones that chose the network's epoch; never the
test patients): the grid value with the lowest class-balanced cross-entropy over the class set
(each class's beats weigh as much in total as another's, like the macro-F1). The cross-entropy,
a proper scoring rule, uses every probability, not only the argmax: with four validation
patients the validation macro-F1 is a flat, jagged curve (in three cpu-profile runs its best
weight was 0.5, 0.2 and 0.2, within 0.01-0.04 of its neighbours), while the cross-entropy curve
is smooth with one minimum (0.5, 0.5 and 0.4 in the same runs).

Both experts were trained with balanced classes (sampling for the network, balanced class weights
for the regression), so their product keeps balanced priors.

References:
    de Chazal P, O'Dwyer M, Reilly RB. Automatic classification of heartbeats using ECG
    morphology and heartbeat interval features. IEEE Trans Biomed Eng 51(7):1196-1206 (2004).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ecgkit.contract import CLASS_SET

WEIGHT_GRID = tuple(round(float(w), 2) for w in np.linspace(0.0, 1.0, 11))
"""The weights :func:`choose_weight` tries: 0, 0.1, ..., 1."""
FLOOR = 1e-6
"""Probabilities are clipped to at least this before the logarithm (a 0 would veto a class)."""


def _probs(name: str, p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError(f"{name} must be finite, non-negative probabilities of shape (n, k). "
                         f"Received: shape={p.shape}")
    return p


def fuse(network_prob, rr_prob, weight: float) -> np.ndarray:
    """Weighted geometric mean of two probability tables, renormalised per row.

    Args:
        network_prob: the network's probabilities, (n, k).
        rr_prob: the RR logistic regression's probabilities for the same beats, (n, k).
        weight: ``w`` in [0, 1], the share of the RR model (0: network alone).

    Returns:
        float64 (n, k) probabilities, rows summing to 1.

    Raises:
        ValueError: shapes that differ, values that are not probabilities, or ``weight``
            outside [0, 1].
    """
    a, b = _probs("network_prob", network_prob), _probs("rr_prob", rr_prob)
    if a.shape != b.shape:
        raise ValueError(f"network_prob and rr_prob must have the same shape. "
                         f"Received: {a.shape} and {b.shape}")
    if not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"weight must be in [0, 1]. Received: weight={weight}")
    w = float(weight)
    log_p = (1.0 - w) * np.log(np.maximum(a, FLOOR)) + w * np.log(np.maximum(b, FLOOR))
    log_p -= log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    return p / p.sum(axis=1, keepdims=True)


def balanced_cross_entropy(y_true, y_prob, weights=None) -> float:
    """Mean cross-entropy in which every class present has the same total weight.

    Args:
        y_true: class indices (n,).
        y_prob: probabilities (n, k).
        weights: optional weight per beat (a capped BeatSet's ``N / n``).

    Returns:
        The class-balanced mean of ``-log p(true class)`` (probabilities clipped at
        :data:`FLOOR`).
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = _probs("y_prob", y_prob)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    totals = np.bincount(y, weights=w, minlength=p.shape[1])
    share = w / np.where(totals[y] > 0, totals[y], 1.0)
    loss = -np.log(np.maximum(p[np.arange(len(y)), y], FLOOR))
    return float((share * loss).sum() / share.sum())


def choose_weight(network_prob, rr_prob, y_true, *, weights=None,
                  class_set: Sequence[str] = CLASS_SET,
                  grid: Sequence[float] = WEIGHT_GRID) -> tuple[float, pd.DataFrame]:
    """The fusion weight with the lowest class-balanced cross-entropy on the beats given.

    Give it validation beats, never test beats: the weight is a choice, like the epoch.

    Args:
        network_prob: the network's probabilities on the validation beats, (n, 5).
        rr_prob: the RR logistic regression's probabilities on the same beats, (n, 5).
        y_true: their class indices (n,) or one-hot (n, 5).
        weights: optional weight per beat (``beats.meta["weight"]`` of a capped BeatSet).
        class_set: classes scored (beats of other classes dropped, probabilities renormalised
            over the set), as in :func:`ecgkit.evaluation.baselines.comparison_table`.
        grid: weights to try, each in [0, 1].

    Returns:
        ``(weight, curve)``: the chosen weight (on a tie the smaller, i.e. more network) and a
        DataFrame indexed by ``weight`` with ``cross_entropy`` (what is minimised),
        ``macro_f1`` and the sensitivity of each class of the set (``N_Se``, ...), for display.

    Raises:
        ValueError: an empty grid or a grid value outside [0, 1], and what :func:`fuse` and
            :func:`ecgkit.evaluation.scoring.evaluate_predictions` raise.
    """
    from ecgkit.evaluation.scoring import evaluate_predictions

    grid = [float(w) for w in grid]
    if not grid or any(not 0.0 <= w <= 1.0 for w in grid):
        raise ValueError(f"grid must hold weights in [0, 1]. Received: grid={grid}")
    rows = {}
    for w in sorted(set(grid)):
        # the report holds the beats of the set, their probabilities renormalised over it
        r = evaluate_predictions(y_true, fuse(network_prob, rr_prob, w), n_boot=0,
                                 weights=weights, class_set=class_set)
        rows[w] = {"cross_entropy": balanced_cross_entropy(r.y_true, r.y_prob, r.weights),
                   "macro_f1": r.macro["f1"],
                   **{f"{c}_Se": float(r.per_class.loc[c, "sensitivity"]) for c in r.classes}}
    curve = pd.DataFrame.from_dict(rows, orient="index")
    curve.index.name = "weight"
    ce = curve["cross_entropy"].to_numpy()
    best = float(curve.index[int(np.flatnonzero(np.isclose(ce, ce.min()))[0])])
    return best, curve
