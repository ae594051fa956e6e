"""Model factory: the enhanced ResNet50, its ablations and the plain baseline, from one builder.

Introduced in: notebooks/14_pyramid_and_head.ipynb

Data flow of :func:`create_enhanced_resnet50` (every enhancement can be switched off):

.. code-block:: text

    raw image 0..255 -> preprocessing -> ResNet50 stages
       conv2_block3_out (stride 4) --[ecg_block]--> ECG stream (stride 4, 128 ch)
       conv5_block3_out (stride 32) --[attention]--> --[calibration]--> top
    pyramid=True:  fpn(conv2, conv3, conv4, top; ECG stream added at stride 4) -> 4 x 128
    pyramid=False: the ECG stream (if any) is globally average-pooled on its own ("ecg_pool")
    head input = concat(global average pool of top ("avg_pool"), [fpn or ecg_pool])
    head: Dense 512 -> Dense 256 (BN, ReLU, dropout) -> softmax "predictions" (float32)

With every switch off this is exactly :func:`create_baseline_resnet50`: ResNet50, global average
pooling and the same head, so ablations compare like with like. The model includes its own
preprocessing (:class:`ecgkit.model.backbone.CaffePreprocessing`): feed raw RGB images, 0..255.
"""

from __future__ import annotations

import difflib

import keras
from keras import layers

from ecgkit.model.attention import ecg_attention
from ecgkit.model.backbone import MIN_INPUT_SIZE, STAGE_OUTPUTS, resnet50_backbone
from ecgkit.model.calibration import feature_calibration
from ecgkit.model.context_branch import CONTEXT_INPUT, CONTEXT_JOINS, context_branch
from ecgkit.model.ecg_block import ecg_multiscale_block
from ecgkit.model.head import classification_head
from ecgkit.model.pyramid import pyramid_fusion

ENHANCEMENTS = ("ecg_block", "attention", "calibration", "pyramid")
"""Keyword switches of :func:`create_enhanced_resnet50`, in data-flow order."""

ECG_BLOCK_FILTERS = 128
PYRAMID_CHANNELS = 128
HEAD_UNITS = (512, 256)
GRADCAM_CANDIDATES = ("calibration_out", "attention_out", "conv5_block3_out")
"""Last spatial feature maps, most refined first; see :func:`gradcam_layer_name`."""


def _validate(input_shape, num_classes, dropout):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or any(
        not isinstance(d, int) or isinstance(d, bool) for d in shape
    ):
        raise ValueError(
            "`input_shape` must be three integers (height, width, 3); sizes must be fixed. "
            f"Received: input_shape={input_shape}"
        )
    if shape[2] != 3:
        raise ValueError(
            f"`input_shape` must have 3 (RGB) channels. Received: input_shape={input_shape}"
        )
    if min(shape[:2]) < MIN_INPUT_SIZE:
        raise ValueError(
            f"Images must be at least {MIN_INPUT_SIZE} x {MIN_INPUT_SIZE} pixels (ResNet50 "
            f"downsamples by 32). Received: input_shape={input_shape}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
            0.0 <= dropout < 1.0):
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    return shape


def _check_context(context_features, context_join):
    if (isinstance(context_features, bool) or not isinstance(context_features, int)
            or context_features < 0):
        raise ValueError(f"`context_features` must be an integer >= 0 (0: no context input). "
                         f"Received: context_features={context_features!r}")
    if context_join not in CONTEXT_JOINS:
        raise ValueError(f"`context_join` must be one of {CONTEXT_JOINS}. "
                         f"Received: context_join={context_join!r}")


def _build(input_shape, num_classes, weights, switches, dropout, name, context_features=0,
           context_join="logits"):
    """The generic builder behind both presets."""
    shape = _validate(input_shape, num_classes, dropout)
    _check_context(context_features, context_join)
    inputs = keras.Input(shape=shape, name="image")
    stages = resnet50_backbone(inputs, weights=weights)
    c2, c3, c4, top = (stages[s] for s in STAGE_OUTPUTS)

    ecg = None
    if switches["ecg_block"]:
        ecg = ecg_multiscale_block(c2, ECG_BLOCK_FILTERS, name="ecg_block")
    if switches["attention"]:
        top = ecg_attention(top, name="attention")
    if switches["calibration"]:
        top = feature_calibration(top, name="calibration")

    streams = [layers.GlobalAveragePooling2D(name="avg_pool")(top)]
    if switches["pyramid"]:
        streams.append(pyramid_fusion([c2, c3, c4, top], ecg, PYRAMID_CHANNELS, name="fpn"))
    elif ecg is not None:
        streams.append(layers.GlobalAveragePooling2D(name="ecg_pool")(ecg))
    extra = None
    if context_features:
        context = keras.Input(shape=(context_features,), name=CONTEXT_INPUT)
        branch = context_branch(context, num_classes, context_join)
        if context_join == "head":
            streams.append(branch)
        else:
            extra = branch
        inputs = {"image": inputs, CONTEXT_INPUT: context}
    x = streams[0] if len(streams) == 1 else layers.Concatenate(name="fusion")(streams)

    outputs = classification_head(x, num_classes, HEAD_UNITS, dropout, name="head",
                                  extra_logits=extra)
    if name is None:
        name = "enhanced_resnet50" if any(switches.values()) else "baseline_resnet50"
    return keras.Model(inputs, outputs, name=name)


