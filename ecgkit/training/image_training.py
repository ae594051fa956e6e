"""Training on your own labelled ECG images (a folder of pages, strips or scans).

Introduced in: notebooks/40_your_own_images.ipynb (the whole image-folder path, on the MIT-BIH
rhythm strips).

``train_images(folder, ...)`` is ``ecgkit train --images DIR``: it reads the folder
(``ecgkit.data.folders``: class sub-folders or a labels CSV with a patient column), splits it by
patient (checked) or, without patients, by image with a warning and a near-duplicate audit,
prints the pre-training report, and trains with the recipe of ``ecgkit.training.train``: the same
model factory with the folder's classes, balanced sampling (``CLASS_BALANCE``), focal loss and AdamW
with warm-up cosine (``training_config``), ECG-safe image augmentation, best checkpoint by
validation macro F1, resume after an interruption and logs (``callbacks``), ImageNet weights
when asked and cached (``backbone``). Images of any shape are padded to a square, never
squashed, or cut into tiles (``images.IMAGE_FITS``).

The model records (``backbone.record_provenance``) its class names, how it sees an image (size,
fit) and the split (groups or images on each side), so that ``ecgkit evaluate --images`` scores
the same test side and ``ecgkit predict`` answers in the folder's class names. ``run.json``
holds the parameters, the data report (class counts, groups of every side, image sizes,
near-duplicates), history and validation metrics; ``split.csv`` the side of every image.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ecgkit.data.augment import make_image_augment
from ecgkit.data.folders import (
    data_report,
    format_data_report,
    near_duplicates,
    read_labelled_images,
    split_images,
    split_record,
    split_table,
)
from ecgkit.data.images import IMAGE_FITS, image_files_dataset
from ecgkit.evaluation.predict import predict_images
from ecgkit.evaluation.scoring import evaluate_predictions
from ecgkit.model.factory import create_enhanced_resnet50
from ecgkit.params import resolve
from ecgkit.training.atomic import check_folder, exclusive_folder, make_folder, write_json
from ecgkit.training.balance import CLASS_BALANCE_CHOICES, class_weights, sampled_classes
from ecgkit.training.run_folder import check_resume, interrupted_run, model_signature
from ecgkit.training.train import check_batch_split, epoch_steps, few_steps, model_kwargs
from ecgkit.training.training_run import (
    TrainingRun,
    TrainResult,
    compile_model,
    dtype_policy,
    fit_recorded,
    load_best,
    record_finished,
    running_info,
    save_model,
    set_up_batchnorm,
    set_up_hardware,
    start_callbacks,
    stop_recorded,
    val_batch_size,
    validation_summary,
)


def image_model_kwargs(p: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """``train.model_kwargs`` for an image folder: its number of classes, and no context input
    (an image file carries no beat context)."""
    return {**model_kwargs(p), "num_classes": int(num_classes), "context_features": 0,
            "context_join": "logits"}


def image_provenance(p: dict[str, Any], images, split, fit: str) -> dict[str, Any]:
    """What a model trained on an image folder records: its classes, how it sees an image and
    the split (``folders.split_record``)."""
    return {"source": "image-folder", "classes": list(images.classes),
            "image_size": p["IMAGE_SIZE"], "image_fit": fit, "seed": p["SEED"],
            "context": "none", "context_mode": "none", "folder": str(images.folder),
            "labels_csv": None if images.labels_csv is None else str(images.labels_csv),
            "image_split": split_record(images, split)}


def train_images(folder, labels=None, group_column: str | None = None,
                 params: dict[str, Any] | None = None, run_dir: str | Path | None = None,
                 fit: str = "pad", test_fraction: float | None = None, on_bad: str = "error",
                 progress: bool = True, strategy=None, callbacks=(),
                 run_eagerly: bool | None = None, echo=print, restart: bool = False
                 ) -> TrainResult:
    """Trains a model on a labelled image folder; returns its history and outputs.

    As ``train.train``: one training at a time in ``run_dir`` (a folder lock), and an
    interrupted run resumes only with the same parameters, images and model
    (``ecgkit.training.run_folder``); ``restart=True`` starts afresh.

    Args:
        folder: the image folder (``ecgkit.data.folders.read_labelled_images``).
        labels: a labels CSV (default ``folder/labels.csv`` when present, else class
            sub-folders).
        group_column: the CSV column of each image's patient (default ``patient`` if present).
        params: UPPER_CASE parameters (``ecgkit.params``): ``IMAGE_SIZE``, the model switches,
            ``EPOCHS``, ``STEPS_PER_EPOCH``, ``BATCH_SIZE``, ``LEARNING_RATE``,
            ``CLASS_BALANCE``, ``AUGMENT_STRENGTH``, ``VAL_FRACTION``, ``WEIGHTS``, ``SEED``...
            (the WFDB ones, such as ``RECORDS``, are not used).
        run_dir: output folder; default ``RUN_DIR/train-images``. Running again with the same
            folder after an interruption resumes from the last finished epoch.
        fit: ``"pad"`` (default) or ``"tile"``: how an image becomes a square
            (``images.IMAGE_FITS``; ``"squash"`` for images that are square already).
        test_fraction: share of the images (whole groups) on the test side; None: the
            parameter ``TEST_FRACTION``.
        on_bad: unreadable or too-small images: ``"error"`` (all named) or ``"skip"``.
        progress: progress bars and the data report on the terminal.
        strategy, callbacks: as in ``ecgkit.training.train.train``.
        run_eagerly: skip graph tracing; None: for runs of a few steps (``train.few_steps``).
        echo: where the data report is printed (None: nowhere).
        restart: discard an interrupted run in ``run_dir`` and start afresh.

    Returns:
        A ``training_run.TrainResult`` (as ``train.train``); ``info["data"]`` is the data report.

    Raises:
        ImageFolderError, LabelsError: the folder or its labels cannot be used (named).
        ParamError: unknown or mistyped parameters.
    """
    p = resolve(params or {})
    if p["CLASS_BALANCE"] not in CLASS_BALANCE_CHOICES:
        raise ValueError(f"CLASS_BALANCE must be one of {CLASS_BALANCE_CHOICES}. "
                         f"Received: {p['CLASS_BALANCE']!r}")
    if fit not in IMAGE_FITS:
        raise ValueError(f"fit must be one of {IMAGE_FITS}. Received: fit={fit!r}")
    run_dir = Path(run_dir) if run_dir is not None else Path(p["RUN_DIR"]) / "train-images"
    check_folder(run_dir)  # a file in the way is named before the images are read
    make_folder(run_dir)
    with exclusive_folder(run_dir, "training"):
        previous = None if restart else interrupted_run(run_dir)
        check_resume(run_dir, previous, params=p)  # before the images: a refusal comes at once
        if test_fraction is None:
            test_fraction = p["TEST_FRACTION"]
        return _train_images_in(folder, labels, group_column, p, run_dir, fit, test_fraction,
                                on_bad, progress, strategy, callbacks, run_eagerly, echo,
                                previous)


def _train_images_in(folder, labels, group_column, p, run_dir: Path, fit: str,
                     test_fraction: float, on_bad: str, progress: bool, strategy, callbacks,
                     run_eagerly, echo, previous) -> TrainResult:
    """``train_images`` in its locked folder: the images read, split and reported, then the
    steps of ``train`` (``ecgkit.training.training_run``) with the folder's classes."""
    started = time.time()
    images, split, report = read_and_split(folder, labels, group_column, p, test_fraction,
                                           on_bad)
    if echo is not None:
        echo(format_data_report(report))
    check_resume(run_dir, previous, data=json.loads(json.dumps(report)))
    split_table(images, split.sides).to_csv(run_dir / "split.csv", index=False)

    batch = p["BATCH_SIZE"]
    steps = epoch_steps(p["STEPS_PER_EPOCH"], len(split.rows("train")), batch)
    if run_eagerly is None:
        run_eagerly = few_steps(p["EPOCHS"], p["STEPS_PER_EPOCH"])
    hw, strategy = set_up_hardware(p, strategy)
    check_batch_split(batch, strategy)
    run = TrainingRun(run_dir=run_dir, p=p, previous=previous, started=started, hw=hw,
                      strategy=strategy, steps=steps, run_eagerly=run_eagerly, progress=progress)
    balance = image_class_balance(p, images, split.rows("train"))
    alpha_counts = ([balance["train_counts"][c] for c in images.classes]
                    if balance["mode"] == "alpha" else None)
    train_ds, val_ds = image_datasets(run, images, split, fit)

    with dtype_policy(hw):
        with strategy.scope():
            model = create_enhanced_resnet50(**image_model_kwargs(p, len(images.classes)))
            batchnorm = set_up_batchnorm(run, model)
            compile_model(run, model, alpha_counts)
        signature = model_signature(model)
        check_resume(run_dir, previous, model=signature)  # Keras would fail to load it
        cbs, done_before = start_callbacks(run, train_ds, callbacks)
        run.paths["split_csv"] = run_dir / "split.csv"
        run.info = {"source": "image-folder", "image_fit": fit,
                    **running_info(run, report, signature, balance, batchnorm, done_before)}
        write_json(run.paths["run_json"], run.info)
        fit_recorded(run, model, train_ds, val_ds, cbs, balance["class_weight"])

    with stop_recorded(run.info, run.paths, run.started):  # a failure after fit too
        load_best(run, model)
        save_model(run, model, image_provenance(p, images, split, fit))
        return record_finished(run, model, image_val_metrics(model, images, split, fit, p))


