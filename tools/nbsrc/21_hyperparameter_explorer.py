TITLE = "21 · Hyperparameter explorer"
DESCRIPTION = ("Interactive controls for the learning-rate schedule, the focal loss and the "
               "augmentation strength, plus short training runs started from a button and "
               "compared side by side.")
LEARN = [
    "how peak learning rate, epochs and warm-up shape the warm-up cosine schedule",
    "how focal-loss gamma and alpha reweight easy and hard examples",
    "how augmentation strength changes the images the network sees",
    "how to compare short training runs fairly (same data, seed and budget)",
]
PREREQUISITES = ["03_ecg_augmentation", "20_training (what a training run writes)",
                 "JupyterLab with ipywidgets for the interactive parts (they also run in batch)"]

CELLS = [
    ("md", """
    ## Parameters

    The explorer starts from these values; the short runs use the same data, seed and budget
    (one epoch of `EXPLORER_STEPS` batches) so that only the settings you change differ.
    """),
    ("params", ["DATA_DIR", "RECORDS", "SPLIT", "LEAD", "IMAGE_SIZE", "GRID", "MAX_BEATS_PER_RECORD=40",
                "VAL_FRACTION", "WEIGHTS", "EPOCHS=2", "STEPS_PER_EPOCH=10", "EXPLORER_STEPS",
                "CLASS_BALANCE", "BATCH_SIZE=16", "LEARNING_RATE", "WARMUP_EPOCHS", "FOCAL_GAMMA",
                "AUGMENT_STRENGTH", "MIXED_PRECISION", "SEED", "RUN_DIR"]),
    ("code", """
    import numpy as np

    from ecgkit import contract, nb, render, widgets
    from ecgkit.datasets import load_beats
    from ecgkit.params import record_list
    from ecgkit.train import few_steps, train

    NOTEBOOK = "21_hyperparameter_explorer"
    OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
    STEPS_FOR_SCHEDULE = STEPS_PER_EPOCH or 100  # the schedule plot needs a step count
    EAGER = few_steps(1, EXPLORER_STEPS)  # a few steps: tracing the graph costs more than it saves
    # A short run learns from EXPLORER_STEPS batches but is validated on every loaded validation beat:
    # at most 100 per record and class (weighted N/n) keeps a run to about a minute on a CPU.
    CAP = min(MAX_BEATS_PER_RECORD or 100, 100)
    BASE = {
        "DATA_DIR": DATA_DIR,
        "RECORDS": RECORDS,
        "SPLIT": SPLIT,
        "LEAD": LEAD,
        "IMAGE_SIZE": IMAGE_SIZE,
        "GRID": GRID,
        "MAX_BEATS_PER_RECORD": CAP,
        "VAL_FRACTION": VAL_FRACTION,
        "WEIGHTS": WEIGHTS,
        "EPOCHS": 1,
        "STEPS_PER_EPOCH": EXPLORER_STEPS,
        "BATCH_SIZE": BATCH_SIZE,
        "LEARNING_RATE": LEARNING_RATE,
        "WARMUP_EPOCHS": 0.5,
        "FOCAL_GAMMA": FOCAL_GAMMA,
        "CLASS_BALANCE": CLASS_BALANCE,
        "AUGMENT_STRENGTH": AUGMENT_STRENGTH,
        "MIXED_PRECISION": MIXED_PRECISION,
        "SEED": SEED,
        "RUN_DIR": RUN_DIR,
    }
    """),
    ("md", """
    ## How the explorer is built

    Every panel is a thin `ipywidgets` factory over a **pure function** that computes what is drawn
    (`lr_schedule_curve`, `focal_loss_curve`, `augmentation_preview`). The pure functions are what
    the tests check; the widgets only wire sliders to them. Cheap curves follow the slider as it
    moves; the image preview redraws when you release the slider; training runs only when you
    press **Train**.
    """),
    ("code", """
    nb.show_source(widgets.focal_loss_widget)
    """),
    ("md", """
    ## 1. Learning-rate schedule

    A linear warm-up from 1% of the peak, then cosine decay to zero: the schedule
    `ecgkit.training_config.make_schedule` gives the optimizer. Warm-up protects the randomly
    initialised head (and the pretrained backbone) from large early steps; the cosine tail lets
    the weights settle.
    """),
    ("code", """
    lr_panel = widgets.lr_schedule_widget(LEARNING_RATE, EPOCHS, STEPS_FOR_SCHEDULE, WARMUP_EPOCHS)
    assert np.isclose(lr_panel.data["lr"].max(), LEARNING_RATE, rtol=1e-3)
    lr_panel
    """),
    ("md", """
    ## 2. Focal loss

    `FL(p) = -alpha (1 - p)^gamma log(p)`, where `p` is the probability of the true class. With
    `gamma = 0` it is (weighted) cross-entropy; as gamma grows, well-classified beats (p near 1,
    most N beats) stop dominating the loss and the rare, hard beats count more. Alpha scales the
    loss per class (training sets it from the class counts with `CLASS_BALANCE: alpha`).
    """),
    ("code", """
    focal_panel = widgets.focal_loss_widget(gamma=FOCAL_GAMMA, alpha=0.25)
    easy = focal_panel.data["focal"][-20] / focal_panel.data["ce"][-20]
    print(
        f"at p = {focal_panel.data['p'][-20]:.2f} focal loss is {easy:.1%} of cross-entropy (x alpha)"
    )
    focal_panel
    """),
    ("md", """
    ## 3. Augmentation strength

    The same images as notebook 03, at the strength you choose:
    """),
    ("code", """
    beats = load_beats(
        DATA_DIR or None,
        records=record_list(RECORDS),
        split=SPLIT,
        lead=LEAD,
        max_beats_per_record=CAP,
        val_fraction=VAL_FRACTION,
        seed=SEED,
        progress=False,
    )
    rng = np.random.default_rng(SEED)
    idx = [
        int(rng.choice(np.flatnonzero(beats.labels == k))) for k in (0, 2) if (beats.labels == k).any()
    ]
    images, _ = render.render_batch(beats.windows[idx], IMAGE_SIZE)
    aug_panel = widgets.augmentation_widget(images, strength=AUGMENT_STRENGTH, seed=SEED)
    aug_panel
    """),
    ("md", """
    ## 4. Short training runs, side by side

    Choose a learning rate, a focal gamma and an augmentation strength, then press **Train**. Each
    run trains the enhanced ResNet50 from scratch for one epoch of `EXPLORER_STEPS` batches on the
    training patients (`ecgkit.train.train`) and adds its curves (training loss, validation loss,
    validation macro-F1) to the plot. Short runs are noisy: compare trends, and repeat a run
    before believing a small difference.
    """),
    ("code", """
    def short_run(settings):
        run_dir = OUT / f"run{len(train_panel.data['runs']) + 1}"
        result = train(
            {**BASE, **settings}, beats=beats, run_dir=run_dir, progress=False, run_eagerly=EAGER
        )
        return result.history


    train_panel = widgets.training_comparison_widget(
        short_run, LEARNING_RATE, FOCAL_GAMMA, AUGMENT_STRENGTH
    )
    train_panel
    """),
    ("md", """
    In a batch run nobody presses the button, so the next cell presses it once with the starting
    values, which also checks that the whole path works. In JupyterLab, change a slider and press
    **Train** again to add a second run to the plot above.
    """),
    ("code", """
    train_panel.controls["train"].click()
    runs = train_panel.data["runs"]
    assert len(runs) == 1, "the run failed: see the status line above the plot"
    first = runs[0]["history"]
    print(
        {
            k: np.round(v, 4).tolist()
            for k, v in first.items()
            if k in ("loss", "val_loss", "val_macro_f1")
        }
    )
    """),
    ("code", """
    nb.record_figures(
        RUN_DIR,
        NOTEBOOK,
        {
            "lr_peak": float(lr_panel.data["lr"].max()),
            "lr_points": int(len(lr_panel.data["lr"])),
            "focal_ratio_easy": float(easy),
            "augment_change": aug_panel.data["mean_abs_change"],
            "runs": len(runs),
            "run_epochs": len(first.get("loss", [])),
            "run_final": {
                k: float(v[-1]) for k, v in first.items() if k in ("loss", "val_loss", "val_macro_f1")
            },
        },
    )
    """),
    ("md", """
    ## Summary

    - The schedule, the loss and the augmentation are pure functions; the widgets only draw them.
    - Warm-up length and peak rate matter most early; gamma shifts weight from easy to hard beats.
    - Training is expensive, so it runs on a button, never on a slider move; compare runs that
      differ in one setting, with the same data, seed and budget.

    ## Exercises

    1. Set gamma to 0 and alpha to 1 in the focal-loss panel: which curve do you get, and why?
    2. Train three runs that differ only in the learning rate (1e-4, 3e-4, 1e-3). Which converges
       fastest on validation macro-F1? Is the difference bigger than between two runs with the same
       settings?
    3. Write `my_schedule(step)` (linear warm-up over 100 steps to 3e-4, then constant) and plot it
       beside `widgets.lr_schedule_curve(3e-4, 10, 100, 1.0)`.
    """),
]
