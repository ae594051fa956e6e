"""
Title: 30 · Evaluation on unseen patients, against simple baselines
Description: Evaluates the trained enhanced model on the test patients with every metric and figure
    of the evaluation library, puts four simple baselines beside it on the same beats, and compares
    with published inter-patient results.
What you will learn:
- per-class sensitivity, positive predictivity, specificity and F1 (the AAMI way), plus macro and
  weighted averages
- why a capped test sample needs weights, and what weighted counts in a confusion matrix mean
- confusion matrices, ROC and precision-recall curves, calibration (ECE)
- bootstrap confidence intervals resampled by patient, and why by patient
- how to judge a network against always-N, a 1-nearest-neighbour, an RR-interval logistic regression
  and gradient-boosted trees on the same context
- late fusion: combining the network with the RR intervals, the weight chosen on validation patients
- how to compare with the literature honestly (which records, which classes)
Prerequisites:
- 20_training (or a model file in MODEL_PATH)
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
GRID: bool = True  # draw the ECG-paper grid (1 mm / 5 mm) behind the trace
MAX_BEATS_PER_RECORD: int = 40  # cap of beats per record and class (0: no cap); table default 0
VAL_FRACTION: float = 0.2  # share of training patients held out for validation
TEST_MAX_BEATS_PER_RECORD: int = 100  # cap of validation and test beats per record and class (0:
#   every beat); capped beats carry weights N/n so metrics estimate every validation or test beat;
#   table default 0
BATCH_SIZE: int = 16  # images per batch; table default 32
BOOTSTRAP: int = 200  # bootstrap resamples (by patient) for confidence intervals
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs
MODEL_PATH: str = ""  # trained .keras model to evaluate; empty: RUN_DIR/models/enhanced.keras

# %%
import matplotlib.pyplot as plt
import numpy as np

from ecgkit import contract
from ecgkit.data.datasets import load_beats
from ecgkit.evaluation import baselines, evaluate, fusion, literature, provenance, scoring
from ecgkit.evaluation.predict import load_model
from ecgkit.params import record_list
from ecgkit.workbook import nb, plots

NOTEBOOK = "30_evaluation"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
CLASS_SET = ("N", "S", "V", "F")  # the class set of most inter-patient papers

# %% [markdown]
"""
## 1. The model and the test patients

The test patients are those of the `SPLIT` protocol (`inter-patient-strict`: DS2 of de Chazal
et al., paced records out). They chose nothing in training: not an epoch, not a threshold.
With `TEST_MAX_BEATS_PER_RECORD` the test beats are a stratified sample: at most that many per
record and class, drawn at random. Each sampled beat carries the weight `N / n` of its
(record, class) stratum (`N` beats there, `n` kept), so every weighted count below estimates
the count over **every** test beat, and the weights add up to exactly that number.
"""

# %%
path = nb.model_path(RUN_DIR, MODEL_PATH)
if not path.exists():
    raise FileNotFoundError(
        f"{path}: no trained model. Run 20_training first (same RUN_DIR), or set MODEL_PATH."
    )
model = load_model(path)

# what the model records about its training (ecgkit.evaluation.provenance): the model's protocol (a
# different SPLIT is used, with a warning); a GRID that contradicts the model is refused
SPLIT = provenance.protocol(model, SPLIT)
provenance.check_settings(model, {"GRID": GRID}, source="parameter GRID")
IMAGE_SIZE_OF_MODEL = nb.image_size_of(model)
print(f"model {path.name}: {model.count_params():,} parameters, {IMAGE_SIZE_OF_MODEL} px")

beats = load_beats(
    DATA_DIR or None,
    records=record_list(RECORDS),
    split=SPLIT,
    lead=LEAD,
    max_beats_per_record=TEST_MAX_BEATS_PER_RECORD,
    val_fraction=VAL_FRACTION,
    seed=SEED,
    progress=False,
)
test = beats.subset("test")
# N/n per record and class: the weighted beats are every test beat
weights = test.meta["weight"].to_numpy()
cap = (
    f"at most {TEST_MAX_BEATS_PER_RECORD} per record and class"
    if TEST_MAX_BEATS_PER_RECORD
    else "all"
)
print(
    f"{SPLIT}: {len(test)} test beats ({cap}) from records {' '.join(test.records())}; "
    f"weighted {weights.sum():,.0f} = every test beat of these records"
)

# %%
per_stratum = test.meta.groupby(["record", "label"])["weight"].agg(["size", "first", "sum"])
per_stratum.columns = ["beats kept", "weight N/n", "N (weighted)"]
assert np.isclose(weights.sum(), per_stratum["N (weighted)"].sum())
per_stratum.head(10)

# %% [markdown]
"""
## 2. Predict and evaluate

