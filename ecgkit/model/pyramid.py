"""Feature pyramid / multi-path fusion: low-level waveform shape meets high-level patterns.

Introduced in: notebooks/14_pyramid_and_head.ipynb

ResNet50's stages see the image at strides 4, 8, 16 and 32. Early stages keep the shape of the
trace (where the waves are, how steep, how wide); late stages carry abstract patterns with
little spatial detail. This block fuses them, feature-pyramid style (Lin et al. 2017):

1. **Laterals.** Each level is projected by a 1x1 convolution to ``channels`` (128) channels.
   The ECG-specific stream (stride 4, from :mod:`ecgkit.model.ecg_block`) joins the stride-4 level:
   it is added to that level's lateral (projected too, unless it already has ``channels``
   channels).
2. **Top-down.** Starting from the coarsest level, each level is upsampled by 2 (nearest
   neighbour, cropped when an odd size was rounded up by the strided convolution) and added to
   the next finer lateral, so high-level context reaches the fine levels.
3. **Smoothing.** Each merged level goes through a depthwise 3x3 convolution, batch
   normalization and ReLU (cheap: 9 weights per channel).
4. **Aggregation.** Every level is globally average-pooled and the vectors are concatenated:
   ``channels * len(features)`` values (512 by default) for the classification head.

Cost at 224 x 224 with the default four levels: about 0.4 GFLOPs per image, most of it the
stride-4 lateral (see ``benchmarks/README.md``).

References:
    Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017.
"""

from __future__ import annotations

from keras import layers


def _upsample_to(x, reference, name):
    """Nearest-neighbour upsample ``x`` by 2 and crop it to the spatial size of ``reference``."""
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(x)
    (h, w), (rh, rw) = x.shape[1:3], reference.shape[1:3]
    if None in (h, w, rh, rw):
        raise ValueError(
            "pyramid_fusion needs static spatial sizes. Received: "
            f"shapes {x.shape} and {reference.shape}"
        )
    if (h, w) != (rh, rw):
        if h < rh or w < rw or h - rh > 1 or w - rw > 1:
            raise ValueError(
                "Pyramid levels must halve in size from one to the next. Received: an upsampled "
                f"level of shape {x.shape} for a level of shape {reference.shape}"
            )
        x = layers.Cropping2D(((0, h - rh), (0, w - rw)), name=f"{name}_crop")(x)
    return x


def pyramid_fusion(features, ecg_stream=None, channels=128, name="fpn"):
    """Fuse backbone levels (and the ECG stream) top-down and pool them for the head.

    Args:
        features: Feature maps from fine to coarse, each half the size of the previous one,
            e.g. ``[conv2_block3_out, conv3_block4_out, conv4_block6_out, top]``. Level ``i``
            is named ``p{i + 2}`` (``p2`` is stride 4).
        ecg_stream: Optional feature map with the spatial size of ``features[0]``, added to the
            finest lateral.
        channels: Channels of every lateral projection.
        name: Prefix of every sublayer name, e.g. ``f"{name}_p3_lateral"``.

    Returns:
        Tensor ``(batch, channels * len(features))``, output of the layer ``f"{name}_concat"``
        (a single level's pooled vector, layer ``f"{name}_p2_pool"``, when there is one level).

    Raises:
        ValueError: no features, non-positive ``channels``, mismatched sizes.
    """
    features = list(features)
    if not features:
        raise ValueError("`features` must hold at least one feature map. Received: features=[]")
    if int(channels) != channels or channels < 1:
        raise ValueError(f"`channels` must be a positive integer. Received: channels={channels}")
    if ecg_stream is not None and tuple(ecg_stream.shape[1:3]) != tuple(features[0].shape[1:3]):
        raise ValueError(
            "`ecg_stream` must have the spatial size of the finest level. Received: "
            f"ecg_stream.shape={ecg_stream.shape}, features[0].shape={features[0].shape}"
        )
    levels = [f"{name}_p{i + 2}" for i in range(len(features))]

    laterals = [
        layers.Conv2D(channels, 1, name=f"{level}_lateral")(f)
        for level, f in zip(levels, features)
    ]
    if ecg_stream is not None:
        ecg = ecg_stream
        if ecg.shape[-1] != channels:
            ecg = layers.Conv2D(channels, 1, name=f"{name}_ecg_lateral")(ecg)
        laterals[0] = layers.Add(name=f"{name}_ecg_add")([laterals[0], ecg])

    merged = [None] * len(laterals)
    merged[-1] = laterals[-1]
    for i in range(len(laterals) - 2, -1, -1):
        up = _upsample_to(merged[i + 1], laterals[i], levels[i])
        merged[i] = layers.Add(name=f"{levels[i]}_add")([laterals[i], up])

    pooled = []
    for level, m in zip(levels, merged):
        m = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{level}_dwconv")(m)
        m = layers.BatchNormalization(epsilon=1.001e-5, name=f"{level}_bn")(m)
        m = layers.Activation("relu", name=f"{level}_relu")(m)
        pooled.append(layers.GlobalAveragePooling2D(name=f"{level}_pool")(m))
    if len(pooled) == 1:
        return pooled[0]
    return layers.Concatenate(name=f"{name}_concat")(pooled)