def read_and_split(folder, labels, group_column, p: dict[str, Any], test_fraction: float,
                   on_bad: str):
    """The labelled images (``folders.read_labelled_images``), their split by patient (by
    image without patients) and the data report, near-duplicates across sides included;
    returns ``(images, split, report)``."""
    images = read_labelled_images(folder, labels, group_column, on_bad=on_bad)
    split = split_images(images, p["VAL_FRACTION"], test_fraction, p["SEED"])
    duplicates = near_duplicates(images, split.sides)
    return images, split, data_report(images, split, duplicates)


def image_class_balance(p: dict[str, Any], images, train_rows) -> dict[str, Any]:
    """``train.class_balance`` for an image folder: the mode (``CLASS_BALANCE``), the training
    counts, the class weights ``fit`` gets and the classes sampling draws, by class name."""
    mode, counts = p["CLASS_BALANCE"], images.class_counts(train_rows)
    sampled = (sampled_classes(images.labels[train_rows], len(images.classes))
               if mode == "sampling" else None)
    return {"mode": mode, "train_counts": counts,
            "class_weight": (class_weights(counts, images.classes) if mode == "class_weight"
                             else None),
            "sampled_classes": None if sampled is None else [images.classes[i] for i in sampled]}


def image_datasets(run: TrainingRun, images, split, fit: str):
    """Training and validation batches read from the image files (``images.image_files_dataset``):
    training endless, shuffled, augmented (``AUGMENT_STRENGTH``) and, with
    ``CLASS_BALANCE="sampling"``, drawn equally from the classes; validation in order, cached."""
    p, k = run.p, len(images.classes)
    files, labels = np.asarray(images.files), images.labels
    train_rows, val_rows = split.rows("train"), split.rows("val")
    size, batch, strength = p["IMAGE_SIZE"], p["BATCH_SIZE"], p["AUGMENT_STRENGTH"]
    train_ds = image_files_dataset(
        files[train_rows], labels[train_rows], size, batch, shuffle=True, seed=p["SEED"],
        repeat=True, fit=fit, num_classes=k, epoch_batches=run.steps,
        image_augment=make_image_augment(strength) if strength > 0 else None,
        balance_classes=(sampled_classes(labels[train_rows], k)
                         if p["CLASS_BALANCE"] == "sampling" else None))
    val_ds = image_files_dataset(files[val_rows], labels[val_rows], size, val_batch_size(batch),
                                 seed=p["SEED"], fit=fit, num_classes=k, cache=True)
    return train_ds, val_ds


def image_val_metrics(model, images, split, fit: str, p: dict[str, Any]) -> dict[str, Any]:
    """The trained model's validation metrics (run.json's ``final_metrics``), the images read
    as in training."""
    val_rows = split.rows("val")
    y_prob = predict_images(model, np.asarray(images.files)[val_rows], fit=fit,
                            image_size=p["IMAGE_SIZE"], batch_size=val_batch_size(p["BATCH_SIZE"]))
    return validation_summary(evaluate_predictions(images.labels[val_rows], y_prob, n_boot=0,
                                                   classes=images.classes))
