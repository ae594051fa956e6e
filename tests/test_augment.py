"""Tests for ecgkit.data.augment: ECG-safe layers (no flips), range, identity at strength 0."""

import numpy as np
import pytest

from ecgkit.data.augment import ecg_augmentation, make_signal_augment, signal_augment


def _ecg_like_images(n=4, size=64):
    rng = np.random.default_rng(0)
    imgs = np.full((n, size, size, 3), 255, np.uint8)
    for i in range(n):
        rows = (size / 2 + 10 * np.sin(np.linspace(0, 6, size) + i)).astype(int)
        imgs[i, rows, np.arange(size)] = 0
    imgs[..., 1] = np.minimum(imgs[..., 1], rng.integers(200, 256, (n, size, size)))
    return imgs


class TestImageAugmentation:
    def test_no_flip_layer(self):
        import keras

        aug = ecg_augmentation(1.0, seed=1)
        kinds = [type(layer).__name__ for layer in aug.layers]
        assert not any("Flip" in k for k in kinds)
        assert not any(isinstance(layer, keras.layers.RandomFlip) for layer in aug.layers)
        assert kinds == ["RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
                         "RandomBrightness"]

    def test_output_in_uint8_range_and_changed(self):
        imgs = _ecg_like_images()
        out = np.asarray(ecg_augmentation(2.0, seed=3)(imgs.astype("float32"), training=True))
        assert out.shape == imgs.shape
        assert out.min() >= 0.0 and out.max() <= 255.0
        assert not np.allclose(out, imgs)
        # stays close to the original image: the trace is perturbed, not destroyed
        assert np.abs(out - imgs).mean() < 60

    def test_inference_is_identity(self):
        imgs = _ecg_like_images().astype("float32")
        out = np.asarray(ecg_augmentation(1.0, seed=3)(imgs, training=False))
        np.testing.assert_allclose(out, imgs)

    def test_strength_zero_is_identity(self):
        imgs = _ecg_like_images().astype("float32")
        aug = ecg_augmentation(0.0)
        np.testing.assert_allclose(np.asarray(aug(imgs, training=True)), imgs)

    def test_strength_scales_ranges(self):
        a, b = ecg_augmentation(0.5), ecg_augmentation(1.0)
        assert b.layers[0].factor[1] == pytest.approx(2 * a.layers[0].factor[1])
        assert b.layers[0].factor[1] == pytest.approx(3.0 / 360.0)  # a few degrees

    def test_zoom_is_amplitude_only(self):
        # A vertical line (a QRS at a fixed time) must stay where it is: the zoom may scale the
        # amplitude axis, never the time axis (25 mm/s carries QRS width and RR intervals).
        import keras

        zoom = ecg_augmentation(3.0, seed=5).get_layer("ecg_augment_zoom")
        assert isinstance(zoom, keras.layers.RandomZoom)
        img = np.full((8, 64, 64, 3), 255.0, np.float32)
        img[:, :, 40] = 0.0
        out = np.asarray(zoom(img, training=True))
        assert np.abs(out[:, 10:54] - img[:, 10:54]).max() < 1e-3  # columns unchanged
        rows = np.full((8, 64, 64, 3), 255.0, np.float32)
        rows[:, 12] = 0.0  # a horizontal line moves when the amplitude is scaled
        moved = np.asarray(zoom(rows, training=True))
        assert not np.allclose(moved, rows)

    def test_bad_strength(self):
        with pytest.raises(ValueError, match="strength"):
            ecg_augmentation(-1)

    def test_augment_images_small_safe_changes(self):
        from ecgkit.data.augment import augment_images

        imgs = _ecg_like_images()
        out = augment_images(imgs, np.random.default_rng(0), 1.0)
        assert out.dtype == np.uint8 and out.shape == imgs.shape
        assert not np.array_equal(out, imgs)
        # brightness within +/- 8% of 255 (contrast keeps each image's mean)
        shift = out.mean(axis=(1, 2, 3)) - imgs.mean(axis=(1, 2, 3))
        assert np.abs(shift).max() <= 0.08 * 255 + 3
        # a QRS-like vertical line at column 40 stays near column 40: shifts of 3% and a
        # 3-degree rotation move it by a couple of pixels, a flip would put it at column 23
        line = np.full((16, 64, 64, 3), 255, np.uint8)
        line[:, 8:56, 40] = 0
        moved = augment_images(line, np.random.default_rng(1), 1.0)
        cols = moved[:, 20:44].astype(int).sum(axis=(1, 3)).argmin(axis=1)
        assert np.abs(cols - 40).max() <= 3
        # seeded, identity at strength 0, and the Keras layers' strength limits
        np.testing.assert_array_equal(augment_images(imgs, np.random.default_rng(0), 1.0), out)
        np.testing.assert_array_equal(augment_images(imgs, np.random.default_rng(0), 0.0), imgs)
        with pytest.raises(ValueError, match="strength"):
            augment_images(imgs, np.random.default_rng(0), 4.0)
        with pytest.raises(ValueError, match=r"\(n, H, W, 3\)"):
            augment_images(imgs[0], np.random.default_rng(0))


