"""Feature calibration: learned ECG-component detectors that gate feature channels.

Introduced in: notebooks/13_feature_calibration.ipynb

What it computes, step by step, for a feature map ``x`` of shape ``(batch, H, W, C)``:

1. **Detectors.** A ``3 x 3`` convolution produces ``n_components`` response maps (default 4,
   *intended* as P wave, QRS complex, T wave and ST segment).
2. **Where.** Each response map is normalised by a softmax over all ``H x W`` positions
   (layer ``f"{name}_detector_maps"``), so it says where that detector fires most.
3. **What.** Each normalised map pools the features into one ``C``-vector: the features as seen
   where that component was detected (``(batch, n_components, C)``).
4. **Gates.** A shared bottleneck (``C -> C / reduction``, ReLU) compresses each component
   descriptor; the compressed descriptors are concatenated and mapped to ``C`` sigmoid gates.
5. **Recalibrate.** ``x`` is multiplied channel-wise by the gates (squeeze-and-excitation
   style, but the squeeze is component-aware instead of a single global average).

What it cannot guarantee: the detectors are learned from the beat labels only. Nothing
supervises them with annotated P, QRS, T or ST positions, so detector 0 is "the P-wave detector"
by intention, not by training signal; any detector may learn another cue, or two may learn the
same one. Look at ``calibration_detector_maps`` (``ecgkit.attention_maps``) before reading
meaning into the names. On the stride-32 map where the factory places this block (7 x 7 at
224 x 224, one cell is about 0.43 s), the maps are coarse: they can separate "around the R
peak" from "after it", not outline a P wave.

References:
    Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018 (channel gating).
"""

from __future__ import annotations

import keras
from keras import layers, ops

COMPONENT_NAMES = ("p_wave", "qrs_complex", "t_wave", "st_segment")
"""Intended meaning of the default four detectors, in channel order of the detector maps."""


@keras.saving.register_keras_serializable(package="ecgkit")
class ComponentPooling(layers.Layer):
    """Pool features with ``K`` spatial weight maps: ``[(b,H,W,C), (b,H,W,K)] -> (b,K,C)``.

    ``out[b, k, c] = sum over (h, w) of weights[b, h, w, k] * features[b, h, w, c]``.

    Args:
        **kwargs: Base ``Layer`` keyword arguments.
    """

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                "ComponentPooling expects two inputs [features, weights]. Received: "
                f"input_shape={input_shape}"
            )
        features, weights = (tuple(s) for s in input_shape)
        if len(features) != 4 or len(weights) != 4:
            raise ValueError(
                "ComponentPooling expects two 4-D inputs. Received: "
                f"input_shape={input_shape}"
            )
        for a, b in zip(features[1:3], weights[1:3]):
            if a is not None and b is not None and a != b:
                raise ValueError(
                    "Features and weights must have the same spatial size. Received: "
                    f"input_shape={input_shape}"
                )
        self.built = True

    def call(self, inputs):
        features, weights = inputs
        weights = ops.cast(weights, features.dtype)
        return ops.einsum("bhwk,bhwc->bkc", weights, features)

    def compute_output_shape(self, input_shape):
        features, weights = input_shape
        return (features[0], weights[-1], features[-1])

    def get_config(self):
        return {**super().get_config()}


def feature_calibration(x, n_components=4, name="calibration", *, reduction=16):
    """Recalibrate channels of ``x`` with gates computed from learned component detectors.

    Args:
        x: Feature map ``(batch, H, W, C)``.
        n_components: Number of detectors (4: P wave, QRS complex, T wave, ST segment).
        name: Prefix of every sublayer name.
        reduction: Bottleneck ratio of the per-component descriptor compression.

    Returns:
        Recalibrated feature map, same shape as ``x``, output of the layer ``f"{name}_out"``.

    Raises:
        ValueError: non-positive ``n_components`` or ``reduction``, or unknown channel count.
    """
    if int(n_components) != n_components or n_components < 1:
        raise ValueError(
            f"`n_components` must be a positive integer. Received: n_components={n_components}"
        )
    if int(reduction) != reduction or reduction < 1:
        raise ValueError(f"`reduction` must be a positive integer. Received: reduction={reduction}")
    channels = x.shape[-1]
    if channels is None:
        raise ValueError(f"The channel axis must be known. Received: x.shape={x.shape}")
    n_components = int(n_components)
    hidden = max(1, channels // int(reduction))

    responses = layers.Conv2D(n_components, 3, padding="same", name=f"{name}_detectors")(x)
    # softmax over the H x W positions of each map, in float32 also under mixed precision
    maps = layers.Softmax(axis=(1, 2), dtype="float32", name=f"{name}_detector_maps")(responses)
    descriptors = ComponentPooling(name=f"{name}_component_pool")([x, maps])
    squeezed = layers.Dense(hidden, activation="relu", name=f"{name}_squeeze")(descriptors)
    squeezed = layers.Flatten(name=f"{name}_flatten")(squeezed)
    gates = layers.Dense(channels, activation="sigmoid", name=f"{name}_gates")(squeezed)
    gates = layers.Reshape((1, 1, channels), name=f"{name}_gates_reshape")(gates)
    return layers.Multiply(name=f"{name}_out")([x, gates])
