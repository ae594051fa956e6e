"""
Title: 01 · Data exploration: real MIT-BIH records
Description: Reads real MIT-BIH Arrhythmia Database records, looks at signals, beat annotations and
    AAMI classes, and shows why evaluation must split by patient.
What you will learn:
- what a WFDB record is: a signal (here lead MLII, 360 Hz, mV) plus reference beat annotations
- how annotation symbols map to the five AAMI EC57 classes N, S, V, F, Q
- how unbalanced the classes are, per record and per patient
- how RR intervals differ between classes (S beats come early)
- the strict AAMI inter-patient protocol every profile uses, and its paced-records variant
- what a beat-level random split leaks, measured with a 1-nearest-neighbour classifier
Prerequisites:
- 00_setup_and_tour
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
MAX_BEATS_PER_RECORD: int = 40  # cap of beats per record and class (0: no cap); table default 0
VAL_FRACTION: float = 0.2  # share of training patients held out for validation
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data import records as rec_mod
from ecgkit.data import splits
from ecgkit.data.datasets import load_beats
from ecgkit.evaluation.scoring import evaluate_predictions
from ecgkit.params import record_list
from ecgkit.workbook import nb
from ecgkit.workbook.plots import plot_class_distribution

NOTEBOOK = "01_data_exploration"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
DATA = nb.data_dir(DATA_DIR)
CHOSEN = record_list(RECORDS)  # the RECORDS parameter as names; None: every record
NAMES = CHOSEN or rec_mod.list_records(DATA)
EXAMPLE = "208" if "208" in NAMES else NAMES[0]  # 208 has N, S, V and F beats
KNN_MAX_BEATS = 3000  # beats per side in the nearest-neighbour experiment (keeps it fast)
PROTOCOL = "inter-patient-strict"  # the SPLIT of every profile (params/*.yaml)
print(f"{len(NAMES)} records from {DATA}; example record {EXAMPLE}")

# %% [markdown]
"""
## 1. One record: signal and reference beats

A WFDB record is a header (`.hea`: leads, sampling rate, gain), a signal file (`.dat`) and an
annotation file (`.atr`): one symbol per beat at the sample of its R peak, written and checked
by cardiologists. `read_record` reads **one lead chosen by name** (record 114 stores MLII second,
so "the first column" would be wrong) and keeps only beat annotations:
"""

# %%
nb.show_source(rec_mod.read_record)

# %%
record = rec_mod.read_record(DATA, EXAMPLE, lead=LEAD)
print(
    f"record {record.name}: patient {record.patient}, lead {record.sig_name}, {record.fs:g} Hz, "
    f"{record.signal.shape[0] / record.fs / 60:.1f} min, {len(record.samples)} beats"
)
print("non-beat annotations skipped:", dict(record.skipped))
assert record.fs == contract.FS and record.signal.ndim == 1
assert len(record.samples) == len(record.symbols) == len(record.labels)

# %% [markdown]
"""
Ten seconds of the signal with the reference beats on it (colour = AAMI class):
"""

# %%
first_v = record.samples[np.flatnonzero(record.labels == contract.CLASSES.index("V"))]
start = int(max(first_v[0] - 5 * record.fs, 0)) if len(first_v) else 0
stop = start + int(10 * record.fs)
t = np.arange(start, stop) / record.fs
fig, ax = plt.subplots(figsize=(12, 3))
ax.plot(t, record.signal[start:stop], lw=0.8, color="k")
colours = dict(
    zip(contract.CLASSES, ["tab:green", "tab:orange", "tab:red", "tab:purple", "tab:blue"])
)
inside = (record.samples >= start) & (record.samples < stop)
for s, sym, lab in zip(record.samples[inside], record.symbols[inside], record.labels[inside]):
    cls = contract.CLASSES[lab]
    ax.annotate(
        f"{sym}\n{cls}",
        (s / record.fs, record.signal[s]),
        xytext=(0, 8),
        textcoords="offset points",
        ha="center",
        fontsize=8,
        color=colours[cls],
    )
ax.set(xlabel="time (s)", ylabel="mV", title=f"record {EXAMPLE}, lead {record.sig_name}")
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "signal_with_beats")

# %% [markdown]
"""
## 2. Beat symbols and AAMI classes

MIT-BIH uses about twenty beat symbols. The AAMI EC57 standard groups them into five classes,
and the table that does it lives in one place, `ecgkit.contract.AAMI_MAP`:
"""

# %%
aami = pd.DataFrame({"symbol": list(contract.AAMI_MAP), "class": list(contract.AAMI_MAP.values())})
aami["meaning"] = aami["class"].map(contract.CLASS_NAMES)
aami.groupby("class", sort=False).agg(symbols=("symbol", " ".join), meaning=("meaning", "first"))

# %%
beats = rec_mod.beat_table(DATA, NAMES)  # annotations only: fast, no signal read
print(f"{len(beats):,} beats in {beats['record'].nunique()} records")
symbol_counts = beats.groupby(["label", "symbol"]).size().rename("beats")
assert set(beats["label"]) <= set(contract.CLASSES)
symbol_counts.to_frame().T

# %% [markdown]
"""
## 3. Class balance per record and per patient

