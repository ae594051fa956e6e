"""
Title: 40 · Your own ECG images: a labelled folder, split by patient, trained and judged
Description: Walks through ecgkit's path for a folder of labelled ECG images, on a real one:
    10-second MIT-BIH rhythm strips (normal sinus rhythm, atrial fibrillation or flutter, other
    rhythms) grouped by patient.
What you will learn:
- what a labelled image folder needs (class sub-folders or labels.csv with a patient column)
- how to inspect it before training: class counts, patients, image sizes, near-duplicates
- why the split goes by patient, and what happens without a patient column
- training the enhanced ResNet50 on a folder with the workbook's recipe, images padded, never
  squashed
- judging the network beside a majority-class baseline and an RR-irregularity baseline for AF
Prerequisites:
- 02_signals_to_images
- 20_training (the recipe)
- 30_evaluation (the metrics)
"""

# %% [markdown]
"""
## Parameters

The same recipe parameters as notebook 20; `STRIP_IMAGE_SIZE` is the model's input side for
these wide strips, `STRIP_STEPS_PER_EPOCH` its training budget (larger images cost more per
batch than notebook 20's beats), `MAX_STRIPS_PER_RECORD` keeps the example folder small.
"""

# %% [parameters]
DATA_DIR: str = ""  # WFDB folder to read; empty: the embedded database in data/mitdb (all 48
#   MIT-BIH records)
STRIP_IMAGE_SIZE: int = 160  # model input side for the 10-s rhythm strips of notebook 40: each
#   strip is drawn that wide (and 0.3 of it high) and padded to a square, never squashed
MAX_STRIPS_PER_RECORD: int = 30  # cap of 10-s rhythm strips per record and class (build-dataset
#   --task rhythm; 0: no cap)
GRID: bool = True  # draw the ECG-paper grid (1 mm / 5 mm) behind the trace
VAL_FRACTION: float = 0.2  # share of training patients held out for validation
TEST_FRACTION: float = 0.2  # share of an image folder's patients (or images) held out for the test
#   side (ecgkit train --images)
WEIGHTS: str = "none"  # backbone weights: 'imagenet', 'none', or a weights file path
EPOCHS: int = 2  # training epochs; table default 10
STRIP_STEPS_PER_EPOCH: int = 10  # batches per epoch for the rhythm-strip model of notebook 40 (its
#   images are larger than the beats', so it takes its own budget; EPOCHS and BATCH_SIZE are shared)
BATCH_SIZE: int = 16  # images per batch; table default 32
LEARNING_RATE: float = 0.0003  # peak learning rate after warm-up (AdamW)
WARMUP_EPOCHS: float = 0.5  # linear warm-up length in epochs; table default 1.0
FOCAL_GAMMA: float = 2.0  # focal-loss focusing parameter gamma
CLASS_BALANCE: str = "sampling"  # 'sampling' (balanced batches: the measured cpu recipe), 'alpha'
#   (focal alpha from counts), 'class_weight' or 'none'
AUGMENT_STRENGTH: float = 1.0  # ECG-safe augmentation strength (0: off, 1: default)
MIXED_PRECISION: str = "auto"  # 'auto' (on for a GPU, and bfloat16 on a CPU that computes it
#   natively), 'on' or 'off'
BOOTSTRAP: int = 200  # bootstrap resamples (by patient) for confidence intervals
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data import folders, rhythm
from ecgkit.data.images import decode_image
from ecgkit.evaluation import folder_evaluation, scoring
from ecgkit.evaluation.predict import load_model
from ecgkit.training import image_training
from ecgkit.workbook import nb, plots

NOTEBOOK = "40_your_own_images"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
SOURCE = DATA_DIR or contract.EMBEDDED_DATA_DIR
FOLDER = OUT / "rhythm_strips"  # the labelled image folder this notebook builds and uses
STRIP_HEIGHT = round(0.3 * STRIP_IMAGE_SIZE)  # a 10-s strip is 10/3 as wide as it is high

# %% [markdown]
"""
## 1. A real labelled image folder

Most people who reach for an ECG image classifier hold a folder of images, not WFDB records.
To walk through that path on real data, `ecgkit build-dataset data/mitdb OUT --task rhythm`
(here its function, `rhythm.build_rhythm_dataset`) cuts each record into 10-s strips that lie
wholly inside one rhythm episode of the cardiologists' rhythm annotations, draws them on ECG
paper (25 mm/s, 10 mm/mV) and writes `images/<class>/*.png` with a `labels.csv` holding the
file, the label and the **patient**. Three classes: NSR (normal sinus rhythm), AF (atrial
fibrillation and flutter) and OTHER (bigeminy, trigeminy, paced rhythm, blocks, VT...).
"""

