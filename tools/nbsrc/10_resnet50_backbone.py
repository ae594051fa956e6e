"""
Title: 10 · The ResNet50 backbone
Description: Builds the ResNet50 feature extractor that every model here starts from, and looks at
    its four stage outputs on a real ECG image.
What you will learn:
- how ResNet50 is organised: a stem and four stages of bottleneck blocks
- why preprocessing lives inside the model (raw 0..255 images in)
- the stage outputs (stride 4, 8, 16, 32) that the enhancements tap
- how ImageNet weights are handled offline
Prerequisites:
- 02_signals_to_images
- basic Keras (layers, functional models)
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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data import render
from ecgkit.data.datasets import load_beats
from ecgkit.data.render import render_batch
from ecgkit.model import backbone
from ecgkit.params import record_list, weights_arg
from ecgkit.workbook import nb

NOTEBOOK = "10_resnet50_backbone"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
WEIGHTS_ARG = weights_arg(WEIGHTS)  # what the builders take: None for "none"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)

# %% [markdown]
"""
## 1. The backbone function

`resnet50_backbone(input_tensor, weights)` puts Keras's ResNet50 (without its classifier) on
an input tensor, with the ImageNet ("caffe") preprocessing as a layer in front, so the model
takes raw 0..255 images and nobody has to remember to preprocess. It returns the four stage
outputs by name. ImageNet weights are used when cached or downloadable; offline, `"imagenet"`
fails within seconds with a clear error, and `WEIGHTS: none` trains from scratch.
"""

# %%
nb.show_source(backbone.resnet50_backbone)

# %%
keras.utils.set_random_seed(SEED)  # the same random weights in every run (WEIGHTS: none)
inputs = keras.Input(INPUT_SHAPE, name="image")
stages = backbone.resnet50_backbone(inputs, weights=WEIGHTS_ARG)
extractor = keras.Model(inputs, [stages[s] for s in backbone.STAGE_OUTPUTS], name="resnet50_stages")
shapes = {s: tuple(stages[s].shape[1:]) for s in backbone.STAGE_OUTPUTS}
pd.DataFrame(
    [
        (s, shp, IMAGE_SIZE // shp[0], round(render.ms_per_cell(shp[1])))
        for s, shp in shapes.items()
    ],
    columns=["stage output", "shape (H, W, C)", "stride", "one cell (ms of signal)"],
)

# %%
for s, stride in zip(backbone.STAGE_OUTPUTS, (4, 8, 16, 32)):
    assert shapes[s][0] == -(-IMAGE_SIZE // stride), (s, shapes[s])
assert [shapes[s][2] for s in backbone.STAGE_OUTPUTS] == [256, 512, 1024, 2048]
print(f"{extractor.count_params():,} parameters; {len(extractor.layers)} layers")

# %% [markdown]
"""
The summary reads like the paper: `conv2_block1` ... `conv5_block3`, each block a 1x1 / 3x3 /
1x1 bottleneck with a shortcut. (Only the first and last lines are printed here.)
"""

# %%
lines = []
extractor.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=100)
print("\n".join(lines[:12] + ["..."] + lines[-6:]))

# %% [markdown]
"""
## 2. Stage outputs on a real ECG image

A real beat of each class, through the backbone. Each stage halves the resolution and doubles
the channels; the mean activation over channels shows *where* each stage responds. With
`WEIGHTS: none` the weights are random, so the maps show the receptive field growing rather
than learned ECG features; with ImageNet weights edges and strokes light up.
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
outputs = extractor.predict(images, verbose=0)
for s, out in zip(backbone.STAGE_OUTPUTS, outputs):
    assert out.shape == (len(images),) + shapes[s] and np.isfinite(out).all()
fig, axes = plt.subplots(len(images), 5, figsize=(11, 2.2 * len(images)), squeeze=False)
for i in range(len(images)):
    axes[i, 0].imshow(images[i])
    axes[i, 0].set_title(pick_names[i], fontsize=9)
    for j, (s, out) in enumerate(zip(backbone.STAGE_OUTPUTS, outputs), 1):
        axes[i, j].imshow(out[i].mean(axis=-1), cmap="magma")
        axes[i, j].set_title(f"{s}\n{out.shape[1]}x{out.shape[2]}", fontsize=7)
for ax in axes.ravel():
    ax.set_axis_off()
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "stage_outputs")

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "image_size": IMAGE_SIZE,
        "weights": WEIGHTS,
        "params": int(extractor.count_params()),
        "stage_shapes": {s: list(v) for s, v in shapes.items()},
        "stage_mean_activation": {
            s: float(o.mean()) for s, o in zip(backbone.STAGE_OUTPUTS, outputs)
        },
    },
)

# %% [markdown]
"""
## Summary

- ResNet50 = stem + 4 stages of bottleneck blocks; outputs at stride 4, 8, 16, 32 with 256,
  512, 1024, 2048 channels (`STAGE_OUTPUTS`).
- Preprocessing is inside the model: raw 0..255 images in, everywhere (training, evaluation,
  the CLI).
- ImageNet weights are optional and handled offline; every enhancement in 11-14 taps these
  stage outputs.

## Exercises

1. Build the backbone at 64, 96 and 224 px. What is the size of `conv5_block3_out` for each,
   and what is the smallest input ResNet50 accepts?
2. Count the parameters of each stage (layers whose name starts with `conv2_`, `conv3_`...).
   Where do most of the 23.6 M parameters sit?
"""
