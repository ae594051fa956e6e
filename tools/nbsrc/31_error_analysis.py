"""
Title: 31 · Error analysis
Description: Looks at what the trained model gets wrong: a gallery of misclassified beats, errors
    per record and patient, confused class pairs, Grad-CAM and attention maps.
What you will learn:
- how to find the most confident mistakes and look at them
- why errors concentrate in a few records (patients), and what that means
- Grad-CAM: which image regions drove a prediction, from a map fine enough to resolve a beat
- how to read the trained model's ECG-block branches, attention and calibration maps
Prerequisites:
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
MODEL_PATH: str = ""  # trained .keras model to evaluate; empty: RUN_DIR/models/enhanced.keras

# %%
import keras
import numpy as np
import pandas as pd

from ecgkit import contract
from ecgkit.data import render
from ecgkit.data.datasets import load_beats
from ecgkit.evaluation import error_analysis as ea
from ecgkit.evaluation import provenance
from ecgkit.evaluation.evaluate import predict_beats
from ecgkit.evaluation.predict import load_model
from ecgkit.evaluation.scoring import evaluate_predictions
from ecgkit.model import context_branch, ecg_block
from ecgkit.model.factory import gradcam_layer_name
from ecgkit.params import record_list
from ecgkit.workbook import nb, plots

NOTEBOOK = "31_error_analysis"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
SHOW = 12  # beats in the gallery and the maps

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
y_true, y_prob = predict_beats(model, test, grid=GRID, batch_size=BATCH_SIZE)
y_pred = y_prob.argmax(axis=1)
wrong = y_pred != y_true
report = evaluate_predictions(
    y_true,
    y_prob,
    patients=test.meta["patient"].to_numpy(),
    records=test.meta["record"].to_numpy(),
    weights=weights,
    n_boot=0,
)
error_rate = 1 - report.accuracy  # weighted, all five classes: estimated over every test beat
is_q = y_true == contract.CLASSES.index("Q")
nsvf_rate = float((weights * wrong)[~is_q].sum() / weights[~is_q].sum())
print(f"{wrong.sum()} of {len(y_true)} sampled test beats misclassified.")
print(
    f"N/S/V/F: estimated error rate over every N, S, V and F test beat (weighted) "
    f"{nsvf_rate:.3f}"
)
print(
    f"Q, apart: {is_q.sum()} test beats ({weights[is_q].sum():.0f} weighted), "
    f"{(wrong & is_q).sum()} misclassified."
)
print(f"N/S/V/F/Q (all five classes, as notebook 30's report): {error_rate:.3f}")
assert len(y_true) == len(test) and np.isclose((weights * wrong).sum() / weights.sum(), error_rate)

# %% [markdown]
"""
Two numbers, two questions. The count of misclassified *sampled* beats is what the gallery and
the tables below show, beat by beat. The error rate is weighted: with the test cap, rare
classes (and with them most mistakes) are over-represented in the sample, so only the
weighted rate estimates how often the model errs on the patients' real beats. The headline is
over N/S/V/F, the literature's class set; Q is shown apart. The tables below cover all five
classes (their `errors_Q` column and the Q rows are those few beats).
"""

# %% [markdown]
"""
## 1. The most confident mistakes

Sorted by the confidence of the wrong prediction: these are the beats where the model is
surest and wrong, the best place to look for label noise, artefacts, or a systematic gap.
"""

# %%
table = ea.misclassified_table(y_true, y_prob, test.meta)
table["weight"] = weights[table["index"].to_numpy()]  # how many test beats each one stands for
table.head(10)

# %%
if len(table):
    shown = table.head(SHOW)
    images, _ = render.render_batch(
        test.windows[shown["index"].to_numpy()], IMAGE_SIZE_OF_MODEL, grid=GRID
    )
    lookup = dict(zip(shown["index"].to_numpy(), images))
    fig = ea.misclassified_gallery(lookup, shown, n=SHOW)
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "misclassified")
    display(fig)
else:
    print("no misclassified beats")

# %% [markdown]
"""
## 2. Errors per record and per patient

