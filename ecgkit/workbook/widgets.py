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
button is pressed, in a worker thread, so the kernel stays free while a progress bar follows the
batches (``TrainingPanel.wait()`` joins it, as a batch run of the notebook does). Short runs
record the loss of every batch (``ecgkit.training.callbacks.BatchLossRecorder``); ``loss_bands``
groups repeats of the same settings (different seeds) into the noise band a change must beat.

A panel, when a notebook displays it, first leaves a static PNG of its first state as an ordinary
output, then the live panel: the HTML copy of a run (``ecgkit workbook run``) and a notebook
opened without a live kernel show that picture where a live kernel shows the panel.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import threading
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import keras
import numpy as np
from matplotlib.figure import Figure

from ecgkit.data.augment import ecg_augmentation
from ecgkit.training.callbacks import BatchLossRecorder
from ecgkit.training.training_config import make_schedule
from ecgkit.workbook.plots import plot_image_grid, plot_loss_bands

# --- Pure functions ------------------------------------------------------------------------------


def lr_schedule_curve(learning_rate: float = 3e-4, epochs: int = 10, steps_per_epoch: int = 100,
                      warmup_epochs: float = 1.0) -> dict[str, np.ndarray]:
    """The learning rate at every training step of
    ``ecgkit.training.training_config.make_schedule``.

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
        raise ValueError("gamma must be >= 0 and alpha > 0. "
                         f"Received: gamma={gamma}, alpha={alpha}")
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
    """``images`` after ``ecgkit.data.augment.ecg_augmentation(strength, seed)`` in training mode.

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


SETTINGS = ("LEARNING_RATE", "FOCAL_GAMMA", "AUGMENT_STRENGTH")
"""The settings a short run varies; runs that agree on all three are repeats (the seed aside)."""


def _same(settings: dict[str, Any]) -> tuple[float, ...]:
    return tuple(round(float(settings[k]), 12) for k in SETTINGS)


def next_seed(runs: Sequence[dict[str, Any]], settings: dict[str, Any], base_seed: int) -> int:
    """The seed of the next run with ``settings``: ``base_seed`` for the first, then one more
    for each earlier run with the same settings, so a repeat differs only in its seed (the
    weights' initialisation, the order of the batches, the augmentation draws)."""
    return base_seed + sum(_same(r["settings"]) == _same(settings) for r in runs)


def settings_label(settings: dict[str, Any]) -> str:
    """A short label of a run's settings (``lr=3e-04 gamma=2 aug=1``)."""
    return (f"lr={settings['LEARNING_RATE']:.0e} gamma={settings['FOCAL_GAMMA']:g} "
            f"aug={settings['AUGMENT_STRENGTH']:g}")


