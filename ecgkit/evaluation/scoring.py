"""Scores of a beat classifier from arrays: per-class metrics, curves, calibration, bootstrap CIs.

Introduced in: notebooks/30_evaluation.ipynb.

Arrays in, report out: everything here works on plain arrays (true labels, predicted
probabilities, and optionally the patient and record of each beat), so it is testable without a
model and imports no model code. :mod:`ecgkit.evaluation.evaluate` runs models over data sets and
writes the reports (``metrics.json`` and figures); ``ecgkit evaluate`` is its command line.

Terms (ANSI/AAMI EC57): sensitivity Se = TP / (TP + FN) (recall), positive predictive value
+P = TP / (TP + FP) (precision), specificity Sp = TN / (TN + FP). A class with no true beats in
the evaluated data is *absent*: its Se, F1 and AUCs are NaN and flagged, never a silent 0.

Weights. ``load_beats(max_beats_per_record=k)`` keeps at most k beats per record and class, so a
capped test set over-represents rare classes and records with few beats. Each kept beat carries
``weight = N / n`` for its (record, class) stratum (``BeatSet.meta["weight"]``). With
``weights=`` every count becomes a weighted count: the confusion matrix, hence Se, +P, Sp, F1,
accuracy and their averages, estimate the values on the full, uncapped test set (ratio
estimators: consistent, exact when predictions are constant within each stratum). The patient
bootstrap resamples patients with their weighted matrices; ROC and precision-recall curves use
scikit-learn's ``sample_weight`` and the calibration bins weighted counts, so nothing is left
unweighted. A report states both the beats evaluated (``n_beats``) and the weighted total
(``n_weighted``).

Class sets. Published results use different AAMI class sets (N/S/V, N/S/V/F or all five).
:func:`restrict` (or ``evaluate_predictions(..., class_set=...)``) drops beats whose true class
is outside the set and predicts by the argmax over the set's columns only, so a row computed
here matches a literature row's protocol (:mod:`ecgkit.evaluation.literature`).

Comparing two models. :func:`paired_bootstrap` (introduced in notebooks/30_evaluation.ipynb,
the network against each baseline; the verdict of notebooks/32_ablation.ipynb) scores two
models on the same beats with the same weights and resamples patients once for both, giving an
interval for the macro-F1 difference and the share of resamples in which it is > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import auc, precision_recall_curve, roc_curve
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from ecgkit.contract import CLASS_SET, CLASSES


@dataclass
class Report:
    """The evaluation of one set of predictions.

    Attributes:
        classes: class names, in label order.
        per_class: DataFrame indexed by class with ``sensitivity``, ``ppv``, ``specificity``,
            ``f1``, ``support`` (true beats, weighted), ``predicted`` (weighted), ``beats``
            (true beats evaluated, unweighted), ``roc_auc``, ``pr_auc`` and ``absent`` (no true
            beats of that class in the data).
        accuracy: overall accuracy.
        macro: unweighted mean over the classes present (``sensitivity``, ``ppv``,
            ``specificity``, ``f1``).
        weighted: the same averages weighted by support.
        confusion: counts, rows = true class, columns = predicted class (int; float
            weighted counts when weights were given).
        confusion_normalized: rows divided by their totals (NaN rows for absent classes).
        roc: per present class, ``(fpr, tpr)`` arrays (one-vs-rest).
        pr: per present class, ``(recall, precision)`` arrays (one-vs-rest).
        ece: expected calibration error of the top-class confidence.
        reliability: DataFrame of calibration bins (``lo``, ``hi``, ``confidence``,
            ``accuracy``, ``count`` (beats), ``weight`` (weighted count)).
        ci: DataFrame of bootstrap confidence intervals (``metric``, ``estimate``, ``lo``,
            ``hi``) resampled by patient (or by beat when no patients were given).
        ci_unit: ``"patient"`` or ``"beat"``.
        y_true, y_pred, y_prob, records, patients, weights: the inputs, kept for tables and
            plots (``weights`` None when unweighted).
    """

    classes: tuple[str, ...]
    per_class: pd.DataFrame
    accuracy: float
    macro: dict[str, float]
    weighted: dict[str, float]
    confusion: np.ndarray
    confusion_normalized: np.ndarray
    roc: dict[str, tuple[np.ndarray, np.ndarray]]
    pr: dict[str, tuple[np.ndarray, np.ndarray]]
    ece: float
    reliability: pd.DataFrame
    ci: pd.DataFrame
    ci_unit: str
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)
    y_prob: np.ndarray = field(repr=False)
    records: np.ndarray | None = field(default=None, repr=False)
    patients: np.ndarray | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_beats(self) -> int:
        """Beats evaluated."""
        return int(len(self.y_true))

    @property
    def n_weighted(self) -> float:
        """The weighted number of beats: the size of the data the metrics estimate."""
        return float(self.n_beats if self.weights is None else self.weights.sum())

    @property
    def absent_classes(self) -> list[str]:
        """Classes with no true examples in the evaluated data."""
        return [c for c in self.classes if bool(self.per_class.loc[c, "absent"])]

    def table(self) -> pd.DataFrame:
        """Per-class table with macro and weighted average rows appended."""
        rows = self.per_class.copy()
        totals = {"support": rows["support"].sum(), "beats": rows["beats"].sum()}
        for name, avg in (("macro avg", self.macro), ("weighted avg", self.weighted)):
            rows.loc[name] = {**{k: np.nan for k in rows.columns}, **avg, **totals,
                              "absent": False}
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (NaN becomes None)."""
        per_class = {
            c: {k: _json_value(v) for k, v in self.per_class.loc[c].items()} for c in self.classes
        }
        return {
            "classes": list(self.classes),
            "n": self.n_beats,
            "n_weighted": _json_value(self.n_weighted),
            "weighted_by": "cap weights N/n per record and class" if self.weights is not None
            else None,
            "accuracy": _json_value(self.accuracy),
            "macro": {k: _json_value(v) for k, v in self.macro.items()},
            "weighted": {k: _json_value(v) for k, v in self.weighted.items()},
            "per_class": per_class,
            "absent_classes": self.absent_classes,
            "confusion": self.confusion.tolist(),
            "ece": _json_value(self.ece),
            "ci_unit": self.ci_unit,
            "ci": [{k: _json_value(v) for k, v in row.items()}
                   for row in self.ci.to_dict(orient="records")],
        }


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) else float(v)
    return v


