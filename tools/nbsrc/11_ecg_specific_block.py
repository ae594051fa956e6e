"""
Title: 11 · The ECG-specific multi-scale block
Description: Builds the multi-scale ECG block on its own, checks its shapes, and looks at how its
    parallel branches respond to a real ECG image.
What you will learn:
- why ECG features live at several time scales (QRS tens of ms, P/T waves, RR intervals)
- how parallel 3/5/9/15 branches (factorised as 1xk then kx1) cover them cheaply
- where the block taps the backbone (stride 4) and how its output joins the model
- how to check your own block against the library's (shape, parameter count, and outputs with the
  same weights)
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
import matplotlib.pyplot as plt
import numpy as np

from ecgkit import contract
from ecgkit.data import render
from ecgkit.data.datasets import load_beats
from ecgkit.data.render import render_batch
from ecgkit.model.backbone import resnet50_backbone
from ecgkit.model.ecg_block import DEFAULT_KERNEL_SIZES, ecg_multiscale_block
from ecgkit.params import record_list, weights_arg
from ecgkit.workbook import nb

NOTEBOOK = "11_ecg_specific_block"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
WEIGHTS_ARG = weights_arg(WEIGHTS)  # what the builders take: None for "none"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)

# %% [markdown]
"""
## 1. The block

The block sits on the stride-4 map `conv2_block3_out`, whose cells each cover a stretch of the
3-s window; a k-wide kernel covers k of them. How long those stretches are depends on the image
size, so the cell below computes them for this run's `IMAGE_SIZE` (the kernel's receptive field
in the image is wider still: the backbone's layers before it add theirs). The block projects
the features down (1x1), runs the branches in parallel, concatenates them and fuses with a 1x1
convolution. Sublayers carry hierarchical names (`ecg_block_9x9_conv1`), so the summary reads
like the diagram.
"""

# %%
stride4_cells = -(-IMAGE_SIZE // 4)  # conv2_block3_out's width (section 3 checks it)
cell_ms = render.ms_per_cell(stride4_cells)
print(
    f"At {IMAGE_SIZE} px one pixel is {render.ms_per_pixel(IMAGE_SIZE):.1f} ms of signal; "
    f"the stride-4 map is {stride4_cells} cells wide, one cell = {cell_ms:.0f} ms."
)
for k in DEFAULT_KERNEL_SIZES:
    print(f"  a {k}-wide kernel spans {k * cell_ms:.0f} ms: {render.what_spans(k * cell_ms)}")

# %%
nb.show_source(ecg_multiscale_block)

# %% [markdown]
"""
## 2. Standalone, shape-checked
"""

# %%
x = keras.Input((56, 56, 256), name="features")
y = ecg_multiscale_block(x, filters=128, name="ecg_block")
block = keras.Model(x, y, name="ecg_block_alone")
print(tuple(y.shape), f"{block.count_params():,} parameters")
assert tuple(y.shape) == (None, 56, 56, 128)  # same grid, `filters` channels
branch_names = [f"ecg_block_{k}x{k}_relu" for k in DEFAULT_KERNEL_SIZES]
assert all(block.get_layer(n) is not None for n in branch_names)
block.summary(line_length=100)

# %% [markdown]
"""
## 3. Branch responses on a real image

The block on the backbone's stride-4 features, as the factory places it. The maps show the
mean response of each branch; wider kernels give smoother responses that spread along the
time axis. (With `WEIGHTS: none` and no training the weights are random: the point is the
receptive field of each branch, not a learned detector.)
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
c2 = resnet50_backbone(inputs, weights=WEIGHTS_ARG)["conv2_block3_out"]
out = ecg_multiscale_block(c2, filters=128, name="ecg_block")
placed = keras.Model(inputs, out)
probe = keras.Model(inputs, [placed.get_layer(n).output for n in branch_names] + [out])
responses = probe.predict(images, verbose=0)
assert c2.shape[2] == stride4_cells, "section 1's cell size was computed for another width"
for r in responses:
    assert r.shape[1:3] == tuple(c2.shape[1:3])
fig, axes = plt.subplots(
    len(images), len(branch_names) + 2, figsize=(13, 2.1 * len(images)), squeeze=False
)
for i in range(len(images)):
    axes[i, 0].imshow(images[i])
    axes[i, 0].set_title(pick_names[i], fontsize=9)
    for j, (name, r) in enumerate(zip(branch_names + ["ecg_block_out"], responses), 1):
        axes[i, j].imshow(r[i].mean(axis=-1), cmap="viridis")
        axes[i, j].set_title(name.replace("ecg_block_", ""), fontsize=8)
for ax in axes.ravel():
    ax.set_axis_off()
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "branch_responses")

# %%
smoothness = {
    name: float(np.abs(np.diff(r.mean(axis=-1), axis=2)).mean())
    for name, r in zip(branch_names, responses)
}
print(
    "mean horizontal change of each branch map (smaller = smoother):",
    {k: round(v, 4) for k, v in smoothness.items()},
)
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "block_params": int(block.count_params()),
        "output_shape": list(y.shape[1:]),
        "kernel_sizes": list(DEFAULT_KERNEL_SIZES),
        "branch_map_shape": list(responses[0].shape[1:]),
        "branch_smoothness": smoothness,
        "stride4_cell_ms": cell_ms,
        "kernel_span_ms": {k: k * cell_ms for k in DEFAULT_KERNEL_SIZES},
    },
)

# %% [markdown]
"""
## Summary

- ECG evidence spans scales; parallel branches with 3/5/9/15 kernels see several at once.
  What each spans in milliseconds follows the image size (section 1 printed it for this run).
- After training (notebook 20), notebook 31 reads the trained block's branches on test beats:
  which scales the network relies on for each class.
- Factorising kxk as 1xk + kx1 keeps the wide branches cheap.
- The block keeps the grid and returns `filters` channels; it feeds the feature pyramid (14).

## Exercises

1. Write `my_ecg_block(x, filters, name)`: a 1x1 reduction to `filters // 2`, four branches
   (3, 5, 9, 15; each a 1xk then kx1 convolution with `filters // 4` channels, batch norm, ReLU),
   concatenation, and a 1x1 fusion to `filters` with batch norm and ReLU. The cell below checks
   it against the library's block: same output shape, same number of parameters, and the same
   outputs once it holds the library's weights.
2. Which branch costs the most parameters? Compute it from `block.get_layer(...).count_params()`.
"""


# %%
def my_ecg_block(x, filters, name="mine"):
    raise NotImplementedError("exercise 1: write the block here")


try:
    result = nb.check_block(my_ecg_block, ecg_multiscale_block, (56, 56, 256), filters=128)
    print("same output shape, parameter count and outputs as the library:", result["reference"])
except NotImplementedError as todo:
    print("not written yet:", todo)
