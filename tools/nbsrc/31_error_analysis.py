from _eval_common import LOAD, PARAMS

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
    ("params", PARAMS),
    ("code", """
    import numpy as np
    import pandas as pd

    from ecgkit import contract, error_analysis as ea, nb, plots
    from ecgkit.datasets import load_beats, signal_dataset
    from ecgkit.evaluate import evaluate_predictions, predict_dataset
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
    ds = signal_dataset(test, image_size=IMAGE_SIZE_OF_MODEL, grid=GRID, batch_size=BATCH_SIZE)
    y_true, y_prob = predict_dataset(model, ds)
    y_pred = y_prob.argmax(axis=1)
    report = evaluate_predictions(y_true, y_prob, patients=test.meta["patient"].to_numpy(), n_boot=0)
    print(f"{(y_pred != y_true).sum()} of {len(y_true)} test beats misclassified")
    assert len(y_true) == len(test)
    """),
    ("md", """
    ## 1. The most confident mistakes

    Sorted by the confidence of the wrong prediction: these are the beats where the model is
    surest and wrong, the best place to look for label noise, artefacts, or a systematic gap.
    """),
    ("code", """
    table = ea.misclassified_table(y_true, y_prob, test.meta)
    table.head(10)
    """),
    ("code", """
    if len(table):
        shown = table.head(SHOW)
        images, _ = render_batch(test.windows[shown["index"].to_numpy()], IMAGE_SIZE_OF_MODEL, grid=GRID)
        lookup = dict(zip(shown["index"].to_numpy(), images))
        fig = ea.misclassified_gallery(lookup, shown, n=SHOW)
        nb.save_figure(fig, RUN_DIR, NOTEBOOK, "misclassified")
        display(fig)
    else:
        print("no misclassified beats")
    """),
    ("md", "## 2. Errors per record and per patient"),
    ("code", """
    per_record = ea.errors_per_record(y_true, y_pred, test.meta)
    assert per_record["errors"].sum() == (y_pred != y_true).sum()
    per_record
    """),
    ("code", "ea.errors_per_patient(y_true, y_pred, test.meta)"),
    ("code", """
    pairs = ea.confused_pairs(report.confusion, top=6)
    pairs
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
    order = np.concatenate([table["index"].to_numpy()[:SHOW // 2],
                            np.flatnonzero(y_pred == y_true)[:SHOW // 2]]).astype(int)[:6]
    imgs, _ = render_batch(test.windows[order], IMAGE_SIZE_OF_MODEL, grid=GRID)
    layer = gradcam_layer_name(model)
    heat = ea.grad_cam(model, imgs, layer_name=layer)
    assert heat.shape[0] == len(order) and np.nanmax(heat) <= 1.0 + 1e-6
    titles = [f"true {contract.CLASSES[y_true[i]]} / pred {contract.CLASSES[y_pred[i]]} {y_prob[i].max():.2f}" for i in order]
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
        fig = plots.plot_attention_maps(imgs, maps["attention_spatial_map"][..., 0],
                                        maps["attention_channel_weights"].reshape(len(imgs), -1), titles)
        nb.save_figure(fig, RUN_DIR, NOTEBOOK, "attention")
        display(fig)
    {k: v.shape for k, v in maps.items()}
    """),
    ("code", """
    nb.record_figures(RUN_DIR, NOTEBOOK, {
        "test_beats": int(len(y_true)), "misclassified": int((y_pred != y_true).sum()),
        "error_rate": float((y_pred != y_true).mean()), "gradcam_layer": layer,
        "gradcam_shape": list(heat.shape), "maps": {k: list(v.shape) for k, v in maps.items()},
        "top_confused": pairs.head(3).to_dict(orient="records"),
        "records_with_errors": int((per_record["errors"] > 0).sum()),
        "errors_per_record": per_record["errors"].to_dict(),
    })
    """),
    ("md", """
    ## Summary

    - Look at the most confident mistakes first; they reveal label noise and systematic gaps.
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
