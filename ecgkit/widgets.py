"""Interactive explorers for the workbook: thin ipywidgets factories over pure functions.

Introduced in: notebooks/21_hyperparameter_explorer.ipynb (the augmentation preview also in
notebooks/03_ecg_augmentation.ipynb).

Each explorer is a pure function that computes what is shown (``lr_schedule_curve``,
``focal_loss_curve``, ``augmentation_preview``) and a factory that wires controls to it and
draws the result as a PNG (``lr_schedule_widget`` ...). Every factory returns a ``Panel``: an
``ipywidgets.VBox`` with its ``controls`` by name, the ``plot`` image widget and the last computed
``data``, so a test can set ``panel.controls["gamma"].value = 3`` and check that ``panel.data``
and ``panel.plot.value`` changed, without a browser. Cheap curves follow the sliders as they
move; the augmentation preview updates when a slider is released; training runs only when its
button is pressed.

A panel, when a notebook displays it, first leaves a static PNG of its first state as an ordinary
output, then the live panel: the HTML copy of a run (``ecgkit workbook run``) and a notebook
opened without a live kernel show that picture where a live kernel shows the panel.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import keras
import numpy as np
from matplotlib.figure import Figure

from ecgkit.augment import ecg_augmentation
from ecgkit.plots import plot_histories, plot_image_grid
from ecgkit.training_config import make_schedule

# --- Pure functions ------------------------------------------------------------------------------


def lr_schedule_curve(learning_rate: float = 3e-4, epochs: int = 10, steps_per_epoch: int = 100,
                      warmup_epochs: float = 1.0) -> dict[str, np.ndarray]:
    """The learning rate at every training step of ``ecgkit.training_config.make_schedule``.

    That is the schedule training uses: a linear warm-up to ``learning_rate``, then cosine decay
    to zero at the last step.

    Args:
        learning_rate: the peak learning rate, reached at the end of warm-up.
        epochs: training epochs.
        steps_per_epoch: optimizer steps per epoch.
        warmup_epochs: warm-up length in epochs (may be fractional; clipped to the run).

    Returns:
        ``{"step": int array, "epoch": float array, "lr": float array}``, at most about 400
        steps from 0 to ``epochs * steps_per_epoch`` (always including the end of warm-up).

    Raises:
        ValueError: on a non-positive learning rate, epoch or step count (from make_schedule).
    """
    schedule = make_schedule(learning_rate, epochs, steps_per_epoch, warmup_epochs)
    warmup = schedule.warmup_steps
    total = warmup + schedule.decay_steps
    # the schedule takes one step at a time; a few hundred points draw the curve exactly enough
    steps = np.unique(np.concatenate([np.linspace(0, total, min(total, 400) + 1).astype(int),
                                      [warmup]]))
    lr = np.array([float(keras.ops.convert_to_numpy(schedule(int(s)))) for s in steps])
    return {"step": steps, "epoch": steps / steps_per_epoch, "lr": lr}


def focal_loss_curve(gamma: float = 2.0, alpha: float = 0.25, num_points: int = 200
                     ) -> dict[str, np.ndarray]:
    """Focal loss of one example against the probability given to its true class.

    Computed with ``keras.losses.categorical_focal_crossentropy`` (the loss training uses), next
    to plain cross-entropy: ``FL(p) = -alpha (1 - p)^gamma log(p)``. With ``gamma = 0`` and
    ``alpha = 1`` the two are the same; larger gamma shrinks the loss of easy examples (p near 1).

    Args:
        gamma: focusing parameter (>= 0).
        alpha: class weight (> 0).
        num_points: points between p = 0.01 and p = 1.

    Returns:
        ``{"p": probabilities, "focal": focal loss, "ce": cross-entropy}``.
    """
    if gamma < 0 or alpha <= 0:
        raise ValueError(f"gamma must be >= 0 and alpha > 0. Received: gamma={gamma}, alpha={alpha}")
    p = np.linspace(0.01, 1.0, num_points)
    y_pred = np.stack([p, 1.0 - p], axis=1).astype("float32")
    y_true = np.zeros_like(y_pred)
    y_true[:, 0] = 1.0
    focal = keras.losses.categorical_focal_crossentropy(y_true, y_pred, alpha=alpha, gamma=gamma)
    ce = keras.losses.categorical_crossentropy(y_true, y_pred)
    return {"p": p, "focal": np.asarray(keras.ops.convert_to_numpy(focal), dtype=np.float64),
            "ce": np.asarray(keras.ops.convert_to_numpy(ce), dtype=np.float64)}


def augmentation_preview(images: np.ndarray, strength: float = 1.0, seed: int = 42,
                         copies: int = 1) -> np.ndarray:
    """``images`` after ``ecgkit.augment.ecg_augmentation(strength, seed)`` in training mode.

    Args:
        images: uint8 (n, H, W, 3).
        strength: augmentation strength (0 = unchanged).
        seed: seed of the random layers, so the same strength gives the same preview.
        copies: augmented copies per image (stacked image by image).

    Returns:
        uint8 (n * copies, H, W, 3).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, H, W, 3). Received: shape={images.shape}")
    batch = np.repeat(images, copies, axis=0).astype("float32")
    if strength == 0:
        return batch.astype(np.uint8)
    out = ecg_augmentation(strength, seed=seed)(batch, training=True)
    out = np.asarray(out, dtype=np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def compare_histories(runs: Sequence[dict[str, Any]], metrics: Sequence[str] = ("loss", "val_loss",
                      "val_macro_f1")) -> dict[str, dict[str, list[float]]]:
    """The curves of several training runs, metric by metric, for a side-by-side plot.

    Args:
        runs: ``{"label": str, "history": {metric: [value per epoch]}}`` per run.
        metrics: the metrics to keep (missing ones are skipped).

    Returns:
        ``{metric: {label: values}}``.
    """
    out: dict[str, dict[str, list[float]]] = {}
    for metric in metrics:
        curves = {r["label"]: [float(v) for v in r["history"][metric]]
                  for r in runs if metric in r.get("history", {})}
        if curves:
            out[metric] = curves
    return out


# --- Drawing -------------------------------------------------------------------------------------


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (no pyplot: nothing is shown as a side effect)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return buf.getvalue()


def _figure():
    fig = Figure(figsize=(5.0, 3.2))
    return fig, fig.add_subplot()


def plot_lr_schedule(curve: dict[str, np.ndarray]):
    fig, ax = _figure()
    ax.plot(curve["epoch"], curve["lr"])
    ax.set(xlabel="epoch", ylabel="learning rate", title=f"warm-up cosine, peak {curve['lr'].max():.2g}")
    ax.grid(alpha=0.3)
    return fig


def plot_focal_loss(curve: dict[str, np.ndarray], gamma: float, alpha: float):
    fig, ax = _figure()
    ax.plot(curve["p"], curve["ce"], "--", color="grey", label="cross-entropy")
    ax.plot(curve["p"], curve["focal"], label=f"focal, gamma={gamma:g}, alpha={alpha:g}")
    ax.set(xlabel="probability of the true class", ylabel="loss", ylim=(0, 4.7))
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


# --- Widgets -------------------------------------------------------------------------------------


class Panel(widgets.VBox):
    """A VBox with ``controls`` (by name), a ``plot`` Image and the last ``data``.

    ``first_png`` is the plot of the first state; displaying the panel shows it as a static
    picture before the live panel.
    """

    def __init__(self, title: str, controls: dict[str, Any], update: Callable[["Panel"], None],
                 extra: Sequence[Any] = ()):
        self.controls = controls
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.plot.add_class("ecgkit-plot")
        self.data: dict[str, Any] = {}
        self.updates = 0
        self.first_png: bytes | None = None
        self.title = title
        self._update = update
        header = widgets.HTML(f"<b>{title}</b>")
        box = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([header, box, *extra, self.plot])
        self.add_class("ecgkit-panel")

    def refresh(self, _change=None) -> None:
        """Recomputes ``data`` from the controls and redraws ``plot``."""
        self._update(self)
        self.updates += 1
        if self.first_png is None:
            self.first_png = self.plot.value

    def _ipython_display_(self) -> None:
        """Shows the first state as a static PNG, then the live panel."""
        from IPython import display

        if self.first_png:
            display.display({"image/png": base64.b64encode(self.first_png).decode(),
                             "text/plain": f"[{self.title}: the panel's first state]"}, raw=True)
        display.display(self._repr_mimebundle_(), raw=True)


def _slider(kind: str, description: str, value, **kw):
    style = {"description_width": "initial"}
    return getattr(widgets, kind)(value=value, description=description, style=style, **kw)


def lr_schedule_widget(learning_rate: float = 3e-4, epochs: int = 10, steps_per_epoch: int = 100,
                       warmup_epochs: float = 1.0):
    """Sliders for the peak learning rate, epochs and warm-up; the schedule redraws as they move.

    Returns:
        A ``Panel``; ``data`` is the ``lr_schedule_curve`` result.
    """
    controls = {
        "learning_rate": _slider("FloatLogSlider", "peak LR", learning_rate, base=10, min=-5,
                                 max=-2, step=0.1, readout_format=".1e"),
        "epochs": _slider("IntSlider", "epochs", epochs, min=1, max=100),
        "warmup_epochs": _slider("FloatSlider", "warm-up epochs", warmup_epochs, min=0.0, max=10.0,
                                 step=0.5),
    }

    def update(panel):
        c = panel.controls
        curve = lr_schedule_curve(c["learning_rate"].value, c["epochs"].value, steps_per_epoch,
                                  min(c["warmup_epochs"].value, c["epochs"].value))
        panel.data = curve
        panel.plot.value = figure_png(plot_lr_schedule(curve))

    panel = Panel("Learning-rate schedule", controls, update)
    for c in controls.values():
        c.observe(panel.refresh, names="value")
    panel.refresh()
    return panel


def focal_loss_widget(gamma: float = 2.0, alpha: float = 0.25):
    """Sliders for focal-loss gamma and alpha; the loss curve redraws as they move.

    Returns:
        A ``Panel``; ``data`` is the ``focal_loss_curve`` result.
    """
    controls = {
        "gamma": _slider("FloatSlider", "gamma", gamma, min=0.0, max=5.0, step=0.25),
        "alpha": _slider("FloatSlider", "alpha", alpha, min=0.05, max=1.0, step=0.05),
    }

    def update(panel):
        g, a = panel.controls["gamma"].value, panel.controls["alpha"].value
        curve = focal_loss_curve(g, a)
        panel.data = curve
        panel.plot.value = figure_png(plot_focal_loss(curve, g, a))

    panel = Panel("Focal loss", controls, update)
    for c in controls.values():
        c.observe(panel.refresh, names="value")
    panel.refresh()
    return panel


def augmentation_widget(images: np.ndarray, strength: float = 1.0, seed: int = 42):
    """A strength slider (applied on release) and the same images augmented at that strength.

    Args:
        images: a few uint8 ECG images (n, H, W, 3); the originals are shown first.
        strength: initial strength.
        seed: augmentation seed (the preview changes only because the strength does).

    Returns:
        A ``Panel``; ``data`` has ``"images"`` (the augmented batch) and ``"strength"``.
    """
    images = np.asarray(images)
    controls = {
        "strength": _slider("FloatSlider", "augmentation strength", strength, min=0.0, max=3.0,
                            step=0.25, continuous_update=False),
    }

    def update(panel):
        s = panel.controls["strength"].value
        out = augmentation_preview(images, s, seed=seed)
        panel.data = {"images": out, "strength": s,
                      "mean_abs_change": float(np.abs(out.astype(float) - images).mean())}
        row = np.concatenate([images, out])
        titles = ["original"] * len(images) + [f"strength {s:g}"] * len(out)
        panel.plot.value = figure_png(plot_image_grid(row, titles, ncols=len(row)))

    panel = Panel("Augmentation strength", controls, update)
    controls["strength"].observe(panel.refresh, names="value")
    panel.refresh()
    return panel


def training_comparison_widget(train_fn: Callable[[dict[str, Any]], dict[str, list[float]]],
                               learning_rate: float = 3e-4, focal_gamma: float = 2.0,
                               augment_strength: float = 1.0,
                               metrics: Sequence[str] = ("loss", "val_loss", "val_macro_f1")):
    """Settings, a Train button and the curves of every run so far, side by side.

    Training is expensive, so nothing runs when a slider moves: ``train_fn(settings)`` is called
    only when the button is pressed, with ``settings`` = ``{"LEARNING_RATE", "FOCAL_GAMMA",
    "AUGMENT_STRENGTH"}``, and must return a Keras-style history ``{metric: [per epoch]}``.

    Returns:
        A ``Panel``; ``data`` has ``"runs"`` (label, settings, history per run) and ``"curves"``
        (``compare_histories``); ``controls["train"]`` is the button, ``controls["clear"]``
        forgets the runs.
    """
    controls = {
        "learning_rate": _slider("FloatLogSlider", "LR", learning_rate, base=10, min=-5, max=-2,
                                 step=0.1, readout_format=".1e", continuous_update=False),
        "focal_gamma": _slider("FloatSlider", "focal gamma", focal_gamma, min=0.0, max=5.0,
                               step=0.5, continuous_update=False),
        "augment_strength": _slider("FloatSlider", "augment", augment_strength, min=0.0, max=3.0,
                                    step=0.25, continuous_update=False),
        "train": widgets.Button(description="Train", button_style="primary", icon="play"),
        "clear": widgets.Button(description="Clear runs"),
    }
    status = widgets.HTML("")
    runs: list[dict[str, Any]] = []

    def update(panel):
        curves = compare_histories(runs, metrics)
        panel.data = {"runs": list(runs), "curves": curves}
        panel.plot.value = figure_png(plot_histories(curves))

    panel = Panel("Short training runs", controls, update, extra=[status])

    def on_train(_button):
        c = panel.controls
        settings = {"LEARNING_RATE": float(c["learning_rate"].value),
                    "FOCAL_GAMMA": float(c["focal_gamma"].value),
                    "AUGMENT_STRENGTH": float(c["augment_strength"].value)}
        label = (f"#{len(runs) + 1} lr={settings['LEARNING_RATE']:.0e} "
                 f"g={settings['FOCAL_GAMMA']:g} aug={settings['AUGMENT_STRENGTH']:g}")
        c["train"].disabled = True
        status.value = f"training {label} ..."
        try:
            history = train_fn(dict(settings))
        except Exception as exc:
            status.value = f"<span style='color:#b00'>{label} failed: {type(exc).__name__}: {exc}</span>"
            return
        finally:
            c["train"].disabled = False
        runs.append({"label": label, "settings": settings,
                     "history": {k: [float(v) for v in vals] for k, vals in history.items()}})
        status.value = f"done: {label}"
        panel.refresh()

    def on_clear(_button):
        runs.clear()
        status.value = ""
        panel.refresh()

    controls["train"].on_click(on_train)
    controls["clear"].on_click(on_clear)
    panel.refresh()
    return panel
