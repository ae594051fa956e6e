"""Figures for training, evaluation and error analysis. Each function returns a Figure.

Introduced in: notebooks/20_training.ipynb (history; runs side by side in
notebooks/21_hyperparameter_explorer.ipynb), notebooks/30_evaluation.ipynb
(confusion, ROC/PR, calibration) and notebooks/31_error_analysis.ipynb (galleries, Grad-CAM,
attention).

Functions never save or show: the caller decides (``fig.savefig(...)``, or a notebook displays
it). They draw on matplotlib Figures through the object API (seaborn for the heatmap and the
grouped bars, always on a given axes), so they need no pyplot and no backend; each Figure shows
itself as a PNG in a notebook (``_repr_png_``), whether pyplot was used there or not.
"""

from __future__ import annotations

import functools
import io
import math
from typing import Mapping, Sequence

import numpy as np

from ecgkit.contract import CLASSES


@functools.cache
def _shown_figure_class():
    from matplotlib.figure import Figure

    class ShownFigure(Figure):
        """A Figure that a notebook shows as a picture whatever the kernel's matplotlib state:
        IPython draws a plain Figure only once pyplot has set the inline backend up, and
        prints ``<Figure size ...>`` before that (or after a library switched to Agg)."""

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            self.savefig(buf, format="png", bbox_inches="tight")
            return buf.getvalue()

    return ShownFigure


def _figure(*args, **kwargs):
    return _shown_figure_class()(*args, **kwargs)


def _history_dict(history) -> dict[str, list[float]]:
    h = getattr(history, "history", history)
    if hasattr(h, "to_dict") and hasattr(h, "columns"):  # a DataFrame (e.g. a CSV log)
        h = {c: h[c].tolist() for c in h.columns if c != "epoch"}
    return {k: list(map(float, v)) for k, v in dict(h).items()}


def plot_history(history, title: str = "Training history"):
    """Loss and each metric, training vs validation, and the learning rate, per epoch.

    Args:
        history: a Keras ``History``, its ``.history`` dict, or a DataFrame of the CSV log.
        title: figure title.

    Returns:
        A Figure with one axes per quantity (``loss`` first, ``learning_rate`` last if logged).
    """
    h = _history_dict(history)
    lr_keys = [k for k in ("learning_rate", "lr") if k in h]
    base = [k for k in h if not k.startswith("val_") and k not in lr_keys and k != "epoch"]
    base.sort(key=lambda k: (k != "loss", k))
    panels = base + lr_keys[:1]
    if not panels:
        raise ValueError("history is empty: nothing to plot")
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, key in zip(axes, panels):
        if key in lr_keys:
            _plot_epochs(ax, key, {"learning rate": h[key]}, color="tab:green")
            if min(h[key]) > 0:
                ax.set_yscale("log")
        else:
            curves = {"train": h[key]}
            if f"val_{key}" in h:
                curves["validation"] = h[f"val_{key}"]
            _plot_epochs(ax, key, curves)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def plot_histories(curves: Mapping[str, Mapping[str, Sequence[float]]]):
    """Several training runs side by side: one panel per metric, one line per run.

    Args:
        curves: metric -> run label -> values per epoch
            (``ecgkit.workbook.widgets.compare_histories``).

    Returns:
        A Figure with one axes per metric (one empty axes saying so when there are no runs).
    """
    fig = _figure(figsize=(4.0 * max(len(curves), 1), 3.2), layout="constrained")
    axes = fig.subplots(1, max(len(curves), 1), squeeze=False)[0]
    for ax, (metric, runs) in zip(axes, curves.items()):
        _plot_epochs(ax, metric, runs)
    if not curves:
        axes[0].text(0.5, 0.5, "no runs yet", ha="center", va="center")
        axes[0].set_axis_off()
    return fig


