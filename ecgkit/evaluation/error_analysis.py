"""Error analysis: which beats, records and patients are misclassified, and where models look.

Introduced in: notebooks/31_error_analysis.ipynb.

The table functions take plain arrays and the beat metadata (``BeatSet.meta``: record, patient,
sample, symbol, label), so they run without a model. ``grad_cam`` (Selvaraju et al. 2017) and
``attention_overview`` look inside a trained model; they are analysis code, written with
``keras`` and the backend's own gradient (:func:`gradient`). :func:`gradcam_layer_for_size`
picks the layer whose map resolves a beat at the model's image size.

References:
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ecgkit.contract import CLASSES


def _labels(y, k):
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y.astype(int)


def _check(meta: pd.DataFrame, n: int) -> pd.DataFrame:
    if len(meta) != n:
        raise ValueError(f"meta has {len(meta)} rows for {n} beats")
    missing = {"record", "patient", "sample"} - set(meta.columns)
    if missing:
        raise ValueError(f"meta lacks columns {sorted(missing)}")
    return meta.reset_index(drop=True)


def misclassified_table(y_true, y_prob, meta: pd.DataFrame,
                        classes: Sequence[str] = CLASSES) -> pd.DataFrame:
    """One row per misclassified beat, most confident mistakes first.

    Columns: ``index`` (position in the evaluated data), ``record``, ``patient``, ``sample``,
    ``symbol`` (if in meta), ``true``, ``pred``, ``confidence`` (probability of the predicted
    class), ``p_true`` (probability given to the true class).
    """
    y_prob = np.asarray(y_prob, dtype=float)
    y_true = _labels(y_true, len(classes))
    meta = _check(meta, len(y_true))
    pred = y_prob.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    cols = [c for c in ("record", "patient", "sample", "symbol") if c in meta.columns]
    t = meta.loc[wrong, cols].copy()
    t.insert(0, "index", wrong)
    t["true"] = [classes[i] for i in y_true[wrong]]
    t["pred"] = [classes[i] for i in pred[wrong]]
    t["confidence"] = y_prob[wrong, pred[wrong]]
    t["p_true"] = y_prob[wrong, y_true[wrong]]
    return t.sort_values("confidence", ascending=False).reset_index(drop=True)


def errors_by(y_true, y_pred, meta: pd.DataFrame, key: str = "record",
              classes: Sequence[str] = CLASSES, weights=None) -> pd.DataFrame:
    """Beats, errors and error rate per record (``key="record"``) or patient, worst first.

    Also counts the errors within each true class (``errors_N`` ... ``errors_Q``). With
    ``weights`` (the cap weights ``meta["weight"]`` of a capped ``BeatSet``) three more columns
    estimate the figures over every beat of the record: ``weighted_beats``,
    ``weighted_errors`` and ``weighted_error_rate``; rows are then sorted by
    ``weighted_errors`` (a capped sample over-represents the rare classes, and with them the
    errors, so the unweighted ``error_rate`` is that of the sample, not of the record).
    """
    y_true = _labels(y_true, len(classes))
    y_pred = _labels(y_pred, len(classes))
    meta = _check(meta, len(y_true))
    df = pd.DataFrame({key: meta[key].astype(str), "true": y_true,
                       "wrong": (y_true != y_pred).astype(int)})
    out = df.groupby(key).agg(beats=("wrong", "size"), errors=("wrong", "sum"))
    out["error_rate"] = out["errors"] / out["beats"]
    for k, c in enumerate(classes):
        out[f"errors_{c}"] = df[df["true"] == k].groupby(key)["wrong"].sum()
    out = out.fillna(0)
    for c in out.columns:
        if c != "error_rate":
            out[c] = out[c].astype(int)
    if weights is None:
        return out.sort_values(["errors", "error_rate"], ascending=False)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(y_true),) or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be finite, >= 0 and one per beat ({len(y_true)}). "
                         f"Received: shape={w.shape}")
    df["w"], df["w_wrong"] = w, w * df["wrong"]
    sums = df.groupby(key)[["w", "w_wrong"]].sum()
    out["weighted_beats"] = sums["w"]
    out["weighted_errors"] = sums["w_wrong"]
    out["weighted_error_rate"] = (sums["w_wrong"] / sums["w"].where(sums["w"] > 0)).fillna(0.0)
    return out.sort_values(["weighted_errors", "errors"], ascending=False)


def errors_per_record(y_true, y_pred, meta, classes=CLASSES, weights=None) -> pd.DataFrame:
    """``errors_by(..., key="record")``."""
    return errors_by(y_true, y_pred, meta, "record", classes, weights)


def errors_per_patient(y_true, y_pred, meta, classes=CLASSES, weights=None) -> pd.DataFrame:
    """``errors_by(..., key="patient")``."""
    return errors_by(y_true, y_pred, meta, "patient", classes, weights)


def confused_pairs(cm, classes: Sequence[str] = CLASSES, top: int | None = None) -> pd.DataFrame:
    """Off-diagonal cells of a confusion matrix, most frequent first.

    Columns: ``true``, ``pred``, ``count``, ``share_of_true`` (the fraction of the true class
    that went to ``pred``). Zero cells are left out. A matrix of weighted counts (float) gives
    float ``count`` values: estimated beats, not beats evaluated.
    """
    cm = np.asarray(cm)
    as_count = int if np.issubdtype(cm.dtype, np.integer) else float
    rows = []
    for i, a in enumerate(classes):
        total = cm[i].sum()
        for j, b in enumerate(classes):
            if i != j and cm[i, j] > 0:
                rows.append({"true": a, "pred": b, "count": as_count(cm[i, j]),
                             "share_of_true": float(cm[i, j] / total)})
    t = pd.DataFrame(rows, columns=["true", "pred", "count", "share_of_true"])
    t = t.sort_values(["count", "share_of_true"], ascending=False).reset_index(drop=True)
    return t if top is None else t.head(top)


def gallery_titles(table: pd.DataFrame) -> list[str]:
    """Short titles for a gallery: 'true V -> N 0.91' and 'rec 208 @ 12345'."""
    return [f"true {r.true} -> {r.pred} {r.confidence:.2f}\nrec {r.record} @ {r.sample}"
            for r in table.itertuples()]


def misclassified_gallery(images, table: pd.DataFrame, n: int = 12, ncols: int = 6):
    """A Figure of the ``n`` first rows of ``misclassified_table`` (images indexed by ``index``).

    ``images`` is anything indexable by beat position returning (H, W, 3) uint8, e.g. an array
    of rendered images or ``lambda i: render_ecg_image(beats.windows[i])`` wrapped in a list.
    """
    from ecgkit.workbook.plots import plot_image_grid

    if len(table) == 0:
        raise ValueError("no misclassified beats to show")
    sel = table.head(n)
    imgs = np.stack([np.asarray(images[int(i)]) for i in sel["index"]])
    return plot_image_grid(imgs, gallery_titles(sel), ncols=ncols,
                           title="Misclassified beats, most confident first")


MIN_GRADCAM_WIDTH = 8
"""Cells a Grad-CAM map needs across the 3-s window to resolve a beat: 8 cells are 375 ms each,
so the beat under study and its neighbours fall in different cells."""


def gradcam_layer_for_size(model, min_width: int = MIN_GRADCAM_WIDTH) -> tuple[str, int]:
    """The Grad-CAM layer that resolves a beat at the model's image size, and its map's width.

    The candidates are ResNet50's stage outputs (``ecgkit.model.backbone.STAGE_OUTPUTS``, strides 4
    to 16) and the model's last spatial map (``ecgkit.model.factory.gradcam_layer_name``: the
    calibration or attention output, stride 32). The deepest one whose map is at least ``min_width``
    cells wide is chosen; when none is, the widest. At 224 px that is ``conv4_block6_out`` (14
    cells; the last map has 7); at 64 px ``conv3_block4_out`` (8 cells; the last map has 2, and a
    Grad-CAM from it is four coloured squares). A map taken before the model's last stages
    explains the stream through it: enhancements fed from earlier stages (the ECG block, the
    pyramid's finer levels) are part of what follows it, or bypass it.

    Returns:
        ``(layer name, map width in cells)``.

    Raises:
        ValueError: the model has none of the candidate layers.
    """
    from ecgkit.model.backbone import STAGE_OUTPUTS

    names = {layer.name for layer in model.layers}
    candidates = [n for n in STAGE_OUTPUTS[:-1] if n in names]
    try:
        from ecgkit.model.factory import gradcam_layer_name

        candidates.append(gradcam_layer_name(model))
    except ValueError:
        pass
    if not candidates:
        raise ValueError(f"model {model.name!r} has none of the layers {list(STAGE_OUTPUTS)} "
                         "(nor an attention or calibration output): pass grad_cam's layer_name")
    widths = [(n, int(model.get_layer(n).output.shape[2])) for n in candidates]
    wide = [nw for nw in widths if nw[1] >= min_width]
    return wide[-1] if wide else max(widths, key=lambda nw: nw[1])


def grad_cam(model, images, layer_name: str | None = None, class_index=None,
             context=None) -> np.ndarray:
    """Grad-CAM heatmaps (n, h, w) in [0, 1] at the resolution of ``layer_name``'s output.

    Args:
        model: a functional Keras classifier.
        images: (n, H, W, 3) images as the model takes them (0..255).
        layer_name: the convolutional layer to explain; None asks
            ``ecgkit.model.factory.gradcam_layer_name(model)``.
        class_index: the class to explain: None = the predicted class of each image, an int for
            all images, or a sequence with one class per image.
        context: the beats' context vectors (n, features), for a model with a context input
            (``ecgkit.model.context_branch``); held fixed while the image is explained.

    Returns:
        float32 heatmaps; an image whose gradients are all zero gets an all-zero map.
    """
    import keras

    from ecgkit.model.context_branch import CONTEXT_INPUT, has_context

    if layer_name is None:
        from ecgkit.model.factory import gradcam_layer_name

        layer_name = gradcam_layer_name(model)
    try:
        layer = model.get_layer(layer_name)
    except ValueError as exc:
        raise ValueError(f"model {model.name!r} has no layer {layer_name!r}") from exc
    x = keras.ops.convert_to_tensor(np.asarray(images), dtype="float32")
    if has_context(model):
        if context is None:
            raise ValueError(f"model {model.name!r} takes each beat's context besides its image: "
                             "pass grad_cam(..., context=beats.context_of(mode)[rows])")
        c = keras.ops.convert_to_tensor(np.asarray(context), dtype="float32")
        x = {"image": x, CONTEXT_INPUT: c}
    features = keras.Model(model.input, layer.output)
    # The rest of the network as a function of the feature map (and of the inputs, for the
    # pyramid's finer levels that bypass it and the context branch): its gradient there is
    # Grad-CAM's.
    rest = keras.Model([model.input, layer.output], model.outputs[0])
    conv = features(x, training=False)
    n = int(np.asarray(images).shape[0])
    if class_index is None:
        idx = np.asarray(keras.ops.argmax(rest([x, conv], training=False), axis=1))
    else:
        idx = np.broadcast_to(np.asarray(class_index), (n,)).astype(np.int64)
    mask = keras.ops.convert_to_tensor(np.eye(model.outputs[0].shape[-1], dtype="float32")[idx])

    def score(c):  # the explained class's probability, summed over independent images
        return keras.ops.sum(keras.ops.cast(rest([x, c], training=False), "float32") * mask)

    grads = keras.ops.convert_to_numpy(gradient(score, conv)).astype(np.float32)
    conv = keras.ops.convert_to_numpy(conv).astype(np.float32)
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((weights * conv).sum(axis=-1), 0.0)
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0).astype(np.float32)


def gradient(f, x):
    """The gradient of the scalar ``f(x)`` with respect to the tensor ``x``, on the Keras
    backend in use (Keras has no backend-neutral gradient; each backend has its own)."""
    import keras

    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return tape.gradient(y, x)
    if name == "jax":
        import jax

        return jax.grad(f)(x)
    if name == "torch":
        x = x.detach().requires_grad_(True)
        f(x).backward()
        return x.grad
    raise NotImplementedError(f"gradient: no gradient for the Keras backend {name!r}")


def attention_overview(model, images) -> dict:
    """The enhanced model's attention maps (``ecgkit.model.attention.attention_maps``)."""
    from ecgkit.model.attention import attention_maps

    return attention_maps(model, images)
