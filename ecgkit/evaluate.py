"""Evaluation of a beat classifier: per-class metrics, curves, calibration and bootstrap CIs.

Introduced in: notebooks/30_evaluation.ipynb.

Everything here works on plain arrays (true labels, predicted probabilities, and optionally the
patient and record of each beat), so it is testable without a model. ``evaluate_model`` runs a
model over a data set and writes a report (``metrics.json`` and figures); ``ecgkit evaluate``
is its command line.

Terms (ANSI/AAMI EC57): sensitivity Se = TP / (TP + FN) (recall), positive predictive value
+P = TP / (TP + FP) (precision), specificity Sp = TN / (TN + FP). A class with no true beats in
the evaluated data is *absent*: its Se, F1 and AUCs are NaN and flagged, never a silent 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ecgkit.contract import CLASSES, DS2, PACED_TEST

LITERATURE = (
    {
        "source": "de Chazal et al. 2004 (as tabulated by Mondejar-Guerra et al.)",
        "reference": "IEEE Trans. Biomed. Eng. 51(7):1196-1206, doi:10.1109/TBME.2004.827359; "
                     "accuracy as listed in the comparison table of github.com/mondejar/"
                     "ecg-classification README",
        "accuracy": 0.862,
    },
    {
        "source": "Mondejar-Guerra et al. 2019",
        "reference": "Biomed. Signal Process. Control 47:41-48, doi:10.1016/j.bspc.2018.08.007",
        "accuracy": 0.945,
    },
    {
        "source": "Llamedo & Martinez 2011",
        "reference": "IEEE Trans. Biomed. Eng. 58(3):616-625, doi:10.1109/TBME.2010.2068048",
        "S_Se": 0.77, "S_PP": 0.39, "V_Se": 0.81, "V_PP": 0.87,
    },
    {
        "source": "Garcia et al. 2017",
        "reference": "Sci. Rep. 7:10543, doi:10.1038/s41598-017-09837-3",
        "S_Se": 0.62, "S_PP": 0.53, "V_Se": 0.873, "V_PP": 0.594,
    },
)
"""Published inter-patient results on MIT-BIH DS2 (fractions). Only figures we can cite are
given; a missing key means the figure is not included here, not that it is zero."""

LITERATURE_COLUMNS = ("accuracy", "N_Se", "N_PP", "S_Se", "S_PP", "V_Se", "V_PP", "F_Se", "F_PP")


@dataclass
class Report:
    """The evaluation of one set of predictions.

    Attributes:
        classes: class names, in label order.
        per_class: DataFrame indexed by class with ``sensitivity``, ``ppv``, ``specificity``,
            ``f1``, ``support``, ``predicted``, ``roc_auc``, ``pr_auc`` and ``absent`` (no true
            beats of that class in the data).
        accuracy: overall accuracy.
        macro: unweighted mean over the classes present (``sensitivity``, ``ppv``,
            ``specificity``, ``f1``).
        weighted: the same averages weighted by support.
        confusion: counts, rows = true class, columns = predicted class.
        confusion_normalized: rows divided by their totals (NaN rows for absent classes).
        roc: per present class, ``(fpr, tpr)`` arrays (one-vs-rest).
        pr: per present class, ``(recall, precision)`` arrays (one-vs-rest).
        ece: expected calibration error of the top-class confidence.
        reliability: DataFrame of calibration bins (``lo``, ``hi``, ``confidence``,
            ``accuracy``, ``count``).
        ci: DataFrame of bootstrap confidence intervals (``metric``, ``estimate``, ``lo``,
            ``hi``) resampled by patient (or by beat when no patients were given).
        ci_unit: ``"patient"`` or ``"beat"``.
        y_true, y_pred, y_prob, records, patients: the inputs, kept for tables and plots.
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

    @property
    def absent_classes(self) -> list[str]:
        """Classes with no true examples in the evaluated data."""
        return [c for c in self.classes if bool(self.per_class.loc[c, "absent"])]

    def table(self) -> pd.DataFrame:
        """Per-class table with macro and weighted average rows appended."""
        rows = self.per_class.copy()
        for name, avg in (("macro avg", self.macro), ("weighted avg", self.weighted)):
            rows.loc[name] = {**{k: np.nan for k in rows.columns}, **avg,
                              "support": int(rows["support"].sum()), "absent": False}
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (NaN becomes None)."""
        per_class = {
            c: {k: _json_value(v) for k, v in self.per_class.loc[c].items()} for c in self.classes
        }
        return {
            "classes": list(self.classes),
            "n": int(len(self.y_true)),
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
        raise ValueError(f"labels must be 1-D class indices or 2-D one-hot. Received: shape={y.shape}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}. Received: {sorted(set(y.tolist()))}")
    return y


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class (all classes, zeros included)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def per_class_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Se, +P, Sp, F1, support and predicted count per class from a confusion matrix.

    Undefined values (a class with no true or no predicted beats) are NaN, never 0.
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


def _summaries(cm: np.ndarray) -> tuple[float, dict[str, float], dict[str, float]]:
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


def calibration_bins(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10
                     ) -> tuple[float, pd.DataFrame]:
    """Reliability table of the top-class confidence and the expected calibration error.

    ECE = sum over bins of (bin count / n) * |accuracy - mean confidence| (Guo et al. 2017).
    """
    conf = y_prob.max(axis=1)
    correct = (y_prob.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    rows, ece = [], 0.0
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        c = float(conf[sel].mean()) if n else float("nan")
        a = float(correct[sel].mean()) if n else float("nan")
        if n:
            ece += n / len(conf) * abs(a - c)
        rows.append({"lo": edges[b], "hi": edges[b + 1], "confidence": c, "accuracy": a,
                     "count": n})
    return (float(ece) if len(conf) else float("nan")), pd.DataFrame(rows)


def _curves(y_true: np.ndarray, y_prob: np.ndarray, classes: Sequence[str]):
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    roc, pr, roc_auc, pr_auc = {}, {}, [], []
    for k, c in enumerate(classes):
        pos = y_true == k
        if not pos.any() or pos.all():
            roc_auc.append(np.nan)
            pr_auc.append(np.nan)
            continue
        fpr, tpr, _ = roc_curve(pos, y_prob[:, k])
        prec, rec, _ = precision_recall_curve(pos, y_prob[:, k])
        roc[c] = (fpr, tpr)
        pr[c] = (rec, prec)
        roc_auc.append(float(auc(fpr, tpr)))
        pr_auc.append(float(auc(rec, prec)))
    return roc, pr, np.array(roc_auc), np.array(pr_auc)


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray | None,
                 n_classes: int, classes: Sequence[str], n_boot: int = 200, seed: int = 42,
                 level: float = 0.95) -> pd.DataFrame:
    """Percentile bootstrap CIs of accuracy, macro F1 and per-class Se / +P.

    Whole groups (patients) are resampled with replacement, because beats of one patient are
    not independent; with ``groups=None`` single beats are resampled.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    acc, macro, _ = _summaries(cm)
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
    per_group = np.zeros((len(uniq), n_classes, n_classes), dtype=np.int64)
    np.add.at(per_group, (inverse, y_true, y_pred), 1)
    rng = np.random.default_rng(seed)
    samples = np.full((n_boot, len(names)), np.nan)
    for b in range(n_boot if len(uniq) else 0):
        pick = rng.integers(0, len(uniq), size=len(uniq))
        cmb = per_group[pick].sum(axis=0)
        a, mac, _ = _summaries(cmb)
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