def _as_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise ValueError(f"one-hot labels need {n_classes} columns. Received: shape={y.shape}")
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim != 1:
        raise ValueError("labels must be 1-D class indices or 2-D one-hot. "
                         f"Received: shape={y.shape}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}. "
                         f"Received: {sorted(set(y.tolist()))}")
    return y


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _as_weights(weights, n: int) -> np.ndarray | None:
    """Checked float64 weights (n,), or None."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"weights must be 1-D with one weight per beat ({n}). "
                         f"Received: shape={w.shape}")
    if w.size and (not np.isfinite(w).all() or (w < 0).any()):
        raise ValueError(f"weights must be finite and >= 0. Received: min={np.nanmin(w)}, "
                         f"non-finite={int((~np.isfinite(w)).sum())}")
    return w


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class (all classes, zeros included).

    With ``weights`` each beat counts its weight: a float matrix of weighted counts.
    """
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
    cm = sk_confusion_matrix(np.asarray(y_true, int), np.asarray(y_pred, int),
                             labels=np.arange(n_classes), sample_weight=weights)
    return cm.astype(np.int64 if weights is None else np.float64)  # also for no beats at all


def per_class_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Se, +P, Sp, F1, support and predicted count per class from a confusion matrix.

    Works on counts or weighted counts. Undefined values (a class with no true or no predicted
    beats) are NaN, never 0.
    """
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    fn = support - tp
    fp = predicted - tp
    tn = cm.sum() - tp - fn - fp
    se = _safe_div(tp, support)
    ppv = _safe_div(tp, predicted)
    sp = _safe_div(tn, tn + fp)
    # F1 = 2TP / (2TP + FP + FN): defined whenever the class occurs or is predicted.
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    f1 = np.where(support > 0, f1, np.nan)
    return {"sensitivity": se, "ppv": ppv, "specificity": sp, "f1": f1,
            "support": support, "predicted": predicted}


def summaries(cm: np.ndarray) -> tuple[float, dict[str, float], dict[str, float]]:
    """Accuracy, and the macro and support-weighted averages of sensitivity, +P, specificity and
    F1 over the classes present (support > 0) in the confusion matrix ``cm`` (true x predicted)."""
    m = per_class_metrics(cm)
    present = m["support"] > 0
    total = cm.sum()
    acc = float(np.trace(cm) / total) if total else float("nan")
    keys = ("sensitivity", "ppv", "specificity", "f1")
    macro, weighted = {}, {}
    for k in keys:
        v = m[k][present]
        w = m["support"][present].astype(float)
        ok = ~np.isnan(v)
        # A present class that is never predicted has undefined +P; count it as 0 in the
        # averages (it is a real failure), as sklearn's zero_division=0 does.
        v = np.where(ok, v, 0.0)
        macro[k] = float(v.mean()) if v.size else float("nan")
        weighted[k] = float((v * w).sum() / w.sum()) if w.sum() else float("nan")
    return acc, macro, weighted


def calibration_bins(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10,
                     weights: np.ndarray | None = None) -> tuple[float, pd.DataFrame]:
    """Reliability table of the top-class confidence and the expected calibration error.

    ECE = sum over bins of (bin weight / total weight) * |accuracy - mean confidence| (Guo et
    al. 2017), every beat weighing 1 unless ``weights`` are given. The table has ``count``
    (beats) and ``weight`` (weighted count) per bin; ``confidence`` and ``accuracy`` are
    weighted means.
    """
    conf = y_prob.max(axis=1)
    correct = (y_prob.argmax(axis=1) == y_true).astype(float)
    w = np.ones_like(conf) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    rows, ece, total = [], 0.0, float(w.sum())
    for b in range(n_bins):
        sel = idx == b
        n, wb = int(sel.sum()), float(w[sel].sum())
        c = float(np.average(conf[sel], weights=w[sel])) if wb > 0 else float("nan")
        a = float(np.average(correct[sel], weights=w[sel])) if wb > 0 else float("nan")
        if wb > 0:
            ece += wb / total * abs(a - c)
        rows.append({"lo": edges[b], "hi": edges[b + 1], "confidence": c, "accuracy": a,
                     "count": n, "weight": wb})
    return (float(ece) if total > 0 else float("nan")), pd.DataFrame(rows)


def _curves(y_true: np.ndarray, y_prob: np.ndarray, classes: Sequence[str],
            weights: np.ndarray | None = None):
    roc, pr, roc_auc, pr_auc = {}, {}, [], []
    for k, c in enumerate(classes):
        pos = y_true == k
        if not pos.any() or pos.all():
            roc_auc.append(np.nan)
            pr_auc.append(np.nan)
            continue
        fpr, tpr, _ = roc_curve(pos, y_prob[:, k], sample_weight=weights)
        prec, rec, _ = precision_recall_curve(pos, y_prob[:, k], sample_weight=weights)
        roc[c] = (fpr, tpr)
        pr[c] = (rec, prec)
        roc_auc.append(float(auc(fpr, tpr)))
        pr_auc.append(float(auc(rec, prec)))
    return roc, pr, np.array(roc_auc), np.array(pr_auc)


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray | None,
                 n_classes: int, classes: Sequence[str], n_boot: int = 200, seed: int = 42,
                 level: float = 0.95, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Percentile bootstrap CIs of accuracy, macro F1 and per-class Se / +P.

    Whole groups (patients) are resampled with replacement, because beats of one patient are
    not independent; with ``groups=None`` single beats are resampled. With ``weights`` each
    group contributes its weighted confusion matrix.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes, weights)
    acc, macro, _ = summaries(cm)
    m = per_class_metrics(cm)
    names = ["accuracy", "macro_f1"]
    est = [acc, macro["f1"]]
    for k, c in enumerate(classes):
        names += [f"{c}_sensitivity", f"{c}_ppv"]
        est += [m["sensitivity"][k], m["ppv"][k]]
    if groups is None:
        groups = np.arange(len(y_true))
    groups = np.asarray(groups).astype(str)
    uniq, inverse = np.unique(groups, return_inverse=True)
    # One confusion matrix per group; a bootstrap sample is a sum of resampled group matrices.
    per_group = np.zeros((len(uniq), n_classes, n_classes), dtype=np.float64)
    np.add.at(per_group, (inverse, y_true, y_pred), 1.0 if weights is None else weights)
    rng = np.random.default_rng(seed)
    samples = np.full((n_boot, len(names)), np.nan)
    for b in range(n_boot if len(uniq) else 0):
        pick = rng.integers(0, len(uniq), size=len(uniq))
        cmb = per_group[pick].sum(axis=0)
        a, mac, _ = summaries(cmb)
        mb = per_class_metrics(cmb)
        row = [a, mac["f1"]]
        for k in range(n_classes):
            row += [mb["sensitivity"][k], mb["ppv"][k]]
        samples[b] = row
    alpha = (1 - level) / 2
    lo, hi = [], []
    for j in range(len(names)):
        v = samples[:, j]
        v = v[~np.isnan(v)]
        lo.append(float(np.quantile(v, alpha)) if v.size else np.nan)
        hi.append(float(np.quantile(v, 1 - alpha)) if v.size else np.nan)
    return pd.DataFrame({"metric": names, "estimate": est, "lo": lo, "hi": hi})


def _macro_f1_many(cms: np.ndarray) -> np.ndarray:
    """Macro-F1 of each confusion matrix in ``cms`` (b, k, k), as :func:`summaries` computes it.

    F1 = 2TP / (2TP + FP + FN) = 2TP / (support + predicted), averaged over the classes present
    (support > 0) in that matrix; NaN for a matrix with no beats.
    """
    tp = np.diagonal(cms, axis1=1, axis2=2)
    support, predicted = cms.sum(axis=2), cms.sum(axis=1)
    present = support > 0
    f1 = _safe_div(2 * tp, support + predicted)
    f1 = np.where(present, f1, 0.0)
    n = present.sum(axis=1)
    return _safe_div(f1.sum(axis=1), n)


def paired_bootstrap(y_true, prob_a, prob_b, patients, weights=None,
                     class_set: Sequence[str] = CLASS_SET, n_boot: int = 1000,
                     seed: int = 42, level: float = 0.95, classes: Sequence[str] = CLASSES
                     ) -> dict[str, Any]:
    """Paired patient bootstrap of a macro-F1 difference: model A minus model B.

    Both models are scored on the same beats with the same weights. Each resample draws the
    test **patients** with replacement (a patient's beats always move together, because beats
    of one patient are not independent) and recomputes both models' weighted macro-F1 over
    ``class_set`` on that same resample, so the patient-to-patient variation that both models
    share cancels out of the difference. Beats whose true class is outside ``class_set`` are
    dropped and each model predicts by the argmax over the set (:func:`restrict`). Macro-F1 is
    the mean over the classes present in the (resampled) data, as in :func:`evaluate_predictions`;
    a resample without any beat of a class averages over the others, for both models alike.

    Args:
        y_true: class indices (n,) or one-hot (n, k) over ``classes``.
        prob_a: probabilities (n, k) of model A (e.g. the enhanced model).
        prob_b: probabilities (n, k) of model B (e.g. the baseline).
        patients: patient id per beat: the resampling unit.
        weights: optional weight per beat (the cap weights ``BeatSet.meta["weight"]``).
        class_set: classes the macro-F1 runs over (default N, S, V, F).
        n_boot: resamples.
        seed: resampling seed.
        level: coverage of the percentile interval.
        classes: class names of the columns.

    Returns:
        A dict: ``a`` and ``b`` (each model's macro-F1 on all the beats), ``difference``
        (``a - b``), ``lo`` and ``hi`` (percentile interval of the resampled differences),
        ``share_above_zero`` (share of resamples where the difference is > 0),
        ``share_below_zero``, ``samples`` (the resampled differences, float64 (n_boot,)),
        and ``class_set``, ``level``, ``n_boot``, ``n_patients``, ``n_beats``, ``n_weighted``.

    Raises:
        ValueError: mismatched lengths or shapes, bad weights, an unknown class in
            ``class_set``, no beat of the set, ``n_boot < 1`` or ``level`` outside (0, 1).
    """
    classes = tuple(classes)
    y = _as_labels(y_true, len(classes))
    if patients is None or len(patients) != len(y):
        raise ValueError(f"patients must give one patient per beat ({len(y)}). "
                         f"Received: {None if patients is None else len(patients)} entries")
    if int(n_boot) < 1 or not 0 < level < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1. Received: n_boot={n_boot}, "
                         f"level={level}")
    w = _as_weights(weights, len(y))
    probs = []
    for name, p in (("prob_a", prob_a), ("prob_b", prob_b)):
        p = np.asarray(p, dtype=np.float64)
        if p.shape != (len(y), len(classes)):
            raise ValueError(f"{name} must have shape ({len(y)}, {len(classes)}). "
                             f"Received: shape={p.shape}")
        yt, ps, keep = restrict(y, p, class_set, classes)
        probs.append(ps)
    if not keep.any():
        raise ValueError(f"no beat of the classes {tuple(class_set)} to compare on")
    k = probs[0].shape[1]
    w = np.ones(int(keep.sum())) if w is None else w[keep]
    groups = np.asarray(patients).astype(str)[keep]
    uniq, inverse = np.unique(groups, return_inverse=True)
    # One weighted confusion matrix per patient and model; a resample is a weighted sum of them
    # with each patient's multiplicity (how often it was drawn).
    per_patient = np.zeros((2, len(uniq), k, k), dtype=np.float64)
    for m, ps in enumerate(probs):  # yt and keep depend on y_true only: the same for A and B
        np.add.at(per_patient[m], (inverse, yt, ps.argmax(axis=1)), w)
    full = per_patient.sum(axis=1)
    a, b = _macro_f1_many(full)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(uniq), size=(int(n_boot), len(uniq)))
    mult = np.zeros((int(n_boot), len(uniq)))
    np.add.at(mult, (np.arange(int(n_boot))[:, None], pick), 1.0)
    flat = per_patient.reshape(2, len(uniq), k * k)
    f1_a = _macro_f1_many((mult @ flat[0]).reshape(-1, k, k))
    f1_b = _macro_f1_many((mult @ flat[1]).reshape(-1, k, k))
    diff = f1_a - f1_b  # NaN only for a resample whose beats all weigh 0
    ok = diff[~np.isnan(diff)]
    alpha = (1 - level) / 2
    return {
        "metric": "macro_f1", "class_set": [c for c in classes if c in set(class_set)],
        "a": float(a), "b": float(b), "difference": float(a - b),
        "lo": float(np.quantile(ok, alpha)) if ok.size else float("nan"),
        "hi": float(np.quantile(ok, 1 - alpha)) if ok.size else float("nan"),
        "share_above_zero": float((ok > 0).mean()) if ok.size else float("nan"),
        "share_below_zero": float((ok < 0).mean()) if ok.size else float("nan"),
        "level": float(level), "n_boot": int(n_boot), "n_patients": int(len(uniq)),
        "n_beats": int(keep.sum()), "n_weighted": float(w.sum()), "samples": diff,
    }


def restrict(y_true, y_prob, class_set: Sequence[str], classes: Sequence[str] = CLASSES
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluates on a subset of the classes, as a literature row with that class set does.

    Beats whose true class is outside ``class_set`` are dropped; the probabilities of the set's
    classes are kept and renormalised to sum to 1, so the prediction is the argmax over the
    set's classes only (a beat whose set probabilities are all 0 gets a uniform row).

    Args:
        y_true: class indices (n,) or one-hot (n, k) over ``classes``.
        y_prob: probabilities (n, k) over ``classes``.
        class_set: class names to keep, e.g. ``("N", "S", "V")``; returned in the order of
            ``classes``.
        classes: class names of ``y_true``/``y_prob`` columns.

    Returns:
        ``(y_true (m,) indices into the set, y_prob (m, len(set)), keep (n,) bool mask)``;
        use ``keep`` to select the matching patients, records and weights.

    Raises:
        ValueError: an empty set, a class not in ``classes``, or mismatched shapes.
    """
    classes = tuple(classes)
    wanted = [class_set] if isinstance(class_set, str) else list(class_set)
    unknown = [c for c in wanted if c not in classes]
    if not wanted or unknown or len(set(wanted)) != len(wanted):
        raise ValueError(f"class_set must be distinct names from {classes}. "
                         f"Received: class_set={tuple(wanted)}")
    cols = [classes.index(c) for c in classes if c in wanted]
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_prob.ndim != 2 or y_prob.shape[1] != len(classes):
        raise ValueError(f"y_prob must have shape (n, {len(classes)}). "
                         f"Received: shape={y_prob.shape}")
    y_true = _as_labels(y_true, len(classes))
    if len(y_true) != len(y_prob):
        raise ValueError(f"y_true and y_prob differ in length: {len(y_true)} != {len(y_prob)}")
    keep = np.isin(y_true, cols)
    new_index = np.full(len(classes), -1)
    new_index[cols] = np.arange(len(cols))
    p = y_prob[keep][:, cols]
    total = p.sum(axis=1, keepdims=True)
    p = np.divide(p, total, out=np.full_like(p, 1.0 / len(cols)), where=total > 0)
    return new_index[y_true[keep]], p, keep


def class_coverage(y_true, y_prob, class_set: Sequence[str] | None = None,
                   classes: Sequence[str] = CLASSES) -> dict[str, list[str]]:
    """Which classes occur, which a model predicts, and which present ones it never predicts.

    A model that never predicts a class that occurs cannot detect it, whatever its accuracy:
    a short CPU run from random weights often predicts one or two classes only.

    Args:
        y_true: class indices (n,) or one-hot (n, k) over ``classes``.
        y_prob: probabilities (n, k).
        class_set: optional subset: beats of other true classes are dropped and the
            prediction is the argmax over the set (:func:`restrict`).
        classes: class names of the columns.

    Returns:
        ``{"present": [...], "predicted": [...], "never_predicted": [...]}`` (class names,
        in class order; ``never_predicted`` are present but never predicted).
    """
    classes = tuple(classes)
    if class_set is not None:
        y, p, _ = restrict(y_true, y_prob, class_set, classes)
        classes = tuple(c for c in classes if c in set(class_set))
    else:
        p = np.asarray(y_prob, dtype=np.float64)
        y = _as_labels(y_true, len(classes))
    present = [classes[k] for k in np.unique(y)]
    predicted = [classes[k] for k in np.unique(p.argmax(axis=1))] if len(p) else []
    return {"present": present, "predicted": predicted,
            "never_predicted": [c for c in present if c not in predicted]}


def evaluate_predictions(y_true, y_prob, patients=None, n_boot: int = 200, seed: int = 42,
                         records=None, classes: Sequence[str] = CLASSES, n_bins: int = 10,
                         weights=None, class_set: Sequence[str] | None = None) -> Report:
    """Evaluates class probabilities against true labels.

    Args:
        y_true: class indices (n,) or one-hot (n, k).
        y_prob: predicted probabilities (n, k), rows summing to 1.
        patients: patient id per beat, for the bootstrap (resampled by patient). None
            resamples beats (and says so in ``Report.ci_unit``).
        n_boot: bootstrap resamples (0 = no confidence intervals).
        seed: bootstrap seed.
        records: record name per beat, kept for ``literature_table`` and error analysis.
        classes: class names in label order.
        n_bins: calibration bins.
        weights: optional weight per beat (>= 0), e.g. ``beats.meta["weight"]`` of a capped
            ``BeatSet``: every count becomes a weighted count (see the module docstring).
        class_set: optional subset of ``classes``: beats of other true classes are dropped and
            the prediction is the argmax over the set (:func:`restrict`); the report's
            classes are then the set.

    Returns:
        A ``Report``.

    Raises:
        ValueError: on mismatched lengths or shapes, labels out of range, bad weights or an
            unknown class in ``class_set``.
    """
    classes = tuple(classes)
    k = len(classes)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_prob.ndim != 2 or y_prob.shape[1] != k:
        raise ValueError(f"y_prob must have shape (n, {k}). Received: shape={y_prob.shape}")
    y_true = _as_labels(y_true, k)
    if len(y_true) != len(y_prob):
        raise ValueError(f"y_true and y_prob differ in length: {len(y_true)} != {len(y_prob)}")
    for name, arr in (("patients", patients), ("records", records)):
        if arr is not None and len(arr) != len(y_true):
            raise ValueError(f"{name} has {len(arr)} entries for {len(y_true)} beats")
    weights = _as_weights(weights, len(y_true))
    if class_set is not None:
        y_true, y_prob, keep = restrict(y_true, y_prob, class_set, classes)
        classes = tuple(c for c in classes if c in set(class_set))
        k = len(classes)
        patients = None if patients is None else np.asarray(patients)[keep]
        records = None if records is None else np.asarray(records)[keep]
        weights = None if weights is None else weights[keep]
    y_pred = y_prob.argmax(axis=1) if len(y_prob) else np.zeros(0, np.int64)
    cm = confusion_matrix(y_true, y_pred, k, weights)
    m = per_class_metrics(cm)
    acc, macro, weighted = summaries(cm)
    roc, pr, roc_auc, pr_auc = _curves(y_true, y_prob, classes, weights)
    beats = np.bincount(y_true, minlength=k)
    per_class = pd.DataFrame({**m, "beats": beats, "roc_auc": roc_auc, "pr_auc": pr_auc},
                             index=list(classes))
    per_class["absent"] = per_class["support"] == 0
    per_class.index.name = "class"
    ece, rel = calibration_bins(y_true, y_prob, n_bins, weights)
    groups = None if patients is None else np.asarray(patients)
    if n_boot > 0:
        ci = bootstrap_ci(y_true, y_pred, groups, k, classes, n_boot=n_boot, seed=seed,
                          weights=weights)
    else:
        ci = pd.DataFrame(columns=["metric", "estimate", "lo", "hi"])
    return Report(
        classes=classes, per_class=per_class, accuracy=acc, macro=macro, weighted=weighted,
        confusion=cm, confusion_normalized=_safe_div(cm, cm.sum(axis=1, keepdims=True)),
        roc=roc, pr=pr, ece=ece, reliability=rel, ci=ci,
        ci_unit="beat" if groups is None else "patient",
        y_true=y_true, y_pred=y_pred, y_prob=y_prob,
        records=None if records is None else np.asarray(records).astype(str),
        patients=None if patients is None else np.asarray(patients).astype(str),
        weights=weights,
    )


def headline(report: Report, n_boot: int = 0, seed: int = 42) -> Report | None:
    """The report over :data:`~ecgkit.contract.CLASS_SET` (N/S/V/F), the literature's class set
    and the figure to read first, from a report over the five AAMI classes (its Q beats, which
    no model here learns, dropped: :func:`restrict`); None for another class set."""
    if tuple(report.classes) != CLASSES:
        return None
    return evaluate_predictions(report.y_true, report.y_prob, patients=report.patients,
                                records=report.records, n_boot=n_boot, seed=seed,
                                weights=report.weights, class_set=CLASS_SET)


def format_summary(report: Report) -> str:
    """A short plain-text summary: the class set, accuracy, macro averages, the per-class table."""
    t = report.table()[["sensitivity", "ppv", "specificity", "f1", "support", "beats", "absent"]]
    n = f"n={report.n_beats}"
    if report.weights is not None:
        n += f" beats, weighted {report.n_weighted:,.0f}"
    classes = f"{'/'.join(report.classes)} ({len(report.classes)} classes)"
    lines = [f"{classes}: accuracy {report.accuracy:.4f}  macro F1 {report.macro['f1']:.4f}  "
             f"ECE {report.ece:.4f}  ({n})",
             t.to_string(float_format=lambda v: f"{v:.3f}")]
    if report.absent_classes:
        lines.append(f"absent from this data: {', '.join(report.absent_classes)} "
                     "(metrics NaN, not zero)")
    return "\n".join(lines)
