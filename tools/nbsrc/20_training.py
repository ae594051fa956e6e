"""
Title: 20 · Training that learns: baseline first, then the enhanced ResNet50
Description: Builds training up step by step: a one-batch sanity check, the BatchNorm trap of short
    runs, then the plain ResNet50 baseline and the enhanced model trained with the same recipe on
    the training patients.
What you will learn:
- the first test of any training setup: can the network memorise one batch?
- why a short run from random weights can predict a single class in inference mode (BatchNorm
  statistics), and the fix
- focal loss with class alpha, AdamW and the warm-up cosine schedule, plotted before training
- training the baseline and the enhanced model with one recipe, choosing epochs on validation
  patients only
Prerequisites:
- 03_ecg_augmentation
- 14_pyramid_and_head
"""

# %% [markdown]
"""
## Parameters
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
TEST_MAX_BEATS_PER_RECORD: int = 100  # cap of validation and test beats per record and class (0:
#   every beat); capped beats carry weights N/n so metrics estimate every validation or test beat;
#   table default 0
CONTEXT: str = "logits"  # the beat's context inside the model (ecgkit.data.context: rhythm against
#   the patient's RR, shape against the patient's usual beat): 'logits' (a context MLP whose logits
#   add to the image head's), 'head' (its features join the pooled image features) or 'none' (image
#   only, the published design)
IMAGE_CHANNELS: str = "paper"  # what the image shows: 'paper' (the ECG strip on paper, the
#   published design) or 'context' (three traces in the colour channels: the rhythm in units of the
#   patient's RR, the beat at 11 ms per pixel at 64 px, the patient's usual beat;
#   ecgkit.data.context_image)
CONTEXT_MODE: str = "offline"  # context from the whole record ('offline', Holter review) or from
#   the past only ('causal', a live monitor: no next beat, no future average, the image cut 0.45 s
#   after R)
CONTEXT_STEPS: int = 2000  # batches that fit the context branch alone before the joint training
#   (CONTEXT logits; seconds on a CPU; 0: none)
ECG_BLOCK: bool = True  # use the multi-scale ECG-specific block
ATTENTION: bool = True  # use channel + spatial attention
CALIBRATION: bool = True  # use the feature calibration module
PYRAMID: bool = True  # use feature-pyramid / multi-path fusion
EPOCHS: int = 2  # training epochs; table default 10
BN_MOMENTUM: float = 0.0  # BatchNorm moving-average momentum; 0: from the epoch length
#   (ecgkit.training.callbacks.auto_bn_momentum)
DETERMINISTIC: bool = False  # op-deterministic training (slower; Keras turns XLA off)
WEIGHTS: str = "none"  # backbone weights: 'imagenet', 'none', or a weights file path
DROPOUT: float = 0.5  # dropout rate in the classification head
STEPS_PER_EPOCH: int = 15  # batches per epoch (0: one pass over the training data); table default 0
BATCH_SIZE: int = 16  # images per batch; table default 32
LEARNING_RATE: float = 0.0003  # peak learning rate after warm-up (AdamW)
WEIGHT_DECAY: float = 0.0001  # AdamW decoupled weight decay
WARMUP_EPOCHS: float = 0.5  # linear warm-up length in epochs; table default 1.0
FOCAL_GAMMA: float = 2.0  # focal-loss focusing parameter gamma
CLASS_BALANCE: str = "sampling"  # 'sampling' (balanced batches: the measured cpu recipe), 'alpha'
#   (focal alpha from counts), 'class_weight' or 'none'
AUGMENT_STRENGTH: float = 1.0  # ECG-safe augmentation strength (0: off, 1: default)
MIXED_PRECISION: str = "auto"  # 'auto' (on for a GPU, and bfloat16 on a CPU that computes it
#   natively), 'on' or 'off'
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import shutil

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data import context, context_image, render
from ecgkit.data.datasets import load_beats
from ecgkit.model import factory
from ecgkit.params import record_list
from ecgkit.training import callbacks, hardware, train, training_config
from ecgkit.workbook import nb, plots, widgets

NOTEBOOK = "20_training"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
MODELS = nb.model_path(
    RUN_DIR, ""
).parent  # RUN_DIR/models: baseline.keras and enhanced.keras, read by 30-32
EAGER = train.few_steps(
    EPOCHS, STEPS_PER_EPOCH
)  # a few steps: tracing the graph costs more than it saves
PARAMS = {  # this notebook's parameters, as train() takes them
    "DATA_DIR": DATA_DIR,
    "RECORDS": RECORDS,
    "SPLIT": SPLIT,
    "LEAD": LEAD,
    "IMAGE_SIZE": IMAGE_SIZE,
    "GRID": GRID,
    "MAX_BEATS_PER_RECORD": MAX_BEATS_PER_RECORD,
    "VAL_FRACTION": VAL_FRACTION,
    "TEST_MAX_BEATS_PER_RECORD": TEST_MAX_BEATS_PER_RECORD,
    "CONTEXT": CONTEXT,
    "IMAGE_CHANNELS": IMAGE_CHANNELS,
    "CONTEXT_MODE": CONTEXT_MODE,
    "CONTEXT_STEPS": CONTEXT_STEPS,
    "ECG_BLOCK": ECG_BLOCK,
    "ATTENTION": ATTENTION,
    "CALIBRATION": CALIBRATION,
    "PYRAMID": PYRAMID,
    "EPOCHS": EPOCHS,
    "BN_MOMENTUM": BN_MOMENTUM,
    "DETERMINISTIC": DETERMINISTIC,
    "WEIGHTS": WEIGHTS,
    "DROPOUT": DROPOUT,
    "STEPS_PER_EPOCH": STEPS_PER_EPOCH,
    "BATCH_SIZE": BATCH_SIZE,
    "LEARNING_RATE": LEARNING_RATE,
    "WEIGHT_DECAY": WEIGHT_DECAY,
    "WARMUP_EPOCHS": WARMUP_EPOCHS,
    "FOCAL_GAMMA": FOCAL_GAMMA,
    "CLASS_BALANCE": CLASS_BALANCE,
    "AUGMENT_STRENGTH": AUGMENT_STRENGTH,
    "MIXED_PRECISION": MIXED_PRECISION,
    "SEED": SEED,
    "RUN_DIR": RUN_DIR,
}
SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
print(f"{len(PARAMS)} parameters; models will be saved in {MODELS}")

# %% [markdown]
"""
## 1. The hardware decides the settings

