"""A beat's context: its timing against the patient's rhythm and its shape against the patient's
own usual beat, offline (the whole record) or causal (only the past).

Introduced in: notebooks/20_training.ipynb (used by the model, the tree baseline and
notebooks 30-32).

A cardiologist does not read a beat alone. An S beat looks like the patient's normal beats but
comes early against the patient's own rhythm; a V beat looks unlike the patient's usual beat,
whatever that usual beat looks like (a bundle-branch block patient's N beats are wide too).
Published inter-patient methods share these two ideas: RR intervals divided by the patient's own
mean RR, and morphology relative to the record's own unlabelled beats (de Chazal 2004; Mar 2011;
Zhang 2014). Labels are never used: every context value is computable at test time from the
unlabelled record.

:func:`record_context` turns one record's beats into one vector per beat
(:data:`N_FEATURES` values, names in :func:`feature_names`):

* **rhythm** (3 values): RR ratios against the patient's rhythm.

  - ``offline``: ``pre/avg, post/avg, pre/post`` with ``avg`` the mean RR within +/-5 minutes
    (:mod:`ecgkit.data.rr`), the three ratios of the RR logistic regression baseline;
  - ``causal``: ``pre/avg_past, local/avg_past, pre/prev_pre`` with ``avg_past`` the mean of the
    RR intervals that ended in the 5 minutes up to this beat, ``local`` the mean of the 10
    intervals ending at this beat and ``prev_pre`` the previous beat's ``pre_rr``: no next beat
    and no future average.

* **shape** (71 values): the beat's morphology
(:func:`ecgkit.evaluation.baselines.morphology_features`:
  -0.25 s to +0.45 s around R in 10-ms steps, mV) minus the patient's usual beat:

  - ``offline``: the median morphology of all beats of the record;
  - ``causal``: the median morphology of the up to :data:`CAUSAL_BEATS` beats before this one
    (the first beat of a record, which has no past, is its own usual beat: shape 0).

The causal vector of beat ``i`` depends only on beats ``0..i`` and on the signal up to
:data:`CAUSAL_AFTER_S` seconds after its R peak (the end of the morphology window): a live
monitor can compute it :data:`CAUSAL_AFTER_S` seconds after the beat. ``CONTEXT_MODE=causal``
also blanks the rendered image after that point (:func:`causal_windows`), so the network sees
no future either. Offline context suits Holter review (the whole record is there), not a live
monitor.
"""

from __future__ import annotations

import numpy as np

from ecgkit.contract import BEFORE_SAMPLES, FS

CONTEXT_MODES = ("offline", "causal")
"""``CONTEXT_MODE`` values: the whole record, or only the past."""

RHYTHM_NAMES = {"offline": ("pre/avg", "post/avg", "pre/post"),
                "causal": ("pre/avg_past", "local/avg_past", "pre/prev_pre")}
"""Names of the rhythm values of each mode."""

SHAPE_WINDOW_S = (-0.25, 0.45)
"""Part of the beat the shape values cover (the 1-NN's morphology window)."""

CAUSAL_BEATS = 100
"""Past beats whose median is the usual beat in causal mode."""

CAUSAL_AFTER_S = SHAPE_WINDOW_S[1]
"""Seconds after the R peak that causal context (and the causal image) may see."""

PAST_WINDOW_S = 300.0
"""Seconds of past RR intervals ``avg_past`` averages (5 minutes, as ``avg_rr`` each side)."""

N_RHYTHM = 3
N_SHAPE = 71
N_FEATURES = N_RHYTHM + N_SHAPE
"""Length of a context vector."""


def check_mode(mode: str) -> str:
    """``mode`` if it is a context mode, else a ``ValueError`` naming the choices."""
    if mode not in CONTEXT_MODES:
        raise ValueError(f"CONTEXT_MODE must be one of {CONTEXT_MODES}. Received: {mode!r}")
    return mode


def feature_names(mode: str = "offline") -> list[str]:
    """Names of the :data:`N_FEATURES` context values of ``mode``, in order."""
    check_mode(mode)
    t = np.arange(SHAPE_WINDOW_S[0], SHAPE_WINDOW_S[1] + 0.005, 0.01)
    return [*RHYTHM_NAMES[mode], *(f"shape{1000 * s:+.0f}ms" for s in t)]


