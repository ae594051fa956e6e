"""
Title: 02 · From signals to images
Description: Turns each annotated beat into a 3-second window and draws it as an ECG strip on
    standard ECG paper, the image the network will see.
What you will learn:
- how a beat-centred window is cut (3 s, R peak in the middle, baseline removed)
- the fixed paper scales (25 mm/s, 10 mm/mV) and why there is no per-image stretching
- what the 1 mm / 5 mm grid adds and what it costs at small image sizes
- what beats of each AAMI class look like as images
Prerequisites:
- 01_data_exploration
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
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data import render
from ecgkit.data.datasets import load_beats
from ecgkit.data.records import beat_windows, read_record
from ecgkit.params import record_list
from ecgkit.workbook import nb
from ecgkit.workbook.plots import plot_image_grid

NOTEBOOK = "02_signals_to_images"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
DATA = nb.data_dir(DATA_DIR)
PER_CLASS = 4  # example images per class

# %% [markdown]
"""
## 1. Windows

Each example is the 3 s of signal centred on an annotated R peak (`contract.WINDOW_BEFORE_S`
and `WINDOW_AFTER_S`, 1.5 s each, 1080 samples at 360 Hz), so the neighbouring beats and the
RR intervals are visible. The window's median (its baseline) is subtracted. Windows cut by the
record edge are skipped and counted, never padded.
"""

# %%
nb.show_source(beat_windows)

# %%
record = read_record(
    DATA,
    "208" if (DATA / "208.hea").exists() else sorted(p.stem for p in DATA.glob("*.hea"))[0],
    lead=LEAD,
)
windows, kept, skips = beat_windows(record)
print(
    f"record {record.name}: {len(record.samples)} beats -> {windows.shape} windows; "
    f"skipped {dict(skips)}"
)
assert windows.shape[1] == contract.WINDOW_SAMPLES == 1080
assert np.allclose(np.median(windows, axis=1), 0, atol=1e-5)  # baseline removed

# %%
t = (np.arange(contract.WINDOW_SAMPLES) - contract.BEFORE_SAMPLES) / contract.FS
fig, ax = plt.subplots(figsize=(8, 2.5))
for i in range(3):
    ax.plot(t, windows[i], lw=0.8, label=f"beat {kept[i]} ({record.symbols[kept[i]]})")
ax.axvline(0, color="grey", ls="--", lw=0.8)
ax.set(xlabel="time from the R peak (s)", ylabel="mV")
ax.legend(fontsize=8)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "windows")

# %% [markdown]
"""
## 2. Scales: the paper, not the pixels

On paper an ECG is drawn at 25 mm/s and 10 mm/mV. The renderer keeps those scales fixed for
every image: 3 s are 75 mm wide; the paper is square, so the image is 75 mm = 7.5 mV high, from
-3.0 mV to +4.5 mV around the baseline. Amplitude is diagnostic (a tall, wide QRS is a
ventricular beat), so there is **no per-image min-max stretching**, which would make a 0.5 mV
and a 3 mV beat look the same. Samples outside the range are clipped and counted.
"""

# %%
geometry = render.paper_geometry(IMAGE_SIZE)
pd.Series(geometry, name=f"{IMAGE_SIZE} px").to_frame()

# %%
nb.show_source(render.render_batch)

# %% [markdown]
"""
## 3. The paper grid

