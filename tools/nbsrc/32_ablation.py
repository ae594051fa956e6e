from _train_common import DATA, TRAINING

TITLE = "32 · Ablation: does each enhancement help?"
DESCRIPTION = ("Trains the baseline, the full enhanced model and each enhancement alone on the same "
               "data, seed and budget, and compares them on the test patients with confidence intervals.")
LEARN = [
    "how to run a fair ablation: same data, seed, schedule and number of steps for every variant",
    "how to report differences with bootstrap confidence intervals (by patient)",
    "how to decide whether an enhancement helps *here*, and when the evidence is too weak to say",
]
PREREQUISITES = ["20_training", "30_evaluation"]

CELLS = [
    ("md", "## Parameters"),
    ("params", DATA + """
ABLATION_EPOCHS: int = 1  # epochs per model in the ablation study
BOOTSTRAP: int = 200  # bootstrap resamples (by patient) for confidence intervals
""" + TRAINING),
    ("code", """
    import shutil

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from ecgkit import nb
    from ecgkit.cost import count_params
    from ecgkit.datasets import load_beats
    from ecgkit.evaluate import evaluate_model
    from ecgkit.factory import ENHANCEMENTS, create_enhanced_resnet50
    from ecgkit.params import PARAMS as KNOWN, record_list
    from ecgkit.train import train

    NOTEBOOK = "32_ablation"
    OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
    BASE = {k: v for k, v in globals().items() if k.isupper() and k in KNOWN and k != "ABLATION_EPOCHS"}
    BASE["EPOCHS"] = ABLATION_EPOCHS
    VARIANTS = {"baseline": dict.fromkeys(ENHANCEMENTS, False), "enhanced": dict.fromkeys(ENHANCEMENTS, True)}
    VARIANTS.update({f"{e} only": {k: k == e for k in ENHANCEMENTS} for e in ENHANCEMENTS})
    EAGER = 0 < ABLATION_EPOCHS * STEPS_PER_EPOCH <= 10  # a few steps per variant: tracing costs more than it saves
    SWITCH = {"ecg_block": "ECG_BLOCK", "attention": "ATTENTION", "calibration": "CALIBRATION", "pyramid": "PYRAMID"}
    print(f"{len(VARIANTS)} variants x {ABLATION_EPOCHS} epoch(s) x {STEPS_PER_EPOCH or 'all'} steps")
    """),
    ("md", """
    ## 1. Same data, seed and budget

    The beats are loaded once and every variant trains on them with the same seed, schedule and
    number of steps; only the four switches differ. Each model is chosen on validation patients
    and evaluated once on the test patients. Big files (checkpoints, the model) are deleted after
    evaluation; `run.json` and the history stay.
    """),
    ("md", """
    The four switches of the one generic builder are the only thing that changes between variants;
    with every switch off it is the baseline:
    """),
    ("code", "nb.show_source(create_enhanced_resnet50)"),
    ("code", """
    beats = load_beats(DATA_DIR or None, split=SPLIT, records=record_list(RECORDS), lead=LEAD, max_beats_per_record=MAX_BEATS_PER_RECORD,
                       val_fraction=VAL_FRACTION, seed=SEED, progress=False)
    test = beats.subset("test")
    print({s: len(beats.subset(s)) for s in beats.splits})
    """),
    ("code", """
    rows, cis = [], {}
    for name, switches in VARIANTS.items():
        params = {**BASE, **{SWITCH[k]: v for k, v in switches.items()}}
        run_dir = OUT / name.replace(" ", "_")
        result = train(params, beats=beats, run_dir=run_dir, progress=False, run_eagerly=EAGER)
        report = evaluate_model(result.model, test, grid=GRID, batch_size=BATCH_SIZE, n_boot=BOOTSTRAP, seed=SEED)
        ci = report.ci.set_index("metric")
        cis[name] = ci
        rows.append({"variant": name, "parameters": count_params(result.model), "accuracy": report.accuracy,
                     "macro_f1": report.macro["f1"], "macro_f1_lo": ci.loc["macro_f1", "lo"],
                     "macro_f1_hi": ci.loc["macro_f1", "hi"], "val_macro_f1": max(result.history.get("val_macro_f1", [np.nan])),
                     "seconds": result.info.get("seconds")})
        for big in ("checkpoints", "model.keras", "backup"):
            target = run_dir / big
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        print(f"{name:18s} macro-F1 {report.macro['f1']:.3f} [{ci.loc['macro_f1', 'lo']:.3f}, {ci.loc['macro_f1', 'hi']:.3f}]")
    table = pd.DataFrame(rows).set_index("variant")
    assert len(table) == 6 and table["macro_f1"].between(0, 1).all()
    table.round(3)
    """),
    ("md", """
    ## 2. With confidence intervals

    Intervals come from resampling test **patients**. Two variants differ convincingly only when
    the difference is larger than this patient-to-patient variation.
    """),
    ("code", """
    fig, ax = plt.subplots(figsize=(8, 3.5))
    y = np.arange(len(table))
    ax.errorbar(table["macro_f1"], y, xerr=[table["macro_f1"] - table["macro_f1_lo"], table["macro_f1_hi"] - table["macro_f1"]],
                fmt="o", capsize=4)
    ax.axvline(table.loc["baseline", "macro_f1"], color="grey", ls="--", label="baseline")
    ax.set_yticks(y, table.index)
    ax.set(xlabel="test macro-F1 (95% CI, bootstrap by patient)", title="ablation")
    ax.legend()
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "ablation")
    """),
    ("code", """
    base = table.loc["baseline"]
    verdict = {}
    for name in table.index.drop("baseline"):
        r = table.loc[name]
        if r["macro_f1_lo"] > base["macro_f1_hi"]:
            verdict[name] = "better than baseline (intervals do not overlap)"
        elif r["macro_f1_hi"] < base["macro_f1_lo"]:
            verdict[name] = "worse than baseline (intervals do not overlap)"
        else:
            verdict[name] = "not distinguishable from baseline here"
    table["delta_vs_baseline"] = table["macro_f1"] - base["macro_f1"]
    table["verdict"] = pd.Series(verdict)
    table[["macro_f1", "macro_f1_lo", "macro_f1_hi", "delta_vs_baseline", "verdict"]].round(3)
    """),
    ("code", """
    nb.record_figures(RUN_DIR, NOTEBOOK, {
        "variants": list(table.index), "epochs": ABLATION_EPOCHS, "bootstrap": BOOTSTRAP,
        "macro_f1": table["macro_f1"].to_dict(), "macro_f1_ci": table[["macro_f1_lo", "macro_f1_hi"]].to_dict(orient="index"),
        "parameters": table["parameters"].to_dict(), "verdict": verdict,
    })
    """),
    ("md", """
    ## Summary

    - A fair ablation changes one thing at a time: same data, seed, schedule and step budget.
    - Report intervals (by patient), not single numbers; with few test patients and short training
      most differences are within the noise, and "not distinguishable here" is an honest result.
    - The verdict is about *this* data and budget; rerun with `params/gpu.yaml` (full DS1/DS2,
      more epochs) before claiming an enhancement helps.

    ## Exercises

    1. Repeat the ablation with another `SEED`. How many verdicts change?
    2. Add a variant "enhanced without pyramid" (all switches but `pyramid`). Is the pyramid needed
       when the ECG block is present?
    3. Plot `table["parameters"]` against `table["macro_f1"]`: does a bigger model do better here?
    """),
]
