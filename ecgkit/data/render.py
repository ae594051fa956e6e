"""Drawing a beat window as an ECG strip on ECG paper, fast, with OpenCV.

Introduced in: notebooks/02_signals_to_images.ipynb.

The scales are fixed, as on paper, so amplitude and timing mean the same in every image:
25 mm/s horizontally and 10 mm/mV vertically, on square paper. The 3 s window is 75 mm wide,
so the image is 75 mm high = 7.5 mV, from -3.0 mV to +4.5 mV around the window's median (its
baseline). There is no per-image min-max stretching. Values outside are clipped to the image
edge and counted. The optional grid is the usual 1 mm (minor) / 5 mm (major) paper grid scaled
into the image; the minor grid is left out when its lines would be under 2 px apart.

For speed the grid background is drawn once per (size, grid) and copied, and the 1080-sample
window is reduced to the minimum and maximum of each pixel column (in the order they occur, so a
QRS peak is never lost between samples) before one anti-aliased ``cv2.polylines`` call.

:func:`render_strip` draws a longer signal (a 10-s rhythm strip, :mod:`ecgkit.data.rhythm`) at the
same scales: as high as a beat image of that side, and as wide as its duration.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from ecgkit.contract import (
    FS,
    IMAGE_SIZE,
    MV_BELOW_BASELINE,
    PAPER_GAIN_MM_MV,
    PAPER_SPEED_MM_S,
    WINDOW_SAMPLES,
)

PAPER_RGB = (255, 255, 255)
MINOR_GRID_RGB = (255, 214, 214)
MAJOR_GRID_RGB = (236, 148, 148)
TRACE_RGB = (0, 0, 0)
MIN_MINOR_GRID_PX = 2.0
"""The 1 mm grid is drawn only when its lines are at least this many pixels apart."""

_SHIFT = 4  # fractional bits of the sub-pixel coordinates passed to OpenCV
_ONE = 1 << _SHIFT


def paper_geometry(image_size: int = IMAGE_SIZE, n_samples: int = WINDOW_SAMPLES) -> dict:
    """Scales of the image: mm and mV covered, pixels per mm, the mV range shown."""
    width_mm = n_samples / FS * PAPER_SPEED_MM_S  # 75 mm for 3 s
    mv_span = width_mm / PAPER_GAIN_MM_MV  # square paper: 7.5 mV
    return {"width_mm": width_mm, "height_mm": width_mm, "px_per_mm": image_size / width_mm,
            "mv_low": -MV_BELOW_BASELINE, "mv_high": mv_span - MV_BELOW_BASELINE}


QRS_MS = (80, 120)
"""Usual duration of a QRS complex (ms): the narrowest wave a classifier must resolve."""

BEAT_MS = 800
"""One beat at 75 beats per minute (ms): the RR interval used to say how many beats a span holds."""


def ms_per_pixel(image_size: int, n_samples: int = WINDOW_SAMPLES) -> float:
    """Milliseconds of signal per pixel column of a beat image of side ``image_size``."""
    return n_samples / FS * 1000.0 / _check_size(image_size)


def ms_per_cell(cells: int, n_samples: int = WINDOW_SAMPLES) -> float:
    """Milliseconds of signal per cell of a feature map ``cells`` wide over the whole window.

    A stride-``s`` map of an image of side ``S`` is about ``S / s`` cells wide (read the width
    from the map itself: ``tensor.shape[2]``); its cell covers the window divided by that.

    Raises:
        ValueError: ``cells`` is not a positive integer.
    """
    if int(cells) != cells or cells < 1:
        raise ValueError(f"cells must be a positive integer. Received: cells={cells!r}")
    return n_samples / FS * 1000.0 / int(cells)


def what_spans(ms: float) -> str:
    """What a span of ``ms`` milliseconds covers on an ECG, in words (QRS 80-120 ms, beat 800 ms).

    Used to state scales that follow the image size: a notebook computes the span of a pixel, a
    cell or a kernel and prints this beside it, instead of a sentence true at one size only.
    """
    lo, hi = QRS_MS
    if ms < lo:
        return f"less than a QRS complex ({lo}-{hi} ms)"
    if ms <= 1.5 * hi:
        return f"about one QRS complex ({lo}-{hi} ms)"
    if ms <= BEAT_MS / 2:
        return "a QRS complex with its neighbouring P or T wave"
    if ms <= 0.9 * BEAT_MS:
        return f"most of one beat ({BEAT_MS} ms at 75 bpm)"
    if ms <= 1.25 * BEAT_MS:
        return f"about one beat ({BEAT_MS} ms at 75 bpm)"
    return f"{ms / BEAT_MS:.1f} beats at 75 bpm"


def _check_size(image_size: int) -> int:
    if int(image_size) != image_size or image_size < 16:
        raise ValueError(f"image_size must be an integer >= 16. "
                         f"Received: image_size={image_size!r}")
    return int(image_size)


@functools.lru_cache(maxsize=16)
def paper_background(image_size: int = IMAGE_SIZE, grid: bool = True) -> np.ndarray:
    """The empty ECG paper (read-only uint8 RGB), drawn once per (size, grid) and cached."""
    size = _check_size(image_size)
    return strip_background(size, size, grid)


@functools.lru_cache(maxsize=16)
def strip_background(height: int, width: int, grid: bool = True) -> np.ndarray:
    """Empty ECG paper of ``height`` x ``width`` px (read-only uint8 RGB), cached.

    The paper is 75 mm high, as the beat images are (:func:`paper_geometry`), so one mm is
    ``height / 75`` px in both directions; the millimetres are counted from the bottom-left
    corner.
    """
    height, width = _check_size(height), _check_size(width)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = PAPER_RGB
    if grid:
        g = paper_geometry(height)
        ppm = g["px_per_mm"]
        n_x, n_y = int(round(width / ppm)), int(round(g["height_mm"]))
        levels = [(MINOR_GRID_RGB, 1)] if ppm >= MIN_MINOR_GRID_PX else []
        for colour, step in levels + [(MAJOR_GRID_RGB, 5)]:  # major lines over minor ones
            for k in range(0, max(n_x, n_y) + 1, step):
                if step == 1 and k % 5 == 0:
                    continue
                if k <= n_x:
                    img[:, min(int(round(k * ppm)), width - 1)] = colour
                if k <= n_y:
                    img[min(int(round(height - k * ppm)), height - 1), :] = colour
    img.setflags(write=False)
    return img


def clipped_windows(windows) -> np.ndarray:
    """Which windows (n, samples) leave the fixed amplitude range and would be drawn clipped.

    The range (-3.0 to +4.5 mV around the baseline) depends on the paper scales, not on the
    image size, so this needs no rendering.
    """
    w = np.atleast_2d(np.asarray(windows))
    g = paper_geometry(IMAGE_SIZE, w.shape[1])
    return ((w < g["mv_low"]) | (w > g["mv_high"])).any(axis=1)


def _trace_points(windows: np.ndarray, height: int, width: int | None = None,
                  mv_range: tuple[float, float] | None = None) -> np.ndarray:
    """Sub-pixel polyline points (n, m, 2) int32 of windows drawn ``height`` px high and
    ``width`` px wide (default square) over ``mv_range`` (default :func:`paper_geometry`'s)."""
    g = paper_geometry(height, windows.shape[1])
    mv_low, mv_high = mv_range or (g["mv_low"], g["mv_high"])
    n = windows.shape[1]
    scale = height / (mv_high - mv_low)
    size = width or height  # the width
    if 2 * size >= n:  # enough pixels: every sample is a point
        xs = np.broadcast_to((np.arange(n) + 0.5) * size / n - 0.5, windows.shape)
        vals = windows
    else:  # per pixel column: min and max, in the order they occur
        cols = (np.arange(n) * size) // n
        starts = np.searchsorted(cols, np.arange(size))
        ends = np.append(starts[1:], n) - 1
        lo = np.minimum.reduceat(windows, starts, axis=1)
        hi = np.maximum.reduceat(windows, starts, axis=1)
        rising = windows[:, ends] >= windows[:, starts]
        vals = np.empty((windows.shape[0], 2 * size), windows.dtype)
        vals[:, 0::2] = np.where(rising, lo, hi)
        vals[:, 1::2] = np.where(rising, hi, lo)
        xs = np.broadcast_to(np.repeat(np.arange(size, dtype=np.float32), 2), vals.shape)
    ys = (mv_high - vals) * scale - 0.5
    np.clip(ys, 0, height - 1, out=ys)
    pts = np.empty(vals.shape + (2,), np.int32)
    pts[..., 0] = np.rint(xs * _ONE)
    pts[..., 1] = np.rint(ys * _ONE)
    return pts


def _as_windows(windows, baseline: bool) -> np.ndarray:
    w = np.asarray(windows, dtype=np.float32)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] < 2:
        raise ValueError(f"windows must be (n, samples) or (samples,). Received shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("windows contain NaN or infinite values; skip such windows first "
                         "(ecgkit.data.records.beat_windows does)")
    if baseline:
        w = w - np.median(w, axis=1, keepdims=True)
    return w


