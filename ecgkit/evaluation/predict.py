"""Prediction on ECG image files, and loading trained models with clear errors.

Introduced in: notebooks/30_evaluation.ipynb.

``ecgkit predict --model M.keras IMAGE...`` prints the class and the class probabilities of each
image (``--json`` for machine-readable output). A missing, corrupt or non-image file, or one far
outside an ECG image's size, gets its own error line and the other files are still answered; the
exit status is 1 if any file failed. For a beat-image model (it squashes its input), an image
of another size than the model's is resized, and said so (a warning naming the files;
``resized_from`` in the JSON): its lines and grid are then not those the model was trained on,
and its scores may differ much. A model trained on an image folder with ``fit`` pad or tile
expects images of any size and reads them as in training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from ecgkit.contract import CLASSES
from ecgkit.data.images import ImageError
from ecgkit.model.context_branch import CONTEXT_INPUT, has_context
from ecgkit.model.registration import CUSTOM_OBJECT_MODULES, register_custom_objects  # noqa: F401

log = logging.getLogger("ecgkit")


class ModelLoadError(RuntimeError):
    """A model file cannot be loaded (missing, another version, or unknown custom layers)."""


def load_model(path: str | Path, compile: bool = False):
    """Loads a ``.keras`` model saved by ecgkit, with its custom layers registered.

    Args:
        path: the ``.keras`` file.
        compile: also restore the loss, metrics and optimizer (not needed to predict).

    Raises:
        ModelLoadError: naming the file, the cause and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise ModelLoadError(f"{path}: expected a Keras 3 '.keras' model file "
                             f"(got '{path.suffix or 'no suffix'}')")
    register_custom_objects()
    try:
        return keras.models.load_model(path, compile=compile)
    except Exception as exc:  # Keras raises several types (TypeError, ValueError, OSError...)
        raise ModelLoadError(
            f"{path}: cannot load the model ({type(exc).__name__}: {exc}). The file may be "
            f"corrupt or truncated, come from another ecgkit/Keras version (this is Keras "
            f"{keras.__version__}), or use custom layers that are not registered. Load it with "
            "ecgkit.evaluation.predict.load_model (which imports ecgkit's layers) in the ecgkit "
            "version that saved it, or retrain it with `ecgkit train`."
        ) from exc


def check_model(model, path: str | Path | None = None, classes: Sequence[str] = CLASSES) -> int:
    """Checks that a model classifies square RGB images into ``classes``; returns the image side.

    A model trained for another class set would otherwise answer with the first class names
    (a 3-class model's outputs read as N, S, V), and one with other inputs fails later and
    obscurely.

    Raises:
        ModelLoadError: naming the file (or the model), what it has and what is needed.
    """
    where = path or f"model {model.name!r}"
    outputs = model.output_shape
    k = outputs[-1] if isinstance(outputs, tuple) else None
    if k != len(classes):
        what = f"outputs {k} classes" if k is not None else f"has outputs {outputs}"
        raise ModelLoadError(
            f"{where}: the model {what}, ecgkit's classes are {len(classes)} "
            f"({', '.join(classes)}): it was trained for another task or class set. Use a "
            "model saved by `ecgkit train` (or built with num_classes=5)")
    shape = model.input_shape
    if has_context(model) and len(model.inputs) == 2:  # the beat's context as a second input
        shape = next(tuple(t.shape) for t in model.inputs
                     if t.name.split(":")[0] != CONTEXT_INPUT)
    if not (isinstance(shape, tuple) and len(shape) == 4 and shape[3] == 3
            and isinstance(shape[1], int) and shape[1] == shape[2]):
        raise ModelLoadError(f"{where}: the model takes inputs of shape {shape}; ecgkit's "
                             "models take square RGB images, (None, size, size, 3)")
    return int(shape[1])


def load_classifier(path: str | Path):
    """Loads a ``.keras`` model and checks that it classifies ECG images into its classes
    (ecgkit's, or those of the image folder it was trained on, which it records).

    :func:`load_model` then :func:`check_model`: what ``ecgkit predict`` and ``ecgkit evaluate``
    need before reading any data.

    Raises:
        ModelLoadError: naming the file, the problem and what to do.
    """
    from ecgkit.evaluation.provenance import model_classes

    model = load_model(path)
    check_model(model, path, classes=model_classes(model))
    return model


