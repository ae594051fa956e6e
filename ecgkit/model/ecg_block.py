"""ECG-specific multi-scale block: parallel receptive fields for the parts of a heartbeat.

Introduced in: notebooks/11_ecg_specific_block.ipynb

An ECG image shows waves of very different widths. At 25 mm/s on a 224-pixel, 3-second image,
one pixel is about 13 ms; on the stride-4 feature map this block reads (56 x 56 at 224), one
cell is about 54 ms. Four parallel branches look at the same features through different
receptive fields (in feature-map cells, and in time at 224 x 224):

============  ==================  =============================================================
kernel        time span           intended for
============  ==================  =============================================================
3 x 3         ~0.16 s             fine detail: P wave, Q and S notches
5 x 5         ~0.27 s             the QRS complex and its neighbourhood
9 x 9         ~0.48 s             T wave and ST segment
15 x 15       ~0.80 s             the overall morphology of one beat
============  ==================  =============================================================

The branch outputs are concatenated and fused by a 1x1 convolution, batch normalization and
ReLU. The "intended for" column is the design rationale, not something the network is forced
to learn.

Cost. A dense 15 x 15 convolution with 256 channels in and out on the 56 x 56 map would cost
about 92 GFLOPs per image, twelve times the whole ResNet50 (about 7.7 GFLOPs); even with 64
channels it would cost 5.8 GFLOPs. This block keeps
the idea and removes that cost in two ways:

1. It is placed on ``conv2_block3_out`` (stride 4, 256 channels) and first projects down to
   ``reduce_filters`` channels (64 by default) with a 1x1 convolution.
2. Kernels larger than 3 are factorized into a ``1 x k`` then a ``k x 1`` convolution
   (Inception-v3 style): ``2k`` instead of ``k * k`` weights per channel pair, and the same
   ``k x k`` receptive field. A depthwise-separable variant (depthwise ``k x k`` + 1x1) has
   less than half the FLOPs (0.39 vs 0.88 GFLOPs), but on the 2-core CPU used for the
   benchmarks it trained no faster (0.37-0.59 vs 0.37-0.39 s per batch of 8) and ran
   inference slower (0.11-0.18 vs 0.08-0.10 s): large depthwise kernels use the hardware
   poorly, dense convolutions map onto well-tuned matrix kernels.

With the defaults the block costs about 0.9 GFLOPs per image at 224 x 224 (see
``benchmarks/README.md``). It is a side stream: it does not change what flows into ResNet50's
stage 3, so ImageNet features stay intact; the factory sends its output to the feature pyramid
(or, without the pyramid, pools it for the head).
"""

from __future__ import annotations

from keras import layers

DEFAULT_KERNEL_SIZES = (3, 5, 9, 15)


def ecg_multiscale_block(
    x,
    filters=128,
    name="ecg_block",
    *,
    kernel_sizes=DEFAULT_KERNEL_SIZES,
    reduce_filters=None,
    branch_filters=None,
):
    """Multi-scale ECG block: project down, parallel 3/5/9/15 branches, concatenate and fuse.

    Args:
        x: Input feature map ``(batch, H, W, C)``, e.g. ResNet50's ``conv2_block3_out``.
        filters: Channels of the fused output.
        name: Prefix of every sublayer name, e.g. ``f"{name}_15x15_conv1"``.
        kernel_sizes: Receptive kernel sizes, one branch each (odd integers >= 1).
        reduce_filters: Channels after the shared 1x1 projection (default ``filters // 2``).
        branch_filters: Channels of each branch (default ``filters // len(kernel_sizes)``).

    Returns:
        Output tensor ``(batch, H, W, filters)``; the last layer is named ``f"{name}_out"``.

    Raises:
        ValueError: non-positive channel counts or even / non-positive kernel sizes.
    """
    kernel_sizes = tuple(kernel_sizes)
    if not kernel_sizes or any(int(k) != k or k < 1 or k % 2 == 0 for k in kernel_sizes):
        raise ValueError(
            f"`kernel_sizes` must be odd positive integers. Received: kernel_sizes={kernel_sizes}"
        )
    if int(filters) < 1:
        raise ValueError(f"`filters` must be a positive integer. Received: filters={filters}")
    reduce_filters = max(1, filters // 2) if reduce_filters is None else int(reduce_filters)
    if branch_filters is None:
        branch_filters = max(1, filters // len(kernel_sizes))
    if reduce_filters < 1 or branch_filters < 1:
        raise ValueError(
            "Channel counts must be positive. Received: "
            f"reduce_filters={reduce_filters}, branch_filters={branch_filters}"
        )
    bn_axis = -1

    x = layers.Conv2D(reduce_filters, 1, use_bias=False, name=f"{name}_reduce_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=1.001e-5, name=f"{name}_reduce_bn")(x)
    x = layers.Activation("relu", name=f"{name}_reduce_relu")(x)

    branches = []
    for k in kernel_sizes:
        prefix = f"{name}_{k}x{k}"
        if k <= 3:
            b = layers.Conv2D(
                branch_filters, k, padding="same", use_bias=False, name=f"{prefix}_conv"
            )(x)
        else:
            b = layers.Conv2D(
                branch_filters, (1, k), padding="same", use_bias=False, name=f"{prefix}_conv1"
            )(x)
            b = layers.Conv2D(
                branch_filters, (k, 1), padding="same", use_bias=False, name=f"{prefix}_conv2"
            )(b)
        b = layers.BatchNormalization(axis=bn_axis, epsilon=1.001e-5, name=f"{prefix}_bn")(b)
        b = layers.Activation("relu", name=f"{prefix}_relu")(b)
        branches.append(b)

    x = layers.Concatenate(axis=bn_axis, name=f"{name}_concat")(branches)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_fuse_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=1.001e-5, name=f"{name}_fuse_bn")(x)
    return layers.Activation("relu", name=f"{name}_out")(x)