Normal beats dominate, and the rare classes come from a handful of patients: S beats mostly
from a few records (232 in particular), F beats from 208 and 213, Q (paced) beats from the
paced records. Whatever a model learns about a rare class, it learns from very few people.
"""

# %%
per_record = pd.crosstab(beats["record"], beats["label"]).reindex(
    columns=list(contract.CLASSES), fill_value=0
)
per_patient = pd.crosstab(beats["patient"], beats["label"]).reindex(
    columns=list(contract.CLASSES), fill_value=0
)
class_counts = per_record.sum()
print("beats per class:", class_counts.to_dict())
print(f"{len(per_record)} records, {len(per_patient)} patients")
per_record.style.background_gradient(axis=None, cmap="Blues")

# %%
share = (per_patient > 0).sum().rename("patients with the class")
top = (per_patient.max() / per_patient.sum().replace(0, np.nan)).rename(
    "share from the largest patient"
)
balance = pd.concat([class_counts.rename("beats"), share, top.round(2)], axis=1)
balance

# %%
fig, ax = plt.subplots(figsize=(10, 3.5))
(per_record.div(per_record.sum(axis=1), axis=0)).plot.bar(
    stacked=True, ax=ax, width=0.85, color=[colours[c] for c in contract.CLASSES]
)
ax.set(ylabel="share of the record's beats", title="class mix per record")
ax.legend(ncol=5, fontsize=8)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "class_mix_per_record")

# %% [markdown]
"""
## 4. RR intervals per class

The RR interval is the time from the previous beat. Supraventricular (S) and ventricular (V)
ectopic beats come **early**: a short RR before them, often a longer one after. That is why each
image in this workbook shows 3 s around the beat, neighbours included: the timing is part of
the evidence.
"""

# %%
beats = beats.sort_values(["record", "sample"]).reset_index(drop=True)
same_record = beats["record"].eq(beats["record"].shift())
beats["rr_pre_s"] = (beats["sample"].diff() / contract.FS).where(same_record)
beats["rr_post_s"] = beats.groupby("record")["rr_pre_s"].shift(-1)
beats["rr_ratio"] = beats["rr_pre_s"] / beats["rr_post_s"]
rr = beats.groupby("label")[["rr_pre_s", "rr_ratio"]].median().reindex(list(contract.CLASSES))
rr

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
present = [c for c in contract.CLASSES if beats.loc[beats["label"] == c, "rr_pre_s"].notna().any()]
ax.boxplot([beats.loc[beats["label"] == c, "rr_pre_s"].dropna() for c in present], showfliers=False)
ax.set_xticks(range(1, len(present) + 1), present)
ax.set(xlabel="AAMI class", ylabel="RR before the beat (s)", title="S and V beats come early")
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "rr_per_class")
if {"N", "S"} <= set(present):
    assert rr.loc["S", "rr_pre_s"] < rr.loc["N", "rr_pre_s"], "S beats should be premature"

# %% [markdown]
"""
## 5. Why inter-patient evaluation matters

Beats of one patient look alike. If beats are split **at random**, the test set holds beats of
the very patients the model trained on, and the model can score well by recognising the
patient rather than the beat class. Clinically, a model always meets a *new* patient. The
standard protocol (de Chazal et al., 2004) therefore splits **records by patient**: DS1 for
training, DS2 for testing, and the four paced records (102, 104, 107, 217) on neither side, as
AAMI recommends. This strict protocol, `inter-patient-strict`, is the `SPLIT` of every profile
in `params/` and the one the literature table of notebook 30 compares with. Record 201 stays
out of training: its patient is also record 202, in DS2. Validation patients are carved from
the training side only.

