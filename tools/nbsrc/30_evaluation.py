from _eval_common import LOAD, PARAMS

TITLE = "30 · Evaluation on unseen patients"
DESCRIPTION = ("Evaluates the trained model on the test patients with every metric and figure "
               "of the evaluation library, and compares it with published inter-patient results.")
LEARN = [
    "per-class sensitivity, positive predictivity, specificity and F1 (the AAMI way), plus macro and weighted averages",
    "confusion matrices, ROC and precision-recall curves, calibration (ECE)",
    "bootstrap confidence intervals resampled by patient, and why by patient",
    "how to compare with the literature honestly (which records, which classes)",
]
PREREQUISITES = ["20_training (or a model file in MODEL_PATH)"]

CELLS = [
    ("md", "## Parameters"),
    ("params", PARAMS),
    ("code", """
    import numpy as np
    import pandas as pd

    from ecgkit import evaluate, nb, plots
    from ecgkit.datasets import load_beats
    from ecgkit.params import record_list
    from ecgkit.predict import load_model

    NOTEBOOK = "30_evaluation"
    OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
    """),
    ("md", "## 1. The model and the test patients"),
    ("code", LOAD),
    ("md", """
    ## 2. Predict and evaluate

    `evaluate_model` renders the test beats exactly as in training, predicts, and calls
    `evaluate_predictions`, which computes everything below from the probabilities. The bootstrap
    resamples **patients**, not beats: beats of one patient are not independent, and resampling
    beats would give intervals that are far too narrow.
    """),
    ("code", "nb.show_source(evaluate.evaluate_predictions)"),
    ("code", """
    report = evaluate.evaluate_model(model, test, out_dir=OUT, grid=GRID, batch_size=BATCH_SIZE,
                                     n_boot=BOOTSTRAP, seed=SEED)
    print(evaluate.format_summary(report))
    assert 0.0 <= report.accuracy <= 1.0 and report.confusion.sum() == len(test)
    """),
    ("code", "report.table().round(3)"),
    ("md", "## 3. Confusion matrices"),
    ("code", "plots.plot_confusion_matrix(report.confusion, report.classes)"),
    ("code", "plots.plot_confusion_matrix(report.confusion, report.classes, normalize=True)"),
    ("md", "## 4. ROC and precision-recall (one class against the rest)"),
    ("code", "plots.plot_roc_pr(report.roc, report.pr, report.per_class)"),
    ("md", """
    ## 5. Calibration

    Is a 0.9 confidence right 90% of the time? The expected calibration error (ECE) averages the
    gap between confidence and accuracy over confidence bins.
    """),
    ("code", "plots.plot_calibration(report.reliability, report.ece)"),
    ("md", "## 6. Confidence intervals (bootstrap by patient)"),
    ("code", """
    ci = report.ci.set_index("metric")
    print(f"{BOOTSTRAP} resamples of {report.ci_unit}s")
    ci.round(3)
    """),
    ("md", """
    ## 7. Beside the literature

    Published inter-patient results on DS2 (de Chazal's protocol). Our row uses only standard DS2
    records present here; the `note` says what is missing. With a few records (`RECORDS`) or capped
    beats the numbers are **not** directly comparable: they are a sanity check, not a ranking.
    """),
    ("code", """
    lit = evaluate.literature_table(report)
    lit
    """),
    ("code", """
    nb.record_figures(RUN_DIR, NOTEBOOK, {
        "test_beats": len(test), "test_records": test.records(), "accuracy": report.accuracy,
        "macro": report.macro, "weighted": report.weighted, "ece": report.ece,
        "per_class": report.per_class[["sensitivity", "ppv", "specificity", "f1", "support"]].to_dict(orient="index"),
        "ci": ci[["lo", "hi"]].to_dict(orient="index"), "ci_unit": report.ci_unit,
        "absent_classes": report.absent_classes, "literature_note": str(lit.iloc[0]["note"]),
    })
    """),
    ("md", """
    ## Summary

    - Per-class Se/+P/Sp/F1 and macro averages are the honest summary for unbalanced classes;
      accuracy alone rewards predicting N.
    - Intervals are bootstrapped by patient; with few test patients they are wide, and that is the
      truth about the data, not a flaw of the method.
    - Literature comparisons need the same records and classes; the table says when they differ.

    ## Exercises

    1. Evaluate the model on the validation patients (`beats.subset("val")`). Which is higher, and
       why should you never choose a model on the test patients?
    2. Re-run with `BOOTSTRAP = 50` and `= 1000`: how much do the interval limits move?
    3. Which class has the widest interval? Count its test patients.
    """),
]