def render_batch(windows, image_size: int = IMAGE_SIZE, grid: bool = True,
                 baseline: bool = True, out: np.ndarray | None = None):
    """Renders many beat windows as ECG-strip images.

    Args:
        windows: float (n, samples) in mV (or one 1-D window).
        image_size: side of the square images in pixels.
        grid: draw the 1 mm / 5 mm ECG-paper grid.
        baseline: subtract each window's median first (a no-op on windows that are already
            baseline-corrected, as those of :func:`ecgkit.data.records.beat_windows` are).
        out: optional uint8 array (n, size, size, 3) to draw into.

    Returns:
        ``(images uint8 (n, size, size, 3) RGB, n_clipped)`` where ``n_clipped`` counts the
        windows with at least one sample outside the fixed amplitude range (drawn clipped).
    """
    size = _check_size(image_size)
    w = _as_windows(windows, baseline)
    bg = paper_background(size, bool(grid))
    images = np.empty((w.shape[0], size, size, 3), np.uint8) if out is None else out
    images[:] = bg
    if w.shape[0] == 0:
        return images, 0
    pts, clipped = _trace_points(w, size), clipped_windows(w)
    thickness = max(1, int(round(size / 224)))
    for img, p in zip(images, pts):
        cv2.polylines(img, [p], False, TRACE_RGB, thickness, cv2.LINE_AA, _SHIFT)
    return images, int(clipped.sum())


