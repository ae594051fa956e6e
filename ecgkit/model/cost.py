"""Model cost: parameters and FLOPs per image, counted from the model graph.

Introduced in: notebooks/14_pyramid_and_head.ipynb

:func:`count_flops` walks every call of every layer in the model graph and adds up the
multiply-accumulates (MACs) of the layers that do dense arithmetic, from each layer's config
and its input/output shapes, and reports ``2 x MACs`` (one multiply plus one add):

==========================  ===================================================================
layer                       MACs per image
==========================  ===================================================================
``Conv2D``                  ``H_out * W_out * C_out * k_h * k_w * C_in / groups``
``DepthwiseConv2D``         ``H_out * W_out * C_in * depth_multiplier * k_h * k_w``
``SeparableConv2D``         the depthwise part plus a 1x1 ``Conv2D``
``Dense``                   ``positions * units * D_in`` (positions = product of middle axes)
``ComponentPooling``        ``H * W * K * C`` (an einsum)
==========================  ===================================================================

Not counted: biases, batch normalization, activations, pooling, additions and multiplications
(all linear in the tensor size, a few percent of ResNet50's total). This is the convention of
most published FLOP tables (ResNet50: about 4.1 G "FLOPs" there are MACs; here 2 x that).
Nested models are walked recursively. A layer called several times (the attention block's
shared MLP) counts once per call, each with the shapes of its first call.
"""

from __future__ import annotations

import math

import keras
from keras import layers


def _prod(values):
    return math.prod(int(v) for v in values)


def _shape(tensor):
    return tuple(tensor.shape)


def _layer_macs(layer, in_shapes, out_shapes):
    """MACs for one call of ``layer`` with batch size 1, or 0 for cheap layers."""
    from ecgkit.model.calibration import ComponentPooling

    if isinstance(layer, layers.SeparableConv2D):
        (_, h, w, c_out), c_in = out_shapes[0], in_shapes[0][-1]
        kh, kw = layer.kernel_size
        return h * w * c_in * layer.depth_multiplier * (kh * kw + c_out)
    if isinstance(layer, layers.DepthwiseConv2D):
        (_, h, w, _), c_in = out_shapes[0], in_shapes[0][-1]
        kh, kw = layer.kernel_size
        return h * w * c_in * layer.depth_multiplier * kh * kw
    if isinstance(layer, layers.Conv2D):
        (_, h, w, c_out), c_in = out_shapes[0], in_shapes[0][-1]
        kh, kw = layer.kernel_size
        return h * w * c_out * kh * kw * c_in // getattr(layer, "groups", 1)
    if isinstance(layer, layers.Dense):
        shape = in_shapes[0]
        return _prod(shape[1:-1]) * shape[-1] * layer.units
    if isinstance(layer, ComponentPooling):
        (_, h, w, c), k = in_shapes[0], in_shapes[1][-1]
        return h * w * k * c
    return 0


def _model_macs(model):
    # A functional model's config lists each call of a layer in this graph as one of its
    # "inbound_nodes"; a Sequential config has none: each layer is called once.
    calls = {c["config"]["name"]: len(c.get("inbound_nodes", [None]))
             for c in model.get_config()["layers"]}
    total = 0
    for layer in model.layers:
        n = calls.get(layer.name, 1)
        if n == 0:  # an InputLayer
            continue
        if isinstance(layer, keras.Model):
            total += n * _model_macs(layer)
            continue
        ins = [_shape(t) for t in keras.tree.flatten(layer.input)]
        outs = [_shape(t) for t in keras.tree.flatten(layer.output)]
        if not ins or not outs:
            continue
        if any(d is None for s in ins + outs for d in s[1:]):
            raise ValueError(
                f"count_flops needs fixed input sizes; layer '{layer.name}' has shapes "
                f"{ins} -> {outs}"
            )
        total += n * _layer_macs(layer, ins, outs)
    return total


def count_flops(model) -> int:
    """Forward FLOPs per image (2 x multiply-accumulates of conv and dense layers).

    Args:
        model: A built functional or sequential Keras model with fixed input size.

    Returns:
        FLOPs for one image, as an integer.

    Raises:
        ValueError: the model has an unknown spatial size.
    """
    return 2 * int(_model_macs(model))


def count_params(model, trainable=None) -> int:
    """Number of parameters: all (``trainable=None``), trainable (True) or non-trainable (False).

    Non-trainable parameters are the batch-normalization moving statistics.
    """
    if trainable is None:
        weights = model.weights
    elif trainable:
        weights = model.trainable_weights
    else:
        weights = model.non_trainable_weights
    return int(sum(_prod(w.shape) for w in weights))
