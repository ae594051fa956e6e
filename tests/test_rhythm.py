"""Rhythm strips: episodes from the rhythm annotations, 10-s strips, the image folder with
labels.csv (``build-dataset --task rhythm``), and the RR-irregularity baseline."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from ecgkit.cli import main
from ecgkit.contract import FS
from ecgkit.data.records import RecordError, read_header
from ecgkit.data.rhythm import (
    LABEL_COLUMNS,
    RHYTHM_CLASSES,
    STRIP_S,
    build_rhythm_dataset,
    cap_strips,
    rhythm_class,
    rhythm_episodes,
    rr_irregularity_baseline,
    strip_rr_features,
    strip_table,
    strips_of,
)


class TestEpisodes:
    def test_episodes_of_a_record_with_af_and_flutter(self, embedded_dir):
        ep = rhythm_episodes(embedded_dir, "203")
        assert list(ep.columns) == ["record", "patient", "rhythm", "label", "start", "end"]
        assert {"AFIB", "AFL"} <= set(ep.rhythm)
        assert set(ep.label[ep.rhythm.isin(["AFIB", "AFL"])]) == {"AF"}
        # contiguous, in order, up to the last sample of the record
        assert (ep.start.iloc[1:].to_numpy() == ep.end.iloc[:-1].to_numpy()).all()
        assert (ep.end > ep.start).all()
        assert ep.end.iloc[-1] == read_header(embedded_dir, "203").sig_len
        # 201 and 202 are one patient
        assert set(rhythm_episodes(embedded_dir, "202").patient) == {"201"}

    def test_class_map(self):
        assert rhythm_class("N") == "NSR"
        assert rhythm_class("AFIB") == rhythm_class("AFL") == "AF"
        assert rhythm_class("B") == rhythm_class("P") == rhythm_class("SBR") == "OTHER"
        assert RHYTHM_CLASSES == ("NSR", "AF", "OTHER")

    def test_missing_atr_is_named(self, copy_records):
        d = copy_records("100")
        (d / "100.atr").unlink()
        with pytest.raises(RecordError, match=r"100\.atr: missing"):
            rhythm_episodes(d, "100")


class TestStrips:
    def test_strips_lie_inside_one_episode_and_do_not_overlap(self, embedded_dir):
        ep = rhythm_episodes(embedded_dir, "201")
        st = strips_of(ep)
        assert len(st) > 50 and set(st.label) == {"NSR", "AF", "OTHER"}
        assert ((st.end - st.start) == int(STRIP_S * FS)).all()
        for s in st.itertuples():
            inside = ep[(ep.start <= s.start) & (s.end <= ep.end)]
            assert len(inside) == 1 and inside.rhythm.iloc[0] == s.rhythm
        ordered = st.sort_values("start")
        assert (ordered.start.iloc[1:].to_numpy() >= ordered.end.iloc[:-1].to_numpy()).all()

    def test_cap_per_record_and_class_spreads_over_the_record(self, embedded_dir):
        st = strips_of(rhythm_episodes(embedded_dir, "201"))
        capped = cap_strips(st, 5)
        assert capped.groupby("label").size().max() == 5
        nsr = capped[capped.label == "NSR"].start
        all_nsr = st[st.label == "NSR"].start
        assert nsr.min() == all_nsr.min() and nsr.max() == all_nsr.max()  # first and last kept
        assert len(cap_strips(st, 0)) == len(st)  # 0 = no cap

    def test_strip_table_skips_records_without_the_lead(self, embedded_dir):
        t = strip_table(embedded_dir, ["102", "203"], max_strips_per_record=3)
        assert set(t.record) == {"203"} and "102" in t.attrs["skipped_records"]


class TestBuild:
    def test_folder_labels_and_resume(self, embedded_dir, tmp_path):
        out = tmp_path / "rhythm"
        labels = build_rhythm_dataset(embedded_dir, out, records=["100", "201", "202"],
                                      max_strips_per_record=2, image_size=48, progress=False)
        on_disk = pd.read_csv(out / "labels.csv", dtype={"record": str, "patient": str})
        assert list(on_disk.columns) == LABEL_COLUMNS
        pd.testing.assert_frame_equal(on_disk, labels, check_dtype=False)
        assert set(on_disk.label) == {"NSR", "AF", "OTHER"}
        assert on_disk.groupby(["record", "label"]).size().max() == 2
        # grouped by patient: 201 and 202 are one patient
        assert set(on_disk.patient) == {"100", "201"}
        for row in on_disk.itertuples():
            assert row.file == f"images/{row.label}/{row.record}_{round(row.start_s * FS):07d}.png"
            assert row.end_s - row.start_s == STRIP_S
            img = cv2.imread(str(out / row.file))
            assert img.shape == (48, round(48 * 250 / 75), 3)
        info = json.loads((out / "build.json").read_text())
        assert info["task"] == "rhythm" and info["complete"] and info["max_strips_per_record"] == 2
        # resume: nothing rewritten; a lost image is written again
        (out / on_disk.file[0]).unlink()
        again = build_rhythm_dataset(embedded_dir, out, records=["100", "201", "202"],
                                     max_strips_per_record=2, image_size=48, progress=False)
        assert again.attrs["report"]["written"] == 1
        assert (out / on_disk.file[0]).is_file()
        with pytest.raises(ValueError, match="other options.*image_size"):
            build_rhythm_dataset(embedded_dir, out, records=["100", "201", "202"],
                                 max_strips_per_record=2, image_size=64, progress=False)

    def test_refuses_a_folder_that_is_not_a_dataset(self, embedded_dir, tmp_path):
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "notes.txt").write_text("mine")
        with pytest.raises(ValueError, match="not an ecgkit dataset"):
            build_rhythm_dataset(embedded_dir, tmp_path / "busy", records=["100"],
                                 progress=False)

    def test_a_folder_without_rhythm_annotations_is_refused(self, synthetic_record, tmp_path):
        d = synthetic_record("s01")  # beats only, no rhythm annotation
        with pytest.raises(RecordError, match=r"no 10-s strips.*s01"):
            build_rhythm_dataset(d, tmp_path / "none", progress=False)
        assert not (tmp_path / "none").exists()

    def test_cli(self, embedded_dir, tmp_path, capsys):
        out = tmp_path / "cli"
        rc = main(["build-dataset", str(embedded_dir), str(out), "--task", "rhythm",
                   "--records", "203,100", "--max-strips-per-record", "2", "--image-size", "32"])
        assert rc == 0
        labels = pd.read_csv(out / "labels.csv", dtype={"record": str})
        assert sorted(set(labels.record)) == ["100", "203"] and len(labels) == 4
        printed = capsys.readouterr().out
        assert "NSR" in printed and "patients" in printed
        # beat-task options are refused with the rhythm task, and the other way round
        assert main(["build-dataset", str(embedded_dir), str(tmp_path / "x"), "--task",
                     "rhythm", "--max-beats-per-record", "3"]) == 1
        assert main(["build-dataset", str(embedded_dir), str(tmp_path / "y"),
                     "--max-strips-per-record", "3"]) == 1
        err = capsys.readouterr().err
        assert "--max-beats-per-record" in err and "--max-strips-per-record" in err
        assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


class TestBaseline:
    def test_rr_features(self, embedded_dir):
        t = strip_table(embedded_dir, ["100", "203"], max_strips_per_record=10)
        f = strip_rr_features(t, embedded_dir)
        assert f.shape == (len(t), 4) and np.isfinite(f).all()
        cv = pd.Series(f[:, 0]).groupby(t.label.to_numpy()).median()
        assert cv["AF"] > 2 * cv["NSR"]  # AF is irregular

    def test_baseline_separates_af_from_nsr_across_patients(self, embedded_dir):
        from sklearn.metrics import balanced_accuracy_score, roc_auc_score

        # trained on one AF patient (203), tested on three others: chance is 0.5
        train = strip_table(embedded_dir, ["203", "100", "101", "103", "230"],
                            max_strips_per_record=20)
        test = strip_table(embedded_dir, ["210", "221", "219", "105", "112", "117"],
                           max_strips_per_record=20)
        p = rr_irregularity_baseline(train, test, embedded_dir)
        assert p.shape == (len(test), len(RHYTHM_CLASSES))
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
        two = test.label.isin(["NSR", "AF"]).to_numpy()
        is_af, p_af = test.label[two] == "AF", p[two, RHYTHM_CLASSES.index("AF")]
        assert roc_auc_score(is_af, p_af) > 0.75
        assert balanced_accuracy_score(is_af, p_af > 0.5) > 0.7
        with pytest.raises(ValueError, match="outside classes"):
            rr_irregularity_baseline(train, test, embedded_dir, classes=("NSR", "AF"))
