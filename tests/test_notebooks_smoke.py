"""Every notebook executed once with the smoke profile (one workbook run), then checked figure
by figure.

The run is a module-scoped fixture: ``ecgkit workbook run --profile smoke`` into a temporary
folder. Each test asserts on what one notebook recorded in ``RUN_DIR/<notebook>/figures.json``.
If a notebook fails, the fixture's error names the notebook and the cell.
"""

from __future__ import annotations

import math

import pytest

from ecgkit.contract import CLASSES
from ecgkit.params import record_list
from ecgkit.workbook.nb import read_figures
from ecgkit.workbook.runner import run_workbook

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("workbook-smoke")
    return run_workbook("smoke", out=out, log=print)


def figs(run, name):
    f = read_figures(run.out, name)
    assert f, f"{name} recorded no figures"
    return f


def figure_outputs(notebook) -> tuple[int, int]:
    """An executed notebook's figures: ``(pictures, as_text)``, the outputs drawn as PNG and those
    that show a figure only as ``<Figure size ...>`` text."""
    import nbformat

    pictures = as_text = 0
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else ():
            data = output.get("data", {})
            if "image/png" in data:
                pictures += 1
            elif str(data.get("text/plain", "")).startswith("<Figure size"):
                as_text += 1
    return pictures, as_text


def between(x, lo=0.0, hi=1.0):
    return x is not None and lo <= x <= hi


