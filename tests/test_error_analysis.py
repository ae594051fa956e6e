"""Tests for ecgkit.evaluation.error_analysis: tables on arrays, gallery, and Grad-CAM on a tiny
model."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ecgkit.evaluation.error_analysis import (
    confused_pairs,
    errors_per_patient,
    errors_per_record,
    grad_cam,
    misclassified_gallery,
    misclassified_table,
)


@pytest.fixture
def case():
    y = np.array([0, 0, 1, 2, 2, 0])
    prob = np.array([[.9, .1, 0, 0, 0], [.2, .7, .1, 0, 0], [.6, .4, 0, 0, 0],
                     [0, 0, 1, 0, 0], [.55, 0, .45, 0, 0], [1, 0, 0, 0, 0]])
    meta = pd.DataFrame({"record": ["100", "100", "100", "208", "208", "202"],
                         "patient": ["100", "100", "100", "208", "208", "201"],
                         "sample": [10, 20, 30, 40, 50, 60], "symbol": list("NNAVVN")})
    return y, prob, meta


class TestTables:
    def test_misclassified_sorted_by_confidence(self, case):
        y, prob, meta = case
        t = misclassified_table(y, prob, meta)
        assert t["index"].tolist() == [1, 2, 4]
        assert t.iloc[0][["true", "pred", "record", "sample"]].tolist() == ["N", "S", "100", 20]
        assert t.iloc[0]["confidence"] == pytest.approx(0.7)
        assert t.iloc[0]["p_true"] == pytest.approx(0.2)
        assert t.iloc[2]["symbol"] == "V"

    def test_errors_per_record_and_patient(self, case):
        y, prob, meta = case
        pred = prob.argmax(1)
        r = errors_per_record(y, pred, meta)
        assert r.index[0] == "100"
        assert r.loc["100", ["beats", "errors"]].tolist() == [3, 2]
        assert r.loc["100", "error_rate"] == pytest.approx(2 / 3)
        assert r.loc["100", "errors_S"] == 1 and r.loc["208", "errors_V"] == 1
        p = errors_per_patient(y, pred, meta)
        assert set(p.index) == {"100", "208", "201"}
        assert p.loc["201", "errors"] == 0

    def test_weighted_errors_estimate_the_whole_record(self, case):
        y, prob, meta = case
        pred = prob.argmax(1)
        w = np.array([10.0, 1.0, 1.0, 1.0, 1.0, 5.0])  # record 100: the right N beat stands for 10
        r = errors_per_record(y, pred, meta, weights=w)
        assert r.loc["100", ["beats", "errors"]].tolist() == [3, 2]  # beat counts unchanged
        assert r.loc["100", "weighted_beats"] == 12.0 and r.loc["100", "weighted_errors"] == 2.0
        assert r.loc["100", "weighted_error_rate"] == pytest.approx(2 / 12)
        assert r.loc["208", "weighted_error_rate"] == pytest.approx(0.5)
        assert r.index.tolist() == ["100", "208", "202"]  # by weighted errors
        with pytest.raises(ValueError, match="one per beat"):
            errors_per_record(y, pred, meta, weights=w[:3])

    def test_confused_pairs_of_weighted_counts_stay_float(self):
        cm = np.zeros((5, 5))
        cm[0, 0], cm[1, 0], cm[0, 1] = 50.0, 2.5, 0.4
        t = confused_pairs(cm)
        assert t["count"].tolist() == [2.5, 0.4]

    def test_confused_pairs(self):
        cm = np.zeros((5, 5), int)
        cm[0, 0], cm[1, 0], cm[2, 0], cm[2, 2], cm[0, 1] = 50, 8, 3, 9, 2
        t = confused_pairs(cm, top=2)
        assert t[["true", "pred", "count"]].values.tolist() == [["S", "N", 8], ["V", "N", 3]]
        assert t.iloc[1]["share_of_true"] == pytest.approx(0.25)

    def test_meta_length_checked(self, case):
        y, prob, meta = case
        with pytest.raises(ValueError, match="rows"):
            misclassified_table(y, prob, meta.iloc[:3])

    def test_gallery(self, case):
        y, prob, meta = case
        imgs = np.zeros((6, 32, 32, 3), np.uint8)
        fig = misclassified_gallery(imgs, misclassified_table(y, prob, meta))
        titled = [ax.get_title() for ax in fig.axes if ax.images]
        assert len(titled) == 3 and titled[0].startswith("true N -> S 0.70")


class TestGradCam:
    def test_heatmaps_on_tiny_model(self):
        import keras

        keras.utils.set_random_seed(0)
        inp = keras.Input((32, 32, 3))
        x = keras.layers.Rescaling(1 / 255.0)(inp)
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="last_conv")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
        model = keras.Model(inp, out)
        imgs = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3)).astype("uint8")
        cam = grad_cam(model, imgs, layer_name="last_conv")
        assert cam.shape == (3, 32, 32) and cam.dtype == np.float32
        assert cam.min() >= 0 and cam.max() <= 1
        cam2 = grad_cam(model, imgs, layer_name="last_conv", class_index=[0, 1, 2])
        assert cam2.shape == cam.shape
        with pytest.raises(ValueError, match="no layer"):
            grad_cam(model, imgs, layer_name="nope")


class TestGradCamLayerForSize:
    def _stages(self, size):
        import keras

        inp = keras.Input((size, size, 3))
        x = inp
        for name, stride in (("conv2_block3_out", 4), ("conv3_block4_out", 2),
                             ("conv4_block6_out", 2), ("conv5_block3_out", 2)):
            x = keras.layers.Conv2D(2, 1, strides=stride, padding="same", name=name)(x)
        x = keras.layers.Conv2D(2, 1, name="attention_out")(x)
        out = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x))
        return keras.Model(inp, out)

    def test_deepest_stage_at_least_min_width(self):
        from ecgkit.evaluation.error_analysis import gradcam_layer_for_size

        # 64 px: widths 16, 8, 4, 2 -> conv3 (8 wide); 224 px: 56, 28, 14, 7 -> conv4
        assert gradcam_layer_for_size(self._stages(64)) == ("conv3_block4_out", 8)
        assert gradcam_layer_for_size(self._stages(224)) == ("conv4_block6_out", 14)
        # 256 px: the top map is 8 wide, so the model's own last map (attention_out) is kept
        assert gradcam_layer_for_size(self._stages(256)) == ("attention_out", 8)

    def test_too_small_for_any_stage_takes_the_widest(self):
        from ecgkit.evaluation.error_analysis import gradcam_layer_for_size

        assert gradcam_layer_for_size(self._stages(64), min_width=40) == ("conv2_block3_out", 16)

    def test_model_without_stages_is_refused(self):
        import keras

        from ecgkit.evaluation.error_analysis import gradcam_layer_for_size

        inp = keras.Input((32, 32, 3))
        model = keras.Model(inp, keras.layers.Dense(5)(keras.layers.Flatten()(inp)))
        with pytest.raises(ValueError, match="conv2_block3_out"):
            gradcam_layer_for_size(model)
