"""ECG-safe data augmentation: on the rendered image, and on the signal before rendering.

Introduced in: notebooks/03_ecg_augmentation.ipynb.

An ECG image is not a natural photograph. Time runs left to right and positive voltage points up,
so a horizontal flip plays the heartbeat backwards and a vertical flip inverts the polarity of
every wave: both produce non-physiological signals, and an inverted QRS can even look like a
different beat class. **No flips, ever.** Large rotations, zooms or shifts are also out: the paper
scales (25 mm/s, 10 mm/mV) carry diagnostic meaning (QRS width, amplitude) and the R peak of the
beat being classified sits at the centre. What remains safe are small perturbations that mimic
scanning and printing: a rotation of a few degrees, shifts and zooms of a few percent, mild
contrast and brightness changes.

Two implementations of the image-level changes draw from the same ranges (``MAX_*`` below):
``ecg_augmentation`` is a ``keras.Sequential`` of Keras' random layers (to look at, or to put in a
model's training path on an accelerator), and ``augment_images`` does the same in NumPy and
OpenCV for the input pipeline: 3 ms per batch of 32 images at 96 px against 59 ms for the Keras
layers on TensorFlow and 138 ms on JAX, run eagerly on a 2-core CPU (benchmarks/README.md).

``signal_augment`` perturbs the 1-D signal before it is drawn (baseline wander, noise, amplitude
scaling), for pipelines that render images on the fly (``signal_dataset(signal_augment=...)``).
"""

from __future__ import annotations

import functools

import cv2
import keras
import numpy as np

from ecgkit.contract import FS

MAX_ROTATION_DEG = 3.0
MAX_TRANSLATION = 0.03  # fraction of the image side
MAX_ZOOM = 0.05  # fraction: 0.95..1.05, vertical (amplitude) only
MAX_CONTRAST = 0.15
MAX_BRIGHTNESS = 0.08  # fraction of the 0..255 range
"""Ranges at ``strength=1``; ``strength`` scales every one of them linearly."""

WANDER_MV = 0.15
WANDER_HZ = (0.05, 0.5)
NOISE_MV = 0.02
AMPLITUDE_SCALE = 0.10
"""Signal-level ranges at ``strength=1``: baseline wander amplitude and frequency (respiration),
Gaussian noise standard deviation, and the +/- amplitude scaling."""


def ecg_augmentation(strength: float = 1.0, seed: int | None = None, name: str = "ecg_augment"):
    """A ``keras.Sequential`` of ECG-safe image augmentations (active only with training=True).

    The layers take images in 0..255 (uint8 or float) and return float32 images that stay in
    0..255 (rotation, shift and zoom fill from the nearest edge pixel; contrast and brightness
    clip to the range), so the output can be cast back to uint8.

    There is deliberately no ``RandomFlip``: a flipped ECG is a different, non-physiological
    signal (time reversed, or polarity inverted).

    Args:
        strength: scales every range (0 = identity, 1 = the defaults above, 2 = twice as strong).
        seed: seed of the random layers (None = unseeded).
        name: model name.

    Returns:
        A ``keras.Sequential``; with ``strength=0`` it holds a single ``Identity`` layer.

    Raises:
        ValueError: if strength is negative or above 3 (beyond that, changes stop being small).
    """
    if not 0.0 <= float(strength) <= 3.0:
        raise ValueError(f"strength must be in [0, 3]. Received: strength={strength}")
    s = float(strength)
    if s == 0.0:
        return keras.Sequential([keras.layers.Identity(name=f"{name}_identity")], name=name)

    def _seed(i):
        return None if seed is None else seed + i

    layers = [
        keras.layers.RandomRotation(s * MAX_ROTATION_DEG / 360.0, fill_mode="nearest",
                                    seed=_seed(0), name=f"{name}_rotation"),
        keras.layers.RandomTranslation(s * MAX_TRANSLATION, s * MAX_TRANSLATION,
                                       fill_mode="nearest", seed=_seed(1),
                                       name=f"{name}_translation"),
        # Amplitude only: zooming the width too would change the time scale (25 mm/s), and
        # with it QRS widths and RR intervals.
        keras.layers.RandomZoom(height_factor=s * MAX_ZOOM, width_factor=0.0,
                                fill_mode="nearest", seed=_seed(2), name=f"{name}_zoom"),
        keras.layers.RandomContrast(min(s * MAX_CONTRAST, 0.9), value_range=(0, 255),
                                    seed=_seed(3), name=f"{name}_contrast"),
        keras.layers.RandomBrightness(min(s * MAX_BRIGHTNESS, 0.9), value_range=(0, 255),
                                      seed=_seed(4), name=f"{name}_brightness"),
    ]
    return keras.Sequential(layers, name=name)


