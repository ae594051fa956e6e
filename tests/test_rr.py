"""RR-interval features: exact values on synthetic beats, edge cases, and real MIT-BIH beats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgkit.contract import FS
from ecgkit.data.records import read_annotations
from ecgkit.data.rr import RR_COLUMNS, rr_feature_matrix, rr_features


class TestRRFeatures:
    def test_hand_computed_values(self):
        # beats at 0, 1, 3, 4 s -> intervals 1, 2, 1 s
        f = rr_features(np.array([0, 1, 3, 4]) * FS)
        np.testing.assert_allclose(f["pre_rr"], [1, 1, 2, 1])  # first beat: the next interval
        np.testing.assert_allclose(f["post_rr"], [1, 2, 1, 1])  # last beat: the previous one
        np.testing.assert_allclose(f["local_rr"], [1, 1, 4 / 3, 5 / 4])
        np.testing.assert_allclose(f["avg_rr"], 4 / 3)  # the whole record is within +/-5 min

    def test_local_window_is_ten_intervals(self):
        t = np.cumsum(np.r_[0, np.arange(1, 21)]) * FS  # interval j + 1 before beat j + 1
        f = rr_features(t, local_beats=10)
        assert f["local_rr"][-1] == pytest.approx(np.mean(np.arange(11, 21)))
        assert f["local_rr"][3] == pytest.approx(np.mean([1, 1, 2, 3]))

    def test_avg_window_is_plus_minus_five_minutes(self):
        # 1 s intervals for 20 minutes, then 0.5 s intervals for 20 minutes
        t = np.r_[np.arange(0, 1200, 1.0), 1200 + np.arange(0.5, 1200.5, 0.5)]
        f = rr_features(t * FS)
        first = int(np.searchsorted(t, 100))
        assert f["avg_rr"][first] == pytest.approx(1.0)  # far from the change
        assert f["avg_rr"][-1] == pytest.approx(0.5)
        at_change = int(np.searchsorted(t, 1200))
        assert 0.5 < f["avg_rr"][at_change] < 1.0  # both rhythms in the window

    def test_short_records(self):
        assert all(v.size == 0 for v in rr_features([]).values())
        one = rr_features([100])
        assert set(one) == set(RR_COLUMNS) and all(np.isnan(v).all() for v in one.values())
        two = rr_features([0, FS // 2])
        for k in RR_COLUMNS:
            np.testing.assert_allclose(two[k], [0.5, 0.5])

    @pytest.mark.parametrize("kwargs, match", [
        ({"samples": [[1, 2]]}, "1-D"),
        ({"samples": [3, 2, 5]}, r"strictly increasing.*samples\[0\]=3"),
        ({"samples": [1, 2], "fs": 0}, "fs=0"),
        ({"samples": [1, 2], "local_beats": 0}, "local_beats=0"),
        ({"samples": [1, 2], "avg_window_s": -1}, "avg_window_s=-1"),
    ])
    def test_bad_input(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            rr_features(**kwargs)


class TestFeatureMatrix:
    def test_ratios(self):
        meta = pd.DataFrame({"pre_rr": [0.5], "post_rr": [1.0], "local_rr": [0.8],
                             "avg_rr": [0.8]})
        x = rr_feature_matrix(meta)
        np.testing.assert_allclose(x, [[0.5, 1.0, 0.8, 0.8, 0.625, 1.25, 0.5]])
        assert rr_feature_matrix(meta, ratios=False).shape == (1, 4)

    def test_missing_or_bad_columns(self):
        with pytest.raises(ValueError, match="lacks the RR columns"):
            rr_feature_matrix(pd.DataFrame({"pre_rr": [1.0]}))
        meta = pd.DataFrame({k: [1.0, np.nan] for k in RR_COLUMNS})
        with pytest.raises(ValueError, match="1 beat.*row 1"):
            rr_feature_matrix(meta)


class TestOnRealBeats:
    def test_neighbours_outside_the_windows_still_count(self, small_beats, embedded_dir):
        """The first kept beat of a record gets the interval to the edge-skipped beat before
        it, and a capped beat's neighbours were mostly not kept: both from the annotations."""
        meta = small_beats.meta
        for record in ("100", "232"):
            if record not in set(meta["record"]):
                continue
            samples = read_annotations(embedded_dir, record)[0]
            rows = meta[meta["record"] == record]
            pos = np.searchsorted(samples, rows["sample"].to_numpy())
            assert (pos > 0).all()  # the record's very first beat is edge-skipped
            np.testing.assert_allclose(rows["pre_rr"], (samples[pos] - samples[pos - 1]) / FS)
            np.testing.assert_allclose(rows["post_rr"], (samples[pos + 1] - samples[pos]) / FS)

    def test_premature_beats_come_early(self, small_beats):
        meta = small_beats.meta
        ratio = (meta["pre_rr"] / meta["avg_rr"]).groupby(meta["label"]).median()
        assert ratio["S"] < 0.85 * ratio["N"] and ratio["V"] < 0.85 * ratio["N"]
        assert np.isfinite(meta[list(RR_COLUMNS)].to_numpy()).all()