`hardware_settings` turns mixed precision on for a GPU (`MIXED_PRECISION: auto`) and XLA on for
a GPU (XLA compiles slowly on CPU for little gain, and Keras disables it under op determinism).
`select_strategy` picks a `MirroredStrategy` for several GPUs, `MultiWorkerMirroredStrategy`
when `TF_CONFIG` is set, and the default strategy otherwise.
"""

# %%
hw = hardware.hardware_settings(MIXED_PRECISION, DETERMINISTIC)
strategy = hardware.select_strategy()
print(
    f"GPUs: {hw['gpus'] or 'none'}; mixed precision: {hw['mixed_precision']}; "
    f"XLA: {hw['jit_compile']}; "
    f"strategy: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
)

# %% [markdown]
"""
## 2. The data: training and validation patients only

The test patients are loaded with the others (`load_beats` reads the whole split) but not
used here. Validation patients are carved from the training
patients so that N, S, V and F each have real support there (`ecgkit.data.splits`); the best epoch
is chosen on them. `MAX_BEATS_PER_RECORD` caps the beats per record and class (0: every
beat, as the cpu profile trains), and `TEST_MAX_BEATS_PER_RECORD` caps the validation beats
that `train()` predicts every epoch: capped beats carry weights (N/n), so validation metrics
estimate those of every validation beat.
"""

# %%
beats = load_beats(
    DATA_DIR or None,
    split=SPLIT,
    records=record_list(RECORDS),
    lead=LEAD,
    max_beats_per_record=MAX_BEATS_PER_RECORD,
    val_fraction=VAL_FRACTION,
    seed=SEED,
    progress=False,
)
counts = {s: beats.subset(s).class_counts() for s in ("train", "val")}
print({s: beats.report["splits"].get(s) for s in ("train", "val")})
plots.plot_class_distribution(counts)

# %% [markdown]
"""
## 3. First test: can the network memorise one batch?

