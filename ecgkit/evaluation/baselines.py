"""Baselines: what a trivial, a look-alike and a timing-only classifier score on the same beats.

Introduced in: notebooks/30_evaluation.ipynb.

A network's figures mean little alone: on MIT-BIH, predicting N for every beat is already ~90 %
accurate. Each baseline here is fitted on the training beats (a ``BeatSet``, possibly capped and
weighted) and returns class probabilities ``(n, 5)`` for the test beats, so
:func:`ecgkit.evaluation.scoring.evaluate_predictions` scores it exactly like the network, and
:func:`comparison_table` puts them side by side in one call:

* :func:`always_n`: probability 1 for N. Its N sensitivity is 1 and every other class's is 0.
* :func:`nearest_neighbour`: 1-nearest-neighbour (Euclidean) on the beat's morphology, the
  -0.25 s..+0.45 s around the R peak averaged over 10-ms steps (71 values, mV), plus the 7 RR
  features (:func:`ecgkit.data.rr.rr_feature_matrix`) standardised and multiplied by ``rr_weight``.
* :func:`rr_logistic_regression`: multinomial logistic regression with balanced class weights
  on the standardised RR ratios ``pre/avg, post/avg, pre/post`` (de Chazal et al.'s idea, the
  heartbeat-interval features, in a few lines).
* :func:`gradient_boosted_trees`: gradient-boosted trees on the beat's context
  (:mod:`ecgkit.data.context`: the RR ratios and the shape minus the patient's usual beat), the
  strongest cheap model: the one a network must not fall below.

Choices made on the training patients only. ``rr_weight=2`` and the LR's ratio features were
chosen by a 5-fold cross-validation grouped by record on the DS1 training records (never on the
test records): macro-F1 over N/S/V/F was 0.47 for 1-NN with ``rr_weight`` 2 (0.35 without RR,
0.43-0.47 for weights 0.5-4), and 0.48 for the LR on the three ratios against 0.41 on all seven
features (the raw intervals fit the training patients' heart rates: S sensitivity 0.20
instead of 0.64). ``features="all"`` gives the seven-feature LR.

The verdict. :func:`verdict` turns a comparison table (optionally with paired patient-bootstrap
results, :func:`ecgkit.evaluation.scoring.paired_bootstrap`, and the network's
:func:`ecgkit.evaluation.scoring.class_coverage`) into sentences computed from the figures, so a
notebook or the demo states what the run shows instead of asserting that the network is better.

Training weights. ``nearest_neighbour`` ignores them (a nearest neighbour has no weights; a
capped training set changes which beats it can match). ``rr_logistic_regression`` balances the
classes by their *weighted* totals, so within a class a capped record counts as much as its
uncapped beats would.

References:
    de Chazal P, O'Dwyer M, Reilly RB. Automatic classification of heartbeats using ECG
    morphology and heartbeat interval features. IEEE Trans Biomed Eng 51(7):1196-1206 (2004).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ecgkit.contract import BEFORE_SAMPLES, CLASS_SET, CLASSES, FS
from ecgkit.data.rr import rr_feature_matrix

log = logging.getLogger("ecgkit")

MORPHOLOGY_WINDOW_S = (-0.25, 0.45)
"""Part of the beat window the 1-NN compares: 0.25 s before to 0.45 s after the R peak."""
MORPHOLOGY_STEP_S = 0.01
"""The morphology is averaged over steps of 10 ms (71 values)."""
RR_WEIGHT = 2.0
"""Scale of the standardised RR features against the morphology (mV) in the 1-NN distance."""
RR_FEATURE_SETS = ("ratios", "all")
DEFAULT_CLASS_SET = CLASS_SET


def _check_beats(beats, what: str):
    for attr in ("windows", "labels", "meta"):
        if not hasattr(beats, attr):
            raise ValueError(f"{what} must be a BeatSet (with windows, labels and meta). "
                             f"Received: {type(beats).__name__}")
    if len(beats.labels) == 0:
        raise ValueError(f"{what} holds no beats. Received: an empty BeatSet")
    if len(beats.meta) != len(beats.labels) or len(beats.windows) != len(beats.labels):
        raise ValueError(f"{what}: windows ({len(beats.windows)}), labels ({len(beats.labels)}) "
                         f"and meta ({len(beats.meta)}) differ in length")
    return beats


def _labels_and_weights(beats) -> tuple[np.ndarray, np.ndarray]:
    """The training labels (int64) and each beat's cap weight (1 without a ``weight`` column)."""
    y = np.asarray(beats.labels, dtype=np.int64)
    w = (beats.meta["weight"].to_numpy(dtype=np.float64)
         if "weight" in beats.meta.columns else np.ones(len(y)))
    return y, w