@dataclass
class Prediction:
    """The answer for one file: the class and probabilities, or the error.

    ``resized_from`` is the file's ``(width, height)`` when it was squashed to the model's size
    (None when it had that size, or when the model pads or tiles images of any size)."""

    path: str
    label: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    resized_from: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "class": self.label, "confidence": self.confidence,
                "probabilities": self.probabilities, "error": self.error,
                "resized_from": list(self.resized_from) if self.resized_from else None}


def predict_images(model, paths: Sequence[str | Path], *, fit: str | None = None,
                   image_size: int | None = None, batch_size: int = 32) -> np.ndarray:
    """Class probabilities (n, k) of image files, read as the model was trained to see them.

    ``fit`` (default: the model's, ``provenance.image_fit``): ``"squash"`` or ``"pad"`` give one
    input per file; with ``"tile"`` every tile of a file is classified and the file's
    probabilities are the mean over its tiles.

    Raises:
        ImageError: an unreadable file (check the files first: ``images.check_images``).
    """
    from ecgkit.data.images import decode_image
    from ecgkit.evaluation.provenance import image_fit
    from ecgkit.model.context_branch import image_size_of

    fit = fit or image_fit(model)
    size = int(image_size or image_size_of(model))
    return _predict_inputs(model, [file_input(decode_image(p), size, fit) for p in paths],
                           batch_size)


def file_input(img: np.ndarray, size: int, fit: str) -> np.ndarray:
    """A decoded image as the model's input batch: one square image, or its tiles (``"tile"``)."""
    from ecgkit.data.images import fit_image, image_tiles

    return image_tiles(img, size) if fit == "tile" else fit_image(img, size, fit)[None]


