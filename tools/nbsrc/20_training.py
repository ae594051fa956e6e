import textwrap

from _train_common import DATA, TRAINING, params_dict

NAMES = DATA + ["TEST_MAX_BEATS_PER_RECORD=100", "CONTEXT", "CONTEXT_MODE", "CONTEXT_STEPS",
                "ECG_BLOCK", "ATTENTION", "CALIBRATION", "PYRAMID", "EPOCHS=4", "BN_MOMENTUM",
                "DETERMINISTIC"] + TRAINING

TITLE = "20 · Training that learns: baseline first, then the enhanced ResNet50"
DESCRIPTION = ("Builds training up step by step: a one-batch sanity check, the BatchNorm trap of "
               "short runs, then the plain ResNet50 baseline and the enhanced model trained with "
               "the same recipe on the training patients.")
LEARN = [
    "the first test of any training setup: can the network memorise one batch?",
    "why a short run from random weights can predict a single class in inference mode (BatchNorm statistics), and the fix",
    "focal loss with class alpha, AdamW and the warm-up cosine schedule, plotted before training",
    "training the baseline and the enhanced model with one recipe, choosing epochs on validation patients only",
]
PREREQUISITES = ["03_ecg_augmentation", "14_pyramid_and_head"]

CELLS = [
    ("md", "## Parameters"),
    ("params", NAMES),
    ("code", """
    import shutil

    import keras
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from ecgkit import (
        callbacks, context, contract, factory, hardware, nb, plots, render, train, training_config,
        widgets,
    )
    from ecgkit.datasets import load_beats
    from ecgkit.params import record_list

    NOTEBOOK = "20_training"
    OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
    MODELS = nb.model_path(
        RUN_DIR, ""
    ).parent  # RUN_DIR/models: baseline.keras and enhanced.keras, read by 30-32
    EAGER = train.few_steps(
        EPOCHS, STEPS_PER_EPOCH
    )  # a few steps: tracing the graph costs more than it saves
    """ + textwrap.indent(params_dict(NAMES), "    ").lstrip() + """
    SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
    print(f"{len(PARAMS)} parameters; models will be saved in {MODELS}")
    """),
    ("md", """
    ## 1. The hardware decides the settings

    `hardware_settings` turns mixed precision on for a GPU (`MIXED_PRECISION: auto`) and XLA on for
    a GPU (XLA compiles slowly on CPU for little gain, and Keras disables it under op determinism).
    `select_strategy` picks a `MirroredStrategy` for several GPUs, `MultiWorkerMirroredStrategy`
    when `TF_CONFIG` is set, and the default strategy otherwise.
    """),
    ("code", """
    hw = hardware.hardware_settings(MIXED_PRECISION, DETERMINISTIC)
    strategy = hardware.select_strategy()
    print(
        f"GPUs: {hw['gpus'] or 'none'}; mixed precision: {hw['mixed_precision']}; "
        f"XLA: {hw['jit_compile']}; "
        f"strategy: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
    )
    """),
    ("md", """
    ## 2. The data: training and validation patients only

    The test patients are loaded with the others (`load_beats` reads the whole split) but not
    used here. Validation patients are carved from the training
    patients so that N, S, V and F each have real support there (`ecgkit.splits`); the best epoch
    is chosen on them. `MAX_BEATS_PER_RECORD` caps the beats per record and class (0: every
    beat, as the cpu profile trains), and `TEST_MAX_BEATS_PER_RECORD` caps the validation beats
    that `train()` predicts every epoch: capped beats carry weights (N/n), so validation metrics
    estimate those of every validation beat.
    """),
    ("code", """
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
    """),
    ("md", """
    ## 3. First test: can the network memorise one batch?

    Before any long run, train the plain baseline on a single batch of 16 beats (4 of each class
    the training patients have) and nothing else. A correct model, loss and input pipeline drive the
    training accuracy on that batch to 1 within a few dozen steps; if it does not, no amount of data
    will help. We keep Keras' default BatchNorm momentum (0.99) here on purpose: section 4 uses it.
    """),
    ("code", """
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
    assert overfit["accuracy"].iloc[-5:].max() >= 0.9, (
        "the network cannot memorise one batch: check the setup"
    )
    """),
    ("md", """
    ## 4. The BatchNorm trap of short runs

    The network above is right on its batch *in training mode*, where BatchNorm normalises with the
    statistics of the batch itself. In inference mode (validation, test, `predict`) it uses moving
    averages updated with momentum 0.99: after 40 steps they still hold 0.99**40 = 67 % of their
    initial values (mean 0, variance 1), so every layer sees mis-normalised activations. Watch the
    prediction on the very same batch:
    """),
    ("code", """
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
    """),
    ("md", """
    That is the trap of every short run from random weights: moving averages that lag the weights
    can make inference mode predict few classes however well training goes (the cell above
    measured it on this run). `train()` therefore
    does two things in every run: it sets the momentum from the epoch length (`BN_MOMENTUM: 0`;
    the moving averages cover about the last fifth of an epoch), and before every validation it
    recomputes the statistics from a few training batches with the current weights, exactly what
    the cell above did by hand ("precise BN").
    """),
    ("code", "nb.show_source(callbacks.auto_bn_momentum)"),
    ("code", "nb.show_source(callbacks.ReestimateBatchNorm)"),
    ("code", """
    train_counts = counts["train"]
    steps = train.epoch_steps(
        STEPS_PER_EPOCH, sum(train_counts.values()), BATCH_SIZE
    )  # as train() counts them
    momentum = BN_MOMENTUM or callbacks.auto_bn_momentum(steps)
    print(f"{steps} steps per epoch -> BatchNorm momentum {momentum:.3f}")
    """),
    ("md", """
    ## 5. Loss, optimizer and schedule, before training

    `get_training_config` returns the optimizer (AdamW, no decay on biases and batch-norm
    parameters), the loss (categorical focal loss; alpha from the training class counts with
    `CLASS_BALANCE: alpha`, uniform with balanced `sampling`) and the metrics (accuracy, macro
    precision/recall/F1/specificity, AUC).
    """),
    ("code", "nb.show_source(training_config.get_training_config)"),
    ("code", """
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
    """),
    ("md", """
    ## 6. What a cardiologist looks at besides the beat: its context

    A beat image alone misses two things a cardiologist reads at once. An S beat looks like the
    patient's normal beats but comes **early against the patient's own rhythm**; a V beat looks
    **unlike the patient's usual beat**, whatever that usual beat is (a bundle-branch block
    patient's normal beats are wide too). Both are relative to the patient, so no picture of one
    beat can hold them. `ecgkit.context` computes them from the unlabelled record, so they exist
    at test time too: 3 RR ratios (`pre/avg`, `post/avg`, `pre/post`) and the beat's shape minus
    the median shape of the record's beats (71 values, -0.25 s to +0.45 s around R). With
    `CONTEXT_MODE: causal` only the past is used (no next beat, a running median of the previous
    100 beats), as a live monitor would need.

    The model takes this vector as a second input (`CONTEXT: logits`): a small MLP whose class
    logits are **added** to the image head's. Two measured problems shaped it. Three numbers
    beside thousands of image features barely move a head (`CONTEXT: head`, the design kept for
    the ablation), and trained together, the image branch fits the training patients' beat shapes
    faster than the context branch learns the rhythm, so S beats of new patients were missed. So
    `train()` first fits the context branch alone (`CONTEXT_STEPS` batches: seconds), and during
    the joint training drops the image logits of half the beats (`BranchDropout`), on which the
    context must classify alone. After training, how much the image logits weigh against the
    context's is chosen on the **validation** patients (the lowest class-balanced cross-entropy
    over 0, 0.1, ..., 1; 0 would mean the image adds nothing there) and saved with the model.
    """),
    ("code", "nb.show_source(context.record_context)"),
    ("code", """
    ctx = train_beats.context_of(CONTEXT_MODE)
    names = context.feature_names(CONTEXT_MODE)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
    for k, c in enumerate(contract.CLASSES):
        rows = train_beats.labels == k
        if rows.sum() >= 5:
            axes[0].hist(np.clip(ctx[rows, 0], 0, 2), bins=40, histtype="step", density=True,
                         label=c)
            axes[1].plot(np.median(ctx[rows, context.N_RHYTHM:], axis=0), label=c)
    axes[0].set(title=f"{names[0]}: early beats sit left of 1", xlabel=names[0])
    axes[1].set(title="median shape minus the patient's usual beat (mV)",
                xlabel="10-ms step from -0.25 s")
    axes[0].legend()
    axes[1].legend()
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "context_by_class")
    """),
    ("md", """
    ## 7. Train the baseline: a plain ResNet50 with the same head and context

    `ecgkit.train.train` builds the model inside the strategy scope, compiles it with the
    configuration above and fits with: the best checkpoint by **validation** macro-F1,
    `BackupAndRestore` (re-running the cell after an interruption resumes), a CSV log,
    TensorBoard logs and early stopping. The baseline comes first: every enhancement must beat
    it, trained with the same data, recipe and budget (notebook 32 compares them on the test
    patients).
    """),
    ("code", "nb.show_source(train.train)"),
    ("code", """
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
    """),
    ("md", "## 8. Train the enhanced ResNet50 with the same recipe"),
    ("code", """
    runs["enhanced"] = train.train(
        PARAMS, beats=beats, run_dir=OUT / "enhanced", progress=False, run_eagerly=EAGER
    )
    print(f"enhanced: {runs['enhanced'].info['seconds']} s, best {runs['enhanced'].info['best']}")
    """),
    ("code", """
    for name, r in runs.items():
        assert len(r.history["loss"]) >= 1 and np.isfinite(r.history["loss"]).all()
        fig = plots.plot_history(r.history, title=f"{name}: training history")
        nb.save_figure(fig, RUN_DIR, NOTEBOOK, f"history_{name}")
    val = pd.DataFrame({name: {"best epoch": (r.info["best"] or {}).get("epoch"),
                               "val macro-F1 (best)": (r.info["best"] or {}).get("best"),
                               "val accuracy (weighted)": r.info["final_metrics"]["accuracy"],
                               "image weight (chosen on val)":
                                   (r.info.get("image_scale") or {}).get("chosen"),
                               "seconds": r.info["seconds"]} for name, r in runs.items()}).T
    nb.captioned(val, "validation patients; macro-F1 and accuracy over the AAMI classes present "
                 "there (N/S/V/F/Q)")
    """),
    ("md", """
    These are validation figures, from patients that chose the epoch: they are optimistic. The
    test patients are scored in 30 (against simple baselines) and 32 (baseline against enhanced).

    ## 9. Save both models for evaluation (30), error analysis (31) and the ablation (32)
    """),
    ("code", """
    MODELS.mkdir(parents=True, exist_ok=True)
    for name, r in runs.items():
        shutil.copyfile(r.paths["model"], MODELS / f"{name}.keras")  # the best-validation weights
        print(MODELS / f"{name}.keras", f"{(MODELS / f'{name}.keras').stat().st_size / 1e6:.0f} MB")
    nb.record_figures(RUN_DIR, NOTEBOOK, {
        "overfit_accuracy": float(overfit["accuracy"].iloc[-1]), "bn_lesson": bn_lesson,
        "steps_per_epoch": steps, "hardware": hw, "strategy": type(strategy).__name__,
        "train_counts": train_counts, "val_counts": counts["val"],
        "runs": {name: {"epochs_run": len(r.history["loss"]), "best": r.info.get("best"),
                        "batchnorm": r.info.get("batchnorm"), "seconds": r.info.get("seconds"),
                        "context": r.info.get("context"), "image_scale": r.info.get("image_scale"),
                        "val_final": r.info["final_metrics"]} for name, r in runs.items()},
        "models": {name: str(MODELS / f"{name}.keras") for name in runs},
    })
    """),
    ("md", """
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
    """),
]