Before any long run, train the plain baseline on a single batch of 16 beats (4 of each class
the training patients have) and nothing else. A correct model, loss and input pipeline drive the
training accuracy on that batch to 1 within a few dozen steps; if it does not, no amount of data
will help. We keep Keras' default BatchNorm momentum (0.99) here on purpose: section 4 uses it.
"""

# %%
rng = np.random.default_rng(SEED)
train_beats = beats.subset("train")
present = [k for k in range(len(contract.CLASSES)) if (train_beats.labels == k).sum() >= 4]
idx = np.concatenate(
    [rng.choice(np.flatnonzero(train_beats.labels == k), 4, replace=False) for k in present]
)[:16]
x_batch, _ = render.render_batch(train_beats.windows[idx], IMAGE_SIZE, GRID)
y_batch = np.eye(len(contract.CLASSES), dtype="float32")[train_beats.labels[idx]]
keras.utils.set_random_seed(SEED)
probe = factory.create_baseline_resnet50(SHAPE, len(contract.CLASSES), weights=None)
callbacks.set_batchnorm_momentum(probe, 0.99)  # Keras' default, stated explicitly
probe.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"]
)
overfit = [probe.train_on_batch(x_batch, y_batch, return_dict=True) for _ in range(40)]
overfit = pd.DataFrame(overfit)
fig, ax = plt.subplots(figsize=(6, 3))
overfit.plot(ax=ax, xlabel="step", title="one batch, 40 steps (training mode)")
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "overfit_one_batch")
print(f"training-mode accuracy on the batch after 40 steps: {overfit['accuracy'].iloc[-1]:.2f}")
assert (
    overfit["accuracy"].iloc[-5:].max() >= 0.9
), "the network cannot memorise one batch: check the setup"

# %% [markdown]
"""
## 4. The BatchNorm trap of short runs

The network above is right on its batch *in training mode*, where BatchNorm normalises with the
statistics of the batch itself. In inference mode (validation, test, `predict`) it uses moving
averages updated with momentum 0.99: after 40 steps they still hold 0.99**40 = 67 % of their
initial values (mean 0, variance 1), so every layer sees mis-normalised activations. Watch the
prediction on the very same batch:
"""

# %%
labels = train_beats.labels[idx]
before = np.asarray(probe(x_batch, training=False)).argmax(axis=1)
callbacks.set_batchnorm_momentum(
    probe, 0.0
)  # the next training-mode call replaces the averages by this batch's statistics
probe(x_batch, training=True)
after = np.asarray(probe(x_batch, training=False)).argmax(axis=1)
bn_lesson = {
    "inference_accuracy_momentum_0.99": float((before == labels).mean()),
    "predicted_classes_momentum_0.99": sorted({contract.CLASSES[k] for k in before}),
    "inference_accuracy_after_reestimate": float((after == labels).mean()),
}
predicted = bn_lesson["predicted_classes_momentum_0.99"]
print(
    f"Inference mode with momentum 0.99: {len(predicted)} class(es) predicted "
    f"({', '.join(predicted)}) for {len(labels)} beats of {len(set(labels))} classes, "
    f"accuracy {bn_lesson['inference_accuracy_momentum_0.99']:.2f}; after re-estimating "
    f"the statistics: {bn_lesson['inference_accuracy_after_reestimate']:.2f}."
)
assert (
    bn_lesson["inference_accuracy_after_reestimate"]
    >= bn_lesson["inference_accuracy_momentum_0.99"]
)

# %% [markdown]
"""
That is the trap of every short run from random weights: moving averages that lag the weights
can make inference mode predict few classes however well training goes (the cell above
measured it on this run). `train()` therefore
does two things in every run: it sets the momentum from the epoch length (`BN_MOMENTUM: 0`;
the moving averages cover about the last fifth of an epoch), and before every validation it
recomputes the statistics from a few training batches with the current weights, exactly what
the cell above did by hand ("precise BN").
"""

# %%
nb.show_source(callbacks.auto_bn_momentum)

# %%
nb.show_source(callbacks.ReestimateBatchNorm)

# %%
train_counts = counts["train"]
steps = train.epoch_steps(
    STEPS_PER_EPOCH, sum(train_counts.values()), BATCH_SIZE
)  # as train() counts them
momentum = BN_MOMENTUM or callbacks.auto_bn_momentum(steps)
print(f"{steps} steps per epoch -> BatchNorm momentum {momentum:.3f}")

# %% [markdown]
"""
## 5. Loss, optimizer and schedule, before training

