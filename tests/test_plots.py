"""Tests for ecgkit.workbook.plots: each function returns a Figure with the expected contents."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ecgkit.contract import CLASSES
from ecgkit.evaluation.scoring import evaluate_predictions
from ecgkit.workbook import plots


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


class TestHistory:
    def test_panels_train_val_and_lr(self):
        h = {"loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "macro_f1": [0.2, 0.4],
             "val_macro_f1": [0.1, 0.3], "accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.5],
             "learning_rate": [1e-4, 3e-4]}
        fig = plots.plot_history(h)
        assert isinstance(fig, Figure)
        titles = [ax.get_title() for ax in _visible_axes(fig)]
        assert titles[0] == "loss" and titles[-1] == "learning_rate"
        assert set(titles) == {"loss", "accuracy", "macro_f1", "learning_rate"}
        loss_ax = _visible_axes(fig)[0]
        assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["train", "validation"]

    def test_dataframe_input(self):
        df = pd.DataFrame({"epoch": [0, 1], "loss": [1.0, 0.5], "val_loss": [1.2, 0.7]})
        fig = plots.plot_history(df)
        assert [ax.get_title() for ax in _visible_axes(fig)] == ["loss"]

    def test_empty_raises(self):
        with pytest.raises(ValueError):
            plots.plot_history({})

    def test_epoch_column_is_the_axis_not_a_panel(self):
        # train() returns the CSV log as a dict, with its "epoch" column
        h = {"epoch": [0, 1, 2], "loss": [1.0, 0.6, 0.5], "val_loss": [1.2, 0.8, 0.7]}
        fig = plots.plot_history(h)
        assert [ax.get_title() for ax in _visible_axes(fig)] == ["loss"]


class TestEvaluationFigures:
    @pytest.fixture
    def report(self):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 4, 80)  # Q absent
        p = rng.dirichlet(np.ones(5), 80)
        return evaluate_predictions(y, p, n_boot=0)

    def test_confusion_counts_and_normalised(self, report):
        fig = plots.plot_confusion_matrix(report.confusion, CLASSES)
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASSES)
        assert len(ax.texts) == 25
        assert ax.texts[0].get_text() == str(report.confusion[0, 0])
        fig_n = plots.plot_confusion_matrix(report.confusion, CLASSES, normalize=True)
        texts = [t.get_text() for t in fig_n.axes[0].texts]
        assert texts[-1] == "-"  # the absent class Q has an empty row, not 0
        assert "normalised" in fig_n.axes[0].get_title()

    def test_roc_pr(self, report):
        fig = plots.plot_roc_pr(report.roc, report.pr, report.per_class)
        ax_roc, ax_pr = fig.axes
        assert len(ax_roc.get_lines()) == 4 + 1  # four present classes and the diagonal
        assert len(ax_pr.get_lines()) == 4
        assert "AUC" in ax_roc.get_legend().get_texts()[0].get_text()

    def test_calibration(self, report):
        fig = plots.plot_calibration(report.reliability, report.ece)
        assert "ECE" in fig.axes[0].get_title()
        assert len(fig.axes[0].patches) == 10


class TestDataAndImageFigures:
    def test_class_distribution(self):
        counts = {"train": dict(zip(CLASSES, [100, 10, 20, 3, 0])),
                  "test": dict(zip(CLASSES, [90, 5, 15, 1, 2]))}
        fig = plots.plot_class_distribution(counts)
        ax = fig.axes[0]
        train, test = ax.containers  # one set of bars per split (seaborn draws them)
        assert [b.get_height() for b in train] == [100, 10, 20, 3, 0]
        assert [b.get_height() for b in test] == [90, 5, 15, 1, 2]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]

    def test_image_grid(self):
        imgs = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
        fig = plots.plot_image_grid(imgs, titles=list("abcde"), ncols=3)
        visible = [ax for ax in fig.axes if ax.images]
        assert len(visible) == 5
        assert visible[4].get_title() == "e"

    def test_context_images_show_each_channel(self):
        imgs = np.full((2, 32, 32, 3), 255, np.uint8)
        imgs[0, 10, :, 1] = 0  # a green-channel trace only
        fig = plots.plot_context_images(imgs, titles=["N", "V"])
        assert len(fig.axes) == 8
        assert [ax.get_title() for ax in fig.axes[:4]] == ["N", *plots.CONTEXT_CHANNELS]
        beat = fig.axes[2].images[0].get_array()
        assert beat.ndim == 2 and beat[10].max() == 0 and beat[11].min() == 255
        with pytest.raises(ValueError, match="no images"):
            plots.plot_context_images(imgs[:0])

    def test_gradcam_two_models(self):
        imgs = np.full((2, 32, 32, 3), 255, np.uint8)
        maps = {"baseline": np.random.rand(2, 4, 4), "enhanced": np.random.rand(2, 7, 7)}
        fig = plots.plot_gradcam(imgs, maps, titles=["x", "y"])
        assert len(fig.axes) == 6
        assert [fig.axes[i].get_title() for i in range(3)] == ["image", "baseline", "enhanced"]
        over = plots.overlay_heatmap(imgs[0], maps["enhanced"][0])
        assert over.shape == (32, 32, 3) and over.min() >= 0 and over.max() <= 1

    def test_attention_maps(self):
        imgs = np.full((2, 32, 32, 3), 200, np.uint8)
        fig = plots.plot_attention_maps(imgs, np.random.rand(2, 8, 8, 1),
                                        channel_weights=np.random.rand(2, 16))
        assert len(fig.axes) == 6
        assert fig.axes[1].get_title() == "spatial attention"


class TestDetectorMaps:
    def test_one_row_per_image_one_panel_per_component(self):
        from ecgkit.workbook.plots import plot_detector_maps

        images = np.zeros((2, 32, 32, 3), np.uint8)
        maps = np.random.default_rng(0).random((2, 4, 4, 3))
        fig = plot_detector_maps(images, maps, ["P", "QRS", "T"], titles=["N", "V"])
        assert len(fig.axes) == 2 * 4
        assert [ax.get_title() for ax in fig.axes[:4]] == ["N", "P", "QRS", "T"]

    def test_shape_mismatch_is_named(self):
        from ecgkit.workbook.plots import plot_detector_maps

        with pytest.raises(ValueError, match=r"detector_maps must have shape \(n=2, h, w, 4\)"):
            plot_detector_maps(np.zeros((2, 8, 8, 3)), np.zeros((2, 4, 4, 3)), "PQRS")


class TestPairedBootstrap:
    def test_one_panel_per_comparison(self):
        from ecgkit.evaluation.scoring import paired_bootstrap
        from ecgkit.workbook.plots import plot_paired_bootstrap

        rng = np.random.default_rng(0)
        y = rng.integers(0, 4, 200)
        good = np.eye(5)[y] * 0.9 + 0.02
        noisy = rng.dirichlet(np.ones(5), 200)
        patients = np.repeat(np.arange(10), 20)
        v = paired_bootstrap(y, good, noisy, patients, n_boot=50, seed=0)
        fig = plot_paired_bootstrap({"a - b": v, "b - a": paired_bootstrap(
            y, noisy, good, patients, n_boot=50, seed=0)})
        axes = [ax for ax in fig.axes if ax.axison]
        assert len(axes) == 2
        assert sum(p.get_height() for p in axes[0].patches if hasattr(p, "get_height")) >= 50
        assert "a - b" in axes[0].get_title() and "10 patients" in axes[0].get_title()
        assert axes[0].get_legend().get_texts()[0].get_text().endswith(f"{v['difference']:+.3f}")


class TestLossBands:
    def test_loss_per_step_with_band_and_validation_per_epoch(self):
        from matplotlib.collections import PolyCollection

        from ecgkit.workbook.widgets import loss_bands

        def run(losses, f1, seed, lr=3e-4):
            return {"label": "x", "seed": seed, "step": [1, 2, 3, 4], "loss": losses,
                    "epoch_end_steps": [2, 4], "history": {"val_macro_f1": f1},
                    "settings": {"LEARNING_RATE": lr, "FOCAL_GAMMA": 2.0, "AUGMENT_STRENGTH": 1}}

        bands = loss_bands([run([3, 2, 1, 1], [0.2, 0.4], 42), run([4, 2, 0, 2], [0.3, 0.3], 43),
                            run([5, 4, 3, 2], [0.1, 0.5], 42, lr=1e-3)])
        fig = plots.plot_loss_bands(bands)
        loss_ax, f1_ax = _visible_axes(fig)
        assert loss_ax.get_xlabel() == "step" and f1_ax.get_xlabel() == "epoch"
        # one shaded band per group of repeats (two runs), none for a single run
        assert sum(isinstance(c, PolyCollection) for c in loss_ax.collections) == 1
        assert sum(isinstance(c, PolyCollection) for c in f1_ax.collections) == 1
        mean_line = loss_ax.get_lines()[0]
        np.testing.assert_allclose(mean_line.get_ydata(), [3.5, 2.0, 0.5, 1.5])
        assert "2 seeds" in loss_ax.get_legend().get_texts()[0].get_text()

    def test_no_runs_yet(self):
        fig = plots.plot_loss_bands([])
        assert "no runs yet" in [t.get_text() for ax in fig.axes for t in ax.texts]


class TestShownInNotebooks:
    """A figure returned to a notebook cell shows as a picture, not as ``<Figure size ...>``:
    the reference run showed 18 figures as that text (03, 12, 20, 30, 31, 40), because IPython
    draws a plain Figure only after pyplot has set the inline backend up."""

    def test_ipython_formats_a_figure_as_png_without_pyplot(self):
        from IPython.core.formatters import DisplayFormatter

        fig = plots.plot_class_distribution({"train": dict(zip(CLASSES, [100, 10, 20, 3, 0]))})
        data, _ = DisplayFormatter().format(fig)  # no inline backend, the Agg backend is set
        assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
        assert isinstance(fig, Figure)