def create_enhanced_resnet50(
    input_shape=(224, 224, 3),
    num_classes=5,
    weights="imagenet",
    *,
    ecg_block=True,
    attention=True,
    calibration=True,
    pyramid=True,
    dropout=0.5,
    name=None,
    context_features=0,
    context_join="logits",
    **unknown,
):
    """ResNet50 with the ECG block, attention, feature calibration and the feature pyramid.

    Args:
        input_shape: ``(height, width, 3)``, both sides >= 32 (the smallest size ResNet50
            accepts; the enhancements add no further limit).
        num_classes: Number of output classes (>= 2).
        weights: ``"imagenet"``, ``None`` (random) or a path to a backbone weights file (see
            :mod:`ecgkit.model.backbone`). Offline ``"imagenet"`` fails within seconds.
        ecg_block: Add the multi-scale ECG stream on ``conv2_block3_out``.
        attention: Add channel + spatial attention on ``conv5_block3_out``.
        calibration: Add ECG-component feature calibration on the top feature map.
        pyramid: Fuse the stage outputs (and the ECG stream) top-down for the head.
        dropout: Dropout rate in the head.
        name: Model name (default ``"enhanced_resnet50"``, or ``"baseline_resnet50"`` when every
            switch is off).
        context_features: Length of the beat's context vector (:mod:`ecgkit.data.context`), a second
            input named ``"context"``; 0 (the default, the published design) builds an
            image-only model. With it the model takes ``{"image": ..., "context": ...}``.
        context_join: ``"logits"`` (the context branch's logits are added to the head's) or
            ``"head"`` (its features join the pooled image features); see
            :mod:`ecgkit.model.context_branch`.
        **unknown: Rejected: any other keyword raises ``ValueError``.

    Returns:
        An uncompiled ``keras.Model`` mapping raw images ``(batch, H, W, 3)`` (0..255) to
        float32 class probabilities ``(batch, num_classes)``.

    Raises:
        ValueError: invalid shape, classes, dropout, switch value or unknown keyword.
        ecgkit.model.backbone.WeightsUnavailableError: ``"imagenet"`` offline and not cached.
    """
    if unknown:
        bad = sorted(unknown)
        known = ENHANCEMENTS + ("dropout", "name", "context_features", "context_join")
        hints = {k: difflib.get_close_matches(k, known, n=1)
                 for k in bad}
        hint = "; ".join(f"did you mean {v[0]!r} for {k!r}?" for k, v in hints.items() if v)
        raise ValueError(
            f"Unknown keyword argument(s) {bad}. Switches are {list(ENHANCEMENTS)}"
            f"{'; ' + hint if hint else ''}. Received: {unknown}"
        )
    switches = dict(ecg_block=ecg_block, attention=attention, calibration=calibration,
                    pyramid=pyramid)
    for key, value in switches.items():
        if not isinstance(value, bool):
            raise ValueError(f"`{key}` must be True or False. Received: {key}={value!r}")
    return _build(input_shape, num_classes, weights, switches, dropout, name, context_features,
                  context_join)


def create_baseline_resnet50(input_shape=(224, 224, 3), num_classes=5, weights="imagenet",
                             dropout=0.5, name="baseline_resnet50", context_features=0,
                             context_join="logits"):
    """Plain ResNet50 + global average pooling + the same head, for a fair comparison.

    Same arguments as :func:`create_enhanced_resnet50`, without the switches (all off); with
    ``context_features`` it takes the same context branch, so an ablation compares the image
    networks with the same context.
    """
    switches = dict.fromkeys(ENHANCEMENTS, False)
    return _build(input_shape, num_classes, weights, switches, dropout, name, context_features,
                  context_join)


def gradcam_layer_name(model) -> str:
    """Name of the last spatial feature map of ``model``, for Grad-CAM.

    That is ``"calibration_out"`` or ``"attention_out"`` when present, else ResNet50's
    ``"conv5_block3_out"``. With the pyramid, part of the prediction also flows from finer
    levels that bypass this map, so Grad-CAM there explains the top stream only.

    Raises:
        ValueError: the model has none of these layers.
    """
    names = {layer.name for layer in model.layers}
    for candidate in GRADCAM_CANDIDATES:
        if candidate in names:
            return candidate
    raise ValueError(
        f"Model '{model.name}' has none of the layers {GRADCAM_CANDIDATES}; pass the Grad-CAM "
        "layer name explicitly."
    )
