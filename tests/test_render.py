"""The OpenCV ECG-paper renderer: fixed scales, grid, peaks kept, clipping counted."""

from __future__ import annotations

import numpy as np
import pytest

from ecgkit.contract import BEFORE_SAMPLES, WINDOW_SAMPLES
from ecgkit.data.render import (
    MAJOR_GRID_RGB,
    MINOR_GRID_RGB,
    PAPER_RGB,
    paper_background,
    paper_geometry,
    render_batch,
    render_ecg_image,
)


def _dark(img):
    return img.max(axis=2) < 128


def _spike(mv, at=BEFORE_SAMPLES, width=1):
    w = np.zeros(WINDOW_SAMPLES, np.float32)
    w[at:at + width] = mv
    return w


def _row_of(mv, size=224):
    g = paper_geometry(size)
    return (g["mv_high"] - mv) * size / (g["mv_high"] - g["mv_low"]) - 0.5


class TestRender:
    def test_shape_dtype_and_batch_agree(self):
        w = np.sin(np.linspace(0, 20, WINDOW_SAMPLES)).astype(np.float32)
        img = render_ecg_image(w)
        assert img.shape == (224, 224, 3) and img.dtype == np.uint8
        batch, clipped = render_batch(np.stack([w, w]))
        assert batch.shape == (2, 224, 224, 3) and clipped == 0
        np.testing.assert_array_equal(batch[0], img)

    def test_grid_and_minor_grid_threshold(self):
        colours = lambda img: {tuple(p) for p in img.reshape(-1, 3)}  # noqa: E731
        assert colours(paper_background(224, False)) == {PAPER_RGB}
        assert {MINOR_GRID_RGB, MAJOR_GRID_RGB} <= colours(paper_background(224, True))
        small = colours(paper_background(100, True))  # 1 mm = 1.33 px: no minor grid
        assert MAJOR_GRID_RGB in small and MINOR_GRID_RGB not in small
        assert not paper_background(224, True).flags.writeable

    def test_fixed_amplitude_scale_and_baseline(self):
        # a flat line with one 1-sample spike: the baseline sits at 3.0 mV above the bottom
        img = render_ecg_image(_spike(2.0), grid=False)
        rows = np.flatnonzero(_dark(img).any(axis=1))
        assert abs(rows.min() - _row_of(2.0)) <= 1.5  # the 1-sample peak is kept
        assert abs(np.median(np.flatnonzero(_dark(img)[:, 10])) - _row_of(0.0)) <= 1
        # no min-max stretching: twice the amplitude is twice as tall
        rows2 = np.flatnonzero(_dark(render_ecg_image(_spike(4.0), grid=False)).any(axis=1))
        assert abs(rows2.min() - _row_of(4.0)) <= 1.5
        # a constant offset is removed (window median = baseline)
        shifted = render_ecg_image(_spike(2.0) + 0.7)
        np.testing.assert_array_equal(shifted, render_ecg_image(_spike(2.0)))

    def test_out_of_range_is_clipped_and_counted(self):
        images, clipped = render_batch(np.stack([_spike(6.0), _spike(-4.0), _spike(1.0)]))
        assert clipped == 2
        assert _dark(images[0])[0].any()  # drawn to the top edge
        # the same verdict without rendering: -3.0 / +4.5 mV around the baseline
        from ecgkit.data.render import clipped_windows
        np.testing.assert_array_equal(
            clipped_windows(np.stack([_spike(6.0), _spike(-4.0), _spike(1.0)])),
            [True, True, False])

    def test_large_images_use_every_sample(self):
        img = render_ecg_image(_spike(1.0, width=3), image_size=1200)
        assert img.shape == (1200, 1200, 3) and _dark(img).sum() > 1000

    @pytest.mark.parametrize("bad", [np.full(WINDOW_SAMPLES, np.nan), np.zeros((2, 2, 2))])
    def test_bad_windows_raise(self, bad):
        with pytest.raises(ValueError):
            render_batch(bad)


class TestRenderStrip:
    def test_strip_keeps_the_paper_scale_of_the_beat_images(self):
        from ecgkit.contract import FS
        from ecgkit.data.render import render_strip

        s = np.zeros(10 * FS, np.float32)
        s[5 * FS] = 2.0
        img, clipped = render_strip(s, image_height=224, grid=False)
        # 10 s = 250 mm wide, 75 mm (7.5 mV) high, as the 3-s, 75-mm beat images
        assert img.shape == (224, round(224 * 250 / 75), 3) and img.dtype == np.uint8
        assert clipped is False
        dark = _dark(img)
        assert abs(np.flatnonzero(dark.any(axis=1)).min() - _row_of(2.0)) <= 1.5
        assert abs(np.median(np.flatnonzero(dark[:, 10])) - _row_of(0.0)) <= 1
        cols = np.flatnonzero(dark[: int(_row_of(1.0))].any(axis=0))  # the spike, mid-strip
        assert abs(cols.mean() - img.shape[1] / 2) <= 2

    def test_strip_grid_clipping_and_square_background_unchanged(self):
        from ecgkit.data.render import render_strip, strip_background

        wide = strip_background(224, 747, True)
        assert wide.shape == (224, 747, 3) and not wide.flags.writeable
        # the same grid: only the last column differs (the square clamps its 75-mm line there)
        np.testing.assert_array_equal(wide[:, :223], paper_background(224, True)[:, :223])
        s = np.zeros(3600, np.float32)
        s[100] = 6.0
        assert render_strip(s, image_height=64)[1] is True
        with pytest.raises(ValueError, match="1-D"):
            render_strip(np.zeros((2, 3600)))


class TestTimeScale:
    def test_milliseconds_per_pixel_and_per_cell_follow_the_size(self):
        from ecgkit.data.render import ms_per_cell, ms_per_pixel

        assert ms_per_pixel(224) == pytest.approx(3000 / 224)
        assert ms_per_pixel(64) == pytest.approx(3000 / 64)
        assert ms_per_cell(2) == pytest.approx(1500.0)  # 64 px, stride 32
        assert ms_per_cell(56) == pytest.approx(3000 / 56)  # 224 px, stride 4
        with pytest.raises(ValueError, match="cells"):
            ms_per_cell(0)

    def test_what_a_span_covers_is_named_from_its_length(self):
        from ecgkit.data.render import what_spans

        assert "QRS" in what_spans(100) and "beat" not in what_spans(100)
        assert "less than a QRS" in what_spans(40)
        assert "most of one beat" in what_spans(600)
        assert "about one beat" in what_spans(900)
        assert "2.3 beats" in what_spans(1875)  # at 75 bpm one beat is 800 ms
