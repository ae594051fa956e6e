from _eval_common import LOAD, MODEL, PARAMS_NO_TRAINING

TITLE = "31 · Error analysis"
DESCRIPTION = ("Looks at what the trained model gets wrong: a gallery of misclassified beats, "
               "errors per record and patient, confused class pairs, Grad-CAM and attention maps.")
LEARN = [
    "how to find the most confident mistakes and look at them",
    "why errors concentrate in a few records (patients), and what that means",
    "Grad-CAM: which image regions drove a prediction",
    "how to read the model's own attention and calibration maps after training",
]
PREREQUISITES = ["30_evaluation"]

CELLS = [
    ("md", "## Parameters"),
    ("params", PARAMS_NO_TRAINING + MODEL),
    ("code", """
    import numpy as np
    import pandas as pd

    from ecgkit import contract, error_analysis as ea, nb, plots, provenance
    from ecgkit.datasets import load_beats
    from ecgkit.evaluate import predict_beats
    from ecgkit.scoring import evaluate_predictions
    from ecgkit.factory import gradcam_layer_name
    from ecgkit.params import record_list
    from ecgkit.predict import load_model
    from ecgkit.render import render_batch

    NOTEBOOK = "31_error_analysis"
    OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
    SHOW = 12  # beats in the gallery and the maps
    """),
    ("code", LOAD),
    ("code", """
    y_true, y_prob = predict_beats(model, test, grid=GRID, batch_size=BATCH_SIZE)
    y_pred = y_prob.argmax(axis=1)
    wrong = y_pred != y_true
    report = evaluate_predictions(y_true, y_prob, patients=test.meta["patient"].to_numpy(),
                                  records=test.meta["record"].to_numpy(), weights=weights, n_boot=0)
    error_rate = 1 - report.accuracy  # weighted: estimated over every test beat
    print(f"{wrong.sum()} of {len(y_true)} sampled test beats misclassified; "
          f"estimated error rate over every test beat (weighted) {error_rate:.3f}")
    assert len(y_true) == len(test) and np.isclose((weights * wrong).sum() / weights.sum(), error_rate)
    """),
    ("md", """
    Two numbers, two questions. The count of misclassified *sampled* beats is what the gallery and
    the tables below show, beat by beat. The error rate is weighted: with the test cap, rare
    classes (and with them most mistakes) are over-represented in the sample, so only the
    weighted rate estimates how often the model errs on the patients' real beats.
    """),
    ("md", """
    ## 1. The most confident mistakes

    Sorted by the confidence of the wrong prediction: these are the beats where the model is
    surest and wrong, the best place to look for label noise, artefacts, or a systematic gap.
    """),
    ("code", """
    table = ea.misclassified_table(y_true, y_prob, test.meta)
    table["weight"] = weights[table["index"].to_numpy()]  # how many test beats each one stands for
    table.head(10)
    """),
    ("code", """
    if len(table):
        shown = table.head(SHOW)
        images, _ = render_batch(
            test.windows[shown["index"].to_numpy()], IMAGE_SIZE_OF_MODEL, grid=GRID
        )
        lookup = dict(zip(shown["index"].to_numpy(), images))
        fig = ea.misclassified_gallery(lookup, shown, n=SHOW)
        nb.save_figure(fig, RUN_DIR, NOTEBOOK, "misclassified")
        display(fig)
    else:
        print("no misclassified beats")
    """),
    ("md", """
    ## 2. Errors per record and per patient

    `errors` counts the sampled beats; `weighted_errors` and `weighted_error_rate` estimate the
    errors over every beat of the record (rows sorted by them).
    """),
    ("code", "nb.show_source(ea.errors_by)"),
    ("code", """
    per_record = ea.errors_per_record(y_true, y_pred, test.meta, weights=weights)
    assert per_record["errors"].sum() == wrong.sum()
    assert np.isclose(per_record["weighted_errors"].sum(), (weights * wrong).sum())
    per_record.round(3)
    """),
    ("code", "ea.errors_per_patient(y_true, y_pred, test.meta, weights=weights).round(3)"),
    ("md", """
    Which classes are confused with which: from the weighted confusion matrix, so `count` is an
    estimated number of test beats (not the sampled beats) and `share_of_true` the share of that
    true class.
    """),
    ("code", """
    pairs = ea.confused_pairs(report.confusion, report.classes, top=6)
    pairs.round(3)
    """),
    ("md", """
    ## 3. Grad-CAM

    Grad-CAM weighs the last spatial feature map by the gradient of a class score, showing which
    regions pushed the prediction. Here for the predicted class of a few beats (mistakes first).
    With the pyramid, part of the prediction bypasses this map, so Grad-CAM explains the top stream
    only.
    """),
    ("code", "nb.show_source(ea.grad_cam)"),
    ("code", """
    order = np.concatenate(
        [table["index"].to_numpy()[: SHOW // 2], np.flatnonzero(~wrong)[: SHOW // 2]]
    ).astype(int)[:6]
    # context: None for an image-only model
    imgs, context = provenance.model_inputs(model, test, order, grid=GRID)
    layer = gradcam_layer_name(model)
    heat = ea.grad_cam(model, imgs, layer_name=layer, context=context)
    assert heat.shape[0] == len(order) and np.nanmax(heat) <= 1.0 + 1e-6
    titles = [
        f"true {contract.CLASSES[y_true[i]]} / pred {contract.CLASSES[y_pred[i]]} {y_prob[i].max():.2f}"
        for i in order
    ]
    fig = plots.plot_gradcam(imgs, heat, titles)
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "gradcam")
    fig
    """),
    ("md", "## 4. The model's attention and calibration maps, after training"),
    ("code", """
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
    {k: v.shape for k, v in maps.items()}
    """),
    ("code", """
    nb.record_figures(RUN_DIR, NOTEBOOK, {
        "split": SPLIT, "test_beats": int(len(y_true)), "test_weighted": report.n_weighted,
        "misclassified": int(wrong.sum()), "sample_error_rate": float(wrong.mean()),
        "error_rate": error_rate, "weighted_accuracy": report.accuracy, "gradcam_layer": layer,
        "gradcam_shape": list(heat.shape), "maps": {k: list(v.shape) for k, v in maps.items()},
        "top_confused": pairs.head(3).to_dict(orient="records"),
        "records_with_errors": int((per_record["errors"] > 0).sum()),
        "errors_per_record": per_record["errors"].to_dict(),
        "weighted_errors_per_record": per_record["weighted_errors"].to_dict(),
    })
    """),
    ("md", """
    ## Summary

    - Look at the most confident mistakes first; they reveal label noise and systematic gaps.
    - Count mistakes in the sample, but estimate rates with the weights: a capped sample
      over-represents the rare classes, where most mistakes are.
    - Errors cluster by record: a few patients with unusual morphology dominate, which is why
      intervals are bootstrapped by patient.
    - Grad-CAM and attention maps are hypotheses about what the model used, not proof.

    ## Exercises

    1. Pick the record with most errors and plot 10 s of its signal (notebook 01). What is unusual?
    2. Compute Grad-CAM for the *true* class of a misclassified beat (`class_index=`). Where does it
       differ from the map for the predicted class?
    3. Are the mistakes well calibrated? Compare their mean confidence with the ECE from 30.
    """),
]