`evaluate_model` renders the test beats exactly as in training (`GRID` must match), predicts,
and calls `evaluate_predictions` with the weights, which computes everything below from the
probabilities. The bootstrap resamples **patients**, not beats: beats of one patient are not
independent, and resampling beats would give intervals that are far too narrow.

Sections 2-6 cover all five AAMI classes (N/S/V/F/Q) on every test record. Q is shown apart
(the cell after the report counts it): under the strict protocol (paced records out) it is a
handful of unclassifiable beats the model hardly ever sees in training. The headline figures, like
the literature's, are over N/S/V/F on the DS2 records (sections 7-10).
"""

# %%
nb.show_source(scoring.evaluate_predictions)

# %%
report = evaluate.evaluate_model(
    model, test, out_dir=OUT, grid=GRID, batch_size=BATCH_SIZE, n_boot=BOOTSTRAP, seed=SEED
)
print(scoring.format_summary(report))
assert report.weights is not None and report.n_beats == len(test)
assert np.isclose(report.confusion.sum(), weights.sum()) and np.isclose(
    report.n_weighted, weights.sum()
)
q_index = contract.CLASSES.index("Q")
q = test.labels == q_index
print(
    f"Q, apart: {q.sum()} test beats ({weights[q].sum():.0f} weighted); "
    f"the model predicts Q for {(report.y_prob.argmax(axis=1) == q_index).sum()} test beats"
)

# %%
nb.captioned(report.table(), "all five AAMI classes (N/S/V/F/Q), every test record, weighted")

# %% [markdown]
"""
## 3. Confusion matrices

The first matrix holds **weighted counts**: each cell estimates how many of all the test beats
fall there, not how many sampled beats did. The second divides each row by its total: the
diagonal is the sensitivity of each class.
"""

# %%
plots.plot_confusion_matrix(
    report.confusion,
    report.classes,
    title="Confusion matrix (weighted counts: estimated over every test beat)",
)

# %%
plots.plot_confusion_matrix(report.confusion, report.classes, normalize=True)

# %% [markdown]
"""
## 4. ROC and precision-recall (one class against the rest, weighted)
"""

# %%
plots.plot_roc_pr(report.roc, report.pr, report.per_class)

# %% [markdown]
"""
## 5. Calibration

Is a 0.9 confidence right 90% of the time? The expected calibration error (ECE) averages the
gap between confidence and accuracy over confidence bins (weighted).
"""

# %%
plots.plot_calibration(report.reliability, report.ece)

# %% [markdown]
"""
## 6. Confidence intervals (bootstrap by patient)
"""

# %%
ci = report.ci.set_index("metric")
print(f"{BOOTSTRAP} resamples of {len(set(test.meta['patient']))} {report.ci_unit}s")
nb.captioned(ci, "all five AAMI classes (N/S/V/F/Q), every test record: bootstrap by patient")

# %% [markdown]
"""
## 7. Four baselines on the same beats

A number means little without a yardstick. Four baselines from `ecgkit.evaluation.baselines`, fitted
on **every** beat of the training patients (they are cheap; a baseline has nothing to choose on
validation patients) and scored on exactly the same test beats with the same weights:

