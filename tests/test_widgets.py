"""Widgets driven without a browser: set a control's .value, check the data and the plot changed."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest

from ecgkit.workbook import widgets


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
        from ecgkit.training.training_config import WARMUP_START_FRACTION

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

        def fake_train(settings, recorder):
            calls.append(settings)
            return fake_fit(recorder, [1.0, 0.5 + settings["LEARNING_RATE"]])

        panel = widgets.training_comparison_widget(fake_train, learning_rate=1e-3)
        png = panel.plot.value
        panel.controls["learning_rate"].value = 1e-4
        panel.controls["focal_gamma"].value = 1.0
        assert calls == [] and panel.data["runs"] == []  # sliders alone never train
        panel.controls["train"].click()
        panel.wait()
        assert len(calls) == 1 and calls[0]["LEARNING_RATE"] == pytest.approx(1e-4)
        assert calls[0]["FOCAL_GAMMA"] == 1.0 and calls[0]["SEED"] == 42
        panel.controls["learning_rate"].value = 1e-3
        panel.controls["train"].click()
        panel.wait()
        assert len(panel.data["runs"]) == 2 and len(panel.data["bands"]) == 2
        assert len(panel.data["curves"]["loss"]) == 2 and panel.plot.value != png
        panel.controls["clear"].click()
        assert panel.data["runs"] == [] and panel.data["bands"] == []

    def test_failed_training_reenables_button(self):
        def broken(_settings, _recorder):
            raise RuntimeError("no data")

        panel = widgets.training_comparison_widget(broken)
        panel.controls["train"].click()
        with pytest.raises(RuntimeError, match="no data"):  # a batch run fails loudly
            panel.wait()
        assert "failed: RuntimeError: no data" in panel.status.value
        assert panel.controls["train"].disabled is False and not panel.busy
        assert panel.data["runs"] == []
        panel.wait()  # the error was reported once


def fake_fit(recorder, losses, steps_per_epoch=1, val_f1=None):
    """Drives a BatchLossRecorder as Keras' fit would: ``losses`` per batch; Keras reports the
    epoch's running mean at each batch end. Returns the history (per epoch)."""
    epochs = len(losses) // steps_per_epoch
    recorder.set_params({"epochs": epochs, "steps": steps_per_epoch, "verbose": 0})
    recorder.on_train_begin()
    history = {"loss": [], "val_loss": [], "val_macro_f1": []}
    for e in range(epochs):
        recorder.on_epoch_begin(e)
        batch = losses[e * steps_per_epoch:(e + 1) * steps_per_epoch]
        for b in range(steps_per_epoch):
            recorder.on_train_batch_end(b, {"loss": float(np.mean(batch[:b + 1]))})
        recorder.on_test_begin()
        f1 = val_f1[e] if val_f1 is not None else 0.1 * (e + 1)
        logs = {"loss": float(np.mean(batch)), "val_loss": 1.0, "val_macro_f1": f1}
        recorder.on_epoch_end(e, logs)
        for k, values in history.items():
            values.append(logs[k])
    recorder.on_train_end()
    return history


class TestBatchLossRecorder:
    def test_one_loss_per_batch_from_a_real_fit(self):
        """With a zero learning rate each batch's loss is known: the recorder undoes Keras'
        running mean and gets one loss per batch, numbered by step across epochs."""
        import keras

        from ecgkit.training.callbacks import BatchLossRecorder

        rng = np.random.default_rng(0)
        x = rng.normal(size=(12, 3)).astype("float32")
        y = (rng.normal(size=(12, 1)) * np.arange(1, 13)[:, None]).astype("float32")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
        pred = np.asarray(model.predict(x, verbose=0))
        expected = [float(np.mean((pred[i:i + 4] - y[i:i + 4]) ** 2)) for i in (0, 4, 8)]
        events = []
        recorder = BatchLossRecorder(listener=lambda event, rec: events.append(event))
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, validation_data=(x, y),
                  callbacks=[recorder], verbose=0)
        assert recorder.steps == [1, 2, 3, 4, 5, 6] and recorder.total_steps == 6
        np.testing.assert_allclose(recorder.losses, expected * 2, rtol=1e-4)
        assert recorder.epoch_end_steps == [3, 6] and len(recorder.epoch_logs) == 2
        assert "val_loss" in recorder.epoch_logs[0]
        assert events.count("batch") == 6 and events.count("epoch") == 2
        assert events.count("validation") == 2 and events[0] == "begin"

    def test_running_mean_is_undone(self):
        from ecgkit.training.callbacks import BatchLossRecorder

        recorder = BatchLossRecorder()
        fake_fit(recorder, [4.0, 2.0, 3.0, 1.0, 0.5, 0.25], steps_per_epoch=3)
        np.testing.assert_allclose(recorder.losses, [4.0, 2.0, 3.0, 1.0, 0.5, 0.25])
        assert recorder.steps == [1, 2, 3, 4, 5, 6] and recorder.epoch_end_steps == [3, 6]
        assert [e["val_macro_f1"] for e in recorder.epoch_logs] == pytest.approx([0.1, 0.2])