def evaluate_predictions(y_true, y_prob, patients=None, n_boot: int = 200, seed: int = 42,
                         records=None, classes: Sequence[str] = CLASSES, n_bins: int = 10
                         ) -> Report:
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

    Returns:
        A ``Report``.

    Raises:
        ValueError: on mismatched lengths or shapes, or labels out of range.
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
    y_pred = y_prob.argmax(axis=1) if len(y_prob) else np.zeros(0, np.int64)
    cm = confusion_matrix(y_true, y_pred, k)
    m = per_class_metrics(cm)
    acc, macro, weighted = _summaries(cm)
    roc, pr, roc_auc, pr_auc = _curves(y_true, y_prob, classes)
    per_class = pd.DataFrame({**m, "roc_auc": roc_auc, "pr_auc": pr_auc}, index=list(classes))
    per_class["absent"] = per_class["support"] == 0
    per_class.index.name = "class"
    ece, rel = calibration_bins(y_true, y_prob, n_bins)
    groups = None if patients is None else np.asarray(patients)
    if n_boot > 0:
        ci = bootstrap_ci(y_true, y_pred, groups, k, classes, n_boot=n_boot, seed=seed)
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
    )


def literature_table(report: Report) -> pd.DataFrame:
    """Our result beside published inter-patient MIT-BIH DS2 results, for N, S, V and F.

    Our row is computed on the standard DS2 records only: paced test records (104, 217) and
    any record outside DS2 are left out. When the evaluated data covers only part of DS2 (the
    embedded subset, a per-record cap) the ``note`` says so: the figures are then not directly
    comparable. Literature rows are labelled ``kind="literature"`` and are copied from the
    cited papers, not recomputed.

    Raises:
        ValueError: when the report has no record names.
    """
    if report.records is None:
        raise ValueError("literature_table needs the record of each beat: pass records= to "
                         "evaluate_predictions")
    sel = np.isin(report.records, DS2)
    used = sorted(set(report.records[sel].tolist()))
    excluded = sorted(set(report.records[~sel].tolist()))
    row: dict[str, Any] = {"source": "ecgkit (this run)", "kind": "this run",
                           "reference": "computed here", "n_beats": int(sel.sum())}
    if sel.any():
        cm = confusion_matrix(report.y_true[sel], report.y_pred[sel], len(report.classes))
        m = per_class_metrics(cm)
        row["accuracy"] = float(np.trace(cm) / cm.sum())
        for c in ("N", "S", "V", "F"):
            j = report.classes.index(c)
            row[f"{c}_Se"] = float(m["sensitivity"][j])
            row[f"{c}_PP"] = float(m["ppv"][j])
    notes = []
    if len(used) < len(DS2):
        notes.append(f"subset of DS2: {len(used)} of {len(DS2)} records ({', '.join(used)})")
    paced = [r for r in excluded if r in PACED_TEST]
    if paced:
        notes.append(f"paced records excluded: {', '.join(paced)}")
    other = [r for r in excluded if r not in PACED_TEST]
    if other:
        notes.append(f"non-DS2 records excluded: {', '.join(other)}")
    row["note"] = "; ".join(notes)
    rows = [row] + [{"kind": "literature", "n_beats": np.nan, "note": "literature figure", **lit}
                    for lit in LITERATURE]
    cols = ["source", "kind", "n_beats", *LITERATURE_COLUMNS, "note", "reference"]
    return pd.DataFrame(rows).reindex(columns=cols)


