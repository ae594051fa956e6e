from _arch_common import PARAMS, REAL_IMAGES, derived

TITLE = "11 · The ECG-specific multi-scale block"
DESCRIPTION = ("Builds the multi-scale ECG block on its own, checks its shapes, and looks at "
               "how its parallel branches respond to a real ECG image.")
LEARN = [
    "why ECG features live at several time scales (QRS tens of ms, P/T waves, RR intervals)",
    "how parallel 3/5/9/15 branches (factorised as 1xk then kx1) cover them cheaply",
    "where the block taps the backbone (stride 4) and how its output joins the model",
    "how to check your own block against the library's (shape, parameter count, and outputs with the same weights)",
]
PREREQUISITES = ["10_resnet50_backbone"]

CELLS = [
    ("md", "## Parameters"),
    ("params", PARAMS),
    ("code", derived("11_ecg_specific_block",
                     "from ecgkit.backbone import resnet50_backbone\n"
                     "from ecgkit.ecg_block import DEFAULT_KERNEL_SIZES, ecg_multiscale_block\n")),
    ("md", """
    ## 1. The block

    The block sits on the stride-4 map `conv2_block3_out`, whose cells each cover a stretch of the
    3-s window; a k-wide kernel covers k of them. How long those stretches are depends on the image
    size, so the cell below computes them for this run's `IMAGE_SIZE` (the kernel's receptive field
    in the image is wider still: the backbone's layers before it add theirs). The block projects
    the features down (1x1), runs the branches in parallel, concatenates them and fuses with a 1x1
    convolution. Sublayers carry hierarchical names (`ecg_block_9x9_conv1`), so the summary reads
    like the diagram.
    """),
    ("code", """
    stride4_cells = -(-IMAGE_SIZE // 4)  # conv2_block3_out's width (section 3 checks it)
    cell_ms = render.ms_per_cell(stride4_cells)
    print(f"At {IMAGE_SIZE} px one pixel is {render.ms_per_pixel(IMAGE_SIZE):.1f} ms of signal; "
          f"the stride-4 map is {stride4_cells} cells wide, one cell = {cell_ms:.0f} ms.")
    for k in DEFAULT_KERNEL_SIZES:
        print(f"  a {k}-wide kernel spans {k * cell_ms:.0f} ms: {render.what_spans(k * cell_ms)}")
    """),
    ("code", "nb.show_source(ecg_multiscale_block)"),
    ("md", "## 2. Standalone, shape-checked"),
    ("code", """
    x = keras.Input((56, 56, 256), name="features")
    y = ecg_multiscale_block(x, filters=128, name="ecg_block")
    block = keras.Model(x, y, name="ecg_block_alone")
    print(tuple(y.shape), f"{block.count_params():,} parameters")
    assert tuple(y.shape) == (None, 56, 56, 128)  # same grid, `filters` channels
    branch_names = [f"ecg_block_{k}x{k}_relu" for k in DEFAULT_KERNEL_SIZES]
    assert all(block.get_layer(n) is not None for n in branch_names)
    block.summary(line_length=100)
    """),
    ("md", """
    ## 3. Branch responses on a real image

    The block on the backbone's stride-4 features, as the factory places it. The maps show the
    mean response of each branch; wider kernels give smoother responses that spread along the
    time axis. (With `WEIGHTS: none` and no training the weights are random: the point is the
    receptive field of each branch, not a learned detector.)
    """),
    ("code", REAL_IMAGES),
    ("code", """
    inputs = keras.Input(INPUT_SHAPE, name="image")
    c2 = resnet50_backbone(inputs, weights=WEIGHTS_ARG)["conv2_block3_out"]
    out = ecg_multiscale_block(c2, filters=128, name="ecg_block")
    placed = keras.Model(inputs, out)
    probe = keras.Model(inputs, [placed.get_layer(n).output for n in branch_names] + [out])
    responses = probe.predict(images, verbose=0)
    assert c2.shape[2] == stride4_cells, "section 1's cell size was computed for another width"
    for r in responses:
        assert r.shape[1:3] == tuple(c2.shape[1:3])
    fig, axes = plt.subplots(
        len(images), len(branch_names) + 2, figsize=(13, 2.1 * len(images)), squeeze=False
    )
    for i in range(len(images)):
        axes[i, 0].imshow(images[i])
        axes[i, 0].set_title(pick_names[i], fontsize=9)
        for j, (name, r) in enumerate(zip(branch_names + ["ecg_block_out"], responses), 1):
            axes[i, j].imshow(r[i].mean(axis=-1), cmap="viridis")
            axes[i, j].set_title(name.replace("ecg_block_", ""), fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    nb.save_figure(fig, RUN_DIR, NOTEBOOK, "branch_responses")
    """),
    ("code", """
    smoothness = {
        name: float(np.abs(np.diff(r.mean(axis=-1), axis=2)).mean())
        for name, r in zip(branch_names, responses)
    }
    print(
        "mean horizontal change of each branch map (smaller = smoother):",
        {k: round(v, 4) for k, v in smoothness.items()},
    )
    nb.record_figures(
        RUN_DIR,
        NOTEBOOK,
        {
            "block_params": int(block.count_params()),
            "output_shape": list(y.shape[1:]),
            "kernel_sizes": list(DEFAULT_KERNEL_SIZES),
            "branch_map_shape": list(responses[0].shape[1:]),
            "branch_smoothness": smoothness,
            "stride4_cell_ms": cell_ms,
            "kernel_span_ms": {k: k * cell_ms for k in DEFAULT_KERNEL_SIZES},
        },
    )
    """),
    ("md", """
    ## Summary

    - ECG evidence spans scales; parallel branches with 3/5/9/15 kernels see several at once.
      What each spans in milliseconds follows the image size (section 1 printed it for this run).
    - After training (notebook 20), notebook 31 reads the trained block's branches on test beats:
      which scales the network relies on for each class.
    - Factorising kxk as 1xk + kx1 keeps the wide branches cheap.
    - The block keeps the grid and returns `filters` channels; it feeds the feature pyramid (14).

    ## Exercises

    1. Write `my_ecg_block(x, filters, name)`: a 1x1 reduction to `filters // 2`, four branches
       (3, 5, 9, 15; each a 1xk then kx1 convolution with `filters // 4` channels, batch norm, ReLU),
       concatenation, and a 1x1 fusion to `filters` with batch norm and ReLU. The cell below checks
       it against the library's block: same output shape, same number of parameters, and the same
       outputs once it holds the library's weights.
    2. Which branch costs the most parameters? Compute it from `block.get_layer(...).count_params()`.
    """),
    ("code", """
    def my_ecg_block(x, filters, name="mine"):
        raise NotImplementedError("exercise 1: write the block here")

    try:
        result = nb.check_block(my_ecg_block, ecg_multiscale_block, (56, 56, 256), filters=128)
        print("same output shape, parameter count and outputs as the library:", result["reference"])
    except NotImplementedError as todo:
        print("not written yet:", todo)
    """),
]