All five classes (N/S/V/F/Q). `errors` counts the sampled beats; `weighted_errors` and
`weighted_error_rate` estimate the errors over every beat of the record (rows sorted by them).
"""

# %%
nb.show_source(ea.errors_by)

# %%
per_record = ea.errors_per_record(y_true, y_pred, test.meta, weights=weights)
assert per_record["errors"].sum() == wrong.sum()
assert np.isclose(per_record["weighted_errors"].sum(), (weights * wrong).sum())
top_records = 3
total = per_record["weighted_errors"].sum()
share = per_record["weighted_errors"].head(top_records).sum() / total if total else 0.0
print(
    f"the {top_records} records with most errors hold {share:.0%} of the estimated errors; "
    f"{(per_record['errors'] > 0).sum()} of {len(per_record)} test records have any"
)
per_record.round(3)

# %%
ea.errors_per_patient(y_true, y_pred, test.meta, weights=weights).round(3)

# %% [markdown]
"""
Which classes are confused with which (all five classes, N/S/V/F/Q): from the weighted
confusion matrix, so `count` is an estimated number of test beats (not the sampled beats) and
`share_of_true` the share of that true class.
"""

# %%
pairs = ea.confused_pairs(report.confusion, report.classes, top=6)
pairs.round(3)

# %% [markdown]
"""
## 3. Grad-CAM

Grad-CAM weighs a spatial feature map by the gradient of a class score, showing which regions
pushed the prediction. Here for the predicted class of a few beats (mistakes first). It can
be no finer than the map it reads: the model's last map has one cell per 32 pixels (2 x 2 at
64 px: four coloured squares, no wave to see). So the map is taken from the deepest backbone
stage that is at least `ea.MIN_GRADCAM_WIDTH` cells wide at the model's image size
(`ea.gradcam_layer_for_size`), and the last map is drawn beside it for comparison. Parts of
the model that bypass the chosen map (the context branch, enhancements fed from earlier
stages) are held fixed: Grad-CAM explains the stream through that map only.
"""

# %%
nb.show_source(ea.gradcam_layer_for_size)

# %%
nb.show_source(ea.grad_cam)

# %%
order = np.concatenate(
    [table["index"].to_numpy()[: SHOW // 2], np.flatnonzero(~wrong)[: SHOW // 2]]
).astype(int)[:6]
# context: None for an image-only model
imgs, context = provenance.model_inputs(model, test, order, grid=GRID)
layer, width = ea.gradcam_layer_for_size(model)
last = gradcam_layer_name(model)
last_width = int(model.get_layer(last).output.shape[2])
cell_ms = render.ms_per_cell(width)
print(
    f"Grad-CAM from {layer}: {width} cells across the {IMAGE_SIZE_OF_MODEL}-px image, "
    f"one cell = {cell_ms:.0f} ms ({render.what_spans(cell_ms)}); the last map {last} has "
    f"{last_width}, one cell = {render.ms_per_cell(last_width):.0f} ms."
)
heat = ea.grad_cam(model, imgs, layer_name=layer, context=context)
heat_last = ea.grad_cam(model, imgs, layer_name=last, context=context)
assert heat.shape[0] == len(order) and np.nanmax(heat) <= 1.0 + 1e-6
image_scale = (
    float(model.get_layer(context_branch.DROP_LAYER).scale)
    if context_branch.has_image_scale(model)
    else None
)
if image_scale is not None:
    print(
        f"the image logits weigh {image_scale:g} against the context's (chosen on the "
        "validation patients in 20)"
    )
if not heat.any():
    print(
        "every Grad-CAM map is zero: the predicted class does not change with this map"
        + (" (the image weighs 0: the context alone decides)" if image_scale == 0 else "")
    )
titles = [
    f"true {contract.CLASSES[y_true[i]]} / pred {contract.CLASSES[y_pred[i]]} {y_prob[i].max():.2f}"
    for i in order
]
fig = plots.plot_gradcam(
    imgs,
    {f"{layer} ({width} x {width})": heat, f"{last} ({last_width} x {last_width})": heat_last},
    titles,
)
nb.save_figure(fig, RUN_DIR, NOTEBOOK, "gradcam")
fig

# %% [markdown]
"""
## 4. Inside the trained model: ECG-block branches, attention and calibration