A variant, `inter-patient`, puts two paced records on each side (102 and 107 in training,
104 and 217 in test), so that paced (Q) beats exist in training and test; its figures are
not comparable with the literature's. The cell after the source shows both.
"""

# %%
nb.show_source(splits.inter_patient_split)

# %%
split = splits.inter_patient_split(NAMES, val_fraction=VAL_FRACTION, seed=SEED, strict=True)
print(f"{PROTOCOL} (the profiles' protocol):")
for name, recs in split.items():
    print(f"  {name:5s} {len(recs):2d} records: {' '.join(recs)}")
print("  left out:", splits.exclusion_reasons(NAMES, split=PROTOCOL) or "none of RECORDS")
variant = splits.inter_patient_split(NAMES, val_fraction=VAL_FRACTION, seed=SEED)
added = {side: sorted(set(variant[side]) - set(split[side])) for side in variant}
added = {side: recs for side, recs in added.items() if recs}
print("the inter-patient variant adds:", added or "nothing here (no paced record in RECORDS)")
overlap = splits.patient_overlap(split["train"] + split["val"], split["test"])
assert not overlap, f"patients on both sides: {overlap}"
print("patients shared by training and test:", overlap or "none")

# %% [markdown]
"""
Now the experiment. We load the same beats twice: split by patient, and split at random by
beat (`beat-random-LEAKS-PATIENTS`, a name that says what it does). Then a deliberately simple
classifier, **1-nearest-neighbour on the raw windows**, labels each test beat with the class
of the most similar training beat. It has no notion of "class"; it only finds look-alikes.
"""

# %%
ip = load_beats(
    DATA_DIR or None,
    split=PROTOCOL,
    records=CHOSEN,
    lead=LEAD,
    max_beats_per_record=MAX_BEATS_PER_RECORD,
    val_fraction=VAL_FRACTION,
    seed=SEED,
    progress=False,
)
leaky = load_beats(
    DATA_DIR or None,
    split="beat-random-LEAKS-PATIENTS",
    records=CHOSEN,
    lead=LEAD,
    max_beats_per_record=MAX_BEATS_PER_RECORD,
    val_fraction=VAL_FRACTION,
    seed=SEED,
    progress=False,
)
counts = {s: ip.subset(s).class_counts() for s in ip.splits}
pd.DataFrame(counts).T

# %%
plot_class_distribution(counts)


# %%
def nearest_neighbour(beatset, rng):
    train, test = beatset.subset("train"), beatset.subset("test")
    tr = rng.permutation(len(train))[:KNN_MAX_BEATS]
    te = rng.permutation(len(test))[:KNN_MAX_BEATS]
    a = train.windows[tr, ::4]  # 90 Hz is plenty for look-alikes
    b = test.windows[te, ::4]
    d2 = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]
    nearest = d2.argmin(axis=1)
    y_true = test.labels[te]
    y_prob = np.eye(len(contract.CLASSES))[train.labels[tr][nearest]]
    report = evaluate_predictions(y_true, y_prob, n_boot=0)
    same_patient = (
        train.meta["patient"].to_numpy()[tr][nearest] == test.meta["patient"].to_numpy()[te]
    ).mean()
    return {
        "accuracy": report.accuracy,
        "macro_f1": report.macro["f1"],
        "nearest_is_same_patient": float(same_patient),
        "test_beats": int(len(te)),
    }


rng = np.random.default_rng(SEED)
knn = pd.DataFrame(
    {
        "inter-patient": nearest_neighbour(ip, rng),
        "beat-random (leaks)": nearest_neighbour(leaky, rng),
    }
).T
knn

# %%
assert knn.loc["inter-patient", "nearest_is_same_patient"] == 0.0
leaky, fair = knn.loc["beat-random (leaks)"], knn.loc["inter-patient"]
print(
    f"With the leaky split, the nearest training beat comes from the same patient "
    f"{leaky['nearest_is_same_patient']:.0%} of the time; accuracy goes from "
    f"{fair['accuracy']:.2f} (new patients) to {leaky['accuracy']:.2f} and macro-F1 (all "
    f"five classes) from {fair['macro_f1']:.2f} to {leaky['macro_f1']:.2f}."
)

# %% [markdown]
"""
That gap is what a beat-level split leaks: the score measures recognising patients already
seen. Published figures show the same gap at full scale. 2-D CNNs on beat images evaluated
with a random beat split report 99.2-99.35 % accuracy (Jun et al. 2018, arXiv:1804.06812,
report 99.05 % with a 10-fold cross-validation in which every record gives test beats). One
method scored S beats at Se 71 % / +P 94 % when tested on patients whose beats it trained on
(patient-specific), and at 15 % / 47 % on new patients (inter-patient). Only inter-patient
figures say how a model does on a new patient; every later notebook uses the strict
inter-patient protocol.
"""

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "records": len(NAMES),
        "patients": int(len(per_patient)),
        "beats": int(len(beats)),
        "class_counts": class_counts.to_dict(),
        "split_records": {k: len(v) for k, v in split.items()},
        "split_class_counts": counts,
        "patient_overlap": len(overlap),
        "rr_pre_median_s": rr["rr_pre_s"].dropna().round(3).to_dict(),
        "knn": knn.round(4).to_dict(orient="index"),
    },
)

# %% [markdown]
"""
## Summary

- A record = one lead (chosen by name, 360 Hz, mV) + cardiologists' beat annotations.
- `AAMI_MAP` turns ~20 symbols into 5 classes; N dominates, S/F/Q come from few patients.
- S and V beats are premature: the RR interval is evidence, so images keep the neighbours.
- A random beat split leaks patients: even a 1-NN look-alike search gains from it (the gap
  printed above). Evaluation here is always inter-patient, with the strict protocol (DS1 /
  DS2, paced records out); the `inter-patient` variant keeps two paced records on each side.

## Exercises

1. Plot 10 s of record 232 (`read_record(DATA, "232")`): what do its S beats look like?
2. Compute the share of V beats whose RR ratio (`rr_ratio`) is below 0.8. And for N beats?
3. Re-run the 1-NN experiment with `MAX_BEATS_PER_RECORD = 10` and `= 80`. Does the leak grow or
   shrink with more beats per patient? Why?
"""
