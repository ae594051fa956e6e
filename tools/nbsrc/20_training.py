from _train_common import DATA, TRAINING

TITLE = "20 · Training the enhanced ResNet50"
DESCRIPTION = ("Trains the enhanced ResNet50 on the training patients with focal loss, AdamW and "
               "a warm-up cosine schedule, using a GPU, mixed precision and XLA when available.")
LEARN = [
    "how training adapts to the hardware: GPU detection, mixed precision, XLA, distribution strategy",
    "focal loss with class-count alpha, AdamW, and the warm-up cosine schedule, plotted before training",
    "what a run writes: checkpoints (best by validation macro-F1), CSV log, TensorBoard, run.json",
    "how to read training curves honestly (validation patients, never test patients)",
]
PREREQUISITES = ["03_ecg_augmentation", "14_pyramid_and_head"]

CELLS = [
    ("md", "## Parameters"),
    ("params", DATA + """
ECG_BLOCK: bool = True  # use the multi-scale ECG-specific block
ATTENTION: bool = True  # use channel + spatial attention
CALIBRATION: bool = True  # use the feature calibration module
PYRAMID: bool = True  # use feature-pyramid fusion
EPOCHS: int = 3  # training epochs
DETERMINISTIC: bool = False  # op-deterministic training (slower; Keras turns XLA off)
""" + TRAINING),
    ("code", """
    import math
    import shutil

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from ecgkit import contract, nb, training_config, widgets
    from ecgkit.datasets import load_beats
    from ecgkit.params import PARAMS as KNOWN, record_list
    from ecgkit.plots import plot_class_distribution, plot_history
    from ecgkit.train import hardware_settings, select_strategy, train

    NOTEBOOK = "20_training"
    OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
    MODEL_OUT = nb.model_path(RUN_DIR, "")  # RUN_DIR/models/enhanced.keras, read by 30 and 31
    EAGER = 0 < EPOCHS * STEPS_PER_EPOCH <= 8  # a few steps: tracing the graph costs more than it saves
    PARAMS = {k: v for k, v in globals().items() if k.isupper() and k in KNOWN}  # this notebook's parameters
    print(f"{len(PARAMS)} parameters; the model will be saved to {MODEL_OUT}")
    """),
    ("md", """
    ## 1. The hardware decides the settings

    `hardware_settings` turns mixed precision on for a GPU (`MIXED_PRECISION: auto`) and XLA on for
    a GPU (XLA compiles slowly on CPU for little gain, and Keras disables it under op determinism).
    `select_strategy` picks a `MirroredStrategy` for several GPUs, `MultiWorkerMirroredStrategy`
    when `TF_CONFIG` is set, and the default strategy otherwise. On a CPU the profile's small
    settings keep this notebook to minutes.
    """),
    ("code", "nb.show_source(hardware_settings)"),
    ("code", """
    hw = hardware_settings(MIXED_PRECISION, DETERMINISTIC)
    strategy = select_strategy()
    print(f"GPUs: {hw['gpus'] or 'none'}; mixed precision: {hw['mixed_precision']}; XLA: {hw['jit_compile']}; "
          f"strategy: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)")
    if not hw["gpus"]:
        print("CPU fallback: small images, capped beats and few steps (see the parameters above)")
    """),
    ("md", "## 2. The data: training and validation patients only"),
    ("code", """
    beats = load_beats(DATA_DIR or None, split=SPLIT, records=record_list(RECORDS), lead=LEAD, max_beats_per_record=MAX_BEATS_PER_RECORD,
                       val_fraction=VAL_FRACTION, seed=SEED, progress=False)
    counts = {s: beats.subset(s).class_counts() for s in beats.splits}
    assert "train" in counts and "val" in counts
    print({s: beats.report["splits"].get(s) for s in beats.splits})
    plot_class_distribution(counts)
    """),
    ("md", """
    ## 3. Loss, optimizer and schedule, before training

    `get_training_config` returns the optimizer (AdamW, no decay on biases and batch-norm
    parameters), the loss (categorical focal loss, alpha from the training class counts with
    `CLASS_BALANCE: alpha`) and the metrics (accuracy, macro precision/recall/F1/specificity, AUC).
    """),
    ("code", "nb.show_source(training_config.get_training_config)"),
    ("code", """
    train_counts = counts["train"]
    steps = STEPS_PER_EPOCH or math.ceil(sum(train_counts.values()) / BATCH_SIZE)
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
    ## 4. Train

    `ecgkit.train.train` builds the model inside the strategy scope, compiles it with the
    configuration above, and fits with: the best checkpoint by **validation** macro-F1,
    `BackupAndRestore` (re-running the cell after an interruption resumes), a CSV log, TensorBoard
    logs (`tensorboard --logdir RUN_DIR/20_training/run/tensorboard`) and early stopping. For a
    run of only a few steps (the smoke profile) it runs eagerly: tracing a ResNet50 training step
    into a graph takes longer than a few eager steps.
    """),
    ("code", "nb.show_source(train)"),
    ("code", """
    result = train(PARAMS, beats=beats, run_dir=OUT / "run", progress=False, run_eagerly=EAGER)
    history = result.history
    print(f"{len(history['loss'])} epoch(s) in {result.info['seconds']} s; best: {result.info['best']}")
    assert len(history["loss"]) >= 1 and np.isfinite(history["loss"]).all()
    pd.DataFrame(history).round(4)
    """),
    ("code", """
    fig = plot_history(history)
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "history")
    fig
    """),
    ("md", "## 5. Save the model for evaluation (30) and error analysis (31)"),
    ("code", """
    MODEL_OUT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.paths["model"], MODEL_OUT)  # the best-validation weights, as train() left them
    print(MODEL_OUT, f"{MODEL_OUT.stat().st_size / 1e6:.0f} MB")
    print("written by the run:", {k: str(v) for k, v in result.paths.items()})
    nb.record_figures(RUN_DIR, NOTEBOOK, {
        "epochs_run": len(history["loss"]), "steps_per_epoch": steps, "hardware": hw,
        "strategy": type(strategy).__name__, "train_counts": train_counts, "val_counts": counts["val"],
        "final": {k: float(v[-1]) for k, v in history.items() if k != "epoch"},
        "best": result.info.get("best"), "seconds": result.info.get("seconds"), "model_path": str(MODEL_OUT),
    })
    """),
    ("md", """
    ## Summary

    - The same code runs on CPU and GPU; the hardware switches on mixed precision, XLA and a
      distribution strategy.
    - Focal loss + class alpha, AdamW and warm-up cosine are configured in one place
      (`get_training_config`) and plotted before any training.
    - Checkpoints are chosen on validation patients; test patients are not touched until 30.

    ## Exercises

    1. Set `CLASS_BALANCE = "sampling"` and compare the validation macro-F1 curve with `alpha`.
    2. Interrupt training (Kernel > Interrupt) and run the training cell again: where does it resume?
    3. Open TensorBoard on `RUN_DIR/20_training/run/tensorboard` and find the learning-rate curve.
    """),
]
