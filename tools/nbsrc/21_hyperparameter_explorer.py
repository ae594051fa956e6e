"""
Title: 21 · Hyperparameter explorer
Description: Interactive controls for the learning-rate schedule, the focal loss and the
    augmentation strength, plus short training runs started from a button, their loss plotted batch
    by batch beside the noise band of repeated runs.
What you will learn:
- how peak learning rate, epochs and warm-up shape the warm-up cosine schedule
- how focal-loss gamma and alpha reweight easy and hard examples
- how augmentation strength changes the images the network sees
- how to compare short training runs fairly (same data and budget) and how large the noise of a
  repeat with another seed is
Prerequisites:
- 03_ecg_augmentation
- 20_training (what a training run writes)
- JupyterLab with ipywidgets for the interactive parts (they also run in batch)
"""

# %% [markdown]
"""
## Parameters

The explorer starts from these values; the short runs use the same data and budget
(`EXPLORER_STEPS` batches, split into up to three short epochs, each followed by a
validation) so that only the settings you change, and the seed of a repeat, differ.
"""

# %% [parameters]
DATA_DIR: str = ""  # WFDB folder to read; empty: the embedded database in data/mitdb (all 48
#   MIT-BIH records)
RECORDS: str = ""  # comma-separated record names to read from DATA_DIR; empty: every record
SPLIT: str = "inter-patient"  # split protocol: 'inter-patient' (default), 'inter-patient-strict'
#   (paced records out: the literature's protocol) or 'beat-random-LEAKS-PATIENTS' (a leaky
#   beat-level split, for comparison only)
LEAD: str = "MLII"  # ECG lead, chosen by name
IMAGE_SIZE: int = 224  # side of the square ECG image in pixels (224: the data contract's,
#   ResNet50's ImageNet size); the profiles set it: smoke 64, cpu 64, demo 64, gpu 224
GRID: bool = True  # draw the ECG-paper grid (1 mm / 5 mm) behind the trace
MAX_BEATS_PER_RECORD: int = 40  # cap of beats per record and class (0: no cap); table default 0
VAL_FRACTION: float = 0.2  # share of training patients held out for validation
WEIGHTS: str = "none"  # backbone weights: 'imagenet', 'none', or a weights file path
EPOCHS: int = 2  # training epochs; table default 10
STEPS_PER_EPOCH: int = 10  # batches per epoch (0: one pass over the training data); table default 0
EXPLORER_STEPS: int = 10  # batches of one short run started from the explorer's Train button
#   (notebook 21; split into up to 3 short epochs, each validated)
CLASS_BALANCE: str = "sampling"  # 'sampling' (balanced batches: the measured cpu recipe), 'alpha'
#   (focal alpha from counts), 'class_weight' or 'none'
BATCH_SIZE: int = 16  # images per batch; table default 32
LEARNING_RATE: float = 0.0003  # peak learning rate after warm-up (AdamW)
WARMUP_EPOCHS: float = 1.0  # linear warm-up length in epochs
FOCAL_GAMMA: float = 2.0  # focal-loss focusing parameter gamma
AUGMENT_STRENGTH: float = 1.0  # ECG-safe augmentation strength (0: off, 1: default)
MIXED_PRECISION: str = "auto"  # 'auto' (on for a GPU, and bfloat16 on a CPU that computes it
#   natively), 'on' or 'off'
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import shutil

import numpy as np
from IPython.display import Image

from ecgkit.data import render
from ecgkit.data.datasets import load_beats
from ecgkit.params import record_list
from ecgkit.training.train import few_steps, train
from ecgkit.workbook import nb, plots, widgets

