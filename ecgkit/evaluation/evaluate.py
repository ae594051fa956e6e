"""Runs a classifier over beats or image files and writes its report.

Introduced in: notebooks/30_evaluation.ipynb.

The runner half of evaluation: models and files. It renders beats as the model was trained
(grid, image size, context), predicts in batches, hands the arrays to
:func:`ecgkit.evaluation.scoring.evaluate_predictions` (arrays in, report out) and writes
``metrics.json``, ``per_class.csv``, ``literature.csv`` and figures. ``ecgkit evaluate`` is its
command line.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ecgkit.contract import CLASS_SET, CLASSES
from ecgkit.data.batches import made_ahead
from ecgkit.data.datasets import signal_dataset
from ecgkit.data.export import read_manifest
from ecgkit.data.images import image_files_dataset, warn_other_sizes
from ecgkit.evaluation.literature import literature_table
from ecgkit.evaluation.provenance import check_image_folder, image_context, vector_context
from ecgkit.evaluation.scoring import Report, evaluate_predictions, headline
from ecgkit.model.backbone import recorded_grid
from ecgkit.model.context_branch import image_size_of


def predict_dataset(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Runs ``model`` over batches of ``(images, one_hot[, weights])`` (``ecgkit.data.batches``);
    returns (y_true, y_prob).

    The next batches are made in worker threads while the model predicts
    (``batches.made_ahead``). Prediction goes through the model's compiled predict function
    (``predict_on_batch``: 0.65 s per batch of 64 images at 96 px against 1.5 s for an eager
    call on TensorFlow, 1.1 s against 3.1 s on JAX, 2-core CPU); a last, shorter batch is
    padded to the first one's size so that the function is compiled once.
    """
    ys, ps = [], []
    full = None
    for x, y, *_ in made_ahead(dataset):
        x = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, dict) else np.asarray(x)
        n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        full = full or n
        if n < full:
            x = _pad_batch(x, full - n)
        ps.append(np.asarray(model.predict_on_batch(x), dtype=np.float64)[:n])
        ys.append(np.asarray(y).argmax(axis=1))
    if not ys:
        raise ValueError("the data set is empty: nothing to evaluate")
    return np.concatenate(ys), np.concatenate(ps)


def _pad_batch(x, extra: int):
    """A batch (an array, or a dict of arrays: a model with a context input) with ``extra``
    copies of its last item."""
    if isinstance(x, dict):
        return {k: _pad_batch(v, extra) for k, v in x.items()}
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)])