def loss_bands(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs grouped by identical settings: their loss per step and its noise band.

    Repeats of the same settings differ only in their seed; how far apart they land is the
    noise a change of settings must beat before it means anything.

    Args:
        runs: ``{"label", "settings", "seed", "step", "loss", "epoch_end_steps", "history"}``
            per run, as ``training_comparison_widget`` keeps them (``loss``: one per batch;
            ``history["val_macro_f1"]``: one per epoch).

    Returns:
        One dict per group, in the order of their first run: ``label`` (``settings_label``),
        ``settings``, ``seeds``,
        ``n`` (runs), ``step``, ``losses`` (n x steps), ``mean``, ``low``, ``high`` (min and max
        over the repeats), ``epoch_end_steps``, ``val`` (n x epochs), ``val_mean``,
        ``val_low``, ``val_high``, ``final_val_macro_f1`` (each run's last value) and
        ``spread`` (max - min of those; NaN for a single run). Runs of different lengths are
        cut to their common steps and epochs.
    """
    metric = "val_macro_f1"
    groups: dict[tuple[float, ...], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(_same(run["settings"]), []).append(run)
    bands = []
    for members in groups.values():
        n_steps = min(len(r["loss"]) for r in members)
        n_epochs = min(len(r["history"].get(metric, [])) for r in members)
        losses = np.array([r["loss"][:n_steps] for r in members], dtype=np.float64)
        val = np.array([r["history"][metric][:n_epochs] if n_epochs else []
                        for r in members], dtype=np.float64).reshape(len(members), n_epochs)
        final = [float(r["history"][metric][-1]) for r in members if r["history"].get(metric)]
        bands.append({
            "label": settings_label(members[0]["settings"]), "settings": members[0]["settings"],
            "seeds": [r["seed"] for r in members], "n": len(members),
            "step": np.asarray(members[0]["step"][:n_steps]), "losses": losses,
            "mean": losses.mean(axis=0), "low": losses.min(axis=0), "high": losses.max(axis=0),
            "epoch_end_steps": np.asarray(members[0]["epoch_end_steps"][:n_epochs]),
            "val": val, "val_mean": val.mean(axis=0), "val_low": val.min(axis=0),
            "val_high": val.max(axis=0), "final_val_macro_f1": final,
            "spread": float(max(final) - min(final)) if len(final) > 1 else float("nan"),
        })
    return bands


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
    ax.set(xlabel="epoch", ylabel="learning rate",
           title=f"warm-up cosine, peak {curve['lr'].max():.2g}")
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


class _NoEagerMetricRetracing(logging.Filter):
    """Drops TensorFlow's warning that ``pfor.<locals>.f`` "triggered tf.function retracing".

    Keras' AUC metric calls ``tf.vectorized_map``, which builds a new ``tf.function`` for every
    batch when a model runs eagerly, as the explorer's short runs do; after five validation
    batches TensorFlow warns about it. It costs nothing here and would only puzzle a student.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and "pfor" in message)


@contextlib.contextmanager
def _quiet_eager_metrics():
    logger, quiet = logging.getLogger("tensorflow"), _NoEagerMetricRetracing()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class TrainingPanel(Panel):
    """A ``Panel`` whose training runs in a worker thread, so the kernel stays free.

    Attributes:
        status: the status line (HTML).
        progress: the progress bar (steps of the current run).
        worker: the last worker thread (None before the first run).
        busy: whether a worker is running.
    """

    def __init__(self, title: str, controls: dict[str, Any], update: Callable[[Panel], None]):
        self.status = widgets.HTML("")
        self.progress = widgets.IntProgress(value=0, min=0, max=1,
                                            layout=widgets.Layout(width="12em"))
        self.worker: threading.Thread | None = None
        self._train_lock = threading.Lock()
        self._error: Exception | None = None
        super().__init__(title, controls, update, extra=[widgets.HBox([self.progress,
                                                                       self.status])])

    @property
    def busy(self) -> bool:
        return self._train_lock.locked()

    def start(self, job: Callable[[], None]) -> bool:
        """Runs ``job()`` in a new worker thread; False (and nothing started) when one runs."""
        if not self._train_lock.acquire(blocking=False):
            return False

        def work():
            try:
                job()
            except Exception as exc:  # kept for wait(); the status line shows it
                self._error = exc
            finally:
                self._train_lock.release()

        self._error = None
        self.worker = threading.Thread(target=work, name="ecgkit-training", daemon=True)
        self.worker.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Blocks until the running training has finished (joins the worker thread), as a
        batch run of the notebook does after pressing the button.

        Raises:
            TimeoutError: still training after ``timeout`` seconds.
            Exception: the error a run failed with (raised once).
        """
        if self.worker is not None:
            self.worker.join(timeout)
            if self.worker.is_alive():
                raise TimeoutError(f"the training run is still going after {timeout} s")
        error, self._error = self._error, None
        if error is not None:
            raise error


def training_comparison_widget(train_fn: Callable[[dict[str, Any], Any], dict[str, list[float]]],
                               learning_rate: float = 3e-4, focal_gamma: float = 2.0,
                               augment_strength: float = 1.0, seed: int = 42,
                               metrics: Sequence[str] = ("loss", "val_loss", "val_macro_f1")):
    """Settings, a Train button and the loss per step of every run so far, with noise bands.

    Training is expensive, so nothing runs when a slider moves: ``train_fn(settings, recorder)``
    is called only when the button is pressed, in a worker thread (the kernel stays free; the
    progress bar and the status line follow the batches; a press while a run trains is
    refused). ``settings`` = ``{"LEARNING_RATE", "FOCAL_GAMMA", "AUGMENT_STRENGTH", "SEED"}``;
    ``recorder`` is an ``ecgkit.training.callbacks.BatchLossRecorder`` that ``train_fn`` passes to
    Keras' ``fit`` (``train(..., callbacks=(recorder,))``); ``train_fn`` returns the Keras-style
    history ``{metric: [per epoch]}``. A run with the same settings as an earlier one is a
    repeat with the next seed (``next_seed``); ``repeats`` runs are trained per press.

    Returns:
        A ``TrainingPanel``; ``data`` has ``"runs"`` (label, settings, seed, steps, losses per
        batch, history per epoch), ``"bands"`` (``loss_bands``) and ``"curves"``
        (``compare_histories``); ``controls["train"]`` is the button, ``controls["clear"]``
        forgets the runs; ``wait()`` joins the worker.
    """
    controls = {
        "learning_rate": _slider("FloatLogSlider", "LR", learning_rate, base=10, min=-5, max=-2,
                                 step=0.1, readout_format=".1e", continuous_update=False),
        "focal_gamma": _slider("FloatSlider", "focal gamma", focal_gamma, min=0.0, max=5.0,
                               step=0.5, continuous_update=False),
        "augment_strength": _slider("FloatSlider", "augment", augment_strength, min=0.0, max=3.0,
                                    step=0.25, continuous_update=False),
        "repeats": _slider("IntSlider", "repeats", 1, min=1, max=5),
        "train": widgets.Button(description="Train", button_style="primary", icon="play"),
        "clear": widgets.Button(description="Clear runs"),
    }
    runs: list[dict[str, Any]] = []
    live: dict[str, Any] = {}  # the run in progress, drawn after each of its epochs

    def update(panel):
        shown = runs + ([live["run"]] if live.get("run") else [])
        panel.data = {"runs": list(runs), "bands": loss_bands(shown),
                      "curves": compare_histories(runs, metrics)}
        panel.plot.value = figure_png(plot_loss_bands(panel.data["bands"]))

    panel = TrainingPanel("Short training runs", controls, update)

    def show(text: str) -> None:
        panel.status.value = text

    def run_record(label, settings, recorder, history=None) -> dict[str, Any]:
        f1 = [logs["val_macro_f1"] for logs in recorder.epoch_logs if "val_macro_f1" in logs]
        history = {k: [float(v) for v in vals] for k, vals in (history or {}).items()}
        return {"label": label, "settings": {k: settings[k] for k in SETTINGS},
                "seed": settings["SEED"], "step": list(recorder.steps),
                "loss": list(recorder.losses), "epoch_end_steps": list(recorder.epoch_end_steps),
                "history": {"val_macro_f1": f1, **history}}

    def one_run(settings: dict[str, Any]) -> None:
        settings = {**settings, "SEED": next_seed(runs, settings, seed)}
        label = f"#{len(runs) + 1} {settings_label(settings)} seed={settings['SEED']}"

        def listener(event, rec):
            total = rec.total_steps or max(len(rec.steps), 1)
            if event == "begin":
                panel.progress.max, panel.progress.value = total, 0
                show(f"training {label} ...")
            elif event == "batch":
                panel.progress.max, panel.progress.value = max(total, rec.steps[-1]), rec.steps[-1]
                show(f"training {label}: step {rec.steps[-1]}/{total}, "
                     f"batch loss {rec.losses[-1]:.3f}")
            elif event == "validation":
                show(f"training {label}: validating epoch {len(rec.epoch_end_steps) + 1}")
            elif event == "epoch":
                live["run"] = run_record(label, settings, rec)
                panel.refresh()

        recorder = BatchLossRecorder(listener)
        show(f"training {label} ...")
        try:
            with _quiet_eager_metrics():
                history = train_fn(dict(settings), recorder)
        except Exception as exc:
            show(f"<span style='color:#b00'>{label} failed: {type(exc).__name__}: {exc}</span>")
            raise
        finally:
            live.clear()
        runs.append(run_record(label, settings, recorder, history))
        panel.refresh()
        show(f"done: {label}")

    def on_train(_button):
        c = panel.controls
        settings = {"LEARNING_RATE": float(c["learning_rate"].value),
                    "FOCAL_GAMMA": float(c["focal_gamma"].value),
                    "AUGMENT_STRENGTH": float(c["augment_strength"].value)}
        repeats = int(c["repeats"].value)

        def job():
            try:
                for _ in range(repeats):
                    one_run(settings)
            finally:
                c["train"].disabled = False

        c["train"].disabled = True
        if not panel.start(job):
            show("still training: wait for the run to finish (this press was not queued)")

    def on_clear(_button):
        if panel.busy:
            show("still training: clear the runs when it has finished")
            return
        runs.clear()
        show("")
        panel.progress.value = 0
        panel.refresh()

    controls["train"].on_click(on_train)
    controls["clear"].on_click(on_clear)
    panel.refresh()
    return panel
