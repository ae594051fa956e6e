"""The context drawn into the image (ecgkit.data.context_image, IMAGE_CHANNELS=context): what each
channel shows, causal images without the future, and one rendering for training, evaluation and
the provenance's inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgkit.contract import BEFORE_SAMPLES, FS, WINDOW_SAMPLES
from ecgkit.data import context, context_image
from ecgkit.data.datasets import BeatSet, record_beats
from ecgkit.data.rr import rr_features


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
        from ecgkit.evaluation.baselines import morphology_features

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
        from ecgkit.data.datasets import load_beats, signal_dataset
        from ecgkit.evaluation.provenance import model_inputs

        beats = load_beats(records=["119", "220"], split="none", max_beats_per_record=8,
                           progress=False)
        ds = signal_dataset(beats, image_size=32, batch_size=len(beats), image_context="causal",
                            workers=0)
        images, _ = ds[0]

        class Model:  # what model_inputs reads: the recorded provenance and the input size
            name = "stub"
            inputs = [type("T", (), {"shape": (None, 32, 32, 3)})()]

        import ecgkit.evaluation.provenance as prov

        recorded = {"image_channels": "context", "context_mode": "causal", "context": "none"}
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(prov, "recorded_provenance", lambda m: recorded)
            mp.setattr(prov, "has_context", lambda m: False)
            mp.setattr(prov, "image_size_of", lambda m: 32)
            mp.setattr(prov, "recorded_grid", lambda m: None)
            same, vectors = model_inputs(Model(), beats)
        assert vectors is None
        np.testing.assert_array_equal(same, images)


class TestBuildDataset:
    """``build-dataset --image-channels context`` writes the images a context-image model is
    trained on, and evaluating a model on a folder drawn otherwise is refused."""

    def test_the_folder_holds_the_pixels_training_draws(self, embedded_dir, tmp_path, capsys):
        import cv2

        from ecgkit.cli import main
        from ecgkit.data.datasets import load_beats
        from ecgkit.data.export import read_build_info, read_manifest

        out = tmp_path / "ctx"
        rc = main(["build-dataset", str(embedded_dir), str(out), "--workers", "1", "--quiet",
                   "--set", "RECORDS=119,220", "MAX_BEATS_PER_RECORD=3", "IMAGE_SIZE=32",
                   "SPLIT=none", "IMAGE_CHANNELS=context", "--context-mode", "causal"])
        assert rc == 0, capsys.readouterr().err
        info = read_build_info(out)
        assert (info["image_channels"], info["context_mode"], info["grid"]) == (
            "context", "causal", False)
        manifest = read_manifest(out)
        beats = load_beats(records=["119", "220"], split="none", max_beats_per_record=3,
                           progress=False)
        drawn = context_image.ContextImages(beats, "causal", 32)
        keys = list(zip(beats.meta["record"], beats.meta["sample"]))
        assert len(manifest) == len(keys) > 5
        for _, row in manifest.iterrows():
            i = keys.index((row["record"], row["sample"]))
            on_disk = cv2.cvtColor(cv2.imread(str(out / row["path"])), cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(on_disk, drawn.render([i])[0], err_msg=row["path"])

        # the same folder with paper images is another dataset: refused, naming the option
        assert main(["build-dataset", str(embedded_dir), str(out), "--workers", "1", "--quiet",
                     "--set", "RECORDS=119,220", "MAX_BEATS_PER_RECORD=3", "IMAGE_SIZE=32",
                     "SPLIT=none"]) == 1
        assert "image_channels" in capsys.readouterr().err

    def test_a_folder_of_another_drawing_is_refused(self, tmp_path):
        import json

        import ecgkit.evaluation.provenance as prov
        from ecgkit.data.export import BUILD_INFO

        class Model:
            name = "ctx-model"

        def folder(name, **info):
            path = tmp_path / name
            path.mkdir()
            (path / BUILD_INFO).write_text(json.dumps({"image_size": 32, **info}))
            return path

        paper = folder("paper", grid=False)  # written before image_channels existed
        causal = folder("causal", grid=False, image_channels="context", context_mode="causal")
        offline = folder("offline", grid=False, image_channels="context",
                         context_mode="offline")
        recorded = {"image_channels": "context", "context_mode": "offline", "context": "none",
                    "grid": True}
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(prov, "recorded_provenance", lambda m: recorded)
            mp.setattr(prov, "has_context", lambda m: False)
            mp.setattr(prov, "image_size_of", lambda m: 32)
            mp.setattr(prov, "recorded_grid", lambda m: True)
            prov.check_image_folder(Model(), offline)  # the grid is not compared: none drawn
            with pytest.raises(prov.ProvenanceError, match=r"image_channels=paper \(the model "
                               r"takes image_channels=context\).*--image-channels context "
                               r"--context-mode offline"):
                prov.check_image_folder(Model(), paper)
            with pytest.raises(prov.ProvenanceError, match=r"context_mode=causal \(the model's "
                               r"context is offline\)"):
                prov.check_image_folder(Model(), causal)
            recorded.update(image_channels="paper", grid=False)
            mp.setattr(prov, "recorded_grid", lambda m: False)
            prov.check_image_folder(Model(), paper)
            with pytest.raises(prov.ProvenanceError, match="image_channels=context"):
                prov.check_image_folder(Model(), offline)

    def test_an_old_paper_folder_still_resumes(self, embedded_dir, tmp_path):
        """A build.json without image_channels (written before the option) is a paper folder."""
        import json

        from ecgkit.data.export import BUILD_INFO, build_dataset

        kw = dict(records=["100"], split="none", image_size=32, grid=False,
                  max_beats_per_record=2, workers=1, progress=False)
        out = tmp_path / "old"
        build_dataset(embedded_dir, out, **kw)
        info = json.loads((out / BUILD_INFO).read_text())
        del info["image_channels"]
        (out / BUILD_INFO).write_text(json.dumps(info))
        manifest = build_dataset(embedded_dir, out, **kw)
        assert manifest.attrs["report"]["existing"] == len(manifest) > 0