def _full_probs(proba: np.ndarray, fitted_classes: np.ndarray) -> np.ndarray:
    """Probabilities over the fitted classes -> (n, 5) over CLASSES (0 for unseen classes)."""
    out = np.zeros((proba.shape[0], len(CLASSES)), dtype=np.float64)
    out[:, np.asarray(fitted_classes, dtype=np.int64)] = proba
    return out


def always_n(train_beats, test_beats) -> np.ndarray:
    """Probability 1 for N for every test beat (``train_beats`` is not used).

    Returns:
        float64 (n_test, 5).
    """
    _check_beats(test_beats, "test_beats")
    out = np.zeros((len(test_beats.labels), len(CLASSES)), dtype=np.float64)
    out[:, CLASSES.index("N")] = 1.0
    return out


def morphology_features(windows: np.ndarray, window_s: tuple[float, float] = MORPHOLOGY_WINDOW_S,
                        step_s: float = MORPHOLOGY_STEP_S) -> np.ndarray:
    """The beat's shape around the R peak, averaged over short steps.

    Args:
        windows: (n, WINDOW_SAMPLES) beat windows, R peak at ``BEFORE_SAMPLES``.
        window_s: start and end in seconds relative to the R peak.
        step_s: step in seconds; each value is the mean over one step centred on its time.

    Returns:
        float32 (n, values): 71 values for the defaults.

    Raises:
        ValueError: windows too short for ``window_s``, or a bad step.
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"windows must be 2-D (beats, samples). Received: shape={w.shape}")
    if not step_s > 0 or window_s[1] <= window_s[0]:
        raise ValueError(f"need step_s > 0 and window_s[0] < window_s[1]. Received: "
                         f"window_s={window_s}, step_s={step_s}")
    half = max(1, int(round(step_s * FS / 2)))
    t = np.arange(window_s[0], window_s[1] + step_s / 2, step_s)
    pos = np.round(BEFORE_SAMPLES + t * FS).astype(np.int64)
    if pos[0] - half < 0 or pos[-1] + half > w.shape[1]:
        raise ValueError(f"windows of {w.shape[1]} samples do not cover {window_s} s around the "
                         f"R peak at sample {BEFORE_SAMPLES}")
    c = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w, axis=1)], axis=1)
    return ((c[:, pos + half] - c[:, pos - half]) / (2 * half)).astype(np.float32)


def _rr(meta, features: str) -> np.ndarray:
    if features not in RR_FEATURE_SETS:
        raise ValueError(f"features must be one of {RR_FEATURE_SETS}. "
                         f"Received: features={features!r}")
    x = rr_feature_matrix(meta)
    return x[:, 4:] if features == "ratios" else x


def _subsample(beats, per_record_class: int | None, seed: int) -> np.ndarray:
    idx = np.arange(len(beats.labels))
    if not per_record_class:
        return idx
    rng = np.random.default_rng(seed)
    keys = beats.meta["record"].astype(str).to_numpy() + "/" + np.asarray(beats.labels).astype(str)
    keep = []
    for key in np.unique(keys):
        members = idx[keys == key]
        if members.size > per_record_class:
            members = rng.choice(members, per_record_class, replace=False)
        keep.append(members)
    return np.sort(np.concatenate(keep))


def nearest_neighbour(train_beats, test_beats, *, rr_weight: float = RR_WEIGHT,
                      features: str = "all", max_per_record_class: int | None = None,
                      seed: int = 42) -> np.ndarray:
    """1-nearest-neighbour on the beat morphology plus the scaled RR features.

    Each beat is described by :func:`morphology_features` (mV) and its RR features
    standardised on the training beats and multiplied by ``rr_weight``; the test beat takes the
    class of the closest training beat (brute-force Euclidean search, scikit-learn's
    ``KNeighborsClassifier(n_neighbors=1)``). On the full DS1 training set (48,979 beats)
    against DS2 (49,630) it took 17-23 s on 2 shared CPU cores, without subsampling.

    Args:
        train_beats: BeatSet of training beats.
        test_beats: BeatSet of beats to classify.
        rr_weight: weight of the RR features (0 = morphology only).
        features: RR features: ``"all"`` (the 7 of ``rr_feature_matrix``) or ``"ratios"``.
        max_per_record_class: subsample the training beats to at most this many per record and
            class (faster; None = all).
        seed: subsampling seed.

    Returns:
        float64 (n_test, 5), one-hot rows (a 1-NN has no graded confidence); classes absent
        from training are never predicted (column of zeros).

    Raises:
        ValueError: an empty or malformed BeatSet, missing RR features, a negative weight.
    """
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    _check_beats(train_beats, "train_beats")
    _check_beats(test_beats, "test_beats")
    if not rr_weight >= 0:
        raise ValueError(f"rr_weight must be >= 0. Received: rr_weight={rr_weight}")
    idx = _subsample(train_beats, max_per_record_class, seed)
    x_train = morphology_features(train_beats.windows[idx])
    x_test = morphology_features(test_beats.windows)
    if rr_weight > 0:
        rr_train = _rr(train_beats.meta.iloc[idx], features)
        scaler = StandardScaler().fit(rr_train)
        x_train = np.hstack([x_train, rr_weight * scaler.transform(rr_train)]).astype(np.float32)
        x_test = np.hstack([x_test, rr_weight * scaler.transform(_rr(test_beats.meta, features))]
                           ).astype(np.float32)
    y = np.asarray(train_beats.labels, dtype=np.int64)[idx]
    knn = KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(x_train, y)
    return _full_probs(knn.predict_proba(x_test), knn.classes_)


def rr_logistic_regression(train_beats, test_beats, *, features: str = "ratios", C: float = 1.0,
                           max_iter: int = 2000) -> np.ndarray:
    """Logistic regression with balanced class weights on standardised RR features.

    Args:
        train_beats: BeatSet of training beats (``meta["weight"]`` is used when present).
        test_beats: BeatSet of beats to classify.
        features: ``"ratios"`` (``pre/avg, post/avg, pre/post``, the default) or ``"all"``
            (``pre, post, local, avg`` and the three ratios).
        C: inverse regularisation strength.
        max_iter: solver iterations.

    Returns:
        float64 (n_test, 5) probabilities; classes absent from training get 0. With a single
        training class every test beat gets probability 1 for it.

    Raises:
        ValueError: an empty or malformed BeatSet, missing RR features, unknown ``features``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    _check_beats(train_beats, "train_beats")
    _check_beats(test_beats, "test_beats")
    x_train, x_test = _rr(train_beats.meta, features), _rr(test_beats.meta, features)
    y, w = _labels_and_weights(train_beats)
    present = np.unique(y)
    if present.size == 1:
        return _full_probs(np.ones((len(x_test), 1)), present)
    # "balanced" gives each class the same total weight by counts; dividing each weight by its
    # class mean makes that hold for the weighted totals too.
    class_mean = np.bincount(y, weights=w) / np.maximum(np.bincount(y), 1)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(class_weight="balanced", C=C, max_iter=max_iter)
    model.fit(scaler.transform(x_train), y, sample_weight=w / class_mean[y])
    return _full_probs(model.predict_proba(scaler.transform(x_test)), model.classes_)


