"""BeatSet loading (splits, skips, cache) and the two pipelines (beats rendered, image files)."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from ecgkit.contract import CLASSES
from ecgkit.data.datasets import clear_cache, load_beats, signal_dataset
from ecgkit.data.images import ImageFolderError, image_folder_dataset, read_image, scan_image_folder
from ecgkit.data.records import LeadNotFoundError, RecordError
from ecgkit.data.splits import SplitError, patient_overlap


class TestLoadBeats:
    def test_default_split(self, small_beats):
        b = small_beats
        assert list(b.meta.columns) == ["record", "patient", "sample", "symbol", "label", "split",
                                        "pre_rr", "post_rr", "local_rr", "avg_rr", "weight"]
        assert b.splits == ["train", "val", "test"] and len(b) == b.windows.shape[0]
        assert b.windows.dtype == np.float32 and b.windows.shape[1] == 1080
        assert np.allclose(np.median(b.windows, axis=1), 0, atol=1e-6)
        assert {c for c, n in b.subset("val").class_counts().items() if n} >= {"N", "S", "V"}
        for s in ("train", "test"):
            assert all(n > 0 for n in b.subset(s).class_counts().values())
        pats = {s: set(b.subset(s).meta.patient) for s in b.splits}
        assert not pats["train"] & pats["test"] and not pats["val"] & pats["test"]
        assert not patient_overlap(pats["train"], pats["val"])
        assert b.meta.groupby(["record", "label"]).size().max() <= 20  # the cap
        assert b.report["skipped_windows"]["edge"] > 0 and b.report["capped"] > 0
        assert (np.asarray(CLASSES)[b.labels] == b.meta.label).all()

    def test_cap_weights_restore_the_uncapped_counts(self, small_beats):
        full = load_beats(split="none", progress=False)
        assert (full.meta["weight"] == 1.0).all()
        n_full = full.meta.groupby(["record", "label"]).size()
        capped = small_beats.meta
        w = capped.groupby(["record", "label"])["weight"].agg(["sum", "size", "first", "nunique"])
        assert (w["nunique"] == 1).all()  # one weight per (record, class) stratum
        np.testing.assert_allclose(w["sum"], n_full.loc[w.index])  # sum of N / n over n = N
        assert (w.loc[w["size"] < 20, "first"] == 1.0).all()  # strata under the cap: all kept
        assert (capped["weight"] > 1).any()
        # the RR features do not depend on which neighbours the cap kept
        keys = ["record", "sample"]
        both = capped.merge(full.meta, on=keys, suffixes=("", "_full"))
        assert len(both) == len(capped)
        for c in ("pre_rr", "post_rr", "local_rr", "avg_rr"):
            np.testing.assert_array_equal(both[c], both[f"{c}_full"])

    def test_memory_and_disk_cache(self, tmp_path, embedded_dir):
        a = load_beats(records=["100", "107"], split="none", progress=False, cache_dir=tmp_path)
        assert len(list(tmp_path.glob("*.npz"))) == 2
        clear_cache()
        b = load_beats(records=["100", "107"], split="none", progress=False, cache_dir=tmp_path)
        np.testing.assert_array_equal(a.windows, b.windows)
        assert a.meta.equals(b.meta) and b.splits == ["all"]

    def test_missing_lead_is_a_reported_skip(self, copy_records, caplog):
        d = copy_records("100", "107")
        hea = d / "100.hea"
        hea.write_bytes(hea.read_bytes().replace(b"MLII", b"V2"))
        with caplog.at_level(logging.WARNING, logger="ecgkit"):
            b = load_beats(d, split="none", progress=False)
        msg = ("skipped record 100 (leads V2, V5; no MLII): pass fallback_leads=('V2',) "
               "(command line: --fallback-lead V2; parameter FALLBACK_LEADS: V2) to include it")
        assert b.report["skipped_records"] == {"100": msg} and msg in caplog.text
        assert b.records() == ["107"]
        with pytest.raises(LeadNotFoundError, match="100.hea"):
            load_beats(d, split="none", progress=False, missing_lead="error")
        assert load_beats(d, split="none", progress=False, fallback_leads=("V5",)).records() == [
            "100", "107"]

    def test_split_none_on_any_wfdb_folder(self, synthetic_record):
        d = synthetic_record("a01")
        synthetic_record("a02", folder=d)
        b = load_beats(d, split="none", progress=False)
        assert b.splits == ["all"] and set(b.meta.patient) == {"a01", "a02"}
        with pytest.raises(SplitError, match="a01, a02"):
            load_beats(d, progress=False)

    def test_leaky_split_leaks_patients(self):
        b = load_beats(records=["100", "232"], split="beat-random-LEAKS-PATIENTS",
                       max_beats_per_record=50, progress=False)
        assert b.splits == ["train", "val", "test"]
        assert set(b.subset("train").meta.patient) & set(b.subset("test").meta.patient)

    def test_bad_records_and_names(self, copy_records, embedded_dir):
        with pytest.raises(SplitError, match="999"):
            load_beats(records=["100", "999"], progress=False)
        d = copy_records("100")
        with pytest.raises(RecordError, match=r"record\(s\) 231 not in this folder"):
            load_beats(d, records=["231"], progress=False)  # an MIT-BIH record not in d
        (d / "100.dat").write_bytes((d / "100.dat").read_bytes()[:100_000])
        with pytest.raises(RecordError, match=r"100\.dat: truncated"):
            load_beats(d, split="none", progress=False)


class TestSignalDataset:
    def test_batches_and_labels(self, small_beats):
        train = small_beats.subset("train")
        ds = signal_dataset(train, batch_size=16)
        x, y = next(iter(ds))
        assert x.dtype.name == "uint8" and tuple(x.shape) == (16, 224, 224, 3)
        assert y.dtype.name == "float32" and tuple(y.shape) == (16, 5)
        np.testing.assert_array_equal(np.argmax(y, 1), train.labels[:16])
        assert sum(int(b[0].shape[0]) for b in ds) == len(train)
        assert len(ds) == -(-len(train) // 16) and ds.num_batches == len(ds)

    def test_augmentation_hook_and_shuffle_seed(self, small_beats):
        beats = small_beats.subset("val")
        calls = []

        def augment(w, rng):
            calls.append(w.shape)
            return w * 1.5 + rng.normal(0, 0.05, w.shape)

        plain = signal_dataset(beats, image_size=64, batch_size=8)[0][0]
        aug = signal_dataset(beats, image_size=64, batch_size=8, signal_augment=augment)[0][0]
        assert calls and calls[0] == (8, 1080) and not np.array_equal(plain, aug)
        one = [y for _, y in signal_dataset(beats, 64, batch_size=8, shuffle=True, seed=1)]
        two = [y for _, y in signal_dataset(beats, 64, batch_size=8, shuffle=True, seed=1)]
        np.testing.assert_array_equal(np.concatenate(one), np.concatenate(two))
        # every beat once per epoch, in another order than the beats' own
        got = np.concatenate(one).argmax(1)
        assert sorted(got.tolist()) == sorted(beats.labels.tolist())


@pytest.fixture
def image_folder(tmp_path):
    """A class folder with awkward but valid images, a non-image file and two bad images."""
    root = tmp_path / "images"
    for c in ("N", "V"):
        (root / c).mkdir(parents=True)
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[100:120] = 255
    cv2.imwrite(str(root / "N" / "rgb.png"), rgb)
    cv2.imwrite(str(root / "N" / "gray.png"), rgb[:, :, 0])
    cv2.imwrite(str(root / "N" / "rgba.png"), np.dstack([rgb, np.full((224, 224), 255, np.uint8)]))
    cv2.imwrite(str(root / "V" / "deep16.png"), rgb[:, :, 0].astype(np.uint16) * 257)
    cv2.imwrite(str(root / "V" / "odd.jpg"), cv2.resize(rgb, (301, 157)))
    (root / "V" / "notes.txt").write_text("not an image")
    (root / "V" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    good = (root / "N" / "rgb.png").read_bytes()
    (root / "N" / "truncated.png").write_bytes(good[: len(good) // 2])
    return root


class TestImageFolder:
    def test_conversions(self, image_folder):
        for name in ("N/gray.png", "N/rgba.png", "V/deep16.png", "V/odd.jpg"):
            img = read_image(image_folder / name)
            assert img.shape == (224, 224, 3) and img.dtype == np.uint8
            assert img[110, 50].min() > 200 and img[50, 50].max() < 50

    def test_bad_files_reported_before_training(self, image_folder, caplog):
        with caplog.at_level(logging.WARNING, logger="ecgkit"):
            rep = scan_image_folder(image_folder)
        assert sorted(p.split("/")[-1] for p, _ in rep.bad) == ["corrupt.png", "truncated.png"]
        assert "corrupt.png" in caplog.text and rep.ignored == 1
        assert rep.class_counts() == {"N": 3, "S": 0, "V": 2, "F": 0, "Q": 0}
        assert rep.empty_classes == ["S", "F", "Q"] and "S, F, Q" in caplog.text
        with pytest.raises(ImageFolderError, match="2 unreadable.*corrupt.png"):
            scan_image_folder(image_folder, on_bad="error")

    def test_dataset(self, image_folder):
        ds, rep = image_folder_dataset(image_folder, image_size=96, batch_size=4)
        batches = list(ds)
        assert [int(x.shape[0]) for x, _ in batches] == [4, 1]
        x, y = batches[0]
        assert x.dtype.name == "uint8" and tuple(x.shape[1:]) == (96, 96, 3)
        assert np.argmax(np.concatenate([b[1] for b in batches]), 1).tolist() == rep.labels

    def test_folder_errors(self, tmp_path):
        (tmp_path / "train" / "N").mkdir(parents=True)
        with pytest.raises(ImageFolderError, match="train are not class names.*point to one split"):
            scan_image_folder(tmp_path)
        (tmp_path / "train" / "N" / "readme.txt").write_text("x")
        (tmp_path / "train" / "V").mkdir()
        with pytest.raises(ImageFolderError, match="no readable images"):
            scan_image_folder(tmp_path / "train")
        with pytest.raises(ImageFolderError, match="no class sub-folders"):
            scan_image_folder(tmp_path / "train" / "V")
        with pytest.raises(ImageFolderError, match="no such folder"):
            scan_image_folder(tmp_path / "missing")