class TestWorkbookRun:
    def test_every_notebook_ran_and_is_summarised(self, run):
        assert run.ok and len(run.notebooks) == 15
        for nb in run.notebooks:
            assert nb.output.exists(), nb.name
        summary = (run.out / "summary.csv").read_text()
        assert summary.count(",status,ok") == 15
        assert "30_evaluation,accuracy," in summary
        shown = {nb.name: figure_outputs(nb.output) for nb in run.notebooks}
        as_text = {name: text for name, (_, text) in shown.items()}
        assert not any(as_text.values()), f"figures printed as text, not drawn: {as_text}"
        for name, (pictures, _) in shown.items():  # a figure saved is also shown to the reader
            saved = len(list((run.out / name).glob("*.png")))
            assert pictures >= saved, f"{name}: {saved} figures saved, fewer shown"
        print({n.name: round(n.seconds, 1) for n in run.notebooks})

    def test_00_setup(self, run):
        f = figs(run, "00_setup_and_tour")
        # 00 lists the whole embedded database; the smoke profile then loads 12 of them.
        assert f["records"] == 48 and f["notebooks"] == 15 and f["keras"].startswith("3.")

    def test_01_data_exploration(self, run):
        f = figs(run, "01_data_exploration")
        assert f["records"] == len(record_list(run.params["RECORDS"])) == 12
        assert f["beats"] > 10_000
        assert (set(f["class_counts"]) == set(CLASSES)
                and all(v > 0 for v in f["class_counts"].values()))
        assert f["patient_overlap"] == 0
        assert f["knn"]["inter-patient"]["nearest_is_same_patient"] == 0.0
        assert f["knn"]["beat-random (leaks)"]["nearest_is_same_patient"] > 0.0
        assert f["rr_pre_median_s"]["S"] < f["rr_pre_median_s"]["N"]

    def test_02_signals_to_images(self, run):
        f = figs(run, "02_signals_to_images")
        assert f["window_samples"] == 1080 and f["example_shape"][1:] == [64, 64, 3]
        assert f["mv_range"] == [-3.0, 4.5] and f["render_ms_per_image"] > 0
        assert between(f["clipped_share"]) and f["examples"] > 0

    def test_03_augmentation(self, run):
        f = figs(run, "03_ecg_augmentation")
        assert not any("Flip" in layer for layer in f["layers"])
        change = f["mean_abs_change"]
        assert change[0] == 0 and change[-1] > change[1] > 0
        assert f["widget_change_at_strength"] > 0

    def test_10_backbone(self, run):
        f = figs(run, "10_resnet50_backbone")
        shapes = f["stage_shapes"]
        assert [s[-1] for s in shapes.values()] == [256, 512, 1024, 2048]
        assert shapes["conv2_block3_out"][0] == 16 and shapes["conv5_block3_out"][0] == 2
        assert 23_000_000 < f["params"] < 24_500_000

    def test_11_to_13_blocks(self, run):
        f11 = figs(run, "11_ecg_specific_block")
        assert f11["output_shape"] == [56, 56, 128] and f11["block_params"] > 0
        assert f11["branch_map_shape"][:2] == [16, 16]
        f12 = figs(run, "12_attention")
        assert (f12["channel_weights_shape"] == [1, 1, 2048]
                and f12["spatial_map_shape"] == [7, 7, 1])
        assert between(f12["channel_weight_range"][0]) and between(f12["spatial_range"][1])
        f13 = figs(run, "13_feature_calibration")
        assert (f13["detector_maps_shape"] == [7, 7, 4]
                and math.isclose(f13["detector_sum"], 1, abs_tol=1e-3))
        # scales computed from IMAGE_SIZE (64 px): stride-4 cells of 3000/16 ms, a 2 x 2 top map
        assert math.isclose(f11["stride4_cell_ms"], 3000 / 16)
        assert f12["top_map_cells"] == 2 and math.isclose(f12["top_cell_ms"], 1500)
        assert f13["positions"] == 4 and math.isclose(f13["position_ms"], 1500)

    def test_14_cost_table(self, run):
        f = figs(run, "14_pyramid_and_head")
        cost = f["cost"]
        assert set(cost) == {"baseline", "enhanced", "+ecg_block only", "+attention only",
                             "+calibration only", "+pyramid only"}
        assert cost["enhanced"]["parameters"] > cost["baseline"]["parameters"]
        assert cost["enhanced"]["GFLOPs per image"] > cost["baseline"]["GFLOPs per image"] > 0
        assert f["enhanced_output_shape"][1] == 5

    def test_20_training(self, run):
        f = figs(run, "20_training")
        # learning where it is cheap: the baseline memorises one batch of 16 real beats, far
        # above what predicting N for all of them scores (a quarter of a balanced batch)
        assert f["overfit_accuracy"] >= 0.9 > 0.25
        lesson = f["bn_lesson"]  # the BatchNorm trap: inference mode collapses, then recovers
        assert lesson["inference_accuracy_after_reestimate"] >= 0.9
        assert (lesson["inference_accuracy_momentum_0.99"]
                < lesson["inference_accuracy_after_reestimate"])
        assert f["steps_per_epoch"] == 2 and all(v > 0 for v in f["train_counts"].values() if v)
        for name in ("baseline", "enhanced"):
            r = f["runs"][name]
            assert (r["epochs_run"] == 1 and r["batchnorm"]["auto"]
                    and r["batchnorm"]["momentum"] == 0.9)
            assert (run.out / "models" / f"{name}.keras").is_file()
            # both take the beat's context; the image logits' weight is the validation minimum
            scale = r["image_scale"]
            curve = {float(k): v for k, v in scale["val_cross_entropy"].items()}
            assert curve[scale["chosen"]] == pytest.approx(min(curve.values()))

    def test_21_explorer(self, run):
        f = figs(run, "21_hyperparameter_explorer")
        assert math.isclose(f["lr_peak"], 3e-4, rel_tol=1e-3)
        # two runs of the same settings (seeds 42, 43) in 2 epochs of 1 batch: a loss per batch
        assert f["runs"] == 2 and f["seeds"] == [42, 43] and f["run_epochs"] == 2
        assert f["steps_per_run"] == 2 and all(len(loss) == 2 for loss in f["loss_per_batch"])
        assert f["repeat_loss_band_width"] >= 0 and f["repeat_val_macro_f1_spread"] >= 0
        assert 0 < f["focal_ratio_easy"] < 1

    def test_30_evaluation(self, run):
        f = figs(run, "30_evaluation")
        assert f["test_beats"] > 0 and between(f["accuracy"]) and between(f["macro"]["f1"])
        assert between(f["ece"]) and f["ci_unit"] == "patient"
        # capped test beats carry weights N/n: the weighted size is every test beat
        assert f["test_weighted"] == pytest.approx(f["weight_sum"])
        assert f["confusion_sum"] == pytest.approx(f["weight_sum"])
        assert f["test_weighted"] >= f["test_beats"]
        for metric in ("accuracy", "macro_f1"):
            ci = f["ci"][metric]
            assert ci["lo"] <= ci["estimate"] <= ci["hi"], metric
        assert f["ci"]["accuracy"]["estimate"] == pytest.approx(f["accuracy"])
        # the four baselines beside the network, on the same beats with the same weights
        comp = f["comparison"]
        assert set(comp) == {"network", "network+RR", "always_n", "nearest_neighbour",
                             "rr_logistic_regression", "gradient_boosted_trees"}
        assert comp["always_n"]["N_Se"] == 1.0 and comp["always_n"]["S_Se"] == 0.0
        assert comp["always_n"]["V_Se"] == 0.0 and comp["always_n"]["F_Se"] == 0.0
        assert len({row["n_weighted"] for row in comp.values()}) == 1
        assert all(between(row["macro_f1"]) for row in comp.values())
        assert len(f["versus_baselines"]) == 2 * (len(comp) - 1)
        for key, v in f["versus_baselines"].items():
            model, name = key.split(" - ")
            diff = comp[model]["macro_f1"] - comp[name]["macro_f1"]
            assert v["difference"] == pytest.approx(diff)
            assert v["lo"] <= v["hi"] and between(v["share_above_zero"])
        for model in ("network", "network+RR"):
            assert (f"the {model}'s macro-F1 over N/S/V/F is {comp[model]['macro_f1']:.3f}"
                    in f["verdict"][model])
            cov = f["coverage"][model]
            assert set(cov["never_predicted"]) <= set(cov["present"])
        # the fusion weight was chosen on the validation patients: the best of the grid there
        fu = f["fusion"]
        assert fu["val_beats"] > 0 and not set(fu["val_records"]) & set(f["test_records"])
        curve = {float(w): v for w, v in fu["val_cross_entropy"].items()}
        assert fu["weight"] in curve and curve[fu["weight"]] == pytest.approx(min(curve.values()))
        assert set(fu["val_macro_f1"]) == set(fu["val_cross_entropy"])
        for w in (0.0, 1.0):  # the ends of the fusion are its two experts
            if fu["weight"] == w:
                same = "network" if w == 0.0 else "rr_logistic_regression"
                assert comp["network+RR"]["macro_f1"] == pytest.approx(comp[same]["macro_f1"])
        ours = f["literature_ours"]
        assert set(ours) == {"N/S/V", "N/S/V/F"}
        assert ours["N/S/V/F"]["macro_f1"] == pytest.approx(comp["network"]["macro_f1"])
        fused = f["literature_ours_fused"]
        assert set(fused) == set(ours)
        assert fused["N/S/V/F"]["macro_f1"] == pytest.approx(comp["network+RR"]["macro_f1"])

    def test_31_error_analysis(self, run):
        f = figs(run, "31_error_analysis")
        assert 0 <= f["misclassified"] <= f["test_beats"] and between(f["error_rate"])
        assert f["sample_error_rate"] == pytest.approx(f["misclassified"] / f["test_beats"])
        assert sum(f["errors_per_record"].values()) == f["misclassified"]
        assert f["error_rate"] == pytest.approx(1 - f["weighted_accuracy"])
        assert sum(f["weighted_errors_per_record"].values()) == pytest.approx(
            f["error_rate"] * f["test_weighted"])
        # the same model on the same weighted test beats as notebook 30
        f30 = figs(run, "30_evaluation")
        assert f["test_weighted"] == pytest.approx(f30["test_weighted"])
        assert f["weighted_accuracy"] == pytest.approx(f30["accuracy"], abs=1e-6)
        assert f["gradcam_shape"][0] > 0
        # at 64 px the last map is 2 x 2; Grad-CAM comes from the 8-wide stride-8 stage
        assert f["gradcam_layer"] == "conv3_block4_out" and f["gradcam_shape"][1:] == [8, 8]
        assert f["gradcam_last_shape"][1:] == [2, 2] and between(f["error_rate_nsvf"])

    def test_32_ablation(self, run):
        f = figs(run, "32_ablation")
        assert f["models"][:2] == ["baseline", "enhanced"]
        assert f["parameters"]["enhanced"] > f["parameters"]["baseline"]
        p = f["paired"]["enhanced"]
        assert p["n_boot"] == run.params["BOOTSTRAP"] and p["n_patients"] >= 2
        assert p["difference"] == pytest.approx(p["a"] - p["b"])
        assert p["a"] == pytest.approx(f["comparison"]["enhanced"]["macro_f1"])
        assert p["b"] == pytest.approx(f["comparison"]["baseline"]["macro_f1"])
        assert p["lo"] <= p["difference"] <= p["hi"]
        assert between(p["share_above_zero"])
        assert p["share_above_zero"] + p["share_below_zero"] <= 1 + 1e-9
        expected = ("better than the baseline" if p["lo"] > 0 else "worse than the baseline"
                    if p["hi"] < 0 else "not distinguishable from the baseline")
        assert f["decision"]["enhanced"] == expected
        assert f"difference {p['difference']:+.3f}" in f["verdict"] and expected in f["verdict"]

    def test_40_your_own_images(self, run):
        f = figs(run, "40_your_own_images")
        # every record's rhythm strips, at most 2 per record and class: all three classes,
        # from several patients each; whole patients on each side
        assert f["strips"] == f["counts"]["total"]["strips"] > 100
        assert all(f["counts"][c]["patients"] >= 5 for c in ("NSR", "AF", "OTHER"))
        assert sum(f["sides"].values()) == f["strips"] and min(f["sides"].values()) > 0
        test = f["test"]
        assert set(test) == {"network", "RR irregularity", "majority class"}
        assert test["majority class"]["NSR_Se"] == 1.0 and test["majority class"]["AF_Se"] == 0.0
        # the RR baseline reads the rhythm: it beats the majority class on real strips
        assert test["RR irregularity"]["macro_f1"] > test["majority class"]["macro_f1"]
        assert all(between(v["macro_f1"]) for v in test.values())
        for pair, v in f["versus"].items():
            assert v["lo"] <= v["difference"] <= v["hi"], pair
        assert f["verdict"].count("[") == 2

