from _arch_common import PARAMS, REAL_IMAGES, derived

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
    ("md", "## 2. Standalone, shape-checked (on the 7 x 7 grid of a 224-px image)"),
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
    that detector fires most. Untrained here; notebook 31 shows them after training. Whether a
    position can hold one wave depends on the image size: the cell after the figure says how much
    signal one position covers in this run.
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
    positions = int(top.shape[1] * top.shape[2])
    position_ms = render.ms_per_cell(int(top.shape[2]))
    print(f"At {IMAGE_SIZE} px each detector chooses among {positions} positions; one position "
          f"covers {position_ms:.0f} ms of the 3-s window ({render.what_spans(position_ms)}), "
          "so a 'P-wave detector' can at best point at the stretch that holds the P wave.")
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
            "positions": positions,
            "position_ms": position_ms,
        },
    )
    """),
    ("md", """
    ## Summary

    - Detectors -> softmax maps -> component descriptors -> channel gates -> recalibrated features.
    - It is squeeze-and-excitation with a component-aware squeeze; shape in = shape out.
    - The component names are intentions; check the maps after training (notebook 31) before
      trusting them, and remember how much signal one position covers at this image size.

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