TREE_FEATURE_SETS = ("context", "shape+rr", "shape", "rr")
"""Feature sets of :func:`gradient_boosted_trees`: ``context`` is the beat's context vector
(:mod:`ecgkit.data.context`: 3 RR ratios and the 71 shape values minus the record's usual beat),
``shape+rr`` the raw 71 shape values and the 3 RR ratios, ``shape`` and ``rr`` each alone."""
TREE_FEATURES = "context"
"""The feature set chosen by grouped 5-fold cross-validation by patient on the DS1 training
patients (``benchmarks/bench_trees.py``; table in benchmarks/README.md)."""
TREE_ITERATIONS = 300


def tree_features(beats, features: str = TREE_FEATURES, mode: str = "offline") -> np.ndarray:
    """The feature matrix of :func:`gradient_boosted_trees` for ``beats``.

    Raises:
        ValueError: unknown ``features`` or ``mode``; beats without context or RR features.
    """
    from ecgkit.data.context import N_RHYTHM, check_mode

    check_mode(mode)
    if features not in TREE_FEATURE_SETS:
        raise ValueError(f"features must be one of {TREE_FEATURE_SETS}. "
                         f"Received: features={features!r}")
    if features == "context":
        return np.asarray(beats.context_of(mode), dtype=np.float32)
    shape = morphology_features(beats.windows)
    rr = np.asarray(beats.context_of(mode), dtype=np.float32)[:, :N_RHYTHM]
    return {"shape+rr": lambda: np.hstack([shape, rr]), "shape": lambda: shape,
            "rr": lambda: rr}[features]()