`get_training_config` returns the optimizer (AdamW, no decay on biases and batch-norm
parameters), the loss (categorical focal loss; alpha from the training class counts with
`CLASS_BALANCE: alpha`, uniform with balanced `sampling`) and the metrics (accuracy, macro
precision/recall/F1/specificity, AUC).
"""

# %%
nb.show_source(training_config.get_training_config)

# %%
alpha = training_config.class_alpha(train_counts, len(contract.CLASSES))
schedule = widgets.lr_schedule_curve(LEARNING_RATE, EPOCHS, steps, WARMUP_EPOCHS)
focal = {g: widgets.focal_loss_curve(g, 1.0) for g in (0.0, FOCAL_GAMMA)}
fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 3.2))
a1.plot(schedule["epoch"], schedule["lr"])
a1.set(title="warm-up cosine schedule", xlabel="epoch", ylabel="learning rate")
for g, c in focal.items():
    a2.plot(c["p"], c["focal"], label=f"gamma {g:g}")
a2.set(title="focal loss (alpha 1)", xlabel="p(true class)", ylim=(0, 4.7))
a2.legend()
a3.bar(contract.CLASSES, np.asarray(alpha, dtype=float))
a3.set(title="focal alpha per class (from counts)")
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "loss_optimizer_schedule")
assert np.isclose(schedule["lr"].max(), LEARNING_RATE, rtol=1e-3)

# %% [markdown]
"""
## 6. What a cardiologist looks at besides the beat: its context

A beat image alone misses two things a cardiologist reads at once. An S beat looks like the
patient's normal beats but comes **early against the patient's own rhythm**; a V beat looks
**unlike the patient's usual beat**, whatever that usual beat is (a bundle-branch block
patient's normal beats are wide too). Both are relative to the patient, so no picture of one
beat can hold them. `ecgkit.data.context` computes them from the unlabelled record, so they exist
at test time too: 3 RR ratios (`pre/avg`, `post/avg`, `pre/post`) and the beat's shape minus
the median shape of the record's beats (71 values, -0.25 s to +0.45 s around R). With
`CONTEXT_MODE: causal` only the past is used (no next beat, a running median of the previous
100 beats), as a live monitor would need.