def run_record(losses, f1, seed=42, lr=3e-4, steps_per_epoch=2):
    """A run as the training widget keeps it."""
    steps = list(range(1, len(losses) + 1))
    return {"label": f"lr={lr}", "seed": seed,
            "settings": {"LEARNING_RATE": lr, "FOCAL_GAMMA": 2.0, "AUGMENT_STRENGTH": 1.0},
            "step": steps, "loss": list(losses), "epoch_end_steps": steps[steps_per_epoch - 1::
                                                                          steps_per_epoch],
            "history": {"val_macro_f1": list(f1)}}


class TestLossBands:
    def test_band_of_two_identical_runs(self):
        runs = [run_record([3.0, 2.0, 1.0, 1.0], [0.2, 0.4], seed=42),
                run_record([4.0, 2.0, 0.0, 2.0], [0.3, 0.3], seed=43),
                run_record([5.0, 4.0, 3.0, 2.0], [0.1, 0.5], lr=1e-3)]
        bands = widgets.loss_bands(runs)
        assert len(bands) == 2  # identical settings (the seed aside) share a band
        same, other = bands
        assert same["n"] == 2 and same["seeds"] == [42, 43] and other["n"] == 1
        np.testing.assert_array_equal(same["step"], [1, 2, 3, 4])
        np.testing.assert_allclose(same["mean"], [3.5, 2.0, 0.5, 1.5])
        np.testing.assert_allclose(same["low"], [3.0, 2.0, 0.0, 1.0])
        np.testing.assert_allclose(same["high"], [4.0, 2.0, 1.0, 2.0])
        np.testing.assert_array_equal(same["epoch_end_steps"], [2, 4])
        np.testing.assert_allclose(same["val_low"], [0.2, 0.3])
        np.testing.assert_allclose(same["val_high"], [0.3, 0.4])
        assert same["final_val_macro_f1"] == pytest.approx([0.4, 0.3])
        assert same["spread"] == pytest.approx(0.1)  # what a change of settings must beat
        np.testing.assert_allclose(other["low"], other["high"])
        assert np.isnan(other["spread"])  # one run: no band yet

    def test_runs_of_different_length_share_their_common_steps(self):
        runs = [run_record([3.0, 2.0, 1.0, 1.0], [0.2, 0.4]), run_record([4.0, 2.0], [0.3])]
        (band,) = widgets.loss_bands(runs)
        np.testing.assert_array_equal(band["step"], [1, 2])
        assert band["val_mean"].shape == (1,)

    def test_next_seed_counts_runs_with_the_same_settings(self):
        runs = [run_record([1.0], [0.1], seed=42), run_record([1.0], [0.1], seed=43),
                run_record([1.0], [0.1], seed=42, lr=1e-3)]
        settings = {"LEARNING_RATE": 3e-4, "FOCAL_GAMMA": 2.0, "AUGMENT_STRENGTH": 1.0}
        assert widgets.next_seed(runs, settings, base_seed=42) == 44
        assert widgets.next_seed(runs, {**settings, "FOCAL_GAMMA": 0.0}, base_seed=42) == 42

    def test_no_runs(self):
        assert widgets.loss_bands([]) == []