- `always_n` predicts N for every beat: what accuracy alone rewards;
- `nearest_neighbour` (1-NN) on the beat's shape around the R peak plus the RR features;
- `rr_logistic_regression` on the RR-interval ratios only (no morphology at all);
- `gradient_boosted_trees` on the beat's **context**, the same 74 numbers the network's
  context branch reads (`ecgkit.data.context`: the RR ratios against the patient's rhythm and the
  shape minus the patient's usual beat), fitted in well under a minute. It is the strongest
  cheap model we know of: where it beats the network, the table says so, and the network has
  not earned its cost.

`comparison_table` scores every entry over the class set N/S/V/F on the DS2 records (the
literature's test set): beats of other classes are dropped and each model predicts by the
argmax over the set.
"""

# %%
nb.show_source(baselines.comparison_table)

# %%
train_beats = load_beats(
    DATA_DIR or None,
    records=record_list(RECORDS),
    split=SPLIT,
    lead=LEAD,
    val_fraction=VAL_FRACTION,
    seed=SEED,
    progress=False,
).subset("train")
# no patient on both sides
assert not set(train_beats.meta["patient"]) & set(test.meta["patient"])
results = {"network": report.y_prob, **baselines.run_baselines(train_beats, test)}
table = baselines.comparison_table(results, test, class_set=CLASS_SET, records=contract.DS2)
print(
    f"baselines fitted on {len(train_beats)} training beats "
    f"of {len(train_beats.records())} records"
)
nb.captioned(table, f"{'/'.join(CLASS_SET)} on the DS2 test records, weighted")

# %% [markdown]
"""
## 8. The network and the RR intervals together (late fusion)

S beats usually look like N beats: what marks them is that they come early against the
patient's own rhythm. The RR-LR reads exactly that; the network has to find it in the picture.
`fusion.fuse` multiplies the two experts' probabilities, a weighted geometric mean
`p_network ** (1 - w) * p_RR ** w`: `w = 0` is the network alone, `w = 1` the RR-LR alone.

`w` is a choice, like the epoch, so it is made on the **validation** patients (the ones that
chose the epoch in 20), never on the test patients: the network and the RR-LR (fitted on the
training patients only) predict the validation beats, and `choose_weight` keeps the grid
value with the lowest class-balanced cross-entropy there. Why not the best validation
macro-F1? Four validation patients make that curve flat and jagged: it counts argmax flips of
a few beats. The cross-entropy uses every probability and is smooth; both are plotted.
"""

# %%
nb.show_source(fusion.fuse)

# %%
val = beats.subset("val")
assert not set(val.meta["patient"]) & (set(train_beats.meta["patient"]) | set(test.meta["patient"]))
_, val_prob = evaluate.predict_beats(model, val, grid=GRID, batch_size=BATCH_SIZE)
val_rr = baselines.rr_logistic_regression(train_beats, val)
FUSION_WEIGHT, fusion_curve = fusion.choose_weight(
    val_prob, val_rr, val.labels, weights=val.meta["weight"].to_numpy(), class_set=CLASS_SET
)
print(
    f"{len(val)} validation beats of records {' '.join(val.records())}: chosen w = {FUSION_WEIGHT}"
)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.5))
fusion_curve["cross_entropy"].plot(
    ax=a1, marker="o", title="validation: class-balanced cross-entropy (minimised)"
)
fusion_curve.drop(columns="cross_entropy").plot(
    ax=a2, marker="o", ylim=(0, 1.02), title="validation: macro-F1 and sensitivities"
)
for ax in (a1, a2):
    ax.axvline(FUSION_WEIGHT, color="grey", ls="--")
    ax.set(xlabel="w (0 = network alone, 1 = RR-LR alone)")
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "fusion_weight")
nb.captioned(fusion_curve, f"validation patients, {'/'.join(CLASS_SET)}, weighted")

# %% [markdown]
"""
The fused model is scored on the test beats exactly like the others: one more row in the
comparison table. Whether it beats both of its parts on unseen patients is for the table and
the bootstrap below to say.
"""

# %%
results["network+RR"] = fusion.fuse(report.y_prob, results["rr_logistic_regression"], FUSION_WEIGHT)
table = baselines.comparison_table(results, test, class_set=CLASS_SET, records=contract.DS2)
nb.captioned(table, f"{'/'.join(CLASS_SET)} on the DS2 test records, weighted")

# %% [markdown]
"""
## 9. Better, or only luckier?

Is the network (or the fused model) better than a baseline, or only luckier on these few
patients? The paired bootstrap answers per pair: resample the test patients, score both models
on the same resample, and look at the distribution of the macro-F1 difference. (Notebook 32
uses the same function for the baseline-against-enhanced question.)
"""

# %%
nb.show_source(scoring.paired_bootstrap)

# %% [markdown]
"""
The table, the paired bootstraps, the class coverage and the verdict below are one chain,
`baselines.compare`, the same call the demo makes: each model is compared with every other
row on the DS2 beats, and the bootstrap's point estimates are the table's figures.
"""

# %%
nb.show_source(baselines.compare)

# %%
comparison = baselines.compare(
    results,
    test,
    models=("network", "network+RR"),
    class_set=CLASS_SET,
    records=contract.DS2,
    n_boot=BOOTSTRAP,
    seed=SEED,
)
assert comparison.table.equals(table)
versus, coverage, verdict = comparison.versus, comparison.coverage, comparison.verdicts
paired = comparison.paired()
nb.captioned(
    paired,
    f"macro-F1 over {'/'.join(CLASS_SET)}, DS2 test records: paired patient "
    f"bootstrap, {BOOTSTRAP} resamples",
)

# %% [markdown]
"""
Each panel is one pair: the macro-F1 differences over the patient resamples, 0 (black), the
difference on all the test beats (red) and its interval (shaded). An interval that holds 0
means these test patients cannot tell the two apart.
"""

# %%
fig = plots.plot_paired_bootstrap(
    {f"network - {baselines.LABELS.get(n, n)}": v for n, v in versus["network"].items()},
    xlabel=f"macro-F1 ({'/'.join(CLASS_SET)}) difference",
)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "paired_bootstrap")
fig

# %% [markdown]
"""
The verdict is computed from the tables above, not written in advance: it says what this run
shows, whichever way it goes, and whether the network predicts every class that occurs.
"""

# %%
nb.show_source(baselines.verdict)

# %%
print("\n\n".join(verdict.values()))

# %% [markdown]
"""
## 10. Beside the literature

Published inter-patient results on DS2 (de Chazal's protocol), grouped by the class set each
paper used; above each group, our rows computed the same way (DS2 records only, other classes
dropped, weighted): the network, then the network fused with the RR-LR (most of those papers
use RR features too). With a few records (`RECORDS`), capped training beats or after short
CPU training the numbers are **not** directly comparable: the `note` says what differs.
"""

# %%
fused_report = scoring.evaluate_predictions(
    test.labels,
    results["network+RR"],
    n_boot=0,
    weights=weights,
    records=test.meta["record"].to_numpy(),
)
lit = literature.literature_table(report, others={"network+RR": fused_report})
ours = lit[lit["kind"] == "this run"].set_index("class_set")
ours_fused = lit[lit["kind"] == "this run, network+RR"].set_index("class_set")
lit

# %%
FIG = [
    "macro_f1",
    "accuracy",
    "N_Se",
    "N_PP",
    "S_Se",
    "S_PP",
    "V_Se",
    "V_PP",
    "F_Se",
    "F_PP",
    "n_beats",
    "n_weighted",
]
PER_CLASS = ["sensitivity", "ppv", "specificity", "f1", "support", "beats"]


def literature_rows(rows):
    return rows[[c for c in FIG if c in rows.columns] + ["note"]].to_dict(orient="index")


nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "split": SPLIT,
        "test_beats": len(test),
        "test_records": test.records(),
        "test_weighted": report.n_weighted,
        "weight_sum": float(weights.sum()),
        "confusion_sum": float(report.confusion.sum()),
        "accuracy": report.accuracy,
        "macro": report.macro,
        "weighted": report.weighted,
        "ece": report.ece,
        "per_class": report.per_class[PER_CLASS].to_dict(orient="index"),
        "ci": ci[["estimate", "lo", "hi"]].to_dict(orient="index"),
        "ci_unit": report.ci_unit,
        "absent_classes": report.absent_classes,
        "class_set": list(CLASS_SET),
        "comparison": table[FIG].to_dict(orient="index"),
        "versus_baselines": {
            f"{m} - {n}": row for (m, n), row in paired.to_dict(orient="index").items()
        },
        "coverage": coverage,
        "verdict": verdict,
        "fusion": {
            "weight": FUSION_WEIGHT,
            "val_beats": len(val),
            "val_records": val.records(),
            "val_cross_entropy": fusion_curve["cross_entropy"].to_dict(),
            "val_macro_f1": fusion_curve["macro_f1"].to_dict(),
        },
        "literature_ours": literature_rows(ours),
        "literature_ours_fused": literature_rows(ours_fused),
    },
)

# %% [markdown]
"""
## Summary

- Per-class Se/+P/Sp/F1 and macro averages are the honest summary for unbalanced classes;
  accuracy alone rewards predicting N, which is exactly what the always-N baseline does.
- A capped test sample is fine when each beat carries its weight `N / n`: the metrics then
  estimate those on every test beat, and the confusion matrix holds weighted counts.
- A network is only worth its cost if it beats simple baselines on the same beats; the verdict
  above is computed, with a paired patient bootstrap, not asserted.
- The RR intervals carry what the images teach a short CPU run poorly (S beats look like N
  beats; they come early). Late fusion is one line (`fusion.fuse`) and one choice (`w`),
  made on the validation patients like the epoch; the verdict above says whether the fused
  model beats both of its parts on these test patients.
- Intervals are bootstrapped by patient; with few test patients they are wide, and that is the
  truth about the data, not a flaw of the method.
- Literature comparisons need the same records and classes; the table says when they differ.

## Exercises

1. Set `TEST_MAX_BEATS_PER_RECORD = 0` (every test beat) and rerun: how far do the weighted
   figures of the capped run move? Is that within the bootstrap intervals?
2. Evaluate the model on the validation patients (`beats.subset("val")`). Which is higher, and
   why should you never choose a model on the test patients?
3. Give `rr_logistic_regression` all seven RR features
   (`run_baselines(..., options={"rr_logistic_regression": {"features": "all"}})`). Does it
   do better on patients it has never seen? Why might the raw intervals not transfer?
4. Which class has the widest interval? Count its test patients.
5. Plot the test macro-F1 of `fusion.fuse(report.y_prob, results["rr_logistic_regression"], w)`
   for every `w` of `fusion.WEIGHT_GRID` beside `fusion_curve`. Does the validation curve pick
   a good `w`? (Looking is fine; choosing `w` on this curve would not be.)
"""
