"""
Title: 32 · Ablation: do the enhancements help?
Description: Decides whether the enhanced ResNet50 beats the plain baseline that notebook 20 trained
    with the same data, recipe and seed, with a paired patient bootstrap of the macro-F1 difference
    on the test patients.
What you will learn:
- how to run a fair comparison: same training data, seed, recipe and budget; only the enhancements
  differ
- the paired patient bootstrap: both models scored on every resample of the test patients
- how to read its result: the difference, its 95% interval and the share of resamples above 0
- how to decide whether an enhancement helps *here*, and when the evidence is too weak to say
Prerequisites:
- 20_training (RUN_DIR/models/baseline.keras and enhanced.keras)
- 30_evaluation
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
VAL_FRACTION: float = 0.2  # share of training patients held out for validation
TEST_MAX_BEATS_PER_RECORD: int = 100  # cap of validation and test beats per record and class (0:
#   every beat); capped beats carry weights N/n so metrics estimate every validation or test beat;
#   table default 0
BATCH_SIZE: int = 16  # images per batch; table default 32
BOOTSTRAP: int = 200  # bootstrap resamples (by patient) for confidence intervals
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs

# %%
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data.datasets import load_beats
from ecgkit.evaluation import baselines, scoring
from ecgkit.evaluation.evaluate import predict_beats
from ecgkit.evaluation.predict import load_model
from ecgkit.model import context_branch
from ecgkit.model.cost import count_params
from ecgkit.params import record_list
from ecgkit.workbook import nb, plots

NOTEBOOK = "32_ablation"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
MODELS = nb.model_path(RUN_DIR, "").parent  # RUN_DIR/models, written by 20
CLASS_SET = ("N", "S", "V", "F")  # fixed before looking at any result

# %% [markdown]
"""
## 1. The models: trained in 20 with one recipe

Notebook 20 trained the plain ResNet50 (`baseline.keras`) and the enhanced ResNet50
(`enhanced.keras`) on the same training patients and beats, with the same seed, loss,
schedule, number of steps and epoch choice on validation patients; only the four
enhancements differ. Nothing is trained here. Any other `.keras` file in `RUN_DIR/models`
(a variant with one enhancement switched off, say; see the exercises) is compared with the
baseline the same way.
"""

# %%
missing = [n for n in ("baseline", "enhanced") if not (MODELS / f"{n}.keras").is_file()]
if missing:
    raise FileNotFoundError(
        f"{MODELS}: no {', '.join(m + '.keras' for m in missing)}. "
        "Run 20_training first with the same RUN_DIR."
    )
names = ["baseline", "enhanced"] + sorted(
    p.stem for p in MODELS.glob("*.keras") if p.stem not in ("baseline", "enhanced")
)
models = {n: load_model(MODELS / f"{n}.keras") for n in names}
sizes = {n: nb.image_size_of(m) for n, m in models.items()}
assert (
    len(set(sizes.values())) == 1
), f"models of different image sizes cannot share one test set: {sizes}"
cost = pd.DataFrame(
    {
        "parameters": {n: count_params(m) for n, m in models.items()},
        "image size": sizes,
        # chosen on validation patients after training; 0: the context branch decides alone
        "image logit weight": {n: context_branch.image_weight(m) for n, m in models.items()},
    }
)
cost

# %% [markdown]
"""
## 2. The same test beats, the same weights

Every model classifies the same test beats, rendered the same way; the cap weights `N / n`
make each figure an estimate over every test beat (notebook 30, section 1). As in notebook
30, the figures are over the class set N/S/V/F on the DS2 records (the literature's test set:
with `SPLIT: inter-patient` the paced test records 104 and 217 are left out here).
"""

# %%
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
probs = {}
for n, m in models.items():
    y_true, probs[n] = predict_beats(m, test, grid=GRID, batch_size=BATCH_SIZE)
assert (y_true == test.labels).all()
ds2 = test.meta["record"].astype(str).isin(contract.DS2).to_numpy()
print(f"{ds2.sum()} of {len(test)} test beats are from DS2 records")
table = baselines.comparison_table(probs, test, class_set=CLASS_SET, records=contract.DS2)
nb.captioned(table, f"{'/'.join(CLASS_SET)} on the DS2 test records, weighted")

# %% [markdown]
"""
## 3. The paired patient bootstrap

