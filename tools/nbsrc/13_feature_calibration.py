"""
Title: 13 · Feature calibration
Description: Builds the feature-calibration module on its own, checks its shapes, and looks at its
    component detector maps and channel gates on real ECG images.
What you will learn:
- how learned detectors (intended: P wave, QRS, T wave, ST segment) pool features
- how per-component descriptors become channel gates (squeeze-and-excitation, component-aware)
- what the module cannot guarantee: nothing supervises the detectors with wave positions
Prerequisites:
- 12_attention
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
from ecgkit.model import calibration
from ecgkit.model.attention import attention_maps
from ecgkit.model.backbone import resnet50_backbone
from ecgkit.params import record_list, weights_arg
from ecgkit.workbook import nb
from ecgkit.workbook.plots import plot_detector_maps

NOTEBOOK = "13_feature_calibration"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
WEIGHTS_ARG = weights_arg(WEIGHTS)  # what the builders take: None for "none"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)

# %% [markdown]
"""
## 1. The module

The docstring says what it computes, step by step, and what it cannot promise: the
"P-wave detector" is a P-wave detector by intention only. Read the source:
"""

# %%
nb.show_source(calibration.feature_calibration)

# %% [markdown]
"""
## 2. Standalone, shape-checked (on the 7 x 7 grid of a 224-px image)
"""

# %%
x = keras.Input((7, 7, 2048), name="features")
y = calibration.feature_calibration(x, n_components=4, name="calibration")
block = keras.Model(x, y, name="calibration_alone")
det_shape = tuple(block.get_layer("calibration_detector_maps").output.shape)
print("output", tuple(y.shape), "detector maps", det_shape, f"{block.count_params():,} parameters")
assert tuple(y.shape) == (None, 7, 7, 2048) and det_shape == (None, 7, 7, 4)
print("components (by intention):", calibration.COMPONENT_NAMES)

# %% [markdown]
"""
## 3. Detector maps on real images

Each detector map is a softmax over positions (it sums to 1 over the grid), so it says where
that detector fires most. Untrained here; notebook 31 shows them after training. Whether a
position can hold one wave depends on the image size: the cell after the figure says how much
signal one position covers in this run.
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
model = keras.Model(inputs, calibration.feature_calibration(top, name="calibration"))
detectors = attention_maps(model, images)["calibration_detector_maps"]
sums = detectors.sum(axis=(1, 2))
assert np.allclose(sums, 1.0, atol=1e-3), "each detector map is a softmax over positions"
fig = plot_detector_maps(images, detectors, calibration.COMPONENT_NAMES, titles=pick_names)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "detector_maps")
fig

# %%
positions = int(top.shape[1] * top.shape[2])
position_ms = render.ms_per_cell(int(top.shape[2]))
print(
    f"At {IMAGE_SIZE} px each detector chooses among {positions} positions; one position "
    f"covers {position_ms:.0f} ms of the 3-s window ({render.what_spans(position_ms)}), "
    "so a 'P-wave detector' can at best point at the stretch that holds the P wave."
)

# %%
gates = keras.Model(model.inputs, model.get_layer("calibration_out").output).predict(
    images, verbose=0
)
before = keras.Model(model.inputs, top).predict(images, verbose=0)
ratio = np.divide(gates, before, out=np.ones_like(gates), where=np.abs(before) > 1e-6)
print(f"calibration keeps {ratio.mean():.2f} of each activation on average (gates in 0..1)")
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "block_params": int(block.count_params()),
        "detector_maps_shape": list(det_shape[1:]),
        "components": list(calibration.COMPONENT_NAMES),
        "detector_sum": float(sums.mean()),
        "mean_gate": float(ratio.mean()),
        "positions": positions,
        "position_ms": position_ms,
    },
)

# %% [markdown]
"""
## Summary

- Detectors -> softmax maps -> component descriptors -> channel gates -> recalibrated features.
- It is squeeze-and-excitation with a component-aware squeeze; shape in = shape out.
- The component names are intentions; check the maps after training (notebook 31) before
  trusting them, and remember how much signal one position covers at this image size.

## Exercises

1. Write `my_calibration(x, n_components, name)` following the docstring's five steps. The cell
   below compares it with the library: same output shape, parameter count, and outputs with
   the library's weights.
2. Build the module with `n_components=8`: how many parameters does that add?
"""


# %%
def my_calibration(x, n_components=4, name="mine"):
    raise NotImplementedError("exercise 1: write the module here")


try:
    result = nb.check_block(
        my_calibration, calibration.feature_calibration, (7, 7, 2048), n_components=4
    )
    print("same output shape, parameter count and outputs as the library:", result["reference"])
except NotImplementedError as todo:
    print("not written yet:", todo)
