"""
Title: 03 · ECG-safe augmentation
Description: Shows each augmentation on the same ECG images, why flips are wrong for ECGs, and how
    strong is too strong, with an interactive strength preview.
What you will learn:
- which image augmentations are safe for ECG strips (small rotation, shift, zoom, contrast,
  brightness)
- why horizontal and vertical flips produce non-physiological signals
- how augmentation strength translates into millimetres and millivolts on the paper
- the signal-level augmentation (baseline wander, noise, amplitude) applied before drawing
Prerequisites:
- 02_signals_to_images
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
MAX_BEATS_PER_RECORD: int = 40  # cap of beats per record and class (0: no cap); table default 0
AUGMENT_STRENGTH: float = 1.0  # ECG-safe augmentation strength (0: off, 1: default)
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data import augment, render
from ecgkit.data.datasets import load_beats
from ecgkit.params import record_list
from ecgkit.workbook import nb, widgets
from ecgkit.workbook.plots import plot_image_grid

NOTEBOOK = "03_ecg_augmentation"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
STRENGTHS = [0.0, 0.5, 1.0, 2.0, 3.0]  # strengths compared below (3 is the library's maximum)

# %% [markdown]
"""
## 1. The same images throughout

One beat of each class present, drawn as in notebook 02. Every augmentation below is applied
to exactly these images, so differences come from the augmentation only.
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
idx = [
    int(rng.choice(np.flatnonzero(beats.labels == k)))
    for k in range(len(contract.CLASSES))
    if (beats.labels == k).any()
]
names = [contract.CLASSES[beats.labels[i]] for i in idx]
images, _ = render.render_batch(beats.windows[idx], IMAGE_SIZE, grid=GRID)
print(images.shape, images.dtype, names)
assert images.shape == (len(idx), IMAGE_SIZE, IMAGE_SIZE, 3)
plot_image_grid(images, names, ncols=len(idx))

# %% [markdown]
"""
## 2. Why no flips

Time runs left to right and positive voltage points up. A **horizontal flip** plays the heart
backwards: the P wave comes after the QRS, and the RR intervals swap sides, so a premature beat
looks late. A **vertical flip** inverts every wave: an inverted QRS can look like a different
beat class. Neither is an ECG a heart could produce, so training on them teaches the wrong
thing. The library has no flip, on purpose:
"""

# %%
flipped = np.concatenate([images[:1], images[:1, :, ::-1], images[:1, ::-1]])
plot_image_grid(
    flipped,
    ["original", "horizontal flip: time reversed", "vertical flip: polarity inverted"],
    ncols=3,
)

# %%
aug = augment.ecg_augmentation(1.0, seed=SEED)
layer_types = [type(layer).__name__ for layer in aug.layers]
print(layer_types)
assert not any("Flip" in t for t in layer_types), "flips must never be used on ECGs"
nb.show_source(augment.ecg_augmentation)

# %% [markdown]
"""
## 3. Each augmentation alone

Each layer of the pipeline, applied alone at strength 1 (`training=True` makes the random
layers active; at inference they pass images through unchanged):
"""

# %%
x = images.astype("float32")
rows, titles = [], []
for layer in aug.layers:
    out = np.clip(np.asarray(layer(x, training=True)), 0, 255).astype(np.uint8)
    rows.append(out[0])
    titles.append(layer.name.replace("ecg_augment_", ""))
    assert out.shape == images.shape
inference = np.asarray(aug(x, training=False))
assert np.allclose(inference, x), "augmentation must be off at inference"
plot_image_grid(np.stack([images[0]] + rows), ["original"] + titles, ncols=len(rows) + 1)

# %% [markdown]
"""
The training pipeline (`ecgkit.data.batches`) makes the same changes with `augment.augment_images`:
one affine warp per image in OpenCV plus contrast and brightness in NumPy, drawn from the same
ranges (`augment.MAX_*`), with each batch's own random generator, so a run is reproducible on
every Keras backend. On a 2-core CPU it takes about 3 ms per batch of 32 images at 96 px, where
the Keras layers above take about 60 ms on TensorFlow and 140 ms on JAX
(benchmarks/README.md). The Keras layers stay for looking, and for a model that augments on
an accelerator inside its own training step.
"""

# %%
fast = augment.augment_images(images, np.random.default_rng(SEED), strength=1.0)
assert fast.dtype == np.uint8 and fast.shape == images.shape
plot_image_grid(
    np.concatenate([images[:2], fast[:2]]),
    [f"{n}, original" for n in names[:2]] + [f"{n}, augment_images" for n in names[:2]],
    ncols=4,
)

