from _arch_common import PARAMS, REAL_IMAGES, TRAINED, derived

TITLE = "13 · Feature calibration"
DESCRIPTION = ("Builds the feature-calibration module on its own, checks its shapes, and looks "
               "at its component detector maps and channel gates on real ECG images.")
LEARN = [
    "how learned detectors (intended: P wave, QRS, T wave, ST segment) pool features",
    "how per-component descriptors become channel gates (squeeze-and-excitation, component-aware)",
    "what the module cannot guarantee: nothing supervises the detectors with wave positions",
]
PREREQUISITES = ["12_attention"]

CELLS = [
    ("md", "## Parameters"),
    ("params", PARAMS),
    ("code", derived("13_feature_calibration",
                     "from ecgkit import calibration\n"
                     "from ecgkit.attention import attention_maps\n"
                     "from ecgkit.backbone import resnet50_backbone\n"
                     "from ecgkit.plots import plot_detector_maps\n")),
    ("md", """
    ## 1. The module

    The docstring says what it computes, step by step, and what it cannot promise: the
    "P-wave detector" is a P-wave detector by intention only. Read the source:
    """),
    ("code", "nb.show_source(calibration.feature_calibration)"),
    ("md", "## 2. Standalone, shape-checked"),
    ("code", """
    x = keras.Input((7, 7, 2048), name="features")
    y = calibration.feature_calibration(x, n_components=4, name="calibration")
    block = keras.Model(x, y, name="calibration_alone")
    det_shape = tuple(block.get_layer("calibration_detector_maps").output.shape)
    print("output", tuple(y.shape), "detector maps", det_shape, f"{block.count_params():,} parameters")
    assert tuple(y.shape) == (None, 7, 7, 2048) and det_shape == (None, 7, 7, 4)
    print("components (by intention):", calibration.COMPONENT_NAMES)
    """),
    ("md", """
    ## 3. Detector maps on real images

    Each detector map is a softmax over positions (it sums to 1 over the grid), so it says where
    that detector fires most. Untrained here; compare with notebook 31 after training.
    """),
    ("code", REAL_IMAGES),
    ("code", """
    inputs = keras.Input(INPUT_SHAPE, name="image")
    top = resnet50_backbone(inputs, weights=WEIGHTS_ARG)["conv5_block3_out"]
    model = keras.Model(inputs, calibration.feature_calibration(top, name="calibration"))
    detectors = attention_maps(model, images)["calibration_detector_maps"]
    sums = detectors.sum(axis=(1, 2))
    assert np.allclose(sums, 1.0, atol=1e-3), "each detector map is a softmax over positions"
    fig = plot_detector_maps(images, detectors, calibration.COMPONENT_NAMES, titles=pick_names)
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "detector_maps")
    """),
    ("code", """
    gates = keras.Model(model.inputs, model.get_layer("calibration_out").output).predict(
        images, verbose=0
    )
    before = keras.Model(model.inputs, top).predict(images, verbose=0)
    ratio = np.divide(gates, before, out=np.ones_like(gates), where=np.abs(before) > 1e-6)
    print(f"calibration keeps {ratio.mean():.2f} of each activation on average (gates in 0..1)")
    nb.record_figures(
        RUN_DIR,
        NOTEBOOK,
        {
            "block_params": int(block.count_params()),
            "detector_maps_shape": list(det_shape[1:]),
            "components": list(calibration.COMPONENT_NAMES),
            "detector_sum": float(sums.mean()),
            "mean_gate": float(ratio.mean()),
        },
    )
    """),
    ("md", """
    ### The same detectors after training

    When `RUN_DIR/models/enhanced.keras` exists (notebook 20 has run with this `RUN_DIR`), the
    trained model's detector maps are read on the same beats: whether the four detectors have
    specialised is something training decides, not their names. On a fresh run folder this cell
    says there is no trained model yet.
    """),
    ("code", TRAINED),
    ("code", """
    if trained is not None:
        t_det = attention_maps(trained, trained_images)["calibration_detector_maps"]
        fig = plot_detector_maps(trained_images, t_det, calibration.COMPONENT_NAMES, titles=pick_names)
        nb.save_figure(fig, RUN_DIR, NOTEBOOK, "detector_maps_trained")
        display(fig)
    nb.record_figures(RUN_DIR, NOTEBOOK, {"trained_maps": trained is not None})
    """),
    ("md", """
    ## Summary

    - Detectors -> softmax maps -> component descriptors -> channel gates -> recalibrated features.
    - It is squeeze-and-excitation with a component-aware squeeze; shape in = shape out.
    - The component names are intentions; check the maps after training before trusting them.

    ## Exercises

    1. Write `my_calibration(x, n_components, name)` following the docstring's five steps. The cell
       below compares it with the library: same output shape, parameter count, and outputs with
       the library's weights.
    2. Build the module with `n_components=8`: how many parameters does that add?
    """),
    ("code", """
    def my_calibration(x, n_components=4, name="mine"):
        raise NotImplementedError("exercise 1: write the module here")


    try:
        result = nb.check_block(
            my_calibration, calibration.feature_calibration, (7, 7, 2048), n_components=4
        )
        print("same output shape, parameter count and outputs as the library:", result["reference"])
    except NotImplementedError as todo:
        print("not written yet:", todo)
    """),
]