# %%
labels = rhythm.build_rhythm_dataset(
    SOURCE,
    FOLDER,
    max_strips_per_record=MAX_STRIPS_PER_RECORD,
    image_size=STRIP_HEIGHT,
    grid=GRID,
    progress=False,
)
counts = rhythm.count_table(labels)
assert set(labels.columns) >= {"file", "label", "patient"}
counts

# %%
rng = np.random.default_rng(SEED)
shown = [
    rng.choice(np.flatnonzero(labels["label"].to_numpy() == c))
    for c in rhythm.RHYTHM_CLASSES
    if (labels["label"] == c).any()
]
fig = plots.plot_image_grid(
    np.stack([decode_image(FOLDER / labels["file"][i]) for i in shown]),
    [f"{labels['label'][i]} (record {labels['record'][i]})" for i in shown],
    ncols=1,
)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "strips")
fig

# %% [markdown]
"""
## 2. Look before you train

`folders.read_labelled_images` reads any such folder: class sub-folders, or `labels.csv`
(`file` relative to the folder, `label`, and a group column, `patient` by default). It
decodes every image once, names unreadable or too small ones, and keeps each image's size and
perceptual hash. `folders.split_images` then puts whole **patients** on one side: the strips
of one patient look alike (same heart, same electrodes), so a split by image would test on
patients the network has already seen. Without a patient column it splits image by image and
warns that the test figures are then optimistic.

The de Chazal DS1/DS2 split of the beat notebooks does not fit this task: DS1 holds a single
AF patient once 201 is out. The split below draws whole patients so that every class has
patients on every side.
"""

# %%
nb.show_source(folders.split_images)

# %%
images = folders.read_labelled_images(FOLDER)
split = folders.split_images(images, VAL_FRACTION, TEST_FRACTION, SEED)
duplicates = folders.near_duplicates(images, split.sides)
report = folders.data_report(images, split, duplicates)
print(folders.format_data_report(report))
patients = {side: set(images.groups[split.rows(side)]) for side in ("train", "val", "test")}
assert not (patients["train"] & patients["test"]) and not (patients["val"] & patients["test"])

# %% [markdown]
"""
## 3. Train, with the workbook's recipe

`image_training.train_images` (the command line: `ecgkit train --images DIR`) draws the same
split (same seed), builds the enhanced ResNet50 with as many outputs as the folder has classes,
and trains it with the recipe of notebook 20: balanced sampling, focal loss, AdamW with
warm-up cosine, checkpoints and resume. Each strip is padded to a square, never squashed, so
a second keeps its width. The model records its class names, its image fit and the split.
"""

# %%
params = {
    "IMAGE_SIZE": STRIP_IMAGE_SIZE,
    "GRID": GRID,
    "VAL_FRACTION": VAL_FRACTION,
    "WEIGHTS": WEIGHTS,
    "EPOCHS": EPOCHS,
    "STEPS_PER_EPOCH": STRIP_STEPS_PER_EPOCH,
    "BATCH_SIZE": BATCH_SIZE,
    "LEARNING_RATE": LEARNING_RATE,
    "WARMUP_EPOCHS": WARMUP_EPOCHS,
    "FOCAL_GAMMA": FOCAL_GAMMA,
    "CLASS_BALANCE": CLASS_BALANCE,
    "AUGMENT_STRENGTH": AUGMENT_STRENGTH,
    "MIXED_PRECISION": MIXED_PRECISION,
    "SEED": SEED,
    "RUN_DIR": RUN_DIR,
}
result = image_training.train_images(
    FOLDER,
    params=params,
    run_dir=OUT / "train",
    fit="pad",
    test_fraction=TEST_FRACTION,
    progress=False,
    echo=None,
)
trained_split = pd.read_csv(result.paths["split_csv"])
assert (trained_split["side"].to_numpy() == split.sides).all()  # the split shown above
plots.plot_history({k: v for k, v in result.history.items() if k != "epoch"})

# %% [markdown]
"""
## 4. The test patients, beside two baselines

`folder_evaluation.evaluate_images` (`ecgkit evaluate --model M --images DIR`) scores the
patients of the test side, whom the model never saw, and puts the **majority class**
beside every figure: what a model that learned nothing scores. For rhythm there is a
stronger cheap yardstick: atrial fibrillation is an *irregularly irregular* rhythm, so a
logistic regression on four RR-irregularity numbers of each strip
(`rhythm.rr_irregularity_baseline`, fitted on the training patients' strips) is the model
the network must beat to earn its place.
"""

# %%
model = load_model(result.paths["model"])
test_report, extra = folder_evaluation.evaluate_images(
    model, FOLDER, split="test", out_dir=OUT / "evaluation", n_boot=BOOTSTRAP, seed=SEED
)
assert extra["split"]["groups_seen_in_training"] == 0  # no test patient was seen in training
print(folder_evaluation.format_comparison(test_report, extra))