def _predict_inputs(model, inputs: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
    """Class probabilities of each file from its input batch (the mean over a file's tiles)."""
    if not inputs:
        return np.zeros((0, int(model.output_shape[-1])))
    owner = np.concatenate([np.full(len(b), i) for i, b in enumerate(inputs)])
    x = np.concatenate(inputs)
    probs = []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        n = len(chunk)
        if probs and n < batch_size:  # one compiled shape: pad the last, shorter batch
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        probs.append(np.asarray(model.predict_on_batch(chunk), dtype=np.float64)[:n])
    per_input = np.concatenate(probs)
    out = np.zeros((len(inputs), per_input.shape[1]))
    np.add.at(out, owner, per_input)
    return out / np.bincount(owner, minlength=len(inputs))[:, None]


def predict_files(model, paths: Sequence[str | Path], batch_size: int = 32,
                  classes: Sequence[str] | None = None) -> list[Prediction]:
    """Predicts each image file; a bad file gets an error entry, the others are still answered.

    Files are read as the model was trained to see them (:func:`predict_images`: squashed beat
    images, or padded or tiled pages for a model trained on an image folder). A model that
    squashes (a beat-image model) sees a file of another size than its own resized, with other
    line widths and grid spacing: a logged warning names those files (and
    ``Prediction.resized_from``). A padding or tiling model (``provenance.image_fit``) expects
    files of any size: nothing is said.

    Args:
        model: a trained classifier.
        paths: image files.
        batch_size: images per batch.
        classes: class names of the outputs (default: the model's, ``provenance.model_classes``).

    Raises:
        ModelLoadError: the model does not output one probability per class (:func:`check_model`).
    """
    from ecgkit.data.images import decode_image
    from ecgkit.evaluation.provenance import image_fit, model_classes
    from ecgkit.model.context_branch import image_size_of

    classes = tuple(classes or model_classes(model))
    size = int(image_size_of(model))
    fit = image_fit(model)
    squashed = fit == "squash"
    check_model(model, classes=classes)
    if has_context(model):
        raise ModelLoadError(
            f"model {model.name!r} classifies a beat from its image and its context (the "
            "patient's rhythm and usual beat, ecgkit.data.context), which an image file does not "
            "carry: classify the beats of a WFDB record instead (`ecgkit predict --model M "
            "--record DIR/NAME --out beats.csv`, ecgkit.evaluation.predict.predict_record), or "
            "train an image-only model (CONTEXT=none)")
    results: list[Prediction] = []
    good: list[int] = []
    inputs: list[np.ndarray] = []  # each file decoded once, kept only as the model's input
    for p in paths:
        try:
            img = decode_image(p)
            dims = (int(img.shape[1]), int(img.shape[0]))
            inputs.append(file_input(img, size, fit))
            good.append(len(results))
            results.append(Prediction(path=str(p), resized_from=None
                                      if not squashed or dims == (size, size) else dims))
        except ImageError as exc:
            results.append(Prediction(path=str(p), error=str(exc)))
    warn_resized([r for r in results if r.resized_from], size)
    probs = _predict_inputs(model, inputs, batch_size)
    for i, pr in zip(good, probs):
        k = int(pr.argmax())
        results[i].label = classes[k]
        results[i].confidence = float(pr[k])
        results[i].probabilities = {c: float(v) for c, v in zip(classes, pr)}
    return results


def warn_resized(resized: Sequence[Prediction], size: int) -> None:
    """Logs a warning naming the files (the first 20) that were resized to ``size``."""
    if not resized:
        return
    listed = ", ".join(f"{r.path} ({r.resized_from[0]} x {r.resized_from[1]})"
                       for r in resized[:20])
    more = f" and {len(resized) - 20} more" if len(resized) > 20 else ""
    log.warning(f"{len(resized)} image(s) resized to the model's {size} x {size} pixels: "
                f"{listed}{more}. The model was trained on images rendered at {size} px; a "
                "resized image has other line widths and grid spacing, and its scores may "
                f"differ much (render it at {size} px: build-dataset --image-size {size})")


def predict_record(model, record: str | Path, *, lead: str | None = None,
                   fallback_leads: Sequence[str] = (), batch_size: int = 64,
                   progress: bool = False):
    """Classifies every beat of one WFDB record (its reference beat annotations).

    The beats' context (rhythm, usual beat) comes from the whole record, as in training, in the
    model's context mode.

    Args:
        model: a trained model (image-only or with context).
        record: the record's path without suffix, ``DIR/NAME`` (``DIR/NAME.hea`` must exist).
        lead: lead to read (default the contract's, MLII).
        fallback_leads: leads to use when the record lacks ``lead``.
        batch_size: images per batch.
        progress: a progress bar while loading.

    Returns:
        A DataFrame, one row per beat: ``sample`` (R peak), ``symbol`` (the reference
        annotation), ``reference`` (its AAMI class), ``class`` (predicted), ``confidence`` and
        ``p_N`` ... ``p_Q``.

    Raises:
        RecordError, LeadNotFoundError: a missing or unreadable record, naming it.
    """
    import pandas as pd

    from ecgkit.contract import LEAD
    from ecgkit.data.datasets import load_beats
    from ecgkit.data.records import RecordError
    from ecgkit.evaluation.evaluate import predict_beats

    check_model(model)
    path = Path(record)
    if path.suffix == ".hea":
        path = path.with_suffix("")
    if not path.with_suffix(".hea").is_file():
        raise RecordError(f"{path}.hea: no such WFDB header (give the record as DIR/NAME)")
    beats = load_beats(path.parent, split="none", records=[path.name], lead=lead or LEAD,
                       fallback_leads=fallback_leads, missing_lead="error", progress=progress)
    _, prob = predict_beats(model, beats, batch_size=batch_size)
    k = prob.argmax(axis=1)
    out = pd.DataFrame({"sample": beats.meta["sample"].to_numpy(),
                        "symbol": beats.meta["symbol"].to_numpy(),
                        "reference": beats.meta["label"].to_numpy(),
                        "class": np.asarray(CLASSES)[k],
                        "confidence": prob[np.arange(len(k)), k]})
    for i, c in enumerate(CLASSES):
        out[f"p_{c}"] = prob[:, i]
    return out
