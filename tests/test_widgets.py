"""Widgets driven without a browser: set a control's .value, check the data and the plot changed."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from ecgkit import widgets


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    img = np.full((2, 32, 32, 3), 255, np.uint8)
    img[:, 12:20, :, :] = rng.integers(0, 80, size=(2, 8, 32, 3), dtype=np.uint8)  # a dark trace
    return img


class TestPureFunctions:
    def test_lr_schedule_warms_up_then_decays(self):
        c = widgets.lr_schedule_curve(1e-3, epochs=4, steps_per_epoch=10, warmup_epochs=1)
        assert c["lr"].shape == (41,) and c["epoch"][-1] == 4
        from ecgkit.training_config import WARMUP_START_FRACTION

        assert c["lr"][0] == pytest.approx(1e-3 * WARMUP_START_FRACTION)
        assert c["lr"][10] == pytest.approx(1e-3, rel=1e-4)  # the peak, at the end of warm-up
        assert np.all(np.diff(c["lr"][:11]) > 0) and np.all(np.diff(c["lr"][10:]) <= 1e-12)
        assert c["lr"][-1] == pytest.approx(0.0, abs=1e-9)

    def test_lr_schedule_without_warmup_starts_at_peak(self):
        c = widgets.lr_schedule_curve(1e-3, epochs=2, steps_per_epoch=5, warmup_epochs=0)
        assert c["lr"][0] == pytest.approx(1e-3)

    def test_lr_schedule_rejects(self):
        with pytest.raises(ValueError, match="learning_rate"):
            widgets.lr_schedule_curve(0.0)

    def test_focal_loss_matches_formula(self):
        c = widgets.focal_loss_curve(gamma=2.0, alpha=0.25)
        p = c["p"]
        expected = -0.25 * (1 - p) ** 2 * np.log(p)
        np.testing.assert_allclose(c["focal"], expected, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(c["ce"], -np.log(p), rtol=1e-3, atol=1e-6)

    def test_focal_loss_gamma0_alpha1_is_cross_entropy(self):
        c = widgets.focal_loss_curve(gamma=0.0, alpha=1.0)
        np.testing.assert_allclose(c["focal"], c["ce"], rtol=1e-5, atol=1e-6)

    def test_augmentation_preview(self, images):
        same = widgets.augmentation_preview(images, 0.0)
        np.testing.assert_array_equal(same, images)
        out = widgets.augmentation_preview(images, 2.0, seed=1, copies=2)
        assert out.shape == (4, 32, 32, 3) and out.dtype == np.uint8
        assert not np.array_equal(out[:1], images[:1])
        again = widgets.augmentation_preview(images, 2.0, seed=1, copies=2)
        np.testing.assert_array_equal(out, again)  # seeded: the preview is reproducible

    def test_compare_histories(self):
        runs = [{"label": "a", "history": {"loss": [2, 1], "val_macro_f1": [0.1, 0.2]}},
                {"label": "b", "history": {"loss": [3, 2]}}]
        assert widgets.compare_histories(runs) == {
            "loss": {"a": [2.0, 1.0], "b": [3.0, 2.0]}, "val_macro_f1": {"a": [0.1, 0.2]}}


class TestWidgets:
    def test_lr_widget_follows_sliders(self):
        panel = widgets.lr_schedule_widget(learning_rate=1e-3, epochs=5, steps_per_epoch=10)
        png, peak = panel.plot.value, panel.data["lr"].max()
        assert bytes(png).startswith(b"\x89PNG") and peak == pytest.approx(1e-3, rel=1e-4)
        panel.controls["learning_rate"].value = 1e-4
        assert panel.data["lr"].max() == pytest.approx(1e-4, rel=1e-3)
        assert panel.plot.value != png
        panel.controls["epochs"].value = 8
        assert panel.data["epoch"][-1] == 8

    def test_focal_widget_follows_sliders(self):
        panel = widgets.focal_loss_widget(gamma=0.0, alpha=1.0)
        before, png = panel.data["focal"].copy(), panel.plot.value
        panel.controls["gamma"].value = 3.0
        assert np.all(panel.data["focal"] <= before + 1e-7)  # gamma only shrinks the loss
        assert panel.data["focal"][100] < before[100] and panel.plot.value != png
        panel.controls["alpha"].value = 0.5
        assert panel.updates == 3

    def test_augmentation_widget(self, images):
        panel = widgets.augmentation_widget(images, strength=0.0)
        assert panel.data["mean_abs_change"] == 0.0
        assert panel.controls["strength"].continuous_update is False
        png = panel.plot.value
        panel.controls["strength"].value = 2.5
        assert panel.data["mean_abs_change"] > 0 and panel.plot.value != png

    def test_training_runs_only_on_the_button(self):
        calls = []

        def fake_train(settings):
            calls.append(settings)
            lr = settings["LEARNING_RATE"]
            return {"loss": [1.0, 0.5 + lr], "val_loss": [1.1, 0.9], "val_macro_f1": [0.2, 0.3]}

        panel = widgets.training_comparison_widget(fake_train, learning_rate=1e-3)
        png = panel.plot.value
        panel.controls["learning_rate"].value = 1e-4
        panel.controls["focal_gamma"].value = 1.0
        assert calls == [] and panel.data["runs"] == []  # sliders alone never train
        panel.controls["train"].click()
        assert len(calls) == 1 and calls[0]["LEARNING_RATE"] == pytest.approx(1e-4)
        assert calls[0]["FOCAL_GAMMA"] == 1.0
        panel.controls["learning_rate"].value = 1e-3
        panel.controls["train"].click()
        assert len(panel.data["runs"]) == 2
        assert len(panel.data["curves"]["loss"]) == 2 and panel.plot.value != png
        panel.controls["clear"].click()
        assert panel.data["runs"] == []

    def test_failed_training_reenables_button(self):
        def broken(_settings):
            raise RuntimeError("no data")

        panel = widgets.training_comparison_widget(broken)
        panel.controls["train"].click()  # ipywidgets logs callback errors; the status shows it
        assert "failed: RuntimeError: no data" in panel.children[2].value
        assert panel.controls["train"].disabled is False
        assert panel.data["runs"] == []


class TestStaticPicture:
    """A panel, when displayed, also leaves a PNG of its first state as ordinary output, so the
    HTML copy of a run and a notebook opened without a live kernel show what the panel shows."""

    def test_display_emits_the_first_state_picture_then_the_live_panel(self, monkeypatch):
        import IPython.display

        from ecgkit.widgets import focal_loss_widget

        shown = []
        monkeypatch.setattr(IPython.display, "display",
                            lambda *objs, **kw: shown.append((objs, kw)))
        panel = focal_loss_widget(gamma=2.0)
        first = panel.plot.value
        panel._ipython_display_()
        (picture,), kw = shown[0]
        assert kw.get("raw") and picture["image/png"] == base64.b64encode(first).decode()
        assert "Focal loss" in picture["text/plain"]
        (bundle,), kw = shown[1]
        assert kw.get("raw") and "application/vnd.jupyter.widget-view+json" in bundle
        # a later move of a slider does not change the picture already left
        panel.controls["gamma"].value = 4.0
        panel._ipython_display_()
        assert shown[2][0][0]["image/png"] == picture["image/png"]
        assert panel.plot.value != first