The model takes this vector as a second input (`CONTEXT: logits`): a small network whose class
logits are **added** to the image head's. Inside it, the 3 rhythm values and the 71 shape values
go through two small MLPs of their own, whose logits add too: an S beat is early *and* shaped
like the patient's usual beat, and added logits let each piece of evidence count on its own
(chosen by cross-validation on the training patients:
`ecgkit.model.context_branch.CONTEXT_EXPERTS`). Two measured problems shaped the rest. Three numbers
beside thousands of image features barely move a head (`CONTEXT: head`, the design kept for
the ablation), and trained together, the image branch fits the training patients' beat shapes
faster than the context branch learns the rhythm, so S beats of new patients were missed. So
`train()` first fits the context branch alone (`CONTEXT_STEPS` batches: seconds), and during
the joint training drops the image logits of half the beats (`BranchDropout`), on which the
context must classify alone. After training, how much the image logits weigh against the
context's is chosen on the **validation** patients (the lowest class-balanced cross-entropy
over 0, 0.1, ..., 1; 0 would mean the image adds nothing there) and saved with the model.
Last, the network learned on balanced batches, as if S, V and F were as common as N; a prior
correction adds `tau * log(class frequency of the training beats)` to its logits, plus a
constant on the S logit (`context_branch.PriorShift`, saved with the model). The correction
trades S sensitivity for S precision and the S constant trades some back; both were chosen by
cross-validation on the training patients as the best macro-F1 that still finds 75% of S beats
(`context_branch.PRIOR_TAU`, `LOGIT_OFFSETS`).
"""

# %%
nb.show_source(context.record_context)

# %%
ctx = train_beats.context_of(CONTEXT_MODE)
names = context.feature_names(CONTEXT_MODE)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
for k, c in enumerate(contract.CLASSES):
    rows = train_beats.labels == k
    if rows.sum() >= 5:
        axes[0].hist(np.clip(ctx[rows, 0], 0, 2), bins=40, histtype="step", density=True, label=c)
        axes[1].plot(np.median(ctx[rows, context.N_RHYTHM :], axis=0), label=c)
axes[0].set(title=f"{names[0]}: early beats sit left of 1", xlabel=names[0])
axes[1].set(
    title="median shape minus the patient's usual beat (mV)", xlabel="10-ms step from -0.25 s"
)
axes[0].legend()
axes[1].legend()
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "context_by_class")

# %% [markdown]
"""
The same context can be drawn instead of computed: the image-native design
(`IMAGE_CHANNELS: context`, `ecgkit.data.context_image`) keeps one image input and gives each colour
channel one trace. Red: the rhythm, with time in units of the patient's own average RR, so a
regular beat's neighbours sit at the same columns at any heart rate and an early beat's
predecessor moves toward the centre. Green: the beat from -0.25 s to +0.45 s across the whole
width (at 64 px, 11 ms per pixel: a QRS spans about 9 px, against 2 px on the 3-s paper strip).
Blue: the patient's usual beat at the same scales. Below, a beat of each class as the network
would get it, then each channel alone; `benchmarks/README.md` ("Learning") compares the two
designs on the validation patients.
"""

# %%
drawn = context_image.ContextImages(train_beats, CONTEXT_MODE, IMAGE_SIZE)
shown = [k for k in range(len(contract.CLASSES)) if (train_beats.labels == k).any()][:4]
rows = [int(np.flatnonzero(train_beats.labels == k)[0]) for k in shown]
fig = plots.plot_context_images(
    drawn.render(rows), titles=[f"{contract.CLASSES[k]} beat" for k in shown]
)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "context_images")
display(fig)
print(f"This run's images: IMAGE_CHANNELS = {IMAGE_CHANNELS!r}")

# %% [markdown]
"""
## 7. Train the baseline: a plain ResNet50 with the same head and context

