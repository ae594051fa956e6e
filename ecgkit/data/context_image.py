"""The beat's context drawn into the image: the image-native design (``IMAGE_CHANNELS=context``).

Introduced in: notebooks/20_training.ipynb (issue #16, design 1; the second-input design is
:mod:`ecgkit.model.context_branch`).

The paper image (:mod:`ecgkit.data.render`) shows 3 s at 25 mm/s: at 64 px a QRS complex spans 2 px,
and nothing in it says what is usual for this patient. Here the three colour channels carry three
traces, each drawn black on white, so that the network can compare them pixel by pixel:

* **red, the rhythm**: the signal from ``-RHYTHM_SPAN_RR`` to ``+RHYTHM_SPAN_RR`` of the
  patient's average RR interval around the R peak, with time in units of that average. A regular
  beat's neighbours sit at the same columns in every image, whatever the heart rate; an early
  (S or V) beat's predecessor sits nearer the centre. Beyond the stored 3-s window (an average RR
  above 1 s) the trace is flat.
* **green, the beat**: ``SHAPE_WINDOW_S`` (-0.25 to +0.45 s) across the whole width, at
  :data:`BEAT_MV` high: 11 ms per pixel at 64 px, so a QRS complex spans about 9 px.
* **blue, the patient's usual beat**: the same span and scales, from the context vector's shape
  values (:mod:`ecgkit.data.context`: the record's median beat offline, the median of the past 100
  beats in causal mode). A beat unlike the patient's usual beat shows as two traces that part.

The average RR and the usual beat are those of the context vector (``BeatSet.context_of(mode)``),
so both designs see the same information, and causal images see no future: the windows are cut
0.45 s after R (:func:`ecgkit.data.context.causal_windows`) and the average is the past one. The
ECG-paper grid is never drawn on these images.
"""

from __future__ import annotations

import cv2
import numpy as np

from ecgkit.contract import BEFORE_SAMPLES, FS
from ecgkit.data.context import N_RHYTHM, SHAPE_WINDOW_S, causal_windows, check_mode

IMAGE_CHANNELS = ("paper", "context")
"""``IMAGE_CHANNELS`` values: the ECG-paper strip (:mod:`ecgkit.data.render`) or the three context
traces of this module."""

RHYTHM_SPAN_RR = 1.5
"""Half-width of the rhythm channel, in the patient's average RR intervals."""

BEAT_MV = (-2.0, 3.0)
"""Amplitude range (mV, around the window's baseline) of the beat and usual-beat channels."""

RHYTHM_MV = (-3.0, 4.5)
"""Amplitude range of the rhythm channel: the paper image's."""

RR_LIMITS_S = (0.25, 2.5)
"""Average RR values outside this range (seconds) are clipped (and NaN taken as 0.8 s)."""

_BEAT = (BEFORE_SAMPLES + int(round(SHAPE_WINDOW_S[0] * FS)),
         BEFORE_SAMPLES + int(round(SHAPE_WINDOW_S[1] * FS)) + 1)


def check_channels(channels: str) -> str:
    """``channels`` if it is an ``IMAGE_CHANNELS`` value, else a ``ValueError``."""
    if channels not in IMAGE_CHANNELS:
        raise ValueError(f"IMAGE_CHANNELS must be one of {IMAGE_CHANNELS}. "
                         f"Received: {channels!r}")
    return channels


def usual_beats(windows, vectors) -> np.ndarray:
    """The patient's usual beat behind each context vector: float32 (n, 71), mV.

    The context's shape values are the beat's morphology minus the usual beat
    (:func:`ecgkit.data.context.record_context`), so the usual beat is the morphology minus them.
    ``windows`` must be the windows the vectors were computed from (before any augmentation).
    """
    from ecgkit.evaluation.baselines import morphology_features

    v = np.asarray(vectors, dtype=np.float32)
    shape = morphology_features(np.asarray(windows), SHAPE_WINDOW_S)
    if shape.shape[0] != v.shape[0] or v.shape[1] != N_RHYTHM + shape.shape[1]:
        raise ValueError(f"windows {np.shape(windows)} and context vectors {v.shape} disagree")
    return (shape - v[:, N_RHYTHM:]).astype(np.float32)