def causal_rr(samples, fs: float = FS, past_window_s: float = PAST_WINDOW_S,
              local_beats: int = 10) -> dict[str, np.ndarray]:
    """Past-only RR values of every beat: ``pre``, ``prev_pre``, ``local``, ``avg_past`` (s).

    ``avg_past`` is the mean of the intervals that ended within ``past_window_s`` seconds up to
    and including this beat's own ``pre``. The first beat has no interval and takes the second
    beat's ``pre`` (the same start-up convention as :func:`ecgkit.data.rr.rr_features`); it is the
    only value that looks one beat ahead, and only for the record's first beat.
    """
    t = np.asarray(samples, dtype=np.float64) / float(fs)
    n = t.shape[0]
    if n < 2:
        nan = np.full(n, np.nan)
        return {"pre": nan, "prev_pre": nan.copy(), "local": nan.copy(), "avg_past": nan.copy()}
    rr = np.diff(t)
    pre = np.concatenate([rr[:1], rr])
    prev_pre = np.concatenate([pre[:1], pre[:-1]])
    csum = np.concatenate([[0.0], np.cumsum(pre)])
    idx = np.arange(n)
    lo = np.maximum(idx - local_beats + 1, 0)
    local = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
    lo_t = np.searchsorted(t, t - past_window_s, side="left")  # first beat inside the window
    lo_t = np.minimum(lo_t, idx)
    avg = (csum[idx + 1] - csum[lo_t]) / (idx + 1 - lo_t)
    return {"pre": pre, "prev_pre": prev_pre, "local": local, "avg_past": avg}


def _shape_values(windows: np.ndarray) -> np.ndarray:
    from ecgkit.evaluation.baselines import morphology_features

    return morphology_features(windows, SHAPE_WINDOW_S).astype(np.float32)


def _past_median(values: np.ndarray, k: int) -> np.ndarray:
    """Row i: the median of rows max(0, i-k)..i-1 of ``values`` (row i itself for i = 0)."""
    n = values.shape[0]
    out = np.empty_like(values)
    if n == 0:
        return out
    out[0] = values[0]
    # beats 1..k-1 have a growing past; from k on every past holds k beats: sliding windows,
    # done in blocks to bound memory (block x features x k floats)
    for i in range(1, min(k, n)):
        out[i] = np.median(values[:i], axis=0)
    if n > k:
        from numpy.lib.stride_tricks import sliding_window_view

        win = sliding_window_view(values, k, axis=0)  # (n - k + 1, features, k): rows j..j+k-1
        for a in range(0, n - k, 2048):
            b = min(a + 2048, n - k)
            out[a + k:b + k] = np.median(win[a:b], axis=-1)
    return out


def record_context(windows, samples, mode: str = "offline", *, pre_rr=None, post_rr=None,
                   avg_rr=None, fs: float = FS) -> np.ndarray:
    """The context vector of every beat of one record.

    Args:
        windows: float (n, WINDOW_SAMPLES) beat windows of the record, in time order, R peak at
            ``BEFORE_SAMPLES`` (every beat whose window could be cut).
        samples: R-peak sample index of each of these beats (increasing).
        mode: ``"offline"`` or ``"causal"``.
        pre_rr, post_rr, avg_rr: offline RR features of these beats (seconds,
            :func:`ecgkit.data.rr.rr_features`, computed from every annotated beat); required
            offline, unused causal (causal RR comes from ``samples``).
        fs: sampling rate of ``samples``.

    Returns:
        float32 (n, :data:`N_FEATURES`): rhythm values, then shape values.

    Raises:
        ValueError: bad mode, shapes that disagree, or missing offline RR features.
    """
    check_mode(mode)
    w = np.asarray(windows, dtype=np.float32)
    s = np.asarray(samples)
    if w.ndim != 2 or w.shape[0] != s.shape[0]:
        raise ValueError(f"windows (n, samples) and samples (n,) must match. Received: "
                         f"windows {w.shape}, samples {s.shape}")
    n = w.shape[0]
    if n == 0:
        return np.zeros((0, N_FEATURES), np.float32)
    shape = _shape_values(w)
    if mode == "offline":
        if pre_rr is None or post_rr is None or avg_rr is None:
            raise ValueError("offline context needs pre_rr, post_rr and avg_rr")
        pre, post, avg = (np.asarray(v, np.float64) for v in (pre_rr, post_rr, avg_rr))
        rhythm = np.column_stack([pre / avg, post / avg, pre / post])
        usual = np.median(shape, axis=0, keepdims=True)
    else:
        c = causal_rr(s, fs)
        rhythm = np.column_stack([c["pre"] / c["avg_past"], c["local"] / c["avg_past"],
                                  c["pre"] / c["prev_pre"]])
        usual = _past_median(shape, CAUSAL_BEATS)
    rhythm = np.nan_to_num(rhythm, nan=1.0, posinf=1.0, neginf=1.0)  # one-beat records
    return np.hstack([rhythm, shape - usual]).astype(np.float32)


def causal_windows(windows, after_s: float = CAUSAL_AFTER_S) -> np.ndarray:
    """Windows cut ``after_s`` seconds after the R peak: what the causal image shows.

    The baseline is re-estimated as the median of the visible part, and everything later is set
    to it (a flat line), so nothing after ``after_s`` reaches the image.
    """
    w = np.array(windows, dtype=np.float32, copy=True)
    end = BEFORE_SAMPLES + int(round(after_s * FS))
    w -= np.median(w[..., :end], axis=-1, keepdims=True)  # the baseline from the visible part
    w[..., end:] = 0.0
    return w