# %% [markdown]
"""
## 4. How strong is too strong?

`strength` scales every range linearly. On the paper, the maximum shift at strength `s` is
`s x 3%` of 75 mm, the zoom is `s x 5%`: at strength 1 that is at most 2.25 mm (0.09 s,
or about one QRS width) and 5% of amplitude. At strength 3 a beat can move 6.75 mm (0.27 s)
and amplitudes change by 15%, enough to move the R peak of the classified beat noticeably
off-centre and to blur the 0.12 s QRS-width criterion that separates V beats from N.
"""

# %%
geometry = render.paper_geometry(IMAGE_SIZE)
limits = pd.DataFrame(
    {
        "max shift (mm)": [s * augment.MAX_TRANSLATION * geometry["width_mm"] for s in STRENGTHS],
        "max shift (s)": [
            s * augment.MAX_TRANSLATION * geometry["width_mm"] / contract.PAPER_SPEED_MM_S
            for s in STRENGTHS
        ],
        "max zoom (%)": [100 * s * augment.MAX_ZOOM for s in STRENGTHS],
        "max rotation (deg)": [s * augment.MAX_ROTATION_DEG for s in STRENGTHS],
    },
    index=pd.Index(STRENGTHS, name="strength"),
)
limits.round(3)

# %%
previews = [widgets.augmentation_preview(images, s, seed=SEED) for s in STRENGTHS]
change = [float(np.abs(p.astype(float) - images).mean()) for p in previews]
assert change[0] == 0.0 and change[-1] > change[1], "a stronger augmentation must change more"
grid_images = np.concatenate([p[:2] for p in previews])
grid_titles = [f"{names[j]}, strength {s:g}" for s in STRENGTHS for j in range(min(2, len(names)))]
fig = plot_image_grid(grid_images, grid_titles, ncols=min(2, len(names)) * 2)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "strengths")
fig

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(STRENGTHS, change, marker="o")
ax.axvline(AUGMENT_STRENGTH, color="grey", ls="--", label=f"AUGMENT_STRENGTH {AUGMENT_STRENGTH:g}")
ax.set(xlabel="strength", ylabel="mean |pixel change|", title="how much the images change")
ax.legend()
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "change_vs_strength")

# %% [markdown]
"""
## 5. Preview the strength yourself

`ecgkit.workbook.widgets.augmentation_widget` is a slider over `augmentation_preview`; it redraws
when you release the slider. (In a batch run the widget is created but nobody moves it.)
"""

# %%
preview = widgets.augmentation_widget(images, strength=AUGMENT_STRENGTH, seed=SEED)
preview

# %% [markdown]
"""
## 6. Augmenting the signal before drawing

Images rendered on the fly can also be augmented **as signals**: a slow baseline wander
(respiration), a little noise, and an amplitude scale that never changes sign (polarity is
diagnostic). The R peak stays in the centre.
"""

# %%
nb.show_source(augment.signal_augment)

# %%
window = beats.windows[idx[0]]
t = (np.arange(contract.WINDOW_SAMPLES) - contract.BEFORE_SAMPLES) / contract.FS
fig, ax = plt.subplots(figsize=(8, 2.5))
ax.plot(t, window, color="k", lw=1, label="original")
for k in range(3):
    out = augment.signal_augment(
        window, np.random.default_rng(SEED + k), strength=max(AUGMENT_STRENGTH, 1.0)
    )
    assert out.shape == window.shape
    ax.plot(t, out, lw=0.7, alpha=0.8, label=f"augmented {k + 1}")
ax.set(xlabel="time from the R peak (s)", ylabel="mV")
ax.legend(fontsize=7)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "signal_augment")

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "layers": layer_types,
        "classes_shown": names,
        "image_shape": list(images.shape[1:]),
        "strengths": STRENGTHS,
        "mean_abs_change": change,
        "max_shift_mm_at_1": float(limits.loc[1.0, "max shift (mm)"]),
        "augment_strength": AUGMENT_STRENGTH,
        "widget_change_at_strength": preview.data["mean_abs_change"],
    },
)

# %% [markdown]
"""
## Summary

- Safe: small rotation, shift, zoom, contrast and brightness, all scaled by one `strength`.
- Never: flips (time reversal, polarity inversion) or large geometric changes.
- At strength 1 a beat moves at most ~2 mm (0.09 s); by strength 3 the changes reach the size of
  the features that separate classes.
- Signal-level augmentation perturbs baseline, noise and amplitude before drawing.

## Exercises

1. Apply `keras.layers.RandomFlip("horizontal")` to `images` and describe what happened to the
   RR intervals of the S beat.
2. With the preview widget, find the smallest strength at which you would no longer trust the
   QRS width. Compare with the `limits` table.
3. Build `augment.ecg_augmentation(0.0)`: what does it contain, and why is that useful?
"""