# %%
train_rows, test_rows = split.rows("train"), split.rows("test")
by_file = labels.set_index("file")
names = [images.names[i] for i in test_rows]
rr_prob = rhythm.rr_irregularity_baseline(
    by_file.loc[[images.names[i] for i in train_rows]].reset_index(),
    by_file.loc[names].reset_index(),
    SOURCE,
    classes=images.classes,
)
y_true, groups = images.labels[test_rows], images.groups[test_rows]
majority = np.zeros_like(rr_prob)
majority[:, folder_evaluation.majority_class(model, images)] = 1.0
runs = {"network": test_report.y_prob, "RR irregularity": rr_prob, "majority class": majority}
rows = {}
for name, prob in runs.items():
    r = scoring.evaluate_predictions(
        y_true, prob, patients=groups, n_boot=0, classes=images.classes
    )
    rows[name] = {
        "macro_f1": r.macro["f1"],
        "accuracy": r.accuracy,
        **{f"{c}_Se": r.per_class.loc[c, "sensitivity"] for c in images.classes},
        **{f"{c}_PP": r.per_class.loc[c, "ppv"] for c in images.classes},
    }
table = pd.DataFrame(rows).T
table.index.name = f"test side: {len(test_rows)} strips of {len(set(groups))} patients"
table.round(3)

# %% [markdown]
"""
Better, or only luckier on these few test patients? The paired patient bootstrap of
notebook 30, on the macro-F1 over the three rhythm classes:
"""

# %%
versus = {
    f"network - {name}": scoring.paired_bootstrap(
        y_true,
        test_report.y_prob,
        runs[name],
        groups,
        class_set=images.classes,
        classes=images.classes,
        n_boot=max(BOOTSTRAP, 1),
        seed=SEED,
    )
    for name in ("RR irregularity", "majority class")
}
fig = plots.plot_paired_bootstrap(versus, xlabel="macro-F1 (NSR/AF/OTHER) difference")
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "paired_bootstrap")
verdict = "; ".join(
    f"{pair}: {v['difference']:+.3f} [{v['lo']:+.3f}, {v['hi']:+.3f}]"
    + (" (better)" if v["lo"] > 0 else " (worse)" if v["hi"] < 0 else " (not distinguishable)")
    for pair, v in versus.items()
)
print(verdict)
fig

# %% [markdown]
"""
## 5. The errors

`errors.csv` lists the wrong strips, most confident first; the Grad-CAM pages show where the
network looked. One confusion to look for in the rows below (the `rhythm` column of
`labels.csv` holds the original code): atrial flutter (`AFL`) with regular conduction has
regular RR intervals, so the RR baseline cannot find it; only the flutter waves between the
beats can.
"""

# %%
errors = pd.read_csv(OUT / "evaluation" / "errors.csv")
print(f"{len(errors)} of {len(test_rows)} test strips wrong")
errors.head(10)

# %%
worst = errors.head(4)
if len(worst):
    fig = plots.plot_image_grid(
        np.stack([decode_image(FOLDER / f) for f in worst["file"]]),
        [f"{t} called {p}" for t, p in zip(worst.iloc[:, 1], worst.iloc[:, 2])],
        ncols=1,
    )
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "errors")
    display(fig)

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "strips": int(len(labels)),
        "patients": int(labels["patient"].nunique()),
        "counts": counts.to_dict(orient="index"),
        "sides": {s: int(len(split.rows(s))) for s in ("train", "val", "test")},
        "duplicates_across_sides": int(len(duplicates)),
        "test": table.to_dict(orient="index"),
        "versus": {
            k: {m: v[m] for m in ("difference", "lo", "hi", "share_above_zero")}
            for k, v in versus.items()
        },
        "verdict": verdict,
    },
)

# %% [markdown]
"""
## Summary

- A folder of labelled ECG images is a first-class input: `ecgkit train --images DIR`,
  `ecgkit evaluate --model M --images DIR`, `ecgkit predict --model M FILE...`.
- Look before training: class counts per side, patients, sizes and near-duplicates across
  the sides come first, and the split puts whole patients on one side.
- Wide images are padded to a square, never squashed: a second of ECG keeps its width.
- A figure means something only beside baselines: the majority class says what learning
  nothing scores, and a few RR-irregularity numbers say what a cheap model of the rhythm
  scores. The table and the bootstrap above say where this run's network stands. Whether a
  larger budget would lift it (more batches, taller strips in tiles, another learning rate) is
  measured on the validation patients by `benchmarks/bench_strip_budget.py`
  (`benchmarks/README.md`).

## Exercises

1. Remove the `patient` column from a copy of `labels.csv` and train again: which warning do
   you get, how many near-duplicates cross the sides, and how do the test figures change?
2. Train with `fit="tile"` (square tiles of the strip, averaged at prediction): is the
   network better or worse than with padding, and why might a 3-s tile hide AF?
3. Which rhythm codes make up OTHER (`labels["rhythm"]`)? Which of them does the network
   confuse with NSR?
"""
