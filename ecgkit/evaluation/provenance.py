"""What a trained model records about its training, and the checks that use it.

Introduced in: notebooks/30_evaluation.ipynb.

``ecgkit train`` saves with the model (:func:`ecgkit.model.backbone.record_provenance`) its split
protocol, training and validation records, seed, image size, grid, context setting and class
set. Evaluation reads them back: it uses the model's protocol by default (an explicit different
protocol is allowed, with a warning: scoring a strict-trained model on the paced records is a
question one may ask), and refuses a setting that contradicts how the model sees a beat (its
image size, grid or context), naming both values. A folder of ``build-dataset`` images is held
to the same rule through its ``build.json`` (:func:`check_image_folder`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ecgkit.model.backbone import recorded_grid, recorded_provenance
from ecgkit.model.context_branch import has_context, image_size_of

DEFAULT_PROTOCOL = "inter-patient"
"""The protocol assumed for a model that records none (saved before ecgkit recorded it)."""


class ProvenanceError(ValueError):
    """A setting contradicts what the model was trained with."""


def model_settings(model) -> dict[str, Any]:
    """How ``model`` sees a beat and how it was trained: the recorded provenance, completed from
    the model itself (image size, grid, whether it takes context)."""
    rec = recorded_provenance(model)
    out = dict(rec)
    out["image_size"] = image_size_of(model)
    grid = recorded_grid(model)
    if grid is not None:
        out["grid"] = grid
    if not has_context(model):
        out["context"] = "none"
    out.setdefault("split", None)
    out.setdefault("image_channels", "paper")  # models trained before the setting existed
    return out


def model_classes(model) -> tuple[str, ...]:
    """The class names ``model`` predicts, in output order: those it records (a model trained on
    an image folder records its folder's classes), else ecgkit's (N, S, V, F, Q)."""
    from ecgkit.contract import CLASSES

    recorded = recorded_provenance(model).get("classes")
    return tuple(recorded) if recorded else CLASSES


def image_fit(model) -> str:
    """How ``model`` turns an image file into its square input (``ecgkit.data.images.IMAGE_FITS``):
    as it records it (a model trained on an image folder), else ``"squash"`` (square beat
    images)."""
    return recorded_provenance(model).get("image_fit", "squash")


def protocol(model, asked: str | None = None) -> str:
    """The split protocol to evaluate ``model`` with: ``asked`` when given (with a warning when
    it differs from the model's), else the model's, else :data:`DEFAULT_PROTOCOL`."""
    trained = model_settings(model).get("split")
    if asked is None:
        return trained or DEFAULT_PROTOCOL
    if trained and asked != trained:
        warnings.warn(f"model {model.name!r} was trained with SPLIT={trained!r}; evaluating "
                      f"with {asked!r} as asked (its test set differs)", stacklevel=2)
    return asked


def check_settings(model, settings: dict[str, Any], source: str = "parameters") -> None:
    """Refuses settings that contradict how ``model`` sees a beat.

    Args:
        model: a trained model.
        settings: UPPER_CASE parameters (``IMAGE_SIZE``, ``GRID``, ``CONTEXT``,
            ``CONTEXT_MODE``); those absent are not checked.
        source: where the settings come from, for the message.

    Raises:
        ProvenanceError: naming the setting, its value and the model's.
    """
    m = model_settings(model)
    pairs = {"IMAGE_SIZE": "image_size", "GRID": "grid", "CONTEXT": "context",
             "CONTEXT_MODE": "context_mode", "IMAGE_CHANNELS": "image_channels"}
    for name, key in pairs.items():
        if name not in settings or key not in m:
            continue
        if name == "CONTEXT_MODE" and image_context(model) is None and m.get("context") == "none":
            continue  # an image-only model has no context to contradict
        if name == "GRID" and image_context(model) is not None:
            continue  # context images are drawn without the grid
        if name == "CONTEXT" and (settings[name] == "none") == (m[key] == "none"):
            continue  # logits and head are two joins of the same inputs
        if settings[name] != m[key]:
            raise ProvenanceError(
                f"{source}: {name}={settings[name]!r} contradicts the model {model.name!r}, "
                f"trained with {name}={m[key]!r}; use the model's value (or train a model "
                f"with {name}={settings[name]!r})")


def check_image_folder(model, folder) -> None:
    """Refuses a ``build-dataset`` folder whose images were built with another image size, grid
    or drawing (``image_channels``, and for context images the context mode) than ``model``'s,
    as its ``build.json`` records them.

    Both are refused, not warned about: images rendered at another size and resized have other
    line widths and grid spacing, and a model scores them very differently (in one probe a
    32-px model's Q probability went from 0.95 to 0.42 on a 64-px image), so the report would
    not describe the model. A grid is compared only when the model records one; a folder without
    build.json is not checked here (``images.warn_other_sizes`` looks at its files' sizes).

    Raises:
        ProvenanceError: naming build.json, the folder's values and the model's, and the
            build-dataset options that make a matching folder.
        ecgkit.data.images.ImageFolderError: an unreadable build.json.
    """
    from ecgkit.data.export import BUILD_INFO, read_build_info

    info = read_build_info(folder)
    if info is None:
        return
    m = model_settings(model)
    mode = image_context(model)
    differ = []
    if "image_size" in info and int(info["image_size"]) != m["image_size"]:
        differ.append(f"image_size={int(info['image_size'])} (the model takes "
                      f"image_size={m['image_size']})")
    channels = info.get("image_channels", "paper")
    if channels != m["image_channels"]:
        differ.append(f"image_channels={channels} (the model takes "
                      f"image_channels={m['image_channels']})")
    elif mode is not None and info.get("context_mode") != mode:
        differ.append(f"context_mode={info.get('context_mode')} (the model's context is "
                      f"{mode})")
    elif mode is None and "grid" in info and "grid" in m and bool(info["grid"]) != m["grid"]:
        differ.append(f"grid={bool(info['grid'])} (the model was trained with "
                      f"grid={m['grid']})")
    if differ:
        if mode is not None:
            drawn = f"--image-channels context --context-mode {mode}"
        else:
            drawn = "--grid" if m.get("grid", info.get("grid", True)) else "--no-grid"
        raise ProvenanceError(
            f"{Path(folder) / BUILD_INFO}: these images were built with {' and '.join(differ)}; "
            f"scores on them would not describe model {model.name!r}. Build a folder with the "
            f"model's settings: ecgkit build-dataset SOURCE_DIR OUT_DIR --image-size "
            f"{m['image_size']} {drawn}")


def image_context(model) -> str | None:
    """The context mode ``model``'s images carry in their channels (``IMAGE_CHANNELS=context``,
    :mod:`ecgkit.data.context_image`), None for ECG-paper images (and models that record
    nothing)."""
    m = recorded_provenance(model)
    if m.get("image_channels", "paper") != "context":
        return None
    return m.get("context_mode", "offline")


def vector_context(model) -> str | None:
    """The context mode of ``model``'s context input, None for a model without one."""
    if not has_context(model):
        return None
    return recorded_provenance(model).get("context_mode", "offline")


def model_inputs(model, beats, rows=None, grid: bool | None = None):
    """The inputs ``model`` takes for some beats, made as evaluation makes them: the images
    (causal mode: cut after the R peak) and, for a model with context, the context vectors.

    Returns:
        ``(images uint8 (n, H, W, 3), context float32 (n, features) or None)``.
    """
    import numpy as np

    from ecgkit.data.context import causal_windows
    from ecgkit.data.render import render_batch

    rows = np.arange(len(beats)) if rows is None else np.asarray(rows, dtype=np.int64)
    m = model_settings(model)
    mode, drawn = vector_context(model), image_context(model)
    if drawn is not None:
        from ecgkit.data.context_image import ContextImages

        images = ContextImages(beats.take(rows), drawn, m["image_size"]).render(
            np.arange(len(rows)))
    else:
        windows = beats.windows[rows]
        if mode == "causal":
            windows = causal_windows(windows)
        if grid is None:
            grid = m.get("grid", True)
        images, _ = render_batch(windows, m["image_size"], grid)
    context = beats.context_of(mode)[rows] if mode is not None else None
    return images, context
