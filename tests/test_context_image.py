"""The context drawn into the image (ecgkit.context_image, IMAGE_CHANNELS=context): what each
channel shows, causal images without the future, and one rendering for training, evaluation and
the provenance's inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgkit import context, context_image
from ecgkit.contract import BEFORE_SAMPLES, FS, WINDOW_SAMPLES
from ecgkit.datasets import BeatSet, record_beats
from ecgkit.rr import rr_features


@pytest.fixture(scope="module")
def rec119(embedded_dir):
    """Record 119 (bigeminy: hundreds of V beats among N): all beats, with their windows."""
    return record_beats(embedded_dir, "119")


def beat_set(data, mode: str, upto: int | None = None) -> BeatSet:
    """The first ``upto`` beats of a record as a BeatSet carrying ``mode`` context."""
    sl = slice(None, upto)
    samples = data["samples"][sl]
    rr = rr_features(samples)
    vectors = context.record_context(data["windows"][sl], samples, mode, **{
        k: rr[k] for k in ("pre_rr", "post_rr", "avg_rr")})
    meta = pd.DataFrame({"sample": samples, **rr})
    return BeatSet(data["windows"][sl], np.asarray(data["labels"])[sl], meta,
                   context={mode: vectors})


def dark_rows(channel: np.ndarray) -> np.ndarray:
    """Per column, the mean row of the drawn (dark) pixels: where the trace is."""
    ink = 255.0 - channel.astype(np.float64)
    return (ink * np.arange(channel.shape[0])[:, None]).sum(0) / np.maximum(ink.sum(0), 1e-9)


class TestChannels:
    def test_the_usual_beat_is_the_records_median_beat(self, rec119):
        from ecgkit.baselines import morphology_features

        beats = beat_set(rec119, "offline")
        usual = context_image.usual_beats(beats.windows, beats.context_of("offline"))
        median = np.median(morphology_features(beats.windows, context.SHAPE_WINDOW_S), axis=0)
        np.testing.assert_allclose(usual, np.broadcast_to(median, usual.shape), atol=1e-5)

    def test_average_rr_is_the_one_the_rhythm_values_use(self, rec119):
        for mode in context.CONTEXT_MODES:
            beats = beat_set(rec119, mode)
            avg = context_image.average_rr(beats.meta, beats.context_of(mode), mode)
            ratio = beats.meta["pre_rr"].to_numpy() / avg
            inside = (avg > context_image.RR_LIMITS_S[0]) & (avg < context_image.RR_LIMITS_S[1])
            assert inside.mean() > 0.99
            np.testing.assert_allclose(ratio[inside], beats.context_of(mode)[inside, 0],
                                       rtol=1e-4)

    def test_the_rhythm_channel_is_in_units_of_the_patients_rr(self):
        """A regular rhythm puts the neighbours at the same columns at any heart rate; an early
        beat's predecessor moves toward the centre."""
        def spikes(rr_before_s, rr_after_s):
            w = np.zeros(WINDOW_SAMPLES, np.float32)
            for at in (BEFORE_SAMPLES, BEFORE_SAMPLES - int(rr_before_s * FS),
                       BEFORE_SAMPLES + int(rr_after_s * FS)):
                w[at - 3:at + 4] = 1.5
            return w

        points = 512
        peaks = []
        for rr in (0.6, 0.9):
            trace = context_image.rhythm_traces(spikes(rr, rr)[None], np.array([rr]), points)[0]
            peaks.append(np.flatnonzero(trace > 0.75))
        grid = np.linspace(-context_image.RHYTHM_SPAN_RR, context_image.RHYTHM_SPAN_RR, points)
        for found in peaks:  # R at 0, neighbours at -1 and +1 average RR
            for at in (-1.0, 0.0, 1.0):
                assert np.min(np.abs(grid[found] - at)) < 0.02
        early = context_image.rhythm_traces(spikes(0.45, 0.9)[None], np.array([0.9]), points)[0]
        assert np.min(np.abs(grid[early > 0.75] + 0.5)) < 0.02

    def test_images_show_rhythm_beat_and_usual_beat(self, rec119):
        beats = beat_set(rec119, "offline")
        drawn = context_image.ContextImages(beats, "offline", 64)
        labels = beats.labels
        n_rows = np.flatnonzero(labels == 0)[:40]
        v_rows = np.flatnonzero(labels == 2)[:40]
        images = drawn.render(np.concatenate([n_rows, v_rows]))
        assert images.shape == (80, 64, 64, 3) and images.dtype == np.uint8
        assert (images < 128).any(axis=(1, 2)).all()  # every channel of every image is drawn

        # the beat (green) lies on the usual beat (blue) for N beats, apart from it for V beats
        def gap(img):
            return np.abs(dark_rows(img[..., 1]) - dark_rows(img[..., 2])).mean()

        n_gap = np.median([gap(im) for im in images[:40]])
        v_gap = np.median([gap(im) for im in images[40:]])
        assert v_gap > 3 * n_gap, (n_gap, v_gap)

    def test_causal_images_ignore_later_beats(self, rec119):
        """The image of beat i is unchanged when every beat after i is deleted (from the
        record's second beat: the first takes the second's RR, the start-up convention of
        ``rr.rr_features`` and ``context.causal_rr``)."""
        full = context_image.ContextImages(beat_set(rec119, "causal"), "causal", 32)
        for i in (1, 5, 150, 700):
            cut = context_image.ContextImages(beat_set(rec119, "causal", upto=i + 1), "causal", 32)
            np.testing.assert_array_equal(cut.render([i]), full.render([i]), err_msg=f"beat {i}")

    def test_bad_input(self, rec119):
        with pytest.raises(ValueError, match="IMAGE_CHANNELS must be one of"):
            context_image.check_channels("colour")
        beats = beat_set(rec119, "offline", upto=10)
        with pytest.raises(ValueError, match="disagree"):
            context_image.usual_beats(beats.windows[:5], beats.context_of("offline"))
        with pytest.raises(ValueError, match="CONTEXT_MODE must be one of"):
            context_image.ContextImages(beats, "future", 32)


class TestOneRendering:
    def test_batches_and_provenance_inputs_draw_the_same_images(self, embedded_dir):
        """What training and evaluation feed a model (signal_dataset) and what the notebooks'
        explanations feed it (provenance.model_inputs) are the same pixels."""
        from ecgkit.datasets import load_beats, signal_dataset
        from ecgkit.provenance import model_inputs

        beats = load_beats(records=["119", "220"], split="none", max_beats_per_record=8,
                           progress=False)
        ds = signal_dataset(beats, image_size=32, batch_size=len(beats), image_context="causal",
                            workers=0)
        images, _ = ds[0]

        class Model:  # what model_inputs reads: the recorded provenance and the input size
            name = "stub"
            inputs = [type("T", (), {"shape": (None, 32, 32, 3)})()]

        import ecgkit.provenance as prov

        recorded = {"image_channels": "context", "context_mode": "causal", "context": "none"}
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(prov, "recorded_provenance", lambda m: recorded)
            mp.setattr(prov, "has_context", lambda m: False)
            mp.setattr(prov, "image_size_of", lambda m: 32)
            mp.setattr(prov, "recorded_grid", lambda m: None)
            same, vectors = model_inputs(Model(), beats)
        assert vectors is None
        np.testing.assert_array_equal(same, images)
