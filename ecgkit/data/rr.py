"""RR-interval features of each beat: the timing evidence that S and V beats come early.

Introduced in: notebooks/01_data_exploration.ipynb (section 4, RR intervals per class); used by
the baselines of notebooks/30_evaluation.ipynb.

An RR interval is the time between two successive annotated beats of a record. de Chazal et
al. (2004) describe each beat by four of them, and so does :func:`rr_features`:

* ``pre_rr``: seconds from the previous beat (the first beat of a record has none and gets the
  next interval instead);
* ``post_rr``: seconds to the next beat (the last beat gets the previous interval);
* ``local_rr``: mean of the up-to-10 RR intervals ending at this beat (``pre_rr`` of this beat
  and of the 9 beats before it; fewer at the start of a record). This is the causal variant
  used by Mondejar-Guerra et al.; de Chazal average ten intervals *surrounding* the beat;
* ``avg_rr``: mean of the RR intervals whose ending beat lies within +/-5 minutes of this beat
  (de Chazal's "average RR-interval"). The +/-5-minute window, rather than the whole record,
  follows heart-rate changes within a 30-minute record while staying a long-term reference.

The features are computed from **all** annotated beats of a record (every class, Q included),
before any window is cut, skipped or capped: a beat whose window is cut by the record edge is
dropped by :func:`ecgkit.data.records.beat_windows` afterwards, but its intervals still count for
its neighbours, and so do beats that a per-class cap leaves out. Non-beat annotations (rhythm,
noise, flutter waves ``!``) are not beats, so an episode of ventricular flutter makes one long
interval. A record with a single beat has no interval: its features are NaN.

References:
    de Chazal P, O'Dwyer M, Reilly RB. Automatic classification of heartbeats using ECG
    morphology and heartbeat interval features. IEEE Trans Biomed Eng 51(7):1196-1206 (2004),
    doi:10.1109/TBME.2004.827359.
"""

from __future__ import annotations

import numpy as np

from ecgkit.contract import FS

RR_COLUMNS = ("pre_rr", "post_rr", "local_rr", "avg_rr")
"""The per-beat RR features (seconds), as columns of ``BeatSet.meta``."""

LOCAL_BEATS = 10
"""Intervals averaged by ``local_rr``."""

AVG_WINDOW_S = 300.0
"""Half-width of the ``avg_rr`` window in seconds (+/-5 minutes, de Chazal 2004)."""


def rr_features(samples, fs: float = FS, local_beats: int = LOCAL_BEATS,
                avg_window_s: float = AVG_WINDOW_S) -> dict[str, np.ndarray]:
    """RR features of every beat of one record, from the beats' sample positions.

    Args:
        samples: sample index of every annotated beat of the record, in increasing order.
        fs: sampling rate of ``samples`` in Hz.
        local_beats: how many intervals ending at a beat ``local_rr`` averages (>= 1).
        avg_window_s: half-width in seconds of the window ``avg_rr`` averages over (> 0).

    Returns:
        ``{"pre_rr", "post_rr", "local_rr", "avg_rr"}``: float64 arrays (seconds), one value
        per beat; NaN everywhere when the record has fewer than two beats.

    Raises:
        ValueError: ``samples`` not 1-D or not strictly increasing, or a bad ``fs``,
            ``local_beats`` or ``avg_window_s``.
    """
    t = np.asarray(samples, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"samples must be 1-D beat positions. Received: shape={t.shape}")
    if not fs > 0:
        raise ValueError(f"fs must be > 0. Received: fs={fs}")
    if int(local_beats) != local_beats or local_beats < 1:
        raise ValueError(f"local_beats must be an integer >= 1. "
                         f"Received: local_beats={local_beats}")
    if not avg_window_s > 0:
        raise ValueError(f"avg_window_s must be > 0. Received: avg_window_s={avg_window_s}")
    n = t.shape[0]
    if n and np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ValueError(f"samples must be strictly increasing. Received: samples[{bad}]="
                         f"{t[bad]:.0f}, samples[{bad + 1}]={t[bad + 1]:.0f}")
    if n < 2:
        nan = np.full(n, np.nan)
        return {k: nan.copy() for k in RR_COLUMNS}
    t = t / float(fs)
    rr = np.diff(t)  # rr[j]: interval between beat j and beat j + 1, i.e. pre_rr of beat j + 1
    pre = np.concatenate([rr[:1], rr])
    post = np.concatenate([rr, rr[-1:]])
    # local: mean of pre over this beat and the local_beats - 1 before it (running sum)
    k = int(local_beats)
    csum = np.concatenate([[0.0], np.cumsum(pre)])
    idx = np.arange(n)
    lo = np.maximum(idx - k + 1, 0)
    local = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
    # avg: mean of the true intervals (not the first beat's copy) whose ending beat is within
    # +/- avg_window_s of this beat
    ends = t[1:]
    rsum = np.concatenate([[0.0], np.cumsum(rr)])
    a = np.searchsorted(ends, t - avg_window_s, side="left")
    b = np.searchsorted(ends, t + avg_window_s, side="right")
    count = b - a
    avg = np.divide(rsum[b] - rsum[a], count, out=np.full(n, np.nan), where=count > 0)
    return {"pre_rr": pre, "post_rr": post, "local_rr": local, "avg_rr": avg}


def rr_feature_matrix(meta, ratios: bool = True) -> np.ndarray:
    """The RR features of ``BeatSet.meta`` as a float64 matrix for a classifier.

    Columns: ``pre_rr, post_rr, local_rr, avg_rr`` and, with ``ratios``, the
    patient-normalised ``pre_rr/avg_rr, post_rr/avg_rr, pre_rr/post_rr``.

    Raises:
        ValueError: meta lacks an RR column, or holds NaN or non-positive intervals.
    """
    missing = [c for c in RR_COLUMNS if c not in getattr(meta, "columns", ())]
    if missing:
        raise ValueError(f"meta lacks the RR columns {missing}: load beats with "
                         f"ecgkit.load_beats (it adds them). Received columns: "
                         f"{list(getattr(meta, 'columns', []))}")
    x = np.column_stack([np.asarray(meta[c], dtype=np.float64) for c in RR_COLUMNS])
    bad = ~np.isfinite(x).all(axis=1) | (x <= 0).any(axis=1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} beat(s) have missing or non-positive RR features "
                         f"(e.g. row {int(np.flatnonzero(bad)[0])}); a record needs >= 2 beats")
    if ratios:
        pre, post, _, avg = x.T
        x = np.column_stack([x, pre / avg, post / avg, pre / post])
    return x
