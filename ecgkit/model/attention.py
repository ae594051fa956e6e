"""ECG attention: channel attention then spatial attention (CBAM-style), with readable maps.

Introduced in: notebooks/12_attention.ipynb

Channel attention asks *which* feature channels matter for this image: the feature map is
summarised by global average pooling and by global max pooling, both descriptors go through one
shared bottleneck MLP (``C -> C / reduction -> C``), the two results are added and squashed by a
sigmoid into one weight per channel, and the features are multiplied by these weights.

Spatial attention then asks *where* in the image to look: the refined features are pooled
across channels (mean and max, giving two maps), a ``7 x 7`` convolution with a sigmoid turns
them into one weight per position, and the features are multiplied by it.

Both weight tensors are outputs of named layers, so they can be read back for visualisation:
``f"{name}_channel_weights"`` (``(batch, 1, 1, C)``) and ``f"{name}_spatial_map"``
(``(batch, H, W, 1)``). :func:`attention_maps` does that for a model and a batch of images.

References:
    Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

MAP_SUFFIXES = ("_channel_weights", "_spatial_map", "_detector_maps")
"""Layer-name endings of the maps :func:`attention_maps` returns (the last one comes from
:mod:`ecgkit.model.calibration`)."""


@keras.saving.register_keras_serializable(package="ecgkit")
class ChannelPooling(layers.Layer):
    """Pool a feature map across channels: ``(b, H, W, C) -> (b, H, W, 2)`` [mean, max].

    Args:
        **kwargs: Base ``Layer`` keyword arguments.
    """

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"ChannelPooling expects a 4-D input (batch, H, W, C). Received: "
                f"input_shape={input_shape}"
            )
        self.built = True

    def call(self, inputs):
        mean = ops.mean(inputs, axis=-1, keepdims=True)
        peak = ops.max(inputs, axis=-1, keepdims=True)
        return ops.concatenate([mean, peak], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], 2)

    def get_config(self):
        return {**super().get_config()}


def ecg_attention(x, reduction=16, name="attention", *, kernel_size=7):
    """Channel attention followed by spatial attention.

    Args:
        x: Feature map ``(batch, H, W, C)``.
        reduction: Bottleneck ratio of the channel MLP (hidden units ``C // reduction``).
        name: Prefix of every sublayer name.
        kernel_size: Size of the spatial-attention convolution.

    Returns:
        Refined feature map, same shape as ``x``, output of the layer ``f"{name}_out"``.

    Raises:
        ValueError: ``reduction`` or ``kernel_size`` is not a positive integer, or ``x`` has an
            unknown channel count.
    """
    if int(reduction) != reduction or reduction < 1:
        raise ValueError(f"`reduction` must be a positive integer. Received: reduction={reduction}")
    if int(kernel_size) != kernel_size or kernel_size < 1:
        raise ValueError(
            f"`kernel_size` must be a positive integer. Received: kernel_size={kernel_size}"
        )
    channels = x.shape[-1]
    if channels is None:
        raise ValueError(f"The channel axis must be known. Received: x.shape={x.shape}")
    hidden = max(1, channels // int(reduction))

    # Channel attention: a shared MLP over the average- and max-pooled descriptors.
    avg = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_avg_pool")(x)
    peak = layers.GlobalMaxPooling2D(keepdims=True, name=f"{name}_max_pool")(x)
    mlp_1 = layers.Dense(hidden, activation="relu", name=f"{name}_mlp_1")
    mlp_2 = layers.Dense(channels, name=f"{name}_mlp_2")
    logits = layers.Add(name=f"{name}_channel_add")([mlp_2(mlp_1(avg)), mlp_2(mlp_1(peak))])
    weights = layers.Activation("sigmoid", name=f"{name}_channel_weights")(logits)
    x = layers.Multiply(name=f"{name}_channel_refined")([x, weights])

    # Spatial attention: a convolution over the channel-pooled maps.
    pooled = ChannelPooling(name=f"{name}_channel_pool")(x)
    spatial = layers.Conv2D(
        1, kernel_size, padding="same", activation="sigmoid", name=f"{name}_spatial_map"
    )(pooled)
    return layers.Multiply(name=f"{name}_out")([x, spatial])


def attention_maps(model, images, batch_size=32):
    """Read every attention and calibration map of ``model`` for ``images``.

    Args:
        model: A model built by :mod:`ecgkit.model.factory` (or any model with layers whose names
        end
            in one of :data:`MAP_SUFFIXES`).
        images: Array ``(n, H, W, 3)`` of raw images (0..255).
        batch_size: Prediction batch size.

    Returns:
        Dict ``layer name -> float32 array``: ``"attention_channel_weights"``
        ``(n, 1, 1, C)``, ``"attention_spatial_map"`` ``(n, H', W', 1)`` and, when the model has
        feature calibration, ``"calibration_detector_maps"`` ``(n, H', W', n_components)``.

    Raises:
        ValueError: the model has no such layer (e.g. built with ``attention=False`` and
            ``calibration=False``).
    """
    names = [layer.name for layer in model.layers if layer.name.endswith(MAP_SUFFIXES)]
    if not names:
        raise ValueError(
            f"Model '{model.name}' has no attention or calibration maps (no layer name ends "
            f"with {MAP_SUFFIXES}); build it with attention=True or calibration=True."
        )
    inputs = model.input["image"] if isinstance(model.input, dict) else (
        model.inputs[0] if len(model.inputs) == 1 else model.inputs)  # maps see the image only
    reader = keras.Model(inputs, [model.get_layer(n).output for n in names])
    outputs = reader.predict(np.asarray(images), batch_size=batch_size, verbose=0)
    if len(names) == 1:
        outputs = [outputs]
    return {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outputs)}