NOTEBOOK = "21_hyperparameter_explorer"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
STEPS_FOR_SCHEDULE = STEPS_PER_EPOCH or 100  # the schedule plot needs a step count
SHORT_EPOCHS = min(3, EXPLORER_STEPS)  # several short epochs, each validated
SHORT_STEPS = EXPLORER_STEPS // SHORT_EPOCHS  # batches per epoch
EAGER = few_steps(SHORT_EPOCHS, SHORT_STEPS)  # a few steps: tracing costs more than it saves
# A short run learns from EXPLORER_STEPS batches but is validated on every loaded validation
# beat after each epoch: at most 30 per record and class (weighted N/n) keeps it short. All
# runs are validated on the same beats, so the sample shifts every run alike.
CAP = min(MAX_BEATS_PER_RECORD or 30, 30)
# The image network alone (CONTEXT none): with the beat's context joined, its branch is fitted
# first for CONTEXT_STEPS batches and would carry a short run's validation scores, hiding the
# settings you change.
BASE = {
    "DATA_DIR": DATA_DIR,
    "RECORDS": RECORDS,
    "SPLIT": SPLIT,
    "LEAD": LEAD,
    "IMAGE_SIZE": IMAGE_SIZE,
    "GRID": GRID,
    "MAX_BEATS_PER_RECORD": CAP,
    "VAL_FRACTION": VAL_FRACTION,
    "WEIGHTS": WEIGHTS,
    "EPOCHS": SHORT_EPOCHS,
    "STEPS_PER_EPOCH": SHORT_STEPS,
    "BATCH_SIZE": BATCH_SIZE,
    "LEARNING_RATE": LEARNING_RATE,
    "WARMUP_EPOCHS": 0.5,
    "FOCAL_GAMMA": FOCAL_GAMMA,
    "CLASS_BALANCE": CLASS_BALANCE,
    "AUGMENT_STRENGTH": AUGMENT_STRENGTH,
    "MIXED_PRECISION": MIXED_PRECISION,
    "SEED": SEED,
    "RUN_DIR": RUN_DIR,
    "CONTEXT": "none",
}

# %% [markdown]
"""
## How the explorer is built

Every panel is a thin `ipywidgets` factory over a **pure function** that computes what is drawn
(`lr_schedule_curve`, `focal_loss_curve`, `augmentation_preview`). The pure functions are what
the tests check; the widgets only wire sliders to them. Cheap curves follow the slider as it
moves; the image preview redraws when you release the slider; training runs only when you
press **Train**, in a background thread: the kernel stays free and a progress bar follows
the batches.
"""

# %%
nb.show_source(widgets.focal_loss_widget)

# %% [markdown]
"""
## 1. Learning-rate schedule

A linear warm-up from 1% of the peak, then cosine decay to zero: the schedule
`ecgkit.training.training_config.make_schedule` gives the optimizer. Warm-up protects the randomly
initialised head (and the pretrained backbone) from large early steps; the cosine tail lets
the weights settle.
"""

# %%
lr_panel = widgets.lr_schedule_widget(LEARNING_RATE, EPOCHS, STEPS_FOR_SCHEDULE, WARMUP_EPOCHS)
assert np.isclose(lr_panel.data["lr"].max(), LEARNING_RATE, rtol=1e-3)
lr_panel

# %% [markdown]
"""
## 2. Focal loss

`FL(p) = -alpha (1 - p)^gamma log(p)`, where `p` is the probability of the true class. With
`gamma = 0` it is (weighted) cross-entropy; as gamma grows, well-classified beats (p near 1,
most N beats) stop dominating the loss and the rare, hard beats count more. Alpha scales the
loss per class (training sets it from the class counts with `CLASS_BALANCE: alpha`).
"""

# %%
focal_panel = widgets.focal_loss_widget(gamma=FOCAL_GAMMA, alpha=0.25)
easy = focal_panel.data["focal"][-20] / focal_panel.data["ce"][-20]
print(
    f"at p = {focal_panel.data['p'][-20]:.2f} focal loss is {easy:.1%} of cross-entropy (x alpha)"
)
focal_panel

# %% [markdown]
"""
## 3. Augmentation strength

The same images as notebook 03, at the strength you choose:
"""

# %%
beats = load_beats(
    DATA_DIR or None,
    records=record_list(RECORDS),
    split=SPLIT,
    lead=LEAD,
    max_beats_per_record=CAP,
    val_fraction=VAL_FRACTION,
    seed=SEED,
    progress=False,
)
rng = np.random.default_rng(SEED)
idx = [
    int(rng.choice(np.flatnonzero(beats.labels == k))) for k in (0, 2) if (beats.labels == k).any()
]
images, _ = render.render_batch(beats.windows[idx], IMAGE_SIZE)
aug_panel = widgets.augmentation_widget(images, strength=AUGMENT_STRENGTH, seed=SEED)
aug_panel

# %% [markdown]
"""
## 4. Short training runs, side by side

Choose a learning rate, a focal gamma and an augmentation strength, then press **Train**. Each
run trains the enhanced ResNet50 (images only, without the beat's context) from scratch on the
training patients (`ecgkit.training.train.train`) for `EXPLORER_STEPS` batches in a few short
epochs, validated after each. A small Keras
callback (`ecgkit.training.callbacks.BatchLossRecorder`) records the training loss of every batch,
so the plot shows the loss against the step (left) and the validation macro-F1 per epoch
(right), not one dot per run.

Short runs are noisy. Press **Train** again without moving a slider (or set **repeats**) and
the same settings train again with the next seed: another initialisation, another order of
the batches, other augmentation draws. Runs with the same settings share a colour and a
shaded band from their lowest to their highest value: that band is the noise a change of
settings must beat before you believe it.
"""