# --- Models and reports --------------------------------------------------------------------------

def predict_dataset(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Runs ``model`` over a tf.data set of ``(images, one_hot)``; returns (y_true, y_prob)."""
    ys, ps = [], []
    for x, y in dataset:
        ps.append(np.asarray(model(x, training=False), dtype=np.float64))
        ys.append(np.asarray(y).argmax(axis=1))
    if not ys:
        raise ValueError("the data set is empty: nothing to evaluate")
    return np.concatenate(ys), np.concatenate(ps)


def evaluate_model(model, beats, out_dir: str | Path | None = None, *, image_size: int | None = None,
                   grid: bool = True, batch_size: int = 32, n_boot: int = 200, seed: int = 42,
                   figures: bool = True) -> Report:
    """Evaluates a model on a ``BeatSet`` and optionally writes the report.

    Args:
        model: a Keras model taking uint8-range images.
        beats: the ``BeatSet`` to evaluate (usually ``beats.subset("test")``).
        out_dir: where ``metrics.json``, ``per_class.csv``, ``literature.csv`` and figures go;
            None writes nothing.
        image_size: image side; None reads it from the model's input.
        grid: draw the ECG-paper grid (must match training).
        batch_size: images per batch.
        n_boot: bootstrap resamples by patient.
        seed: bootstrap seed.
        figures: also save PNG figures.

    Returns:
        The ``Report``.
    """
    from ecgkit.datasets import signal_dataset

    if image_size is None:
        image_size = int(model.input_shape[1])
    ds = signal_dataset(beats, image_size=image_size, grid=grid, batch_size=batch_size,
                        shuffle=False)
    y_true, y_prob = predict_dataset(model, ds)
    report = evaluate_predictions(y_true, y_prob, patients=beats.meta["patient"].to_numpy(),
                                  records=beats.meta["record"].to_numpy(), n_boot=n_boot,
                                  seed=seed)
    if out_dir is not None:
        write_report(report, out_dir, figures=figures)
    return report


def evaluate_image_folder(model, folder: str | Path, split: str = "test",
                          out_dir: str | Path | None = None, *, batch_size: int = 32,
                          n_boot: int = 200, seed: int = 42, figures: bool = True) -> Report:
    """Evaluates a model on the images of an ``ecgkit build-dataset`` folder (its manifest).

    Args:
        model: a Keras model taking 0..255 images.
        folder: the folder holding ``manifest.csv`` (path, record, patient, sample, symbol,
            label, split).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        out_dir, batch_size, n_boot, seed, figures: as in ``evaluate_model``.

    Raises:
        FileNotFoundError: no manifest; ValueError: no images in that split.
    """
    from ecgkit.datasets import read_image

    folder = Path(folder)
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{folder}: no manifest.csv (is it an ecgkit build-dataset "
                                "folder?)")
    m = pd.read_csv(manifest, dtype={"record": str, "patient": str})
    if split != "all":
        m = m[m["split"] == split].reset_index(drop=True)
    if m.empty:
        raise ValueError(f"{manifest}: no images in split {split!r}")
    size = int(model.input_shape[1])
    probs = []
    for start in range(0, len(m), batch_size):
        paths = [Path(p) if Path(p).is_absolute() else folder / p
                 for p in m["path"].iloc[start:start + batch_size]]
        x = np.stack([read_image(p, size) for p in paths])
        probs.append(np.asarray(model(x, training=False), dtype=np.float64))
    y_true = m["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    report = evaluate_predictions(y_true, np.concatenate(probs), patients=m["patient"].to_numpy(),
                                  records=m["record"].to_numpy(), n_boot=n_boot, seed=seed)
    if out_dir is not None:
        write_report(report, out_dir, figures=figures)
    return report


def write_report(report: Report, out_dir: str | Path, figures: bool = True,
                 extra: dict | None = None) -> dict[str, Path]:
    """Writes ``metrics.json``, ``per_class.csv``, ``literature.csv`` and figures to out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out / "metrics.json", "per_class": out / "per_class.csv"}
    payload = report.to_dict()
    if extra:
        payload.update(extra)
    paths["metrics"].write_text(json.dumps(payload, indent=2))
    report.table().to_csv(paths["per_class"])
    if report.records is not None:
        paths["literature"] = out / "literature.csv"
        literature_table(report).to_csv(paths["literature"], index=False)
    if figures:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from ecgkit import plots

        for name, fig in (
            ("confusion", plots.plot_confusion_matrix(report.confusion, report.classes)),
            ("confusion_normalized", plots.plot_confusion_matrix(
                report.confusion, report.classes, normalize=True)),
            ("roc_pr", plots.plot_roc_pr(report.roc, report.pr, report.per_class)),
            ("calibration", plots.plot_calibration(report.reliability, report.ece)),
        ):
            paths[name] = out / f"{name}.png"
            fig.savefig(paths[name], dpi=110, bbox_inches="tight")
            plt.close(fig)
    return paths