def render_ecg_image(window, image_size: int = IMAGE_SIZE, grid: bool = True,
                     baseline: bool = True) -> np.ndarray:
    """Renders one beat window (1-D, mV) as a uint8 RGB ECG strip of shape (size, size, 3)."""
    w = np.asarray(window)
    if w.ndim != 1:
        raise ValueError(f"window must be 1-D. Received shape {w.shape}")
    return render_batch(w, image_size, grid, baseline)[0][0]


def render_strip(signal, image_height: int = IMAGE_SIZE, grid: bool = True,
                 baseline: bool = True) -> tuple[np.ndarray, bool]:
    """Renders a signal of any duration as one wide ECG strip, at the beat images' paper scale.

    The strip is 75 mm (7.5 mV, -3.0 to +4.5 mV around its median) high, ``image_height`` px,
    like a beat image of that side, and as wide as its duration at 25 mm/s: a 10-s strip is
    250 mm, 747 px at the default 224 px height.

    Args:
        signal: float 1-D, mV, at the contract sampling rate ``FS``.
        image_height: height in pixels (the width follows the duration).
        grid: draw the 1 mm / 5 mm ECG-paper grid.
        baseline: subtract the signal's median first.

    Returns:
        ``(image uint8 (height, width, 3) RGB, clipped)``: ``clipped`` is True when a sample
        lies outside the amplitude range (drawn at the edge).
    """
    height = _check_size(image_height)
    s = np.asarray(signal)
    if s.ndim != 1:
        raise ValueError(f"signal must be 1-D. Received shape {s.shape}")
    w = _as_windows(s, baseline)
    g = paper_geometry(height)  # the contract window's mm and mV range
    width = int(round(w.shape[1] / FS * PAPER_SPEED_MM_S * g["px_per_mm"]))
    mv_range = (g["mv_low"], g["mv_high"])
    img = strip_background(height, width, bool(grid)).copy()
    pts = _trace_points(w, height, width, mv_range)
    cv2.polylines(img, [pts[0]], False, TRACE_RGB, max(1, int(round(height / 224))),
                  cv2.LINE_AA, _SHIFT)
    clipped = bool(((w < mv_range[0]) | (w > mv_range[1])).any())
    return img, clipped