# %%
nb.show_source(widgets.loss_bands)


# %%
def short_run(settings, recorder):
    # one run from scratch with the explorer's settings (SEED included)
    run_dir = OUT / f"run{len(train_panel.data['runs']) + 1}"
    shutil.rmtree(run_dir, ignore_errors=True)  # from scratch (train resumes a broken run)
    params = {**BASE, **settings}
    result = train(
        params,
        beats=beats,
        run_dir=run_dir,
        progress=False,
        run_eagerly=EAGER,
        callbacks=(recorder,),
    )
    return result.history


train_panel = widgets.training_comparison_widget(
    short_run, LEARNING_RATE, FOCAL_GAMMA, AUGMENT_STRENGTH, seed=SEED
)
train_panel

# %% [markdown]
"""
In a batch run nobody presses the button, so the next cell presses it twice with the starting
values: a first run, then a repeat with the next seed. `wait()` holds the cell until the run
in the background has finished (in JupyterLab you need not wait: the kernel stays free). Then
change a slider and press **Train** to add a run of other settings to the plot above.
"""

# %%
train_panel.controls["train"].click()  # the starting values, seed SEED
train_panel.wait()
train_panel.controls["train"].click()  # the same settings again: a repeat, seed SEED + 1
train_panel.wait()
runs = train_panel.data["runs"]
assert len(runs) == 2, "a run failed: see the status line above the plot"
(band,) = train_panel.data["bands"]  # both runs share one band
assert band["n"] == 2 and len(band["step"]) == SHORT_EPOCHS * SHORT_STEPS
for run in runs:
    f1 = np.round(run["history"]["val_macro_f1"], 3).tolist()
    print(f"{run['label']}: loss per batch {np.round(run['loss'], 3).tolist()}")
    print(f"    validation macro-F1 per epoch {f1}")

# %% [markdown]
"""
The two runs, in one figure (the live panel above draws the same as you add runs):
"""

# %%
fig = plots.plot_loss_bands(train_panel.data["bands"])
path = nb.save_figure(fig, RUN_DIR, NOTEBOOK, "short_runs")
width = float(np.mean(band["high"] - band["low"]))
print(
    f"Same settings, seeds {band['seeds']}: the loss per batch differs by {width:.3f} on "
    f"average, and the final validation macro-F1 by {band['spread']:.3f}. A change of "
    "settings that moves the result by less than that is not yet a difference."
)
Image(filename=path)

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "lr_peak": float(lr_panel.data["lr"].max()),
        "lr_points": int(len(lr_panel.data["lr"])),
        "focal_ratio_easy": float(easy),
        "augment_change": aug_panel.data["mean_abs_change"],
        "runs": len(runs),
        "seeds": band["seeds"],
        "run_epochs": len(runs[0]["history"]["val_macro_f1"]),
        "steps_per_run": len(runs[0]["loss"]),
        "loss_per_batch": [run["loss"] for run in runs],
        "repeat_loss_band_width": width,
        "repeat_val_macro_f1_spread": band["spread"],
    },
)

# %% [markdown]
"""
## Summary

- The schedule, the loss and the augmentation are pure functions; the widgets only draw them.
- Warm-up length and peak rate matter most early; gamma shifts weight from easy to hard beats.
- Training is expensive, so it runs on a button, in the background, never on a slider move;
  compare runs that differ in one setting, with the same data and budget.
- The loss of every batch shows how a run learns; repeats with other seeds show how far two
  runs of the same settings land apart. A difference smaller than that band is noise.

## Exercises

1. Set gamma to 0 and alpha to 1 in the focal-loss panel: which curve do you get, and why?
2. Set **repeats** to 2 and train the learning rates 1e-4, 3e-4 and 1e-3. Which learns
   fastest on validation macro-F1? Do the bands of two learning rates overlap? If they do,
   what would you need (more steps, more repeats) before choosing one?
3. Write `my_schedule(step)` (linear warm-up over 100 steps to 3e-4, then constant) and plot it
   beside `widgets.lr_schedule_curve(3e-4, 10, 100, 1.0)`.
"""