def signal_augment(window: np.ndarray, rng: np.random.Generator, strength: float = 1.0,
                   fs: float | None = None) -> np.ndarray:
    """Perturbs beat windows (mV) before rendering: amplitude scale, baseline wander, noise.

    Usable as ``signal_dataset(..., signal_augment=signal_augment)`` (which passes a batch of
    windows), or with another strength as ``signal_augment=make_signal_augment(0.5)``. Each
    window gets its own draws. The R peak stays where it is and the polarity is never inverted
    (the scale factor stays positive).

    Args:
        window: one window (samples,) or a batch (b, samples), float, in mV.
        rng: a ``numpy.random.Generator``.
        strength: scales every perturbation (0 returns the input unchanged, as a copy).
        fs: sampling rate; default ``contract.FS``.

    Returns:
        A new float32 array of the same shape.
    """
    x = np.asarray(window, dtype=np.float32).copy()
    s = float(strength)
    if s <= 0:
        return x
    fs = float(fs or FS)
    rows = x.shape[:-1]
    scale = np.maximum(1.0 + rng.uniform(-1.0, 1.0, rows + (1,)) * AMPLITUDE_SCALE * s, 0.5)
    t = np.arange(x.shape[-1], dtype=np.float32) / fs
    freq = rng.uniform(*WANDER_HZ, rows + (1,))
    phase = rng.uniform(0, 2 * np.pi, rows + (1,))
    amp = s * WANDER_MV * rng.uniform(0, 1, rows + (1,))
    wander = amp * np.sin(2 * np.pi * freq * t + phase)
    noise = rng.normal(0.0, s * NOISE_MV, size=x.shape)
    return (x * scale + wander + noise).astype(np.float32)


def make_signal_augment(strength: float):
    """``signal_augment`` with a fixed strength, for ``signal_dataset(signal_augment=...)``."""
    return functools.partial(signal_augment, strength=strength)


def augment_images(images: np.ndarray, rng: np.random.Generator,
                   strength: float = 1.0) -> np.ndarray:
    """ECG-safe image augmentation in NumPy and OpenCV, with the ranges of ``ecg_augmentation``.

    Each image gets its own rotation (+/- 3 degrees at strength 1), shift (+/- 3% of the side on
    each axis), vertical zoom (amplitude only, +/- 5%), contrast (x 0.85..1.15 around the
    image's mean per channel) and brightness (+/- 8% of 255), in one affine warp that fills from
    the nearest edge pixel. No flips.

    Args:
        images: uint8 (n, H, W, 3) in 0..255.
        rng: a ``numpy.random.Generator`` (the pipeline gives each batch its own).
        strength: scales every range, as in ``ecg_augmentation`` (0 returns a copy).

    Returns:
        A new uint8 array of the same shape.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"augment_images takes (n, H, W, 3) images. Received shape {x.shape}")
    s = float(strength)
    if not 0.0 <= s <= 3.0:
        raise ValueError(f"strength must be in [0, 3]. Received: strength={strength}")
    if s == 0.0 or len(x) == 0:
        return x.astype(np.uint8, copy=True)
    n, h, w = x.shape[:3]
    angle = rng.uniform(-1.0, 1.0, n) * s * MAX_ROTATION_DEG
    shift = rng.uniform(-1.0, 1.0, (n, 2)) * s * MAX_TRANSLATION * np.array([w, h])
    zoom = 1.0 + rng.uniform(-1.0, 1.0, n) * s * MAX_ZOOM
    c = min(s * MAX_CONTRAST, 0.9)
    contrast = rng.uniform(1.0 - c, 1.0 + c, n)
    b = min(s * MAX_BRIGHTNESS, 0.9) * 255.0
    brightness = rng.uniform(-b, b, n)
    out = np.empty(x.shape, np.uint8)
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    levels = np.arange(256, dtype=np.float64)[:, None]
    for k in range(n):
        m = cv2.getRotationMatrix2D(centre, float(angle[k]), 1.0)
        m[1] = m[1] * zoom[k]  # vertical scale after the rotation: amplitude, not time
        m[1, 2] += centre[1] * (1.0 - zoom[k])  # ...about the centre row
        m[:, 2] += shift[k]
        warped = cv2.warpAffine(np.ascontiguousarray(x[k]), m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        # Contrast and brightness map each channel's 256 levels: one lookup table per image.
        mean = np.asarray(cv2.mean(warped)[:3])
        table = np.clip(np.rint((levels - mean) * contrast[k] + mean + brightness[k]), 0, 255)
        out[k] = cv2.LUT(warped, table.astype(np.uint8).reshape(256, 1, 3))
    return out


def make_image_augment(strength: float):
    """``augment_images`` with a fixed strength, for ``signal_dataset(image_augment=...)``."""
    return functools.partial(augment_images, strength=strength)