The grid is the usual 1 mm (minor) and 5 mm (major) lines. At 224 px a millimetre is 3 px; at
64 px it is under 1 px, so the renderer leaves the minor grid out when its lines would be less
than 2 px apart. Here is the same beat at three sizes, with and without the grid:
"""

# %%
beat = windows[0]
sizes = sorted({64, 128, IMAGE_SIZE})
images = [render.render_ecg_image(beat, s, grid=g) for g in (True, False) for s in sizes]
titles = [f"{s} px, {'grid' if g else 'no grid'}" for g in (True, False) for s in sizes]
for img, s in zip(images, sizes * 2):
    assert img.shape == (s, s, 3) and img.dtype == np.uint8
fig, axes = plt.subplots(2, len(sizes), figsize=(3 * len(sizes), 6.2))
for ax, img, title in zip(axes.ravel(), images, titles):
    ax.imshow(img, interpolation="nearest")  # each image shown at the same display size
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "sizes_and_grid")

# %% [markdown]
"""
The renderer draws the grid once per size and copies it, and reduces each pixel column to the
minimum and maximum of its samples before one OpenCV `polylines` call, so a narrow QRS peak is
never lost between pixels. How fast is it?
"""

# %%
t0 = time.perf_counter()
batch, clipped = render.render_batch(windows[:500], IMAGE_SIZE, grid=GRID)
per_image_ms = 1000 * (time.perf_counter() - t0) / len(batch)
print(
    f"{len(batch)} images of {IMAGE_SIZE} px in {per_image_ms:.2f} ms each; "
    f"{clipped} windows clipped"
)
assert batch.shape == (len(batch), IMAGE_SIZE, IMAGE_SIZE, 3)

# %% [markdown]
"""
## 4. Image examples per class

The network sees images like these. Note what distinguishes the classes: S beats come early
with a normal-looking QRS; V beats are wide and tall, with no P wave; F beats are a mix of the
two; Q (paced) beats start with a pacemaker spike.
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
picked, titles = [], []
for k, cls in enumerate(contract.CLASSES):
    idx = np.flatnonzero(beats.labels == k)
    for i in rng.permutation(idx)[:PER_CLASS]:
        picked.append(i)
        m = beats.meta.iloc[i]
        titles.append(f"{cls} ({m['symbol']}) rec {m['record']}")
examples, n_clipped = render.render_batch(beats.windows[picked], IMAGE_SIZE, grid=GRID)
print(f"{len(beats)} beats loaded; {len(picked)} examples, {n_clipped} clipped")
fig = plot_image_grid(examples, titles, ncols=PER_CLASS)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "examples_per_class")
fig

# %%
clip_share = float(render.clipped_windows(beats.windows).mean())  # no rendering needed
print(f"{clip_share:.1%} of windows touch the -3.0/+4.5 mV limits (drawn clipped)")
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "image_size": IMAGE_SIZE,
        "grid": GRID,
        "window_samples": int(windows.shape[1]),
        "record_windows": int(len(windows)),
        "record_skips": dict(skips),
        "px_per_mm": geometry["px_per_mm"],
        "mv_range": [geometry["mv_low"], geometry["mv_high"]],
        "render_ms_per_image": per_image_ms,
        "examples": len(picked),
        "examples_per_class": {
            c: int(sum(t.startswith(c + " ") for t in titles)) for c in contract.CLASSES
        },
        "example_shape": list(examples.shape),
        "clipped_share": clip_share,
        "beats": len(beats),
        "class_counts": beats.class_counts(),
    },
)

# %% [markdown]
"""
## Summary

- One example = 3 s centred on an R peak, baseline removed; edge windows are skipped, counted.
- Fixed paper scales (25 mm/s, 10 mm/mV, square paper): amplitude and timing mean the same in
  every image; out-of-range samples are clipped and counted, never rescaled.
- The grid is scaled into the image; the 1 mm grid disappears below about 150 px.
- Rendering is fast enough to draw images on the fly during training (`signal_dataset`).

## Exercises

1. Render the same beat with `render_ecg_image(beat, 224)` and with a min-max stretched copy
   (`(beat - beat.min()) / np.ptp(beat) * 3`). Which information is lost by stretching?
2. Find a clipped window (`render_batch(beats.windows[i:i+1])[1] == 1`). Which class and record
   is it?
3. Time `render_batch` for 64, 128 and 224 px. How does the cost grow with the side?
"""