`ecgkit.training.train.train` builds the model inside the strategy scope, compiles it with the
configuration above and fits with: the best checkpoint by **validation** macro-F1,
`BackupAndRestore` (re-running the cell after an interruption resumes), a CSV log,
TensorBoard logs and early stopping. The baseline comes first: every enhancement must beat
it, trained with the same data, recipe and budget (notebook 32 compares them on the test
patients).
"""

# %%
nb.show_source(train.train)

# %% [markdown]
"""
`train` checks the parameters and locks the run folder; the run itself is `_train_in`, the
recipe step by step: check that an interrupted run may resume, set up the hardware, load the
beats, prepare the model (BatchNorm momentum, context branch, compile), make the batches and
callbacks, write `run.json`, fit, finish. Each step is a short function with a docstring,
which `nb.show_source` shows like any other; those that training on an image folder (notebook
40) takes too are in `ecgkit.training.training_run`.
"""

# %%
nb.show_source(train._train_in)

# %%
runs = {}
runs["baseline"] = train.train(
    PARAMS,
    beats=beats,
    run_dir=OUT / "baseline",
    progress=False,
    run_eagerly=EAGER,
    model=lambda: train.baseline_model(PARAMS),
)  # same context branch, head
print(f"baseline: {runs['baseline'].info['seconds']} s, best {runs['baseline'].info['best']}")

# %% [markdown]
"""
## 8. Train the enhanced ResNet50 with the same recipe
"""

# %%
runs["enhanced"] = train.train(
    PARAMS, beats=beats, run_dir=OUT / "enhanced", progress=False, run_eagerly=EAGER
)
print(f"enhanced: {runs['enhanced'].info['seconds']} s, best {runs['enhanced'].info['best']}")

# %%
for name, r in runs.items():
    assert len(r.history["loss"]) >= 1 and np.isfinite(r.history["loss"]).all()
    fig = plots.plot_history(r.history, title=f"{name}: training history")
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, f"history_{name}")
    display(fig)
val = pd.DataFrame(
    {
        name: {
            "best epoch": (r.info["best"] or {}).get("epoch"),
            "val macro-F1 (best)": (r.info["best"] or {}).get("best"),
            "val accuracy (weighted)": r.info["final_metrics"]["accuracy"],
            "image weight (chosen on val)": (r.info.get("image_scale") or {}).get("chosen"),
            "seconds": r.info["seconds"],
        }
        for name, r in runs.items()
    }
).T
nb.captioned(
    val,
    "validation patients; macro-F1 and accuracy over the AAMI classes present there (N/S/V/F/Q)",
)

# %% [markdown]
"""
These are validation figures, from patients that chose the epoch: they are optimistic. The
test patients are scored in 30 (against simple baselines) and 32 (baseline against enhanced).

## 9. Save both models for evaluation (30), error analysis (31) and the ablation (32)
"""

# %%
MODELS.mkdir(parents=True, exist_ok=True)
for name, r in runs.items():
    shutil.copyfile(r.paths["model"], MODELS / f"{name}.keras")  # the best-validation weights
    print(MODELS / f"{name}.keras", f"{(MODELS / f'{name}.keras').stat().st_size / 1e6:.0f} MB")
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "overfit_accuracy": float(overfit["accuracy"].iloc[-1]),
        "bn_lesson": bn_lesson,
        "steps_per_epoch": steps,
        "hardware": hw,
        "strategy": type(strategy).__name__,
        "train_counts": train_counts,
        "val_counts": counts["val"],
        "runs": {
            name: {
                "epochs_run": len(r.history["loss"]),
                "best": r.info.get("best"),
                "batchnorm": r.info.get("batchnorm"),
                "seconds": r.info.get("seconds"),
                "context": r.info.get("context"),
                "image_scale": r.info.get("image_scale"),
                "val_final": r.info["final_metrics"],
            }
            for name, r in runs.items()
        },
        "models": {name: str(MODELS / f"{name}.keras") for name in runs},
    },
)

# %% [markdown]
"""
## Summary

- A one-batch overfit is the cheapest test of a training setup; it passed above.
- Short runs from random weights need BatchNorm statistics that follow the data: section 4
  measured what Keras' default momentum does to inference mode on one batch (the classes it
  predicted are printed there); `train()` re-estimates them before every validation.
- The baseline and the enhanced model are trained with one recipe and the same context
  branch; the epoch is chosen on validation patients, never on test patients.
- The beat's context (its rhythm against the patient's, its shape against the patient's usual
  beat) enters the model as a second input whose logits add to the image's; notebook 30 says
  on the test patients whether the result beats the baselines.

## Exercises

1. Set `BN_MOMENTUM = 0.99` and rerun sections 7-8: what happens to the validation macro-F1 in
   the first epochs?
2. Set `CLASS_BALANCE = "alpha"` (natural class frequencies, focal alpha) and compare the
   validation curves with `sampling`.
3. Interrupt training (Kernel > Interrupt) and run the training cell again: where does it resume?
4. Train with `CONTEXT = "none"` (the published, image-only design) and with `CONTEXT = "head"`,
   then compare them with this run in notebook 30: which classes does the context change?
"""