def plot_loss_bands(bands: Sequence[Mapping]):
    """Short runs: the training loss per batch against the step, and the validation macro-F1
    per epoch, one colour per group of identical settings, with the band of its repeats.

    Args:
        bands: ``ecgkit.workbook.widgets.loss_bands`` output (one group of repeats per entry).

    Returns:
        A Figure with two axes: loss against step (the mean of the repeats as a line, each
        repeat thin, the min-max band shaded, dotted lines where the epochs end) and validation
        macro-F1 against epoch (the same, per epoch). A group of one run has no band.
    """
    fig = _figure(figsize=(10.0, 3.4), layout="constrained")
    loss_ax, f1_ax = fig.subplots(1, 2, width_ratios=(3, 2))
    if not bands:
        for ax in (loss_ax, f1_ax):
            ax.text(0.5, 0.5, "no runs yet", ha="center", va="center")
            ax.set_axis_off()
        return fig
    for i, band in enumerate(bands):
        color = f"C{i % 10}"
        n = band["n"]
        label = f"{band['label']} ({n} seed{'s' if n > 1 else ''})"
        loss_ax.plot(band["step"], band["mean"], color=color, lw=2, label=label)
        epochs = np.arange(1, len(band["val_mean"]) + 1)
        f1_ax.plot(epochs, band["val_mean"], color=color, lw=2, marker="o", label=label)
        if n > 1:
            loss_ax.fill_between(band["step"], band["low"], band["high"], color=color, alpha=0.2,
                                 lw=0)
            f1_ax.fill_between(epochs, band["val_low"], band["val_high"], color=color,
                               alpha=0.2, lw=0)
            for losses, val in zip(band["losses"], band["val"]):
                loss_ax.plot(band["step"], losses, color=color, lw=0.6, alpha=0.6)
                f1_ax.plot(epochs, val, color=color, lw=0, marker=".", alpha=0.6)
    for step in bands[0]["epoch_end_steps"][:-1]:
        loss_ax.axvline(step + 0.5, color="grey", ls=":", lw=1)
    loss_ax.set(title="training loss per batch (band: min-max over seeds)", xlabel="step",
                ylabel="loss")
    f1_ax.set(title="validation macro-F1 per epoch", xlabel="epoch", ylabel="macro-F1")
    for ax in (loss_ax, f1_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in (loss_ax, f1_ax):
        ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=8)
    return fig


def _plot_epochs(ax, title: str, curves: Mapping[str, Sequence[float]], **line):
    """One line per curve against the epoch (1, 2, ...), with a legend."""
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=label, **line)
    ax.set(title=title, xlabel="epoch")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def plot_confusion_matrix(cm, classes: Sequence[str] = CLASSES, normalize: bool = False,
                          title: str | None = None):
    """Confusion matrix as an annotated heatmap (rows = true class, columns = predicted).

    Args:
        cm: (k, k) counts.
        classes: class names.
        normalize: show row-normalised fractions (each true class sums to 1; empty rows blank).
        title: axes title.
    """
    import seaborn as sns

    cm = np.asarray(cm, dtype=float)
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        data = np.divide(cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)
    else:
        data = cm
    # seaborn leaves NaN cells blank and unlabelled: colour them as 0 and label them "-"
    labels = [["-" if np.isnan(v) else f"{v:.2f}" if normalize else f"{v:.0f}" for v in row]
              for row in data]
    fig = _figure(figsize=(1.0 * len(classes) + 2.2, 1.0 * len(classes) + 1.4),
                  layout="constrained")
    ax = fig.add_subplot()
    sns.heatmap(np.nan_to_num(data, nan=0.0), annot=labels, fmt="", cmap="Blues", vmin=0,
                vmax=1 if normalize else max(1.0, np.nanmax(data)), square=True,
                xticklabels=classes, yticklabels=classes, cbar_kws={"shrink": 0.8}, ax=ax)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or ("Confusion matrix (row-normalised)" if normalize
                           else "Confusion matrix (counts)"))
    return fig


def plot_roc_pr(roc: Mapping[str, tuple], pr: Mapping[str, tuple], per_class=None):
    """One-vs-rest ROC (left) and precision-recall (right) curves per class.

    Args:
        roc: class -> (fpr, tpr).
        pr: class -> (recall, precision).
        per_class: optional per-class DataFrame with ``roc_auc`` / ``pr_auc`` for the legend.
    """
    fig = _figure(figsize=(10, 4.2), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    for c, (fpr, tpr) in roc.items():
        lab = c if per_class is None else f"{c} (AUC {per_class.loc[c, 'roc_auc']:.3f})"
        ax_roc.plot(fpr, tpr, label=lab)
    ax_roc.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate (Se)",
               title="ROC, one-vs-rest", xlim=(0, 1), ylim=(0, 1.02))
    for c, (rec, prec) in pr.items():
        lab = c if per_class is None else f"{c} (AUC {per_class.loc[c, 'pr_auc']:.3f})"
        ax_pr.plot(rec, prec, label=lab)
    ax_pr.set(xlabel="recall (Se)", ylabel="precision (+P)", title="Precision-recall, one-vs-rest",
              xlim=(0, 1), ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
        ax.grid(alpha=0.3)
    return fig


def plot_calibration(reliability, ece: float | None = None):
    """Reliability diagram of the top-class confidence, with bin counts below.

    Args:
        reliability: DataFrame with ``lo``, ``hi``, ``confidence``, ``accuracy``, ``count``
            (``ecgkit.evaluation.scoring.calibration_bins``).
        ece: expected calibration error, shown in the title.
    """
    r = reliability
    fig = _figure(figsize=(5, 5.5), layout="constrained")
    ax, ax_n = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    width = (r["hi"] - r["lo"]).to_numpy()
    centres = ((r["hi"] + r["lo"]) / 2).to_numpy()
    ax.bar(centres, np.nan_to_num(r["accuracy"].to_numpy()), width=width * 0.95,
           edgecolor="black", alpha=0.7, label="accuracy in bin")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title="Reliability diagram" + ("" if ece is None else f" (ECE {ece:.3f})"))
    ax.legend(fontsize=8, loc="upper left")
    ax_n.bar(centres, r["count"].to_numpy(), width=width * 0.95, color="tab:grey")
    ax_n.set(xlabel="confidence (top-class probability)", ylabel="beats")
    return fig


