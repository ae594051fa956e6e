"""Published inter-patient MIT-BIH results, and our result computed the way each was computed.

Introduced in: notebooks/30_evaluation.ipynb (section 8, beside the literature).

A published figure is comparable with ours only under the same protocol: the same test records
(DS2 of de Chazal et al. 2004, without the paced records) and the same class set. Papers differ
in the class set: some classify N, S and V (and drop F and Q beats), others N, S, V and F, others
all five AAMI classes. :func:`literature_table` therefore computes one row of ours per class set
found in :data:`LITERATURE`, on the DS2 records only, dropping the beats of other classes and
predicting by the argmax over the set's classes (:func:`ecgkit.evaluation.scoring.restrict`), with
the report's cap weights when it has them, and puts the literature rows of that class set under it.

Every figure in :data:`LITERATURE` was read in the source named in its ``reference`` (the
paper's abstract or a comparison table of a later paper); a missing key means the figure is not
given here, not that it is zero. Figures that could not be verified and are left out:
Mondejar-Guerra et al. (2019) per-class Se/+P; de Chazal et al. (2004) F-class Se/+P and the
paper's own accuracy (two later tabulations disagree: 86.2 % in Mondejar-Guerra's comparison,
83 % in Garcia et al. 2017, Table 2; both rows are listed with their source); Mar et al. (2011)
F-class figures. The class set of Mar et al. (N/S/V/F) follows the 4-class comparison of
Mondejar-Guerra et al. and was not verified in the paper itself, nor was de Chazal's
(they classify all five AAMI classes; DS2 without paced records holds 7 Q beats, so N/S/V/F and
all five classes give practically the same figures). Mondejar-Guerra's comparison table lists
accuracies of 0.883 for Zhang et al. and 0.899 for Mar et al.; the rows below use Zhang's
abstract (86.66 %) and Garcia's Table 2 (89 %) instead.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ecgkit.contract import CLASS_SET, DS2, PACED_TEST

NSV = ("N", "S", "V")
NSVF = CLASS_SET

_GARCIA_T2 = ("as tabulated by Garcia et al., Sci. Rep. 7:10543 (2017), Table 2 "
              "(nature.com/articles/s41598-017-09837-3/tables/2)")

LITERATURE = (
    {
        "source": "de Chazal et al. 2004 (as tabulated by Mondejar-Guerra et al.)",
        "reference": "IEEE Trans. Biomed. Eng. 51(7):1196-1206, doi:10.1109/TBME.2004.827359; "
                     "accuracy as listed in the comparison table of github.com/mondejar/"
                     "ecg-classification README",
        "class_set": NSVF,
        "accuracy": 0.862,
        "note": "Garcia et al. 2017 (Table 2) list 83 % accuracy for the same paper",
    },
    {
        "source": "de Chazal et al. 2004 (as tabulated by Garcia et al. 2017)",
        "reference": "IEEE Trans. Biomed. Eng. 51(7):1196-1206, doi:10.1109/TBME.2004.827359; "
                     + _GARCIA_T2,
        "class_set": NSVF,
        "accuracy": 0.83, "N_Se": 0.87, "N_PP": 0.99, "S_Se": 0.76, "S_PP": 0.38,
        "V_Se": 0.77, "V_PP": 0.82,
        "note": "rounded to whole percent by Garcia et al.; F figures not verified",
    },
    {
        "source": "Mondejar-Guerra et al. 2019",
        "reference": "Biomed. Signal Process. Control 47:41-48, doi:10.1016/j.bspc.2018.08.007; "
                     "accuracy of the SVM ensemble as listed in github.com/mondejar/"
                     "ecg-classification README",
        "class_set": NSVF,
        "accuracy": 0.945,
    },
    {
        "source": "Zhang et al. 2014",
        "reference": "Comput. Biol. Med. 46:79-89, doi:10.1016/j.compbiomed.2013.11.019; "
                     "figures from the abstract",
        "class_set": NSVF,
        "accuracy": 0.8666, "N_Se": 0.8894, "N_PP": 0.9898, "S_Se": 0.7906, "S_PP": 0.3598,
        "V_Se": 0.8548, "V_PP": 0.9275, "F_Se": 0.9381, "F_PP": 0.1374,
    },
    {
        "source": "Mar et al. 2011 (as tabulated by Garcia et al. 2017)",
        "reference": "IEEE Trans. Biomed. Eng. 58(8):2168-2177, doi:10.1109/TBME.2011.2113395; "
                     + _GARCIA_T2,
        "class_set": NSVF,
        "accuracy": 0.89, "N_Se": 0.89, "N_PP": 0.99, "S_Se": 0.83, "S_PP": 0.33,
        "V_Se": 0.86, "V_PP": 0.75,
        "note": "rounded by Garcia et al.; class set not verified in the paper",
    },
    {
        "source": "Llamedo & Martinez 2011",
        "reference": "IEEE Trans. Biomed. Eng. 58(3):616-625, doi:10.1109/TBME.2010.2068048; "
                     "figures from the abstract (three classes: Garcia et al. 2017, Table 5)",
        "class_set": NSV,
        "accuracy": 0.93, "N_Se": 0.95, "N_PP": 0.98, "S_Se": 0.77, "S_PP": 0.39,
        "V_Se": 0.81, "V_PP": 0.87,
    },
    {
        "source": "Garcia et al. 2017",
        "reference": "Sci. Rep. 7:10543, doi:10.1038/s41598-017-09837-3; Table 5 (three classes)",
        "class_set": NSV,
        "accuracy": 0.924, "N_Se": 0.94, "N_PP": 0.98, "S_Se": 0.62, "S_PP": 0.53,
        "V_Se": 0.873, "V_PP": 0.594,
    },
)
"""Published inter-patient results on MIT-BIH DS2 (fractions), each with the AAMI
``class_set`` it was computed on. Only figures we could verify are given (see the module
docstring); ``note`` says what to keep in mind."""

LITERATURE_COLUMNS = ("accuracy", "N_Se", "N_PP", "S_Se", "S_PP", "V_Se", "V_PP", "F_Se", "F_PP",
                      "macro_f1")
"""Figure columns of :func:`literature_table` (``macro_f1`` is over the row's class set)."""

TABLE_COLUMNS = ("source", "kind", "class_set", "n_beats", "n_weighted", *LITERATURE_COLUMNS,
                 "note", "reference")


def _set_name(class_set: Sequence[str]) -> str:
    return "/".join(class_set)


def our_row(report, class_set: Sequence[str], test_records: Sequence[str] = DS2
            ) -> dict[str, Any]:
    """Our figures on one class set, over the report's beats from ``test_records`` only.

    Args:
        report: an ``ecgkit.evaluation.scoring.Report`` with ``records`` (its ``weights`` are used).
        class_set: the classes to evaluate on (:func:`ecgkit.evaluation.scoring.restrict`).
        test_records: the records that count (default: DS2 of de Chazal, no paced records).

    Returns:
        A row for :func:`literature_table` (``kind="this run"``).
    """
    from ecgkit.evaluation.scoring import confusion_matrix, per_class_metrics, restrict, summaries

    row: dict[str, Any] = {"source": "ecgkit (this run)", "kind": "this run",
                           "class_set": _set_name(class_set), "reference": "computed here"}
    records = np.asarray(report.records).astype(str)
    sel = np.isin(records, list(test_records))
    used = sorted(set(records[sel].tolist()))
    excluded = sorted(set(records[~sel].tolist()))
    notes = []
    if len(used) < len(test_records):
        notes.append(f"subset of DS2: {len(used)} of {len(test_records)} records "
                     f"({', '.join(used)})")
    paced = [r for r in excluded if r in PACED_TEST]
    if paced:
        notes.append(f"paced records excluded: {', '.join(paced)}")
    other = [r for r in excluded if r not in PACED_TEST]
    if other:
        notes.append(f"non-DS2 records excluded: {', '.join(other)}")
    missing = [c for c in class_set if c not in report.classes]
    if missing:
        row.update(n_beats=0, n_weighted=0.0)
        row["note"] = "; ".join(notes + [f"not computed: the report has no class "
                                         f"{', '.join(missing)}"])
        return row
    y_true, y_prob, keep = restrict(report.y_true[sel], report.y_prob[sel], class_set,
                                    report.classes)
    weights = None if report.weights is None else np.asarray(report.weights)[sel][keep]
    dropped = np.bincount(report.y_true[sel][~keep], minlength=len(report.classes))
    if dropped.sum():
        notes.append(f"beats outside {_set_name(class_set)} left out: " + ", ".join(
            f"{c} {n}" for c, n in zip(report.classes, dropped) if n))
    if weights is not None:
        notes.append("weighted by the cap weights N/n (estimates the uncapped test set)")
    row["n_beats"] = int(keep.sum())
    row["n_weighted"] = float(keep.sum() if weights is None else weights.sum())
    if keep.any():
        set_classes = [c for c in report.classes if c in class_set]
        cm = confusion_matrix(y_true, y_prob.argmax(axis=1), len(set_classes), weights)
        m = per_class_metrics(cm)
        acc, macro, _ = summaries(cm)
        row["accuracy"], row["macro_f1"] = acc, macro["f1"]
        for j, c in enumerate(set_classes):
            row[f"{c}_Se"] = float(m["sensitivity"][j])
            row[f"{c}_PP"] = float(m["ppv"][j])
    row["note"] = "; ".join(notes)
    return row


def literature_table(report, literature: Sequence[dict] = LITERATURE,
                     others: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Our result beside published inter-patient MIT-BIH DS2 results, class set by class set.

    For each class set of the literature rows (in order of first appearance) the table has one
    row of ours (:func:`our_row`: DS2 records only, paced and other records left out, beats of
    other classes dropped, argmax over the set, weighted when the report is), then one row per
    entry of ``others`` computed the same way, followed by the literature rows of that set. When
    the evaluated data covers only part of DS2 (the embedded subset) the ``note`` says so: the
    figures are then not directly comparable. Literature rows are labelled ``kind="literature"``
    and copied from the cited sources, not recomputed.

    Args:
        report: an ``ecgkit.evaluation.scoring.Report`` evaluated with ``records=``.
        literature: rows like :data:`LITERATURE` (each with a ``class_set``).
        others: optional ``{name: Report}`` of other models on the same beats (e.g. the
            network fused with the RR intervals); their rows have ``kind="this run, NAME"``
            and ``source="ecgkit NAME (this run)"``.

    Returns:
        DataFrame with columns :data:`TABLE_COLUMNS`.

    Raises:
        ValueError: the report has no record names, or a literature row has no class set.
    """
    others = dict(others or {})
    for name, r in {"report": report, **others}.items():
        if r.records is None:
            raise ValueError(f"literature_table needs the record of each beat ({name}): pass "
                             "records= to evaluate_predictions")
    sets: list[tuple[str, ...]] = []
    for lit in literature:
        if not lit.get("class_set"):
            raise ValueError(f"literature row {lit.get('source')!r} has no class_set")
        cs = tuple(lit["class_set"])
        if cs not in sets:
            sets.append(cs)
    rows = []
    for cs in sets:
        rows.append(our_row(report, cs))
        for name, r in others.items():
            rows.append({**our_row(r, cs), "kind": f"this run, {name}",
                         "source": f"ecgkit {name} (this run)"})
        for lit in literature:
            if tuple(lit["class_set"]) == cs:
                note = "literature figure" + (f"; {lit['note']}" if lit.get("note") else "")
                rows.append({**lit, "kind": "literature", "class_set": _set_name(cs),
                             "n_beats": np.nan, "n_weighted": np.nan, "note": note})
    return pd.DataFrame(rows).reindex(columns=list(TABLE_COLUMNS))