class TestSignalAugmentation:
    def test_small_changes_same_shape(self):
        from ecgkit.contract import BEFORE_SAMPLES, WINDOW_SAMPLES

        t = np.arange(WINDOW_SAMPLES)
        x = np.exp(-((t - BEFORE_SAMPLES) / 8.0) ** 2).astype(np.float32)  # a 1 mV R peak
        y = signal_augment(x, np.random.default_rng(0), strength=1.0)
        assert y.shape == x.shape and y.dtype == np.float32
        assert not np.allclose(x, y)
        assert np.abs(y - x).max() < 0.5
        assert int(np.argmax(y)) == BEFORE_SAMPLES  # R peak stays put, polarity kept
        assert x[BEFORE_SAMPLES] == 1.0  # input untouched

    def test_strength_zero_and_partial(self):
        x = np.linspace(-1, 1, 100).astype(np.float32)
        np.testing.assert_array_equal(signal_augment(x, np.random.default_rng(0), 0.0), x)
        f = make_signal_augment(0.0)
        np.testing.assert_array_equal(f(x, np.random.default_rng(0)), x)

    def test_seeded(self):
        x = np.zeros(200, np.float32)
        a = signal_augment(x, np.random.default_rng(7))
        b = signal_augment(x, np.random.default_rng(7))
        np.testing.assert_array_equal(a, b)


def _identical_beats(n):
    """A BeatSet of n identical synthetic beats (a 1 mV Gaussian R peak at the window centre)."""
    import pandas as pd

    from ecgkit.contract import BEFORE_SAMPLES, WINDOW_SAMPLES
    from ecgkit.data.datasets import BeatSet

    t = np.arange(WINDOW_SAMPLES)
    windows = np.tile(np.exp(-((t - BEFORE_SAMPLES) / 8.0) ** 2), (n, 1)).astype(np.float32)
    meta = pd.DataFrame({"record": ["100"] * n, "patient": ["100"] * n, "sample": range(n),
                         "symbol": ["N"] * n, "label": ["N"] * n, "split": ["train"] * n})
    return BeatSet(windows=windows, labels=np.zeros(n, int), meta=meta, report={})


class TestSignalAugmentBatch:
    def test_batch_rows_get_own_draws(self):
        x = np.zeros((4, 300), np.float32)
        y = signal_augment(x, np.random.default_rng(0))
        assert y.shape == x.shape
        assert not np.allclose(y[0], y[1])

    def test_with_signal_dataset(self):
        from ecgkit.data.augment import make_signal_augment
        from ecgkit.data.datasets import signal_dataset

        n = 4
        beats = _identical_beats(n)
        plain = signal_dataset(beats, image_size=64, batch_size=n)[0][0]
        aug = signal_dataset(beats, image_size=64, batch_size=n,
                             signal_augment=make_signal_augment(1.0))[0][0]
        assert aug.shape == plain.shape == (n, 64, 64, 3)
        assert not np.array_equal(aug, plain)

    def test_signal_augmentation_changes_every_epoch(self):
        # Without repeat, each epoch passes over the data anew; the augmentation draws must be
        # new each epoch (and the same for the same seed), not restart from batch 0. An endless
        # stream continues its draws across epochs and from ``start`` after a resume.
        from ecgkit.data.augment import make_image_augment, make_signal_augment
        from ecgkit.data.datasets import signal_dataset

        n = 4
        beats = _identical_beats(n)

        def epochs(seed):
            ds = signal_dataset(beats, image_size=64, batch_size=n, seed=seed,
                                signal_augment=make_signal_augment(1.0),
                                image_augment=make_image_augment(1.0))
            out = []
            for _ in range(2):
                out.append(ds[0][0])
                ds.on_epoch_end()
            return out

        first, second = epochs(3)
        assert not np.array_equal(first, second)
        again = epochs(3)
        np.testing.assert_array_equal(again[0], first)
        np.testing.assert_array_equal(again[1], second)
        endless = signal_dataset(beats, image_size=64, batch_size=n, seed=3, repeat=True,
                                 signal_augment=make_signal_augment(1.0))
        resumed = signal_dataset(beats, image_size=64, batch_size=n, seed=3, repeat=True,
                                 signal_augment=make_signal_augment(1.0))
        resumed.start = 1
        np.testing.assert_array_equal(resumed[0][0], endless[1][0])
        assert not np.array_equal(endless[0][0], endless[1][0])
