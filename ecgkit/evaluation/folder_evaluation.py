"""Evaluating a model on your own labelled ECG images, beside a majority-class baseline.

Introduced in: notebooks/40_your_own_images.ipynb (the whole image-folder path, on the MIT-BIH
rhythm strips).

``evaluate_images(model, folder, ...)`` is ``ecgkit evaluate --model M --images DIR``: it reads
the folder as training did (``ecgkit.data.folders``), takes the side asked (``test``: the side the
model's recorded split kept for testing; ``all``: every image) and checks which patients the
model saw in training (none, on the test side of its own folder). The report: per-class
metrics with bootstrap intervals by patient (by image when there are no patients), the
confusion matrix and the other figures of ``evaluate.write_report``, and beside every figure
the same figure of the majority-class baseline (the most common class of the training side,
predicted for every image); Grad-CAM on a few pages (``error_analysis.grad_cam``); the wrong
images, most confident first (``errors.csv``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecgkit.data.folders import read_labelled_images, sides_from_record
from ecgkit.data.images import ImageFolderError, decode_image, fit_image
from ecgkit.evaluation.evaluate import write_report
from ecgkit.evaluation.predict import predict_images
from ecgkit.evaluation.provenance import image_fit, model_classes
from ecgkit.evaluation.scoring import Report, evaluate_predictions
from ecgkit.model.backbone import recorded_provenance

GRADCAM_PAGES = 4
"""Images shown with their Grad-CAM heatmap in the report."""

SPLITS = ("test", "val", "train", "all")


def majority_class(model, images) -> int:
    """The baseline's class: the most common class of the model's training side (recorded),
    else of the images evaluated."""
    counts = recorded_provenance(model).get("image_split", {}).get("train_counts")
    if counts:
        return int(images.classes.index(max(counts, key=counts.get)))
    return int(np.bincount(images.labels).argmax())


def comparison(report: Report, baseline: Report):
    """The per-class table of the model with the baseline's figures beside each
    (``f1`` and ``f1_majority``...), with the macro and weighted rows."""
    model_t, base_t = report.table(), baseline.table()
    out = model_t.copy()
    for col in ("sensitivity", "ppv", "specificity", "f1"):
        out.insert(out.columns.get_loc(col) + 1, f"{col}_majority", base_t[col])
    return out


def evaluate_images(model, folder, labels=None, group_column: str | None = None,
                    split: str = "test", out_dir: str | Path | None = None, *,
                    n_boot: int = 200, seed: int = 42, on_bad: str = "error",
                    batch_size: int = 32, gradcam: int = GRADCAM_PAGES,
                    figures: bool = True) -> tuple[Report, dict[str, Any]]:
    """Evaluates ``model`` on a labelled image folder, beside the majority-class baseline.

    Args:
        model: a model trained on an image folder (or any classifier of square images).
        folder, labels, group_column: the folder as ``folders.read_labelled_images`` reads it.
        split: ``"test"`` (default), ``"val"``, ``"train"``: that side of the model's recorded
            split; ``"all"``: every image.
        out_dir: where ``metrics.json``, ``per_class.csv`` (with the baseline's columns),
            ``errors.csv`` and the figures go; None writes nothing.
        n_boot: bootstrap resamples, by patient when the images have groups.
        seed: bootstrap seed.
        on_bad: unreadable images: ``"error"`` or ``"skip"``.
        batch_size: images per batch.
        gradcam: pages shown with Grad-CAM (0: none).
        figures: also save PNG figures.

    Returns:
        ``(report, extra)``: the model's ``scoring.Report`` and what ``metrics.json`` adds to
        it (``split``: the side, images, groups seen in training; ``baseline``).

    Raises:
        ImageFolderError: the folder cannot be used, a label the model does not know, no
            recorded split for ``split != "all"``, or no images on that side.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")
    classes = model_classes(model)
    images = read_labelled_images(folder, labels, group_column, classes=classes,
                                  on_bad=on_bad)
    record = recorded_provenance(model).get("image_split")
    sides = sides_from_record(images, record) if record else np.full(len(images), "unseen")
    if split == "all":
        rows = np.arange(len(images))
    else:
        if not record:
            raise ImageFolderError(f"model {model.name!r} records no image split (it was not "
                                   f"trained with `ecgkit train --images`): use --split all")
        rows = np.flatnonzero(sides == split)
        if not len(rows):
            raise ImageFolderError(f"{folder}: no images on the {split} side of the model's "
                                   "split: is this the folder it was trained on? (--split all "
                                   "evaluates every image)")
    files = [images.files[i] for i in rows]
    y_true = images.labels[rows]
    groups = None if images.groups is None else images.groups[rows]
    y_prob = predict_images(model, files, batch_size=batch_size)
    report = evaluate_predictions(y_true, y_prob, patients=groups, n_boot=n_boot, seed=seed,
                                  classes=classes)
    majority = majority_class(model, images)
    base_prob = np.zeros_like(y_prob)
    base_prob[:, majority] = 1.0
    baseline = evaluate_predictions(y_true, base_prob, patients=groups, n_boot=n_boot,
                                    seed=seed, classes=classes)
    seen = sides[rows] == "train"
    extra: dict[str, Any] = {
        "split": {"side": split, "images": int(len(rows)),
                  "group_column": images.group_column,
                  "groups": None if groups is None else int(len(set(groups.tolist()))),
                  "groups_seen_in_training": (None if groups is None else
                                              int(len(set(groups[seen].tolist())))),
                  "images_seen_in_training": int(seen.sum())},
        "image_fit": image_fit(model),
        "baseline": {"name": f"majority class ({classes[majority]})",
                     **{k: v for k, v in baseline.to_dict().items()
                        if k in ("accuracy", "macro", "per_class", "ci", "confusion")}},
    }
    if out_dir is not None:
        out = Path(out_dir)
        write_report(report, out, figures=figures, extra=extra)
        comparison(report, baseline).to_csv(out / "per_class.csv")
        _errors_table(images, rows, y_prob).to_csv(out / "errors.csv", index=False)
        if figures and gradcam:
            _gradcam_figure(model, files, y_true, y_prob, classes, gradcam, out / "gradcam.png")
    return report, extra


def _errors_table(images, rows, y_prob):
    """The wrong images, most confident first: file, group, true, predicted, confidence."""
    import pandas as pd

    pred = y_prob.argmax(axis=1)
    true = images.labels[rows]
    wrong = np.flatnonzero(pred != true)
    names = np.asarray(images.classes)
    table = pd.DataFrame({
        "file": np.asarray(images.names)[rows][wrong],
        "group": images.groups[rows][wrong] if images.groups is not None else "",
        "true": names[true[wrong]], "predicted": names[pred[wrong]],
        "confidence": y_prob[wrong, pred[wrong]]})
    return table.sort_values("confidence", ascending=False).reset_index(drop=True)


def _gradcam_figure(model, files, y_true, y_prob, classes, n, path: Path) -> None:
    """Grad-CAM of the predicted class on ``n`` pages (the wrong ones first), saved to
    ``path``. A tiled model is shown on each page's middle tile."""
    from ecgkit.evaluation.error_analysis import grad_cam
    from ecgkit.model.context_branch import image_size_of
    from ecgkit.workbook import plots

    pred = y_prob.argmax(axis=1)
    order = np.concatenate([np.flatnonzero(pred != y_true), np.flatnonzero(pred == y_true)])[:n]
    size, fit = image_size_of(model), image_fit(model)
    pages = np.stack([fit_image(decode_image(files[i]), size, fit) for i in order])
    heat = grad_cam(model, pages)
    titles = [f"{Path(files[i]).name}: {classes[y_true[i]]} -> {classes[pred[i]]}"
              for i in order]
    fig = plots.plot_gradcam(pages, heat, titles=titles)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def format_comparison(report: Report, extra: dict[str, Any]) -> str:
    """Plain-text summary: the model beside the majority baseline, and the patient check."""
    base = extra["baseline"]
    s = extra["split"]
    lines = [f"{s['side']}: {s['images']} images"
             + (f", {s['groups']} groups ({s['group_column']}); seen in training: "
                f"{s['groups_seen_in_training']}" if s["groups"] is not None else
                "; no groups (patients unknown): intervals by image"),
             f"{'':14}{'model':>8}{base['name']:>28}",
             f"{'accuracy':14}{report.accuracy:8.3f}{base['accuracy'] or 0:28.3f}",
             f"{'macro F1':14}{report.macro['f1']:8.3f}{base['macro']['f1'] or 0:28.3f}"]
    for c in report.classes:
        f1 = report.per_class.loc[c, "f1"]
        lines.append(f"{'F1 ' + c:14}{f1:8.3f}{base['per_class'][c]['f1'] or 0:28.3f}")
    return "\n".join(lines)