def plot_class_distribution(counts: Mapping[str, Mapping[str, int]], classes=CLASSES,
                            log: bool = True):
    """Beats per class in each split, as grouped bars.

    Args:
        counts: split -> class -> count (e.g. ``{s: beats.subset(s).class_counts()}``).
        classes: class order.
        log: logarithmic y axis (class imbalance spans orders of magnitude).
    """
    import pandas as pd
    import seaborn as sns

    rows = [(s, c, int(counts[s].get(c, 0))) for s in counts for c in classes]
    df = pd.DataFrame(rows, columns=["split", "class", "beats"])
    fig = _figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    sns.barplot(df, x="class", y="beats", hue="split", order=list(classes), errorbar=None, ax=ax)
    for bars in ax.containers:
        ax.bar_label(bars, fmt="%d", fontsize=7)
    if log:
        ax.set_yscale("symlog", linthresh=1)
    ax.set(xlabel="AAMI class", ylabel="beats", title="Class distribution per split")
    return fig


def plot_image_grid(images, titles: Sequence[str] | None = None, ncols: int = 6,
                    title: str | None = None):
    """Images (n, H, W, 3) in a grid, each with an optional title."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = _figure(figsize=(2.2 * ncols, 2.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            img = images[i]
            ax.imshow(img.astype(np.uint8) if img.dtype != np.uint8 and img.max() > 1 else img)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


CONTEXT_CHANNELS = ("rhythm (red)", "beat (green)", "usual beat (blue)")
"""What each channel of a context image shows (:mod:`ecgkit.data.context_image`)."""


def plot_context_images(images, titles: Sequence[str] | None = None):
    """Context images (n, H, W, 3), one row each: the image as the network gets it, then each
    channel alone (the rhythm in units of the patient's RR, the beat, the usual beat)."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    fig = _figure(figsize=(9, 2.3 * n), layout="constrained")
    axes = fig.subplots(n, 4, squeeze=False)
    for i, row in enumerate(axes):
        row[0].imshow(images[i])
        row[0].set_title(titles[i] if titles is not None else "the image", fontsize=9)
        for c, ax in enumerate(row[1:]):
            ax.imshow(images[i][..., c], cmap="gray", vmin=0, vmax=255)
            ax.set_title(CONTEXT_CHANNELS[c], fontsize=9)
        for ax in row:
            ax.set_axis_off()
    return fig


def overlay_heatmap(image, heatmap, alpha: float = 0.45):
    """An RGB float image in [0, 1]: the heatmap (jet colours, resized) over the image."""
    import cv2
    import matplotlib

    img = np.asarray(image, dtype=np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    h = np.asarray(heatmap, dtype=np.float32)
    if h.shape != img.shape[:2]:  # nearest neighbour: each heatmap cell stays a visible block
        h = cv2.resize(h, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
    rng = float(h.max() - h.min())
    h = (h - h.min()) / rng if rng > 0 else np.zeros_like(h)
    colours = matplotlib.colormaps["jet"](h)[..., :3]
    return np.clip((1 - alpha) * img + alpha * colours, 0, 1)


def plot_gradcam(images, heatmaps: Mapping[str, np.ndarray] | np.ndarray,
                 titles: Sequence[str] | None = None):
    """Grad-CAM heatmaps over ECG images: one row per image, a column per model.

    Args:
        images: (n, H, W, 3) uint8 images.
        heatmaps: (n, h, w) maps, or model name -> (n, h, w) maps (e.g. baseline and enhanced).
        titles: row titles (e.g. "true V / pred N 0.81").
    """
    images = np.asarray(images)
    maps = {"Grad-CAM": heatmaps} if not isinstance(heatmaps, Mapping) else dict(heatmaps)
    cols = ["image", *maps]
    n = len(images)
    fig = _figure(figsize=(2.6 * len(cols), 2.6 * n), layout="constrained")
    axes = fig.subplots(n, len(cols), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i])
        axes[i, 0].set_ylabel(titles[i] if titles is not None else "", fontsize=8)
        for j, name in enumerate(maps, start=1):
            axes[i, j].imshow(overlay_heatmap(images[i], np.asarray(maps[name])[i]))
        for j, name in enumerate(cols):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
    return fig


def plot_attention_maps(images, spatial_maps, channel_weights=None,
                        titles: Sequence[str] | None = None):
    """Spatial attention maps over the images, and optionally the channel weights.

    Args:
        images: (n, H, W, 3) uint8 images.
        spatial_maps: (n, h, w) or (n, h, w, 1) spatial attention.
        channel_weights: optional (n, C) channel attention weights, drawn as sorted curves.
        titles: per-image titles.
    """
    images = np.asarray(images)
    sm = np.asarray(spatial_maps)
    if sm.ndim == 4:
        sm = sm[..., 0]
    n = len(images)
    ncol = 3 if channel_weights is not None else 2
    fig = _figure(figsize=(2.8 * ncol, 2.6 * n), layout="constrained")
    axes = fig.subplots(n, ncol, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i])
        axes[i, 0].set_title(titles[i] if titles is not None else "image", fontsize=8)
        axes[i, 1].imshow(overlay_heatmap(images[i], sm[i]))
        axes[i, 1].set_title("spatial attention", fontsize=8)
        for ax in axes[i, :2]:
            ax.set_xticks([])
            ax.set_yticks([])
        if channel_weights is not None:
            w = np.asarray(channel_weights)[i].ravel()
            axes[i, 2].plot(np.sort(w)[::-1])
            axes[i, 2].set(title="channel weights (sorted)", xlabel="channel rank",
                           ylim=(0, 1.02))
            axes[i, 2].title.set_fontsize(8)
    return fig


def plot_detector_maps(images, detector_maps, component_names: Sequence[str],
                       titles: Sequence[str] | None = None):
    """Each image beside its feature-calibration detector maps (one panel per component).

    Args:
        images: (n, H, W, 3) uint8 images.
        detector_maps: (n, h, w, k) maps, one channel per component.
        component_names: the k component names (panel titles).
        titles: per-image titles.
    """
    images = np.asarray(images)
    maps = np.asarray(detector_maps)
    if maps.ndim != 4 or maps.shape[-1] != len(component_names) or len(maps) != len(images):
        raise ValueError(f"detector_maps must have shape (n={len(images)}, h, w, "
                         f"{len(component_names)}). Received: shape={maps.shape}")
    n, k = len(images), len(component_names)
    fig = _figure(figsize=(2.2 * (k + 1), 2.2 * n), layout="constrained")
    axes = fig.subplots(n, k + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i])
        axes[i, 0].set_title(titles[i] if titles is not None else "image", fontsize=9)
        for j, comp in enumerate(component_names, 1):
            axes[i, j].imshow(maps[i, :, :, j - 1], cmap="inferno")
            axes[i, j].set_title(comp, fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    return fig


def plot_paired_bootstrap(versus: Mapping[str, Mapping], xlabel: str = "macro-F1 difference"):
    """Paired patient bootstraps (``ecgkit.evaluation.scoring.paired_bootstrap``), one panel each:
    the resampled differences, 0, the difference on all test beats and the interval.

    Args:
        versus: panel title (e.g. "network - RR-LR") -> a paired bootstrap with its
            ``samples``.
        xlabel: the x axis label.

    Returns:
        A Figure with one axes per comparison, in rows of at most three.
    """
    n = max(len(versus), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (title, v) in zip(axes, versus.items()):
        ax.hist(v["samples"], bins=30, color="tab:blue", alpha=0.7)
        ax.axvline(0, color="black", lw=1)
        ax.axvline(v["difference"], color="tab:red",
                   label=f"on all test beats {v['difference']:+.3f}")
        ax.axvspan(v["lo"], v["hi"], color="tab:red", alpha=0.12,
                   label=f"{v['level']:.0%} interval")
        ax.set(xlabel=xlabel, ylabel="resamples",
               title=f"{title}\n({v['n_patients']} patients, {v['n_boot']} resamples)")
        ax.legend(fontsize=7)
    for ax in axes[len(versus):]:
        ax.set_axis_off()
    return fig