def average_rr(meta, vectors, mode: str) -> np.ndarray:
    """The patient's average RR interval (s) each beat's rhythm values are measured against.

    ``meta`` maps ``avg_rr`` and ``pre_rr`` to per-beat values (a ``BeatSet``'s meta, or a
    record's arrays). Offline: ``avg_rr`` (+/-5 minutes, :mod:`ecgkit.data.rr`). Causal: the past
    average, recovered from the first rhythm value (``pre / avg_past``) and ``pre_rr``.
    Clipped to :data:`RR_LIMITS_S`.
    """
    check_mode(mode)
    if mode == "offline":
        avg = np.asarray(meta["avg_rr"], dtype=np.float64)
    else:
        ratio = np.asarray(vectors, dtype=np.float64)[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            avg = np.asarray(meta["pre_rr"], dtype=np.float64) / ratio
    avg = np.where(np.isfinite(avg), avg, 0.8)
    return np.clip(avg, *RR_LIMITS_S).astype(np.float32)


def rhythm_traces(windows, avg_rr_s, points: int) -> np.ndarray:
    """Each window resampled to ``points`` values over +/-``RHYTHM_SPAN_RR`` average RRs around
    its R peak (linear interpolation; flat 0 beyond the window)."""
    w = np.asarray(windows, dtype=np.float32)
    t = np.linspace(-RHYTHM_SPAN_RR, RHYTHM_SPAN_RR, int(points), dtype=np.float32)
    pos = BEFORE_SAMPLES + t[None, :] * (np.asarray(avg_rr_s, np.float32)[:, None] * FS)
    inside = (pos >= 0) & (pos <= w.shape[1] - 1)
    pos = np.clip(pos, 0, w.shape[1] - 1)
    lo = np.minimum(pos.astype(np.int64), w.shape[1] - 2)
    frac = pos - lo
    rows = np.arange(w.shape[0])[:, None]
    out = w[rows, lo] * (1 - frac) + w[rows, lo + 1] * frac
    return np.where(inside, out, 0.0).astype(np.float32)


def _draw(traces: np.ndarray, size: int, mv_range: tuple[float, float], out: np.ndarray) -> None:
    from ecgkit.data.render import _trace_points

    low, high = mv_range
    pts = _trace_points(np.clip(traces, low, high), size, size, (low, high))
    thickness = max(1, int(round(size / 224)))
    for img, p in zip(out, pts):
        cv2.polylines(img, [p], False, 0, thickness, cv2.LINE_AA, 4)


def render_context_batch(windows, usual, avg_rr_s, image_size: int) -> np.ndarray:
    """Draws beats as context images (module docstring): uint8 (n, size, size, 3).

    Args:
        windows: float (n, WINDOW_SAMPLES) beat windows, mV, R at ``BEFORE_SAMPLES`` (possibly
            augmented or cut for causal mode).
        usual: float (n, 71) usual beats (:func:`usual_beats`).
        avg_rr_s: float (n,) average RR in seconds (:func:`average_rr`).
        image_size: image side in pixels.
    """
    from ecgkit.data.render import _check_size

    size = _check_size(image_size)
    w = np.asarray(windows, dtype=np.float32)
    n = w.shape[0]
    channels = np.full((3, n, size, size), 255, np.uint8)
    if n:
        _draw(rhythm_traces(w, avg_rr_s, 8 * size), size, RHYTHM_MV, channels[0])
        _draw(w[:, _BEAT[0]:_BEAT[1]], size, BEAT_MV, channels[1])
        _draw(np.asarray(usual, np.float32), size, BEAT_MV, channels[2])
    return np.ascontiguousarray(channels.transpose(1, 2, 3, 0))


def _drawing_inputs(windows, vectors, meta, mode: str):
    """What the context images of some beats are drawn from: their windows as drawn (cut after
    R in causal mode), usual beats (:func:`usual_beats`) and average RRs (:func:`average_rr`)."""
    usual = usual_beats(windows, vectors)
    avg = average_rr(meta, vectors, mode)
    return (windows if mode == "offline" else causal_windows(windows)), usual, avg


def record_images(data: dict, rows, mode: str, image_size: int) -> np.ndarray:
    """Context images of some beats of one record as :func:`ecgkit.data.datasets.record_beats`
    returns it (what ``build-dataset --image-channels context`` writes): the same pixels as
    :class:`ContextImages` draws for those beats in training and evaluation."""
    from ecgkit.data.datasets import CONTEXT_ARRAYS

    check_mode(mode)
    rows = np.asarray(rows, dtype=np.int64)
    meta = {"avg_rr": data["avg_rr"][rows], "pre_rr": data["pre_rr"][rows]}
    windows, usual, avg = _drawing_inputs(data["windows"][rows], data[CONTEXT_ARRAYS[mode]][rows],
                                          meta, mode)
    return render_context_batch(windows, usual, avg, image_size)


class ContextImages:
    """Renders a ``BeatSet``'s beats as context images of ``mode`` (what the batches and
    :func:`ecgkit.evaluation.provenance.model_inputs` draw): the usual beats and average RRs are
    computed once; :meth:`render` draws any rows, with windows replaced (augmented) if given."""

    def __init__(self, beats, mode: str, image_size: int):
        check_mode(mode)
        self.mode, self.size = mode, int(image_size)
        self.windows, self.usual, self.avg_rr = _drawing_inputs(
            beats.windows, beats.context_of(mode), beats.meta, mode)

    def render(self, rows, windows=None) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        w = self.windows[rows] if windows is None else windows
        return render_context_batch(w, self.usual[rows], self.avg_rr[rows], self.size)