def format_summary(report: Report) -> str:
    """A short plain-text summary: accuracy, macro averages and the per-class table."""
    t = report.table()[["sensitivity", "ppv", "specificity", "f1", "support", "absent"]]
    lines = [f"accuracy {report.accuracy:.4f}  macro F1 {report.macro['f1']:.4f}  "
             f"ECE {report.ece:.4f}  (n={len(report.y_true)})",
             t.to_string(float_format=lambda v: f"{v:.3f}")]
    if report.absent_classes:
        lines.append(f"absent from this data: {', '.join(report.absent_classes)} "
                     "(metrics NaN, not zero)")
    return "\n".join(lines)


# --- Command line ----------------------------------------------------------------------------------

def _cmd_evaluate(args) -> int:
    import sys

    from ecgkit.datasets import load_beats
    from ecgkit.predict import ModelLoadError, load_model

    try:
        model = load_model(args.model)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.model).parent / "evaluation"
    if args.data and (Path(args.data) / "manifest.csv").is_file():  # a build-dataset folder
        report = evaluate_image_folder(model, args.data, args.split, out, n_boot=args.bootstrap)
    else:
        beats = load_beats(args.data, records=args.records or None,
                           max_beats_per_record=args.max_beats_per_record,
                           progress=not args.quiet)
        if args.split != "all":
            if args.split not in beats.splits:
                print(f"error: {args.data or 'embedded data'}: no beats in split "
                      f"{args.split!r} (splits: {beats.splits})", file=sys.stderr)
                return 1
            beats = beats.subset(args.split)
        report = evaluate_model(model, beats, out, n_boot=args.bootstrap, grid=not args.no_grid)
    print(format_summary(report))
    print(f"report written to {out}")
    return 0


def register_cli(subparsers) -> None:
    """Adds ``ecgkit evaluate``."""
    p = subparsers.add_parser(
        "evaluate", help="evaluate a trained model (per-class metrics, literature table, figures)",
        description="Evaluates a .keras model on the beats of a WFDB folder, or on the images "
                    "of an `ecgkit build-dataset` folder (one with manifest.csv); default split: "
                    "the test patients. Writes metrics.json, per_class.csv, literature.csv and "
                    "figures.")
    p.add_argument("--model", required=True, help="trained .keras model")
    p.add_argument("--data", default=None, help="WFDB folder or build-dataset image folder "
                   "(default: the embedded database, data/mitdb)")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument("--records", nargs="*", help="only these records")
    p.add_argument("--max-beats-per-record", type=int, default=0)
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples by patient")
    p.add_argument("--no-grid", action="store_true", help="images without the ECG-paper grid")
    p.add_argument("--out", default=None, help="report folder (default: next to the model)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)