def gradient_boosted_trees(train_beats, test_beats, *, features: str = TREE_FEATURES,
                           mode: str = "offline", max_iter: int = TREE_ITERATIONS,
                           seed: int = 0) -> np.ndarray:
    """Gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) on the beat's
    context: the strongest cheap model found, a minute or less on 2 cores.

    Each class gets the same total weight (balanced), counting each training beat with its cap
    weight, as :func:`rr_logistic_regression` does. The default features are the context vector
    of :mod:`ecgkit.data.context` (3 RR ratios against the patient's rhythm, 71 shape values minus
    the patient's usual beat), ``mode`` offline (the whole record) or causal (only the past).

    Args:
        train_beats: BeatSet of training beats (from ``load_beats``: it carries the context).
        test_beats: BeatSet of beats to classify.
        features: one of :data:`TREE_FEATURE_SETS`.
        mode: ``"offline"`` or ``"causal"`` context.
        max_iter: boosting iterations.
        seed: the trees' random state.

    Returns:
        float64 (n_test, 5) probabilities; classes absent from training get 0.

    Raises:
        ValueError: an empty or malformed BeatSet, beats without context, bad options.
    """
    _check_beats(train_beats, "train_beats")
    _check_beats(test_beats, "test_beats")
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1. Received: max_iter={max_iter!r}")
    y, w = _labels_and_weights(train_beats)
    return trees_on_features(tree_features(train_beats, features, mode), y, w,
                             tree_features(test_beats, features, mode), max_iter=max_iter,
                             seed=seed)