class TestTrainingInTheBackground:
    """Training runs in a worker thread (the kernel stays free); a second press while it runs
    is refused; ``wait()`` joins the worker, as a batch run of the notebook does."""

    def test_second_click_while_running_is_refused(self):
        gate, started, active, calls = threading.Event(), threading.Event(), [], []

        def slow_train(settings, recorder):
            active.append(1)
            assert len(active) == 1, "two runs at once"
            calls.append(settings["SEED"])
            started.set()
            gate.wait(10)
            history = fake_fit(recorder, [2.0, 1.0])
            active.pop()
            return history

        panel = widgets.training_comparison_widget(slow_train, seed=7)
        panel.controls["train"].click()
        assert started.wait(10) and panel.busy and panel.controls["train"].disabled
        panel.controls["train"].click()  # while running: refused, nothing queued
        assert "still training" in panel.status.value and calls == [7]
        gate.set()
        panel.wait()
        worker = panel.worker
        assert not worker.is_alive() and not panel.busy and len(panel.data["runs"]) == 1
        panel.controls["train"].click()  # the same settings again: a repeat, the next seed
        panel.wait()
        assert calls == [7, 8] and not panel.worker.is_alive()
        (band,) = panel.data["bands"]
        assert band["n"] == 2 and band["seeds"] == [7, 8]
        assert "done: #2" in panel.status.value

    def test_progress_follows_the_batches(self):
        seen = []
        gate = threading.Event()
        panel = None

        def train(settings, recorder):
            def listener(event, rec):
                if event == "batch" and rec.steps[-1] == 2:
                    seen.append((panel.progress.value, panel.progress.max))
                    gate.set()
            recorder.listeners.append(listener)
            return fake_fit(recorder, [3.0, 2.0, 1.0, 0.5], steps_per_epoch=2)

        panel = widgets.training_comparison_widget(train)
        assert panel.progress.value == 0
        panel.controls["train"].click()
        panel.wait()
        assert gate.is_set() and seen == [(2, 4)]
        assert panel.progress.value == panel.progress.max == 4
        run = panel.data["runs"][0]
        assert run["loss"] == pytest.approx([3.0, 2.0, 1.0, 0.5]) and run["seed"] == 42
        assert run["epoch_end_steps"] == [2, 4]

    def test_repeats_count_trains_several_seeds_in_one_press(self):
        seeds = []

        def train(settings, recorder):
            seeds.append(settings["SEED"])
            return fake_fit(recorder, [2.0, 1.0 + settings["SEED"] / 100])

        panel = widgets.training_comparison_widget(train, seed=42)
        panel.controls["repeats"].value = 3
        panel.controls["train"].click()
        panel.wait()
        assert seeds == [42, 43, 44] and panel.data["bands"][0]["n"] == 3
        band = panel.data["bands"][0]
        assert band["high"][-1] - band["low"][-1] == pytest.approx(0.02)

    def test_wait_without_a_run(self):
        panel = widgets.training_comparison_widget(lambda s, r: {})
        assert panel.wait() is None and not panel.busy


class TestStaticPicture:
    """A panel, when displayed, also leaves a PNG of its first state as ordinary output, so the
    HTML copy of a run and a notebook opened without a live kernel show what the panel shows."""

    def test_display_emits_the_first_state_picture_then_the_live_panel(self, monkeypatch):
        import IPython.display

        from ecgkit.workbook.widgets import focal_loss_widget

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


class TestQuietEagerMetrics:
    def test_retracing_warning_of_eager_metrics_is_dropped_during_a_run(self, caplog):
        import logging

        logger = logging.getLogger("tensorflow")
        noise = ("5 out of the last 5 calls to <function pfor.<locals>.f at 0x1> triggered "
                 "tf.function retracing. Tracing is expensive")

        def train(settings, recorder):
            logger.warning(noise)
            logger.warning("a real problem")
            return fake_fit(recorder, [1.0])

        panel = widgets.training_comparison_widget(train)
        with caplog.at_level(logging.WARNING, logger="tensorflow"):
            panel.controls["train"].click()
            panel.wait()
            logger.warning(noise)  # outside a run nothing is filtered
        messages = [r.getMessage() for r in caplog.records]
        assert messages == ["a real problem", noise]