def predict_beats(model, beats, *, image_size: int | None = None, grid: bool | None = None,
                  batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Renders the beats of a ``BeatSet`` (in order) and returns ``(y_true, y_prob)``.

    Args:
        model: a Keras model taking uint8-range images.
        beats: the beats to classify.
        image_size: image side; None reads it from the model's input.
        grid: draw the ECG-paper grid. None: as the model was trained, when the model records
            it (``ecgkit.model.backbone.recorded_grid``), else with the grid. A value other than the
            recorded one is used, with a warning.
        batch_size: images per batch.
    """
    if image_size is None:
        image_size = image_size_of(model)
    trained = recorded_grid(model)
    if grid is None:
        grid = True if trained is None else trained
    elif trained is not None and bool(grid) != trained:
        warnings.warn(f"model {model.name!r} was trained on images "
                      f"{'with' if trained else 'without'} the ECG-paper grid; rendering them "
                      f"with grid={grid} as asked", stacklevel=2)
    ds = signal_dataset(beats, image_size=image_size, grid=grid, batch_size=batch_size,
                        shuffle=False, context=vector_context(model),
                        image_context=image_context(model))
    return predict_dataset(model, ds)


def evaluate_model(model, beats, out_dir: str | Path | None = None, *,
                   image_size: int | None = None, grid: bool | None = None, batch_size: int = 32,
                   n_boot: int = 200, seed: int = 42, figures: bool = True) -> Report:
    """Evaluates a model on a ``BeatSet`` and optionally writes the report.

    Args:
        model: a Keras model taking uint8-range images.
        beats: the ``BeatSet`` to evaluate (usually ``beats.subset("test")``).
        out_dir: where ``metrics.json``, ``per_class.csv``, ``literature.csv`` and figures go;
            None writes nothing. ``metrics.json`` holds the five AAMI classes and, under
            ``"headline"``, the N/S/V/F figures (``scoring.headline``: Q apart).
        image_size: image side; None reads it from the model's input.
        grid: draw the ECG-paper grid; None: as the model records it (see ``predict_beats``).
        batch_size: images per batch.
        n_boot: bootstrap resamples by patient.
        seed: bootstrap seed.
        figures: also save PNG figures.

    Returns:
        The ``Report``.
    """
    y_true, y_prob = predict_beats(model, beats, image_size=image_size, grid=grid,
                                   batch_size=batch_size)
    weights = beats.meta["weight"].to_numpy() if "weight" in beats.meta.columns else None
    report = evaluate_predictions(y_true, y_prob, patients=beats.meta["patient"].to_numpy(),
                                  records=beats.meta["record"].to_numpy(), n_boot=n_boot,
                                  seed=seed, weights=weights)
    if out_dir is not None:
        top = headline(report, n_boot=n_boot, seed=seed)
        write_report(report, out_dir, figures=figures,
                     extra=None if top is None else {"headline": {
                         "class_set": list(CLASS_SET), **top.to_dict()}})
    return report


def evaluate_image_folder(model, folder: str | Path, split: str = "test",
                          out_dir: str | Path | None = None, *, batch_size: int = 32,
                          n_boot: int = 200, seed: int = 42, figures: bool = True,
                          on_bad: str = "error") -> Report:
    """Evaluates a model on the images of an ``ecgkit build-dataset`` folder (its manifest).

    Args:
        model: a Keras model taking 0..255 images.
        folder: the folder holding ``manifest.csv`` (path, record, patient, sample, symbol,
            label, split).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        out_dir, batch_size, n_boot, seed, figures: as in ``evaluate_model``.
        on_bad: unreadable or missing images: ``"error"`` (named, all of them) or ``"skip"``.

    Raises:
        ecgkit.evaluation.provenance.ProvenanceError: the folder's build.json records another image
            size or grid than the model's (:func:`ecgkit.evaluation.provenance.check_image_folder`).
        ecgkit.data.images.ImageFolderError (a ValueError): no manifest, no images in that split,
            unreadable images, repeated files, unknown labels (see
            :func:`ecgkit.data.export.read_manifest`).
    """
    check_image_folder(model, folder)  # build.json: the model's image size and grid
    m = read_manifest(folder, split, on_bad=on_bad)
    warn_other_sizes(m["file"], image_size_of(model), Path(folder) / "manifest.csv")
    labels = m["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    ds = image_files_dataset(m["file"], labels, int(model.input_shape[1]), batch_size)
    y_true, y_prob = predict_dataset(model, ds)
    weights = m["weight"].to_numpy() if "weight" in m.columns else None
    report = evaluate_predictions(y_true, y_prob, patients=m["patient"].to_numpy(),
                                  records=m["record"].to_numpy(), n_boot=n_boot, seed=seed,
                                  weights=weights)
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
        # plots draws on bare matplotlib Figures (no pyplot), which save without any backend:
        # switching to Agg here would turn a notebook's inline figures into text after this call
        from ecgkit.workbook import plots

        counts = "weighted counts" if report.weights is not None else "counts"
        for name, fig in (
            ("confusion", plots.plot_confusion_matrix(
                report.confusion, report.classes, title=f"Confusion matrix ({counts})")),
            ("confusion_normalized", plots.plot_confusion_matrix(
                report.confusion, report.classes, normalize=True)),
            ("roc_pr", plots.plot_roc_pr(report.roc, report.pr, report.per_class)),
            ("calibration", plots.plot_calibration(report.reliability, report.ece)),
        ):
            paths[name] = out / f"{name}.png"
            fig.savefig(paths[name], dpi=110, bbox_inches="tight")
    return paths