def trees_on_features(x_train, y, w, x_test, *, max_iter: int = TREE_ITERATIONS,
                      seed: int = 0) -> np.ndarray:
    """The model of :func:`gradient_boosted_trees` on feature matrices of one's own: each class
    the same total weight, each beat counted with its cap weight ``w``.

    Returns:
        float64 (n_test, 5) probabilities; classes absent from ``y`` get 0.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = np.asarray(y, dtype=np.int64)
    w = np.asarray(w, dtype=np.float64)
    present = np.unique(y)
    if present.size == 1:
        return _full_probs(np.ones((len(x_test), 1)), present)
    total = np.bincount(y, weights=w)
    sample_weight = w * (w.sum() / (present.size * total[y]))
    model = HistGradientBoostingClassifier(max_iter=int(max_iter), random_state=seed)
    model.fit(x_train, y, sample_weight=sample_weight)
    return _full_probs(model.predict_proba(x_test), model.classes_)


BASELINES: dict[str, Callable] = {
    "always_n": always_n,
    "nearest_neighbour": nearest_neighbour,
    "rr_logistic_regression": rr_logistic_regression,
    "gradient_boosted_trees": gradient_boosted_trees,
}
"""The baselines by name, in the order :func:`run_baselines` runs them."""


def run_baselines(train_beats, test_beats, names: Sequence[str] | None = None,
                  options: Mapping[str, Mapping] | None = None) -> dict[str, np.ndarray]:
    """Fits every baseline on ``train_beats`` and predicts ``test_beats``.

    Args:
        train_beats: BeatSet of training beats (``beats.subset("train")``).
        test_beats: BeatSet of test beats.
        names: baselines to run (default: all of :data:`BASELINES`, in that order).
        options: keyword arguments per baseline, e.g.
            ``{"nearest_neighbour": {"max_per_record_class": 200}}``.

    Returns:
        ``{name: probabilities (n_test, 5)}``; each run time is logged (logger ``ecgkit``).

    Raises:
        ValueError: an unknown baseline name or options for a baseline not run.
    """
    names = list(BASELINES) if names is None else list(names)
    options = dict(options or {})
    unknown = [n for n in names if n not in BASELINES]
    stray = [n for n in options if n not in names]
    if unknown or stray:
        raise ValueError(f"baselines are {list(BASELINES)}. Received: names={names}, "
                         f"options for {list(options)}")
    out = {}
    for name in names:
        t0 = time.perf_counter()
        out[name] = BASELINES[name](train_beats, test_beats, **options.get(name, {}))
        log.info(f"baseline {name}: {time.perf_counter() - t0:.1f} s")
    return out


def comparison_table(results: Mapping[str, np.ndarray], test_beats,
                     class_set: Sequence[str] = DEFAULT_CLASS_SET, weights="auto",
                     records: Sequence[str] | None = None) -> pd.DataFrame:
    """Models and baselines side by side: per-class Se/+P, macro-F1 and accuracy.

    Every entry is scored by :func:`ecgkit.evaluation.scoring.evaluate_predictions` on the same
    beats, restricted to ``class_set`` (beats of other true classes dropped, argmax over the set).

    Args:
        results: ``{name: probabilities (n_test, 5)}``, e.g. ``{"network": y_prob,
            **run_baselines(train, test)}``.
        test_beats: the BeatSet the probabilities are for (labels, records, weights).
        class_set: classes to evaluate on (default N, S, V, F).
        weights: ``"auto"`` (``test_beats.meta["weight"]`` when present), None (unweighted) or
            one weight per test beat.
        records: only beats of these records count (e.g. ``ecgkit.contract.DS2`` for the
            literature's test set); None = all test beats.

    Returns:
        DataFrame indexed by name with ``N_Se, N_PP, S_Se, S_PP, V_Se, V_PP, F_Se, F_PP``
        (NaN for classes outside the set; ``Q_Se, Q_PP`` too when Q is in the set),
        ``macro_f1`` (over the set), ``accuracy``, ``n_beats`` and ``n_weighted``.

    Raises:
        ValueError: probabilities of the wrong shape, bad weights or class set, or no beat
            of ``records`` in ``test_beats``.
    """
    from ecgkit.evaluation.scoring import evaluate_predictions

    _check_beats(test_beats, "test_beats")
    n = len(test_beats.labels)
    if isinstance(weights, str):
        if weights != "auto":
            raise ValueError(f"weights must be 'auto', None or an array. Received: {weights!r}")
        weights = (test_beats.meta["weight"].to_numpy() if "weight" in test_beats.meta.columns
                   else None)
    sel = np.ones(n, dtype=bool)
    if records is not None:
        sel = test_beats.meta["record"].astype(str).isin([str(r) for r in records]).to_numpy()
        if not sel.any():
            raise ValueError(f"no test beats from records {list(records)}. Received records: "
                             f"{sorted(set(test_beats.meta['record']))}")
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if w is not None and w.shape != (n,):
        raise ValueError(f"weights must have one value per test beat ({n}). "
                         f"Received: shape={w.shape}")
    shown = [c for c in CLASSES if c in DEFAULT_CLASS_SET or c in class_set]
    rows = {}
    for name, probs in results.items():
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (n, len(CLASSES)):
            raise ValueError(f"{name}: probabilities must have shape ({n}, {len(CLASSES)}). "
                             f"Received: shape={p.shape}")
        r = evaluate_predictions(test_beats.labels[sel], p[sel], n_boot=0,
                                 weights=None if w is None else w[sel], class_set=class_set)
        row = {}
        for c in shown:
            inside = c in r.classes
            row[f"{c}_Se"] = float(r.per_class.loc[c, "sensitivity"]) if inside else np.nan
            row[f"{c}_PP"] = float(r.per_class.loc[c, "ppv"]) if inside else np.nan
        row.update(macro_f1=r.macro["f1"], accuracy=r.accuracy, n_beats=r.n_beats,
                   n_weighted=r.n_weighted)
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


LABELS = {"always_n": "always-N", "nearest_neighbour": "1-NN", "rr_logistic_regression": "RR-LR",
          "gradient_boosted_trees": "trees"}
"""Short names of the baselines in sentences."""


def _sure(v: Mapping) -> str:
    if v["lo"] > 0:
        return "better than"
    return "worse than" if v["hi"] < 0 else "not distinguishable from"


def verdict(table: pd.DataFrame, model: str = "network",
            class_set: Sequence[str] = DEFAULT_CLASS_SET,
            versus: Mapping[str, Mapping] | None = None,
            coverage: Mapping[str, Sequence[str]] | None = None) -> str:
    """The comparison in words, computed from the figures: what the run shows, either way.

    Args:
        table: a :func:`comparison_table` with a row ``model`` and the others to compare with.
        model: the row the sentence is about.
        class_set: the class set ``table`` was computed on (named in the sentence).
        versus: optional ``{row name: ecgkit.evaluation.scoring.paired_bootstrap(model, row)}``:
        adds
            whether each difference is sure at the bootstrap's level (interval above or below 0)
            or not distinguishable (interval contains 0).
        coverage: optional ``ecgkit.evaluation.scoring.class_coverage`` of the model: adds which
            of the classes present it predicts.

    Returns:
        One or more sentences, e.g. "On 840 test beats (weighted 25,013), the network's
        macro-F1 over N/S/V/F is 0.412: above always-N (0.243), below 1-NN (0.551) and above
        RR-LR (0.380). ..."

    Raises:
        ValueError: ``model`` is not a row of ``table``.
    """
    if model not in table.index:
        raise ValueError(f"{model!r} is not a row of the table. Received rows: {list(table.index)}")
    row = table.loc[model]
    others = [n for n in table.index if n != model]

    def side(a: float, b: float) -> str:
        return "above" if a > b else "below" if a < b else "equal to"

    def name(n: str) -> str:
        return LABELS.get(n, n)

    parts = [f"{side(row['macro_f1'], table.loc[n, 'macro_f1'])} {name(n)} "
             f"({table.loc[n, 'macro_f1']:.3f})" for n in others]
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)
    text = (f"On {int(row['n_beats']):,} test beats (weighted {row['n_weighted']:,.0f}), the "
            f"{model}'s macro-F1 over {'/'.join(class_set)} is {row['macro_f1']:.3f}"
            + (f": {listed}." if listed else "."))
    if versus:
        first = next(iter(versus.values()))
        text += (f" Paired patient bootstrap ({first['level']:.0%} interval, {first['n_boot']} "
                 "resamples): " + "; ".join(
                     f"{_sure(v)} {name(n)} (difference {v['difference']:+.3f} "
                     f"[{v['lo']:+.3f}, {v['hi']:+.3f}], > 0 in {v['share_above_zero']:.0%} of "
                     "resamples)" for n, v in versus.items()) + ".")
    if coverage is not None:
        present, never = list(coverage["present"]), list(coverage["never_predicted"])
        if never:
            text += (f" It never predicts {', '.join(never)} of the classes present "
                     f"({', '.join(present)}).")
        else:
            text += f" It predicts every class present ({', '.join(present)})."
    return text


@dataclass
class Comparison:
    """What :func:`compare` returns: the table, the paired bootstraps, coverage and verdicts.

    Attributes:
        table: the :func:`comparison_table`.
        versus: ``{model: {other row: ecgkit.evaluation.scoring.paired_bootstrap(model, other)}}``.
        coverage: ``{model: ecgkit.evaluation.scoring.class_coverage(model)}``.
        verdicts: ``{model: verdict(...)}``: the sentences.
    """

    table: pd.DataFrame
    versus: dict[str, dict[str, dict[str, Any]]]
    coverage: dict[str, dict[str, list[str]]]
    verdicts: dict[str, str]

    def paired(self) -> pd.DataFrame:
        """The paired bootstraps as one table indexed by (model, minus)."""
        cols = ("difference", "lo", "hi", "share_above_zero")
        return pd.concat({m: pd.DataFrame({n: {k: v[k] for k in cols} for n, v in vs.items()}).T
                          for m, vs in self.versus.items()}, names=["model", "minus"])


def compare(results: Mapping[str, np.ndarray], test_beats, models: Sequence[str] = ("network",),
            class_set: Sequence[str] = DEFAULT_CLASS_SET, records: Sequence[str] | None = None,
            n_boot: int = 1000, seed: int = 42) -> Comparison:
    """The whole comparison chain in one call: table, paired bootstrap, coverage, verdict.

    The demo and notebook 30 both call this, so they compare in exactly the same way: every
    entry of ``results`` is scored on the same beats (:func:`comparison_table`), each of
    ``models`` is compared with every other entry by the paired patient bootstrap on those
    beats (:func:`ecgkit.evaluation.scoring.paired_bootstrap`, weighted), its class coverage is
    taken, and :func:`verdict` puts it in words.

    Args:
        results: ``{name: probabilities (n_test, 5)}``, the models and the baselines.
        test_beats: the BeatSet the probabilities are for.
        models: the rows to judge (each against all the others).
        class_set: classes to evaluate on.
        records: only beats of these records count (e.g. ``ecgkit.contract.DS2``); None = all.
        n_boot: bootstrap resamples (at least 1).
        seed: bootstrap seed.

    Returns:
        A :class:`Comparison`.

    Raises:
        ValueError: a model that is not in ``results``, or any error of
            :func:`comparison_table`.
    """
    from ecgkit.evaluation.scoring import class_coverage, paired_bootstrap

    missing = [m for m in models if m not in results]
    if missing:
        raise ValueError(f"models {missing} are not in results. Received: {list(results)}")
    table = comparison_table(results, test_beats, class_set=class_set, records=records)
    meta = test_beats.meta
    sel = (np.ones(len(meta), dtype=bool) if records is None
           else meta["record"].astype(str).isin([str(r) for r in records]).to_numpy())
    y, patients = test_beats.labels[sel], meta["patient"].to_numpy()[sel]
    weights = meta["weight"].to_numpy()[sel] if "weight" in meta.columns else None
    probs = {name: np.asarray(p)[sel] for name, p in results.items()}
    versus = {m: {n: paired_bootstrap(y, probs[m], probs[n], patients, weights=weights,
                                      class_set=class_set, n_boot=max(1, n_boot), seed=seed)
                  for n in results if n != m} for m in models}
    coverage = {m: class_coverage(y, probs[m], class_set=class_set) for m in models}
    verdicts = {m: verdict(table, m, class_set, versus=versus[m], coverage=coverage[m])
                for m in models}
    return Comparison(table, versus, coverage, verdicts)

