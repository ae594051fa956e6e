"""
Title: 14 · Pyramid fusion, the head, and the full model
Description: Builds the feature pyramid and the classification head on their own, then the full
    enhanced ResNet50, with a cost table (parameters, FLOPs) beside the baseline.
What you will learn:
- how top-down pyramid fusion combines fine (stride 4) and coarse (stride 32) features
- the classification head: dense layers, batch norm, dropout, a float32 softmax
- how the factory assembles backbone + enhancements + head, each switchable
- what each enhancement costs in parameters and FLOPs
Prerequisites:
- 10_resnet50_backbone
- 11_ecg_specific_block
- 12_attention
- 13_feature_calibration
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
import pandas as pd

from ecgkit import contract
from ecgkit.data.datasets import load_beats
from ecgkit.data.render import render_batch
from ecgkit.model import factory
from ecgkit.model.cost import count_flops, count_params
from ecgkit.model.head import classification_head
from ecgkit.model.pyramid import pyramid_fusion
from ecgkit.params import record_list, weights_arg
from ecgkit.workbook import nb

NOTEBOOK = "14_pyramid_and_head"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
WEIGHTS_ARG = weights_arg(WEIGHTS)  # what the builders take: None for "none"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)

# %% [markdown]
"""
## 1. Pyramid fusion

Each backbone level is projected to the same number of channels (1x1 "lateral"), the coarser
level is upsampled and added to the finer one (top-down), and every level is pooled and
concatenated. The ECG stream of notebook 11 joins at the finest level.
"""

# %%
nb.show_source(pyramid_fusion)

# %%
sizes = [56, 28, 14, 7]
feats = [
    keras.Input((s, s, c), name=f"c{i + 2}")
    for i, (s, c) in enumerate(zip(sizes, (256, 512, 1024, 2048)))
]
ecg = keras.Input((56, 56, 128), name="ecg_stream")
fused = pyramid_fusion(feats, ecg_stream=ecg, channels=128, name="fpn")
fpn = keras.Model(feats + [ecg], fused, name="fpn_alone")
print(tuple(fused.shape), f"{fpn.count_params():,} parameters")
assert tuple(fused.shape) == (None, 128 * 4)

# %% [markdown]
"""
## 2. The head
"""

# %%
nb.show_source(classification_head)

# %%
v = keras.Input((512,), name="pooled")
probs = classification_head(
    v, num_classes=len(contract.CLASSES), units=(512, 256), dropout=0.5, name="head"
)
head = keras.Model(v, probs, name="head_alone")
out = head(np.random.default_rng(SEED).normal(size=(3, 512)).astype("float32"), training=False)
assert tuple(probs.shape) == (None, 5) and np.allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-5)
assert (
    head.layers[-1].name == "predictions"
    and head.layers[-1].dtype_policy.compute_dtype == "float32"
)
print(
    f"{head.count_params():,} parameters; rows sum to 1; float32 output even under mixed precision"
)

# %% [markdown]
"""
## 3. The full model and what it costs

`create_enhanced_resnet50` is one generic builder with four switches (`ENHANCEMENTS`);
`create_baseline_resnet50` is the same builder with every switch off (ResNet50 + pooling + the
same head), so the comparison is fair.
"""

# %%
nb.show_source(factory.create_enhanced_resnet50)

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
variants = {
    "baseline": dict.fromkeys(factory.ENHANCEMENTS, False),
    "enhanced": dict.fromkeys(factory.ENHANCEMENTS, True),
}
variants.update(
    {f"+{e} only": {k: k == e for k in factory.ENHANCEMENTS} for e in factory.ENHANCEMENTS}
)
rows, models = [], {}
for name, switches in variants.items():
    m = factory.create_enhanced_resnet50(
        INPUT_SHAPE, len(contract.CLASSES), weights=WEIGHTS_ARG, **switches
    )
    models[name] = m
    rows.append(
        {
            "model": name,
            "parameters": count_params(m),
            "trainable": count_params(m, trainable=True),
            "GFLOPs per image": count_flops(m) / 1e9,
        }
    )
cost = pd.DataFrame(rows).set_index("model")
base = cost.loc["baseline"]
cost["params vs baseline"] = (cost["parameters"] / base["parameters"]).round(3)
cost["FLOPs vs baseline"] = (cost["GFLOPs per image"] / base["GFLOPs per image"]).round(3)
cost.round(3)

# %%
full = models["enhanced"]
probs = full.predict(images, verbose=0)
assert probs.shape == (len(images), len(contract.CLASSES))
assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
assert cost.loc["enhanced", "parameters"] > cost.loc["baseline", "parameters"]
print("Grad-CAM layer:", factory.gradcam_layer_name(full))
lines = []
full.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=110)
print("\n".join(lines[-8:]))

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "fpn_params": int(fpn.count_params()),
        "fpn_output": list(fused.shape[1:]),
        "head_params": int(head.count_params()),
        "cost": cost[["parameters", "GFLOPs per image"]].to_dict(orient="index"),
        "enhanced_output_shape": list(probs.shape),
        "gradcam_layer": factory.gradcam_layer_name(full),
    },
)

# %% [markdown]
"""
## Summary

- The pyramid adds fine, early features (and the ECG stream) to the pooled top features.
- The head ends in a float32 softmax named `predictions`, safe under mixed precision.
- The cost table shows what each enhancement adds over the baseline; whether it *helps* is the
  question of notebook 32.

## Exercises

1. Write `my_head(x, num_classes, units, dropout, name)` (Dense without bias -> batch norm ->
   ReLU -> dropout, per entry of `units`, then Dense(num_classes) and a float32 softmax). The
   cell below compares it with the library.
2. Which enhancement is the most expensive in FLOPs? In parameters? Why do they differ?
"""


# %%
def my_head(x, num_classes=5, units=(512, 256), dropout=0.5, name="mine"):
    raise NotImplementedError("exercise 1: write the head here")


try:
    result = nb.check_block(my_head, classification_head, (512,), num_classes=5)
    print("same output shape, parameter count and outputs as the library:", result["reference"])
except NotImplementedError as todo:
    print("not written yet:", todo)