Notebooks 11-13 built these blocks untrained; here is what training made of them, on the same
beats as the Grad-CAM above. First the mean activation of each ECG-block branch (notebook 11):
which time scales the trained network relies on for each beat.
"""

# %%
branch_names = [f"ecg_block_{k}x{k}_relu" for k in ecg_block.DEFAULT_KERNEL_SIZES]
layer_names = {lay.name for lay in model.layers}
if set(branch_names) <= layer_names:
    reader = keras.Model(nb.image_input(model), [model.get_layer(n).output for n in branch_names])
    acts = reader.predict(imgs, verbose=0)
    branch_use = pd.DataFrame(
        {
            n.split("_")[2]: [float(np.mean(a[i])) for i in range(len(imgs))]
            for n, a in zip(branch_names, acts)
        },
        index=[f"{k}. {t}" for k, t in enumerate(titles, start=1)],  # titles can repeat
    )
else:
    branch_use = pd.DataFrame()
    print(f"{path.name} has no ECG block (a baseline model)")
branch_use.round(4)

# %% [markdown]
"""
The attention maps (notebook 12) and, with feature calibration, the four component detectors
(notebook 13). Both sit on the last map, so each cell covers the stretch printed above for
the last map: at small image sizes they point at stretches of the window, not at waves.
"""

# %%
try:
    maps = ea.attention_overview(model, imgs)
except ValueError as err:  # a baseline model has no attention
    maps = {}
    print(err)
if "attention_spatial_map" in maps:
    fig = plots.plot_attention_maps(
        imgs,
        maps["attention_spatial_map"][..., 0],
        maps["attention_channel_weights"].reshape(len(imgs), -1),
        titles,
    )
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "attention")
    display(fig)
if "calibration_detector_maps" in maps:
    from ecgkit.model import calibration

    fig = plots.plot_detector_maps(
        imgs, maps["calibration_detector_maps"], calibration.COMPONENT_NAMES, titles=titles
    )
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "detector_maps")
    display(fig)
{k: v.shape for k, v in maps.items()}

# %%
nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "split": SPLIT,
        "test_beats": int(len(y_true)),
        "test_weighted": report.n_weighted,
        "misclassified": int(wrong.sum()),
        "sample_error_rate": float(wrong.mean()),
        "error_rate": error_rate,
        "weighted_accuracy": report.accuracy,
        "error_rate_nsvf": nsvf_rate,
        "q_beats": int(is_q.sum()),
        "gradcam_layer": layer,
        "gradcam_cell_ms": cell_ms,
        "gradcam_last_layer": last,
        "gradcam_shape": list(heat.shape),
        "gradcam_last_shape": list(heat_last.shape),
        "gradcam_zero": not heat.any(),
        "image_scale": image_scale,
        "maps": {k: list(v.shape) for k, v in maps.items()},
        "branch_activation": branch_use.to_dict(orient="index"),
        "top_records_error_share": float(share),
        "top_confused": pairs.head(3).to_dict(orient="records"),
        "records_with_errors": int((per_record["errors"] > 0).sum()),
        "errors_per_record": per_record["errors"].to_dict(),
        "weighted_errors_per_record": per_record["weighted_errors"].to_dict(),
    },
)

# %% [markdown]
"""
## Summary

- Look at the most confident mistakes first; they reveal label noise and systematic gaps.
- Count mistakes in the sample, but estimate rates with the weights: a capped sample
  over-represents the rare classes, where most mistakes are.
- Errors are counted per record and patient (section 2 printed how many of them the worst
  records hold): beats of one patient are not independent, which is why intervals are
  bootstrapped by patient.
- Grad-CAM is only as fine as the map it reads: take it from a layer that resolves a beat at
  the image size you run, and say which.
- Grad-CAM and attention maps are hypotheses about what the model used, not proof.

## Exercises

1. Pick the record with most errors and plot 10 s of its signal (notebook 01). What is unusual?
2. Compute Grad-CAM for the *true* class of a misclassified beat (`class_index=`). Where does it
   differ from the map for the predicted class?
3. Are the mistakes well calibrated? Compare their mean confidence with the ECE from 30.
"""
