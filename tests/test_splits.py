"""Splits by patient: the default inter-patient protocol, the validation carve, the leaky foil."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from ecgkit.contract import CLASSES, DS1, DS2, MITDB_RECORDS
from ecgkit.data.records import RecordError, list_records
from ecgkit.data.splits import (
    MIN_VAL_BEATS,
    RECORD_CLASS_COUNTS,
    VAL_CLASSES,
    SplitError,
    assign_records,
    exclusion_reasons,
    inter_patient_split,
    leaky_beat_split,
    patient_overlap,
    plan_split,
    validation_coverage,
)


def _classes(records):
    total = sum(np.asarray(RECORD_CLASS_COUNTS[r]) for r in records)
    return {c for c, n in zip(CLASSES, total) if n > 0}


def _beats(records):
    return int(sum(sum(RECORD_CLASS_COUNTS[r]) for r in records))


class TestInterPatient:
    # RECORD_CLASS_COUNTS is checked against the shipped .atr files in test_records.py
    # (TestListAndTable.test_reproduces_published_counts).

    def test_embedded_folder_gives_the_full_protocol(self, embedded_dir):
        assert inter_patient_split(list_records(embedded_dir)) == inter_patient_split(MITDB_RECORDS)

    def test_no_patient_on_two_sides(self, embedded_dir):
        names = list_records(embedded_dir)
        split = inter_patient_split(names)
        for a, b in itertools.combinations(split.values(), 2):
            assert patient_overlap(a, b) == set()
        assert sorted(sum(split.values(), [])) == sorted(set(names) - {"201"})

    def test_full_protocol(self):
        split = inter_patient_split(MITDB_RECORDS)
        train = set(split["train"]) | set(split["val"])
        assert train == (set(DS1) - {"201"}) | {"102", "107"}
        assert set(split["test"]) == set(DS2) | {"104", "217"}
        share = _beats(split["val"]) / _beats(train)
        assert 0.12 < share < 0.3
        assert _classes(split["val"]) >= set(VAL_CLASSES)
        assert _classes(split["train"]) == set(CLASSES)

    @pytest.mark.parametrize("strict", [False, True])
    @pytest.mark.parametrize("seed", [0, 1, 7, 42, 2024])
    def test_validation_has_enough_of_every_class_on_both_sides(self, strict, seed):
        # The checkpoint metric is a macro-F1 over N, S, V, F: each needs real support in
        # validation (the old carve gave F 1 beat), and training must keep most of each.
        split = inter_patient_split(MITDB_RECORDS, seed=seed, strict=strict)
        cov = validation_coverage(split)
        for c in VAL_CLASSES:
            assert cov["val"][c] >= MIN_VAL_BEATS, (c, split["val"], cov)
            assert cov["train"][c] >= cov["val"][c], (c, split["val"], cov)
        train_side = set(split["train"]) | set(split["val"])
        share = _beats(split["val"]) / _beats(train_side)
        assert 0.1 < share < 0.35

    def test_strict_protocol_leaves_the_paced_records_out(self):
        split = inter_patient_split(MITDB_RECORDS, strict=True)
        assert set(split["train"]) | set(split["val"]) == set(DS1) - {"201"}
        assert set(split["test"]) == set(DS2)
        reasons = exclusion_reasons(MITDB_RECORDS, "inter-patient-strict")
        assert set(reasons) == {"102", "104", "107", "201", "217"}
        assert "paced" in reasons["107"] and "202" in reasons["201"]
        assert set(exclusion_reasons(MITDB_RECORDS, "inter-patient")) == {"201"}

    def test_assign_records_is_the_one_plan(self):
        assert assign_records(["100", "118"], "none") == {"all": ["100", "118"]}
        assert assign_records(MITDB_RECORDS, "beat-random-LEAKS-PATIENTS") == {}
        assert assign_records(MITDB_RECORDS, "inter-patient-strict") == inter_patient_split(
            sorted(set(MITDB_RECORDS) - {"102", "104", "107", "201", "217"}), strict=True)
        with pytest.raises(SplitError, match="unknown split 'by-beat'"):
            assign_records(MITDB_RECORDS, "by-beat")

    def test_deterministic_for_a_seed(self):
        a = inter_patient_split(MITDB_RECORDS, seed=3)
        assert a == inter_patient_split(list(reversed(MITDB_RECORDS)), seed=3)
        assert all(isinstance(r, str) for r in a["val"])

    def test_no_class_is_one_patients_result(self):
        """S and F in validation come from two patients each (223 alone held 73 of 76 S)."""
        from ecgkit.data.splits import MIN_PATIENT_BEATS, RECORD_CLASS_COUNTS

        for strict in (False, True):
            split = inter_patient_split(MITDB_RECORDS, strict=strict)
            for k, c in enumerate(("N", "S", "V", "F")):
                givers = [r for r in split["val"] if RECORD_CLASS_COUNTS[r][k] >= MIN_PATIENT_BEATS]
                assert len(givers) >= 2, (c, split["val"])

    def test_no_validation(self):
        assert inter_patient_split(MITDB_RECORDS, val_fraction=0)["val"] == []

    def test_unknown_names_listed(self):
        with pytest.raises(SplitError, match="unknown MIT-BIH record name.*999, abc"):
            inter_patient_split(["100", "999", "abc"])

    def test_overlap_helper_sees_201_and_202(self):
        assert patient_overlap(["201", "100"], ["202"]) == {"201"}


class TestSplitPlan:
    def test_load_beats_and_build_dataset_follow_one_plan(self, copy_records, tmp_path):
        from ecgkit.data.datasets import load_beats
        from ecgkit.data.export import build_dataset

        d = copy_records("100", "101", "106", "118", "201", "202", "232")
        hea = d / "100.hea"
        hea.write_bytes(hea.read_bytes().replace(b"MLII", b"V2"))  # 100 lacks the lead
        plan = plan_split(d)
        assert plan.records == ["101", "106", "118", "202", "232"]
        assert list(plan.skipped) == ["100"] and "no MLII" in plan.skipped["100"]
        assert list(plan.excluded) == ["201"] and "202" in plan.excluded["201"]
        assert plan.sides["test"] == ["202", "232"] and plan.side_of("232") == "test"

        beats = load_beats(d, max_beats_per_record=2, progress=False)
        m = build_dataset(d, tmp_path / "ds", max_beats_per_record=2, image_size=32, workers=1,
                          progress=False)
        for report in (beats.report, m.attrs["report"]):
            assert report["skipped_records"] == plan.skipped
            assert report["excluded_records"] == plan.excluded
        assert beats.report["splits"] == plan.sides
        built = json.loads((tmp_path / "ds" / "build.json").read_text())["records"]
        assert built == {r: plan.side_of(r) for r in plan.records}
        cols = ["record", "sample", "split"]
        assert (beats.meta[cols].sort_values(cols).values.tolist()
                == m[cols].sort_values(cols).values.tolist())  # the same beats on the same sides

    def test_nothing_left_to_read_names_every_reason(self, copy_records):
        d = copy_records("100", "201")
        hea = d / "100.hea"
        hea.write_bytes(hea.read_bytes().replace(b"MLII", b"V2"))
        with pytest.raises(RecordError, match=r"no records to read \(of 100, 201: skipped record "
                                              r"100 .*; record 201 left out: its patient"):
            plan_split(d)


class TestLeakyBeatSplit:
    def test_fractions_and_strata(self):
        labels = np.repeat([0, 1, 2], [1000, 100, 10])
        where = leaky_beat_split(labels, val_fraction=0.2, test_fraction=0.3, seed=0)
        assert where.shape == labels.shape
        for c, n in [(0, 1000), (1, 100)]:
            got = {s: int((where[labels == c] == s).sum()) for s in ("train", "val", "test")}
            assert got == {"train": n // 2, "val": n // 5, "test": 3 * n // 10}
        assert (leaky_beat_split(labels, seed=0) == leaky_beat_split(labels, seed=0)).all()

    def test_bad_fractions(self):
        with pytest.raises(SplitError):
            leaky_beat_split([0, 1], val_fraction=0.6, test_fraction=0.5)
