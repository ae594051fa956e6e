"""
Title: 12 · Channel and spatial attention
Description: Builds the attention block on its own, checks its shapes, and shows its two outputs on
    real ECG images: a weight per channel and a map over the image.
What you will learn:
- channel attention: which feature channels to amplify (average and max pooling, a shared MLP)
- spatial attention: where in the image to look (a 7x7 convolution over pooled channels)
- how to read both maps out of a model by layer name (`attention_maps`)
Prerequisites:
- 10_resnet50_backbone
"""

# %% [markdown]
"""
## Parameters
"""

# %% [parameters]
DATA_DIR: str = ""  # WFDB folder to read; empty: the embedded database in data/mitdb (all 48
#   MIT-BIH records)
RECORDS: str = ""  # comma-separated record names to read from DATA_DIR; empty: every record
LEAD: str = "MLII"  # ECG lead, chosen by name
IMAGE_SIZE: int = 224  # side of the square ECG image in pixels (224: the data contract's,
#   ResNet50's ImageNet size); the profiles set it: smoke 64, cpu 64, demo 64, gpu 224
GRID: bool = True  # draw the ECG-paper grid (1 mm / 5 mm) behind the trace
WEIGHTS: str = "none"  # backbone weights: 'imagenet', 'none', or a weights file path
MAX_BEATS_PER_RECORD: int = 40  # cap of beats per record and class (0: no cap); table default 0
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import keras
import numpy as np

from ecgkit import contract
from ecgkit.data import render
from ecgkit.data.datasets import load_beats
from ecgkit.data.render import render_batch
from ecgkit.model.attention import attention_maps, ecg_attention
from ecgkit.model.backbone import resnet50_backbone
from ecgkit.params import record_list, weights_arg
from ecgkit.workbook import nb
from ecgkit.workbook.plots import plot_attention_maps

NOTEBOOK = "12_attention"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
WEIGHTS_ARG = weights_arg(WEIGHTS)  # what the builders take: None for "none"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)

# %% [markdown]
"""
## 1. The block

Two steps on the top feature map (CBAM style). **Channel**: average- and max-pool each
channel, pass both through a shared two-layer MLP, add, sigmoid: one weight in (0, 1) per
channel (`attention_channel_weights`). **Spatial**: pool across channels (mean and max),
a 7x7 convolution, sigmoid: one weight per position (`attention_spatial_map`). The features
are multiplied by both.
"""

# %%
nb.show_source(ecg_attention)

# %% [markdown]
"""
## 2. Standalone, shape-checked (on the 7 x 7 grid of a 224-px image)
"""

# %%
x = keras.Input((7, 7, 2048), name="features")
y = ecg_attention(x, reduction=16, name="attention")
block = keras.Model(x, y, name="attention_alone")
weights_shape = tuple(block.get_layer("attention_channel_weights").output.shape)
map_shape = tuple(block.get_layer("attention_spatial_map").output.shape)
print(
    "output",
    tuple(y.shape),
    "channel weights",
    weights_shape,
    "spatial map",
    map_shape,
    f"{block.count_params():,} parameters",
)
assert tuple(y.shape) == (None, 7, 7, 2048)
assert weights_shape == (None, 1, 1, 2048) and map_shape == (None, 7, 7, 1)

# %% [markdown]
"""
## 3. Both maps on real images

The block on ResNet50's top stage, as the factory places it, read with
`ecgkit.model.attention.attention_maps`. Untrained (or ImageNet-only) weights give unspecific maps;
notebook 31 shows them after training. The mechanics are what matters here: weights in (0, 1),
one map per image. How fine that map is depends on the image size: the cell after the figure
computes it for this run.
"""

# %%
beats = load_beats(
    DATA_DIR or None,
    records=record_list(RECORDS),
    lead=LEAD,
    max_beats_per_record=MAX_BEATS_PER_RECORD,
    seed=SEED,
    progress=False,
)
rng = np.random.default_rng(SEED)
pick = [
    int(rng.choice(np.flatnonzero(beats.labels == k)))
    for k in range(len(contract.CLASSES))
    if (beats.labels == k).any()
]
pick_names = [contract.CLASSES[beats.labels[i]] for i in pick]
images, _ = render_batch(beats.windows[pick], IMAGE_SIZE, GRID)
keras.utils.set_random_seed(SEED)
print(images.shape, pick_names)

# %%
inputs = keras.Input(INPUT_SHAPE, name="image")
top = resnet50_backbone(inputs, weights=WEIGHTS_ARG)["conv5_block3_out"]
model = keras.Model(inputs, ecg_attention(top, name="attention"), name="backbone_attention")
maps = attention_maps(model, images)
channel, spatial = maps["attention_channel_weights"], maps["attention_spatial_map"]
assert channel.shape == (len(images), 1, 1, 2048) and spatial.shape[-1] == 1
assert ((channel >= 0) & (channel <= 1)).all() and ((spatial >= 0) & (spatial <= 1)).all()
fig = plot_attention_maps(
    images, spatial[..., 0], channel.reshape(len(images), -1), titles=pick_names
)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "attention_maps")
fig

# %%
top_cells = int(top.shape[2])
top_cell_ms = render.ms_per_cell(top_cells)
print(
    f"At {IMAGE_SIZE} px the spatial map is {top_cells} x {top_cells}: one cell = "
    f"{top_cell_ms:.0f} ms of the 3-s window ({render.what_spans(top_cell_ms)}): "
    f"spatial attention chooses among {top_cells} stretches of time across the window."
)

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "block_params": int(block.count_params()),
        "channel_weights_shape": list(weights_shape[1:]),
        "spatial_map_shape": list(map_shape[1:]),
        "channel_weight_range": [float(channel.min()), float(channel.max())],
        "spatial_range": [float(spatial.min()), float(spatial.max())],
        "top_map_cells": top_cells,
        "top_cell_ms": top_cell_ms,
    },
)

# %% [markdown]
"""
## Summary

- Channel attention reweights *what* (2048 weights); spatial attention reweights *where*
  (one map over the stride-32 grid: 7 x 7 at 224 px, 2 x 2 at 64 px).
- Both are sigmoid gates, so they can only attenuate or keep; named layers make them readable.
- One cell of the stride-32 map covers the 3-s window divided by its width (section 3
  printed it for this run): spatial attention picks stretches of time, not individual waves.
- Notebook 31 reads the trained model's maps on test beats.

## Exercises

1. Write `my_attention(x, reduction, name)`: channel attention (GAP and GMP through a shared
   Dense(C // reduction, relu) -> Dense(C), added, sigmoid, multiplied) followed by spatial
   attention (channel mean and max concatenated, Conv2D(1, 7, sigmoid), multiplied). The cell
   below compares it with the library: same output shape, parameter count, and outputs with
   the library's weights.
2. Set `reduction=4` and `reduction=32`: how does the parameter count change?
"""


# %%
def my_attention(x, reduction=16, name="mine"):
    raise NotImplementedError("exercise 1: write the block here")


try:
    result = nb.check_block(my_attention, ecg_attention, (7, 7, 2048), reduction=16)
    print("same output shape, parameter count and outputs as the library:", result["reference"])
except NotImplementedError as todo:
    print("not written yet:", todo)