One macro-F1 per model is not a verdict: with a handful of test patients, a different handful
could reverse the order. Unpaired intervals (one per model) overlap easily, because most of
their width is patient-to-patient variation that both models share. The paired bootstrap
resamples the test **patients** with replacement and scores *both* models on each resample,
so that shared variation cancels in the difference. Its outputs: the difference on all test
beats, the 95% percentile interval of the resampled differences, and the share of resamples in
which the enhanced model is ahead. The class set (N/S/V/F), the weights and the number of
resamples are fixed before looking at the result.
"""

# %%
nb.show_source(scoring.paired_bootstrap)

# %%
patients = test.meta["patient"].to_numpy()[ds2]
paired = {
    n: scoring.paired_bootstrap(
        test.labels[ds2],
        probs[n][ds2],
        probs["baseline"][ds2],
        patients,
        weights=weights[ds2],
        class_set=CLASS_SET,
        n_boot=BOOTSTRAP,
        seed=SEED,
    )
    for n in names
    if n != "baseline"
}
main = paired["enhanced"]
assert np.isclose(main["a"], table.loc["enhanced", "macro_f1"]) and np.isclose(
    main["b"], table.loc["baseline", "macro_f1"]
)
summary = pd.DataFrame(
    {
        n: {k: v[k] for k in ("a", "b", "difference", "lo", "hi", "share_above_zero")}
        for n, v in paired.items()
    }
).T.rename(columns={"a": "macro_f1", "b": "baseline_macro_f1"})
summary.index.name = "model minus baseline"
nb.captioned(
    summary,
    f"macro-F1 over {'/'.join(CLASS_SET)}, DS2 test records: paired patient "
    f"bootstrap, {BOOTSTRAP} resamples",
)

# %%
fig = plots.plot_paired_bootstrap(
    {"enhanced - baseline": main}, xlabel="macro-F1 (N/S/V/F), enhanced minus baseline"
)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "paired_bootstrap")
fig

# %% [markdown]
"""
## 4. The verdict

Computed from the bootstrap, not written in advance: *better* if the whole 95% interval is
above 0, *worse* if it is below, otherwise *not distinguishable here*. That last outcome is an
honest result, not a failure: it says these test patients cannot separate the two models.
"""


# %%
def decide(v):
    if v["lo"] > 0:
        return "better than the baseline"
    return "worse than the baseline" if v["hi"] < 0 else "not distinguishable from the baseline"


decisions = {n: decide(v) for n, v in paired.items()}
coverage = {
    n: scoring.class_coverage(test.labels[ds2], p[ds2], class_set=CLASS_SET)
    for n, p in probs.items()
}
extra = cost.loc["enhanced", "parameters"] / cost.loc["baseline", "parameters"] - 1
verdict = (
    f"On {main['n_beats']} DS2 test beats of {main['n_patients']} patients "
    f"(weighted {main['n_weighted']:,.0f}), the enhanced model's macro-F1 over "
    f"{'/'.join(CLASS_SET)} is {main['a']:.3f} against the baseline's {main['b']:.3f}: "
    f"difference {main['difference']:+.3f}, "
    f"95% interval [{main['lo']:+.3f}, {main['hi']:+.3f}], "
    f"enhanced ahead in {main['share_above_zero']:.0%} of {main['n_boot']} patient resamples. "
    f"Verdict: {decisions['enhanced']} on these test patients, for {extra:+.0%} parameters."
)
image_weights = cost["image logit weight"].dropna()
if len(image_weights) and (image_weights == 0).all():
    verdict += (
        " Both models give their image logits weight 0 (chosen on the validation patients): "
        "each classifies from its context branch alone, so this compares two context branches "
        "trained beside different image networks, not the four enhancements."
    )
for n in names:
    if coverage[n]["never_predicted"]:
        verdict += f" The {n} model never predicts {', '.join(coverage[n]['never_predicted'])}."
print(verdict)

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "models": names,
        "class_set": list(CLASS_SET),
        "bootstrap": BOOTSTRAP,
        "split": SPLIT,
        "test_beats": len(test),
        "test_weighted": float(weights.sum()),
        "ds2_beats": int(ds2.sum()),
        "parameters": cost["parameters"].to_dict(),
        "image_logit_weight": cost["image logit weight"].to_dict(),
        "comparison": table[
            ["macro_f1", "accuracy", "N_Se", "N_PP", "S_Se", "S_PP", "V_Se", "V_PP", "F_Se", "F_PP"]
        ].to_dict(orient="index"),
        "paired": {n: {k: v for k, v in p.items() if k != "samples"} for n, p in paired.items()},
        "decision": decisions,
        "coverage": coverage,
        "verdict": verdict,
    },
)

# %% [markdown]
"""
## Summary

- A fair comparison changes one thing: notebook 20 trained both models with the same data,
  seed, recipe and budget.
- The paired patient bootstrap scores both models on the same resamples of test patients, so
  the variation they share cancels; report the difference, its interval and the share of
  resamples above 0.
- The verdict above is computed. "Not distinguishable here" is an honest outcome of few test
  patients and short training; rerun with `params/gpu.yaml` (full DS1/DS2, more epochs) before
  claiming an enhancement helps or hurts.

## Exercises

1. Repeat with another `SEED` (in 20 and here). How often does the verdict change?
2. Ablate one enhancement: train a variant with the profile of your run and one switch off,
   e.g. `ecgkit train --params cpu --set ATTENTION=false --run-dir runs/no_attention`, copy its
   `model.keras` to `RUN_DIR/models/no_attention.keras` and rerun this notebook. Is the
   variant distinguishable from the baseline? From the enhanced model (`scoring.paired_bootstrap`
   with `probs["enhanced"]` as B)?
3. Compute the unpaired intervals (`scoring.evaluate_predictions(..., patients=...)` per model) and
   compare their overlap with the paired interval. Why is the paired one narrower?
"""
