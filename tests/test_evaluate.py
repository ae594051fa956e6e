"""Tests for ecgkit.evaluation.scoring and ecgkit.evaluation.evaluate: per-class metrics, absent
classes, curves, calibration, bootstrap."""

import json
import warnings

import numpy as np
import pytest

from ecgkit.contract import CLASSES
from ecgkit.evaluation.evaluate import write_report
from ecgkit.evaluation.literature import LITERATURE, literature_table
from ecgkit.evaluation.scoring import (
    bootstrap_ci,
    calibration_bins,
    class_coverage,
    confusion_matrix,
    evaluate_predictions,
    format_summary,
    paired_bootstrap,
    per_class_metrics,
    restrict,
)


def _probs(pred, k=5, conf=0.8):
    p = np.full((len(pred), k), (1 - conf) / (k - 1))
    p[np.arange(len(pred)), pred] = conf
    return p


class TestPerClassMetrics:
    def test_hand_computed_values(self):
        # true: N N N S S V ; pred: N N S S N V
        y = np.array([0, 0, 0, 1, 1, 2])
        pred = np.array([0, 0, 1, 1, 0, 2])
        r = evaluate_predictions(y, _probs(pred), n_boot=0)
        pc = r.per_class
        assert pc.loc["N", "sensitivity"] == pytest.approx(2 / 3)
        assert pc.loc["N", "ppv"] == pytest.approx(2 / 3)
        assert pc.loc["S", "sensitivity"] == pytest.approx(1 / 2)
        assert pc.loc["S", "specificity"] == pytest.approx(3 / 4)
        assert pc.loc["V", "f1"] == pytest.approx(1.0)
        assert r.accuracy == pytest.approx(4 / 6)
        assert r.confusion.tolist()[0] == [2, 1, 0, 0, 0]
        np.testing.assert_allclose(r.confusion_normalized[1, :2], [0.5, 0.5])

    def test_matches_sklearn(self):
        from sklearn.metrics import f1_score, precision_score, recall_score

        rng = np.random.default_rng(0)
        y = rng.integers(0, 5, 300)
        p = rng.dirichlet(np.ones(5), 300)
        r = evaluate_predictions(y, p, n_boot=0)
        pred = p.argmax(1)
        np.testing.assert_allclose(r.per_class["sensitivity"], recall_score(y, pred, average=None))
        np.testing.assert_allclose(r.per_class["ppv"], precision_score(y, pred, average=None))
        assert r.macro["f1"] == pytest.approx(f1_score(y, pred, average="macro"))
        assert r.weighted["f1"] == pytest.approx(f1_score(y, pred, average="weighted"))

    def test_absent_classes_are_nan_and_flagged_without_warnings(self):
        y = np.array([0, 0, 1, 2, 2])  # F and Q absent
        pred = np.array([0, 4, 1, 2, 0])  # Q predicted once although absent
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = evaluate_predictions(y, _probs(pred), n_boot=20, patients=list("aabbc"))
        assert r.absent_classes == ["F", "Q"]
        for c in ("F", "Q"):
            assert np.isnan(r.per_class.loc[c, "sensitivity"])
            assert np.isnan(r.per_class.loc[c, "f1"])
            assert np.isnan(r.per_class.loc[c, "roc_auc"])
        assert np.isnan(r.per_class.loc["F", "ppv"])  # never predicted
        assert r.per_class.loc["Q", "ppv"] == 0.0  # predicted, always wrong: a real zero
        # macro averages run over the present classes only
        assert r.macro["sensitivity"] == pytest.approx(np.mean([0.5, 1.0, 0.5]))
        d = r.to_dict()
        json.dumps(d)  # JSON-safe
        assert d["per_class"]["F"]["sensitivity"] is None
        assert d["per_class"]["F"]["absent"] is True

    def test_bad_inputs_raise(self):
        with pytest.raises(ValueError, match="shape"):
            evaluate_predictions([0, 1], np.ones((2, 3)) / 3)
        with pytest.raises(ValueError, match="length"):
            evaluate_predictions([0, 1, 2], _probs([0, 1]))
        with pytest.raises(ValueError, match="0..4"):
            evaluate_predictions([0, 7], _probs([0, 1]))

    def test_one_hot_labels_accepted(self):
        y = np.eye(5)[[0, 1, 2]]
        r = evaluate_predictions(y, _probs([0, 1, 2]), n_boot=0)
        assert r.accuracy == 1.0

    def test_per_class_metrics_from_confusion(self):
        cm = np.array([[5, 0], [0, 0]])
        m = per_class_metrics(cm)
        assert m["sensitivity"][0] == 1.0 and np.isnan(m["sensitivity"][1])

    def test_table_support_of_average_rows_is_the_total(self):
        y = np.array([0, 0, 0, 1, 1, 2])
        t = evaluate_predictions(y, _probs(y), n_boot=0).table()
        assert t.loc["macro avg", "support"] == 6 and t.loc["weighted avg", "support"] == 6
        assert t.loc["weighted avg", "beats"] == 6
        w = evaluate_predictions(y, _probs(y), weights=[1, 1, 1, 2, 2, 0.5], n_boot=0).table()
        assert w.loc["weighted avg", "support"] == pytest.approx(7.5)
        assert w.loc["weighted avg", "beats"] == 6


class TestCurvesAndCalibration:
    def test_perfect_scores_give_auc_one(self):
        y = np.array([0, 0, 1, 1, 2, 2, 3, 4])
        r = evaluate_predictions(y, _probs(y, conf=0.9), n_boot=0)
        assert set(r.roc) == set(CLASSES)
        np.testing.assert_allclose(r.per_class["roc_auc"], 1.0)
        np.testing.assert_allclose(r.per_class["pr_auc"], 1.0)

    def test_ece_of_overconfident_model(self):
        y = np.array([0, 1] * 50)
        p = _probs(np.zeros(100, int), conf=0.9)  # always N at 0.9 while half are wrong
        ece, rel = calibration_bins(y, p, n_bins=10)
        assert ece == pytest.approx(0.4)
        assert rel["count"].sum() == 100
        assert len(rel) == 10

    def test_ece_zero_when_calibrated(self):
        y = np.array([0] * 8 + [1] * 2)
        p = _probs(np.zeros(10, int), conf=0.8)
        assert calibration_bins(y, p)[0] == pytest.approx(0.0)


class TestBootstrap:
    def test_patient_bootstrap_interval_contains_estimate(self):
        rng = np.random.default_rng(1)
        y = rng.integers(0, 3, 400)
        pred = np.where(rng.random(400) < 0.8, y, rng.integers(0, 3, 400))
        patients = np.repeat(np.arange(8), 50)
        r = evaluate_predictions(y, _probs(pred), patients=patients, n_boot=100, seed=3)
        assert r.ci_unit == "patient"
        acc = r.ci.set_index("metric").loc["accuracy"]
        assert acc["lo"] <= acc["estimate"] <= acc["hi"]
        assert acc["hi"] - acc["lo"] > 0

    def test_single_patient_gives_zero_width(self):
        y = np.array([0, 1, 0, 1])
        ci = bootstrap_ci(y, np.array([0, 0, 0, 1]), np.array(["p"] * 4), 5, CLASSES, n_boot=20)
        row = ci.set_index("metric").loc["accuracy"]
        assert row["lo"] == row["hi"] == pytest.approx(0.75)

    def test_seeded(self):
        y = np.array([0, 1, 2] * 20)
        p = _probs(np.array([0, 1, 1] * 20))
        pats = np.repeat(np.arange(6), 10)
        a = evaluate_predictions(y, p, patients=pats, n_boot=30, seed=5).ci
        b = evaluate_predictions(y, p, patients=pats, n_boot=30, seed=5).ci
        assert a.equals(b)


class TestPairedBootstrap:
    """The macro-F1 difference of two models, patients resampled once for both."""

    @staticmethod
    def _case(n_patients=10, beats=40, seed=0):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 4, n_patients * beats)  # N, S, V, F
        patients = np.repeat([f"p{i}" for i in range(n_patients)], beats)
        return rng, y, patients

    def test_clearly_better_model_gives_an_interval_above_zero(self):
        rng, y, patients = self._case()
        good = np.where(rng.random(len(y)) < 0.95, y, rng.integers(0, 4, len(y)))
        poor = np.where(rng.random(len(y)) < 0.5, y, rng.integers(0, 4, len(y)))
        r = paired_bootstrap(y, _probs(good), _probs(poor), patients, n_boot=300, seed=1)
        assert r["difference"] == pytest.approx(r["a"] - r["b"])
        assert r["difference"] > 0.3
        assert 0 < r["lo"] <= r["difference"] <= r["hi"]
        assert r["share_above_zero"] == 1.0 and r["share_below_zero"] == 0.0
        swapped = paired_bootstrap(y, _probs(poor), _probs(good), patients, n_boot=300, seed=1)
        assert swapped["difference"] == -r["difference"] and swapped["hi"] < 0
        assert r["n_patients"] == 10 and r["n_beats"] == len(y) and len(r["samples"]) == 300

    def test_identical_predictions_give_exactly_zero(self):
        rng, y, patients = self._case()
        p = rng.dirichlet(np.ones(5), len(y))
        r = paired_bootstrap(y, p, p.copy(), patients, weights=rng.random(len(y)) + 0.5,
                             n_boot=200)
        assert r["difference"] == 0.0 and r["lo"] == 0.0 and r["hi"] == 0.0
        assert r["share_above_zero"] == 0.0 and r["share_below_zero"] == 0.0
        assert not np.any(r["samples"])

    def test_patients_not_beats_are_resampled(self):
        # A is perfect everywhere; B errs only on patient p0's beats. Resampling patients, the
        # difference is exactly 0 whenever p0 is not drawn: (1 - 1/5)^5 = 33 % of resamples.
        # Resampling single beats it would almost never be 0 (p0 has 100 of them).
        rng, y, patients = self._case(n_patients=5, beats=100)
        wrong = np.where(patients == "p0", (y + 1) % 4, y)
        r = paired_bootstrap(y, _probs(y), _probs(wrong), patients, n_boot=4000, seed=2)
        never_p0 = (1 - 1 / 5) ** 5
        assert np.mean(r["samples"] == 0.0) == pytest.approx(never_p0, abs=0.03)
        assert r["share_above_zero"] == pytest.approx(1 - never_p0, abs=0.03)
        assert r["lo"] == 0.0 and r["hi"] > 0

    def test_estimates_match_evaluate_predictions_with_class_set_and_weights(self):
        rng, y5, patients = self._case(n_patients=6, beats=50, seed=3)
        y5 = np.where(rng.random(len(y5)) < 0.1, 4, y5)  # some Q beats: outside N/S/V/F
        pa, pb = rng.dirichlet(np.ones(5), len(y5)), rng.dirichlet(np.ones(5), len(y5))
        w = rng.integers(1, 5, len(y5)).astype(float)
        r = paired_bootstrap(y5, pa, pb, patients, weights=w, n_boot=50, seed=4)
        for key, p in (("a", pa), ("b", pb)):
            ref = evaluate_predictions(y5, p, weights=w, class_set=("N", "S", "V", "F"), n_boot=0)
            assert r[key] == pytest.approx(ref.macro["f1"], abs=1e-12)
        assert r["n_beats"] == int((y5 != 4).sum()) and r["n_weighted"] == w[y5 != 4].sum()
        assert r["class_set"] == ["N", "S", "V", "F"]
        again = paired_bootstrap(y5, pa, pb, patients, weights=w, n_boot=50, seed=4)
        np.testing.assert_array_equal(r["samples"], again["samples"])  # seeded

    @pytest.mark.parametrize("kwargs, match", [
        ({"patients": ["a"]}, "one patient per beat"),
        ({"prob_b": np.ones((4, 3)) / 3}, "prob_b must have shape"),
        ({"class_set": ("N", "X")}, "class_set"),
        ({"n_boot": 0}, "n_boot"),
        ({"class_set": ("F",)}, "no beat"),
    ])
    def test_bad_inputs_raise(self, kwargs, match):
        args = {"y_true": [0, 1, 2, 0], "prob_a": _probs([0, 1, 2, 0]),
                "prob_b": _probs([0, 0, 0, 0]), "patients": list("aabb"), **kwargs}
        with pytest.raises(ValueError, match=match):
            paired_bootstrap(**args)


class TestClassCoverage:
    def test_present_predicted_and_never(self):
        y = np.array([0, 1, 2, 3, 4, 0])
        pred = np.array([0, 0, 2, 4, 4, 0])  # S and F never predicted; the F beat goes to Q
        c = class_coverage(y, _probs(pred))
        assert c == {"present": list("NSVFQ"), "predicted": ["N", "V", "Q"],
                     "never_predicted": ["S", "F"]}
        # over N/S/V/F, the Q column is gone: the F beat's argmax falls back within the set
        c4 = class_coverage(y, _probs(pred), class_set=("N", "S", "V", "F"))
        assert c4["present"] == list("NSVF") and "Q" not in c4["predicted"]


class TestRestrict:
    def test_drops_other_classes_and_renormalises(self):
        y = np.array([0, 1, 2, 3, 4, 1])
        p = np.array([[0.6, 0.1, 0.1, 0.1, 0.1],
                      [0.2, 0.1, 0.1, 0.5, 0.1],   # F wins overall, N wins within N/S/V
                      [0.1, 0.1, 0.2, 0.3, 0.3],
                      [0.1, 0.1, 0.1, 0.6, 0.1],
                      [0.1, 0.1, 0.1, 0.1, 0.6],
                      [0.0, 0.0, 0.0, 0.0, 1.0]])  # nothing on the set: uniform row
        yt, pt, keep = restrict(y, p, ("V", "N", "S"))
        assert keep.tolist() == [True, True, True, False, False, True]
        assert yt.tolist() == [0, 1, 2, 1]  # indices into (N, S, V), contract order
        np.testing.assert_allclose(pt.sum(axis=1), 1.0)
        np.testing.assert_allclose(pt[1], [0.5, 0.25, 0.25])
        np.testing.assert_allclose(pt[3], [1 / 3] * 3)
        assert pt.argmax(axis=1).tolist()[:3] == [0, 0, 2]

    def test_class_set_argument(self):
        y = np.array([0, 1, 2, 3, 3])
        pred = np.array([0, 3, 2, 3, 1])  # the S beat predicted F
        patients = list("abcde")
        r = evaluate_predictions(y, _probs(pred, conf=0.6), class_set=("N", "S", "V"),
                                 patients=patients, records=["100"] * 5, weights=[1, 2, 3, 4, 5],
                                 n_boot=5)
        assert r.classes == ("N", "S", "V") and r.confusion.shape == (3, 3)
        assert r.n_beats == 3 and r.n_weighted == 6.0
        assert r.patients.tolist() == ["a", "b", "c"] and r.weights.tolist() == [1, 2, 3]
        assert r.per_class.loc["S", "sensitivity"] == 0.0  # F is no longer an option
        assert r.accuracy == pytest.approx(4 / 6)

    def test_headline_is_n_s_v_f_with_q_dropped(self):
        from ecgkit.evaluation.scoring import headline

        y = np.array([0, 1, 2, 3, 4, 4])
        pred = np.array([0, 1, 2, 4, 4, 0])  # the F beat predicted Q
        full = evaluate_predictions(y, _probs(pred, conf=0.6), patients=list("abcdef"),
                                    weights=[1, 2, 3, 4, 5, 6], n_boot=0)
        top = headline(full)
        assert top.classes == ("N", "S", "V", "F") and top.n_beats == 4
        same = evaluate_predictions(y, _probs(pred, conf=0.6), patients=list("abcdef"),
                                    weights=[1, 2, 3, 4, 5, 6], n_boot=0,
                                    class_set=("N", "S", "V", "F"))
        assert top.macro["f1"] == same.macro["f1"] != full.macro["f1"]
        assert headline(top) is None  # only from a five-class report

    @pytest.mark.parametrize("class_set", [(), ("N", "X"), ("N", "N")])
    def test_bad_class_set(self, class_set):
        with pytest.raises(ValueError, match="class_set"):
            restrict([0], _probs([0]), class_set)


class TestWeights:
    def test_weighted_counts_and_metrics(self):
        y = np.array([0, 0, 1, 1])
        pred = np.array([0, 1, 1, 0])
        w = np.array([3.0, 1.0, 2.0, 2.0])
        cm = confusion_matrix(y, pred, 5, w)
        assert cm.dtype == np.float64 and cm[0, :2].tolist() == [3.0, 1.0]
        r = evaluate_predictions(y, _probs(pred), weights=w, patients=list("aabb"), n_boot=20)
        assert r.per_class.loc["N", "sensitivity"] == pytest.approx(0.75)
        assert r.per_class.loc["N", "ppv"] == pytest.approx(0.6)
        assert r.accuracy == pytest.approx(5 / 8)
        assert r.n_beats == 4 and r.n_weighted == 8.0
        assert r.per_class.loc["N", "support"] == 4.0 and r.per_class.loc["N", "beats"] == 2
        est = r.ci.set_index("metric").loc["accuracy", "estimate"]
        assert est == pytest.approx(5 / 8)  # the bootstrap's estimate is weighted too
        d = r.to_dict()
        assert d["n"] == 4 and d["n_weighted"] == 8.0
        json.dumps(d)
        assert "weighted 8" in format_summary(r)

    def test_unit_weights_change_nothing(self):
        rng = np.random.default_rng(4)
        y = rng.integers(0, 5, 200)
        p = rng.dirichlet(np.ones(5), 200)
        pats = np.repeat(np.arange(10), 20)
        a = evaluate_predictions(y, p, patients=pats, n_boot=30, seed=1)
        b = evaluate_predictions(y, p, patients=pats, n_boot=30, seed=1, weights=np.ones(200))
        np.testing.assert_array_equal(a.confusion, b.confusion)
        pd_cols = ["sensitivity", "ppv", "specificity", "f1", "roc_auc", "pr_auc"]
        np.testing.assert_allclose(a.per_class[pd_cols], b.per_class[pd_cols])
        np.testing.assert_allclose(a.ci[["lo", "hi"]], b.ci[["lo", "hi"]])
        assert a.ece == pytest.approx(b.ece)

    def test_curves_and_calibration_use_weights_like_repeated_beats(self):
        rng = np.random.default_rng(5)
        y = rng.integers(0, 3, 60)
        p = rng.dirichlet(np.ones(5), 60)
        w = rng.integers(1, 4, 60)
        rep = np.repeat(np.arange(60), w)
        a = evaluate_predictions(y, p, weights=w, n_boot=0)
        b = evaluate_predictions(y[rep], p[rep], n_boot=0)
        np.testing.assert_allclose(a.confusion, b.confusion)
        np.testing.assert_allclose(a.per_class["roc_auc"], b.per_class["roc_auc"])
        np.testing.assert_allclose(a.per_class["pr_auc"], b.per_class["pr_auc"])
        assert a.ece == pytest.approx(b.ece)

    def test_constant_prediction_per_stratum_gives_the_full_matrix_exactly(self):
        from ecgkit.data.datasets import cap_weights, select_beats

        rng = np.random.default_rng(0)
        full_y, full_pred, cap_y, cap_pred, cap_w = [], [], [], [], []
        for r in range(6):
            labels = rng.choice(5, size=300, p=[0.7, 0.1, 0.1, 0.05, 0.05])
            stratum_pred = rng.integers(0, 5, size=5)  # one prediction per (record, class)
            idx, _ = select_beats(f"r{r}", labels, "none", "all", 7, 0.2, seed=3)
            full_y.append(labels)
            full_pred.append(stratum_pred[labels])
            cap_y.append(labels[idx])
            cap_pred.append(stratum_pred[labels[idx]])
            cap_w.append(cap_weights(labels, idx))
        full = confusion_matrix(np.concatenate(full_y), np.concatenate(full_pred), 5)
        est = confusion_matrix(np.concatenate(cap_y), np.concatenate(cap_pred), 5,
                               np.concatenate(cap_w))
        assert sum(map(len, cap_y)) < full.sum() / 5  # the cap really kept few beats
        np.testing.assert_allclose(est, full)

    @pytest.mark.parametrize("weights, match", [
        ([1.0, 2.0], "one weight per beat"),
        ([1.0, -1.0, 1.0], "finite and >= 0"),
        ([1.0, np.nan, 1.0], "finite and >= 0"),
    ])
    def test_bad_weights(self, weights, match):
        with pytest.raises(ValueError, match=match):
            evaluate_predictions([0, 1, 2], _probs([0, 1, 2]), weights=weights)


class TestWeightsOnRealBeats:
    """A capped sample with weights estimates the metrics on every test beat."""

    @staticmethod
    def _rr_rule(meta):
        # a deterministic predictor: premature beats (pre_rr < 0.8 avg_rr) are S, others N
        premature = (meta["pre_rr"] / meta["avg_rr"]).to_numpy() < 0.8
        return _probs(np.where(premature, 1, 0), conf=1.0)

    def test_weighted_estimate_is_close_to_the_full_value(self):
        from ecgkit.data.datasets import load_beats

        full = load_beats(progress=False).subset("test")
        capped = load_beats(progress=False, max_beats_per_record=50).subset("test")
        assert len(capped) < len(full) / 4
        truth = evaluate_predictions(full.labels, self._rr_rule(full.meta), n_boot=0)
        est = evaluate_predictions(capped.labels, self._rr_rule(capped.meta), n_boot=0,
                                   weights=capped.meta["weight"])
        naive = evaluate_predictions(capped.labels, self._rr_rule(capped.meta), n_boot=0)
        assert est.n_weighted == pytest.approx(len(full))
        assert est.accuracy == pytest.approx(truth.accuracy, abs=0.03)
        for c in ("N", "S"):
            for m in ("sensitivity", "ppv"):
                assert est.per_class.loc[c, m] == pytest.approx(truth.per_class.loc[c, m],
                                                                abs=0.05), (c, m)
        # unweighted, the capped sample over-represents the rare classes
        assert abs(naive.accuracy - truth.accuracy) > 0.1
        assert abs(naive.per_class.loc["N", "ppv"] - truth.per_class.loc["N", "ppv"]) > 0.1


@pytest.fixture(scope="module")
def beats():
    from ecgkit.data.datasets import load_beats

    return load_beats(records=["100"], split="none", max_beats_per_record=2, progress=False)


class TestRecordedGrid:
    """GRID is saved with the model (in its preprocessing layer) and evaluation reads it back."""

    @staticmethod
    def _model():
        import keras

        from ecgkit.model.backbone import CaffePreprocessing

        keras.utils.set_random_seed(0)
        inp = keras.Input((32, 32, 3))
        x = CaffePreprocessing(name="preprocessing")(inp)
        x = keras.layers.Conv2D(2, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inp, keras.layers.Dense(5, activation="softmax")(x))

    def test_saved_with_the_model_and_used_by_evaluation(self, beats, tmp_path):
        from ecgkit.evaluation.evaluate import predict_beats
        from ecgkit.model.backbone import record_grid, recorded_grid

        model = self._model()
        assert record_grid(model, False)
        model.save(tmp_path / "m.keras")
        loaded = keras_load(tmp_path / "m.keras")
        assert recorded_grid(loaded) is False
        _, as_trained = predict_beats(loaded, beats)
        _, without = predict_beats(loaded, beats, grid=False)
        with pytest.warns(UserWarning, match="trained on images without the ECG-paper grid"):
            _, with_grid = predict_beats(loaded, beats, grid=True)
        np.testing.assert_array_equal(as_trained, without)
        assert not np.allclose(as_trained, with_grid)

    def test_unrecorded_means_with_the_grid(self, beats, model_path):
        from ecgkit.evaluation.evaluate import predict_beats
        from ecgkit.model.backbone import record_grid, recorded_grid

        model = self._model()
        assert recorded_grid(model) is None
        np.testing.assert_array_equal(predict_beats(model, beats)[1],
                                      predict_beats(model, beats, grid=True)[1])
        other = keras_load(model_path)  # no CaffePreprocessing layer: nothing to record
        assert not record_grid(other, False) and recorded_grid(other) is None


class TestLiteratureTable:
    def test_ds2_only_class_sets_and_notes(self):
        records = np.array(["100"] * 4 + ["217"] * 3 + ["107"] * 2 + ["200"])
        y = np.array([0, 1, 2, 0, 4, 4, 2, 0, 2, 3])
        pred = np.array([0, 1, 0, 0, 4, 4, 2, 0, 2, 2])
        r = evaluate_predictions(y, _probs(pred), records=records, n_boot=0)
        t = literature_table(r)
        ours = t[t["kind"] == "this run"].set_index("class_set")
        assert set(ours.index) == {"N/S/V", "N/S/V/F"}
        assert t.iloc[0]["kind"] == "this run"
        nsvf = ours.loc["N/S/V/F"]
        assert nsvf["n_beats"] == 5  # records 100 and 200 are in DS2, 217 and 107 are not
        assert nsvf["accuracy"] == pytest.approx(0.6)
        assert nsvf["V_Se"] == 0.0 and nsvf["S_Se"] == 1.0 and nsvf["F_Se"] == 0.0
        nsv = ours.loc["N/S/V"]
        assert nsv["n_beats"] == 4 and nsv["accuracy"] == pytest.approx(0.75)
        assert np.isnan(nsv["F_Se"])
        assert "beats outside N/S/V left out: F 1" in nsv["note"]
        assert "subset of DS2: 2 of 22" in nsv["note"]
        assert "paced records excluded: 217" in nsv["note"]
        assert "107" in nsv["note"] and "weighted" not in nsv["note"]
        lit = t[t["kind"] == "literature"]
        assert len(lit) == len(LITERATURE)
        assert lit["note"].str.startswith("literature figure").all()
        assert set(lit["class_set"]) == {"N/S/V", "N/S/V/F"}
        # every literature row sits under our row of its class set
        for i in lit.index:
            above = t.loc[:i]
            assert above[above["kind"] == "this run"].iloc[-1]["class_set"] == t.loc[i, "class_set"]
        mg = lit[lit["source"].str.startswith("Mondejar")].iloc[0]
        assert mg["accuracy"] == 0.945 and mg["class_set"] == "N/S/V/F"
        ll = lit[lit["source"].str.startswith("Llamedo")].iloc[0]
        assert (ll["S_Se"], ll["S_PP"], ll["V_Se"], ll["V_PP"]) == (0.77, 0.39, 0.81, 0.87)
        assert ll["class_set"] == "N/S/V"

    def test_weighted(self):
        records = ["100"] * 4
        r = evaluate_predictions([0, 0, 1, 1], _probs([0, 1, 1, 1]), records=records,
                                 weights=[3, 1, 1, 1], n_boot=0)
        ours = literature_table(r).iloc[0]
        assert ours["n_beats"] == 4 and ours["n_weighted"] == 6.0
        assert ours["N_Se"] == pytest.approx(0.75) and ours["S_PP"] == pytest.approx(2 / 3)
        assert "weighted" in ours["note"]

    def test_every_row_has_a_class_set_and_known_columns(self):
        from ecgkit.evaluation.literature import LITERATURE_COLUMNS

        for lit in LITERATURE:
            assert set(lit["class_set"]) <= set(CLASSES) and lit["reference"]
            figures = set(lit) - {"source", "reference", "class_set", "note"}
            assert figures <= set(LITERATURE_COLUMNS), lit["source"]
            for k in figures:
                c = k.split("_")[0]
                assert k == "accuracy" or c in lit["class_set"], (lit["source"], k)
                assert 0 < lit[k] <= 1

    def test_needs_records(self):
        r = evaluate_predictions([0], _probs([0]), n_boot=0)
        with pytest.raises(ValueError, match="records"):
            literature_table(r)

    def test_other_models_sit_under_ours_in_every_class_set(self):
        records = np.array(["100"] * 4 + ["200"] * 4)
        y = np.array([0, 1, 2, 3, 0, 1, 2, 0])
        r = evaluate_predictions(y, _probs(np.zeros(8, int)), records=records, n_boot=0)
        fused = evaluate_predictions(y, _probs(y), records=records, n_boot=0)
        t = literature_table(r, others={"network+RR": fused})
        kinds = t["kind"].tolist()
        for cs in ("N/S/V", "N/S/V/F"):
            rows = t[t["class_set"] == cs]
            assert rows["kind"].iloc[:2].tolist() == ["this run", "this run, network+RR"]
            assert (rows["kind"].iloc[2:] == "literature").all()
            assert rows.iloc[0]["accuracy"] < 1.0 and rows.iloc[1]["accuracy"] == 1.0
            assert rows.iloc[1]["source"] == "ecgkit network+RR (this run)"
        assert kinds.count("this run, network+RR") == 2
        no_records = evaluate_predictions(y, _probs(y), n_boot=0)
        with pytest.raises(ValueError, match=r"each beat \(x\)"):
            literature_table(r, others={"x": no_records})


class TestWriteReport:
    def test_files_written(self, tmp_path):
        y = np.array([0, 0, 1, 2, 3, 4, 0, 2])
        r = evaluate_predictions(y, _probs(y[::-1]), records=["100"] * 8,
                                 patients=["100"] * 4 + ["200"] * 4, n_boot=10)
        paths = write_report(r, tmp_path)
        for key in ("metrics", "per_class", "literature", "confusion", "roc_pr", "calibration"):
            assert paths[key].is_file() and paths[key].stat().st_size > 0
        data = json.loads(paths["metrics"].read_text())
        assert data["classes"] == list(CLASSES) and data["n"] == 8
        import pandas as pd

        table = pd.read_csv(paths["per_class"], index_col=0)
        assert table.loc["weighted avg", "support"] == 8  # not doubled

    def test_the_backend_is_left_alone(self, tmp_path):
        """Writing the figures does not switch matplotlib to Agg: in a notebook that turned
        every later figure into ``<Figure size ...>`` text (30, 31 and 40 of the reference run)."""
        import matplotlib

        before = matplotlib.get_backend()
        matplotlib.use("svg")
        try:
            y = np.array([0, 0, 1, 2, 3, 4, 0, 2])
            write_report(evaluate_predictions(y, _probs(y), n_boot=0), tmp_path)
            assert matplotlib.get_backend() == "svg"
            assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
        finally:
            matplotlib.use(before)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((64, 64, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(2, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax")(x)
    path = tmp_path_factory.mktemp("m") / "tiny.keras"
    keras.Model(inp, out).save(path)
    return path


class TestEvaluateCommand:
    def test_wfdb_folder(self, model_path, tmp_path, capsys):
        from ecgkit.cli import main

        rc = main(["evaluate", "--model", str(model_path), "--records", "100", "217",
                   "--max-beats-per-record", "2", "--bootstrap", "5", "--out", str(tmp_path),
                   "--quiet"])
        assert rc == 0
        data = json.loads((tmp_path / "metrics.json").read_text())
        assert data["n"] > 0 and data["ci_unit"] == "patient"
        assert data["n_weighted"] > 10 * data["n"]  # the capped beats carry their weights
        assert (tmp_path / "confusion.png").is_file()
        lit = (tmp_path / "literature.csv").read_text()
        assert "paced records excluded: 217" in lit and "Mondejar" in lit
        out = capsys.readouterr().out
        assert out.index("N/S/V/F (4 classes)") < out.index("With Q") < out.index("N/S/V/F/Q")
        assert data["headline"]["class_set"] == ["N", "S", "V", "F"]
        assert data["headline"]["classes"] == ["N", "S", "V", "F"]

    def test_image_folder(self, model_path, tmp_path):
        import cv2
        import pandas as pd

        from ecgkit.evaluation.evaluate import evaluate_image_folder

        rows = []
        for i, (label, rec) in enumerate([("N", "100"), ("V", "100"), ("S", "232")]):
            rel = f"test/{label}/{rec}_{i}.png"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / rel), np.full((64, 64, 3), 255, np.uint8))
            rows.append({"path": rel, "record": rec, "patient": rec, "sample": i,
                         "symbol": label, "label": label, "split": "test"})
        pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
        r = evaluate_image_folder(keras_load(model_path), tmp_path, "test", n_boot=0)
        assert len(r.y_true) == 3 and r.per_class.loc["V", "support"] == 1
        with pytest.raises(ValueError, match="no images"):
            evaluate_image_folder(keras_load(model_path), tmp_path, "train", n_boot=0)

    def test_bad_model_file(self, tmp_path, capsys):
        from ecgkit.cli import main

        bad = tmp_path / "m.keras"
        bad.write_bytes(b"not a zip")
        assert main(["evaluate", "--model", str(bad)]) == 2
        assert str(bad) in capsys.readouterr().err


def keras_load(path):
    from ecgkit.evaluation.predict import load_model

    return load_model(path)


@pytest.fixture
def image_folder(tmp_path):
    from ecgkit.data.export import build_dataset

    out = tmp_path / "ds"
    build_dataset(_embedded(), out, records=["100"], max_beats_per_record=2, workers=1,
                  progress=False, image_size=64)  # test split only: N2 S2 V1
    return out


def _embedded():
    from ecgkit.contract import EMBEDDED_DATA_DIR

    return EMBEDDED_DATA_DIR


class TestEvaluateBadInput:
    def test_faulty_wfdb_record_is_a_message(self, model_path, copy_records, tmp_path, capsys):
        from ecgkit.cli import main

        d = copy_records("100")
        dat = d / "100.dat"
        dat.unlink()
        rc = main(["evaluate", "--model", str(model_path), "--data", str(d), "--split", "all",
                   "--out", str(tmp_path / "r"), "--quiet"])
        assert rc == 1
        assert capsys.readouterr().err.startswith(f"error: {dat}: missing signal (.dat) file")

    def test_every_bad_image_is_named(self, model_path, image_folder, tmp_path, capsys, caplog):
        import pandas as pd

        from ecgkit.cli import main

        m = pd.read_csv(image_folder / "manifest.csv")
        corrupt, missing = image_folder / m.path[0], image_folder / m.path[3]
        corrupt.write_bytes(corrupt.read_bytes()[:50])
        missing.unlink()
        args = ["evaluate", "--model", str(model_path), "--data", str(image_folder),
                "--bootstrap", "0", "--out", str(tmp_path / "r"), "--quiet"]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "2 unreadable image(s)" in err and str(corrupt) in err and str(missing) in err
        assert "--bad-images skip" in err and "Traceback" not in err
        assert main([*args, "--bad-images", "skip"]) == 0
        assert "skipped 2 unreadable image(s)" in caplog.text
        assert json.loads((tmp_path / "r" / "metrics.json").read_text())["n"] == len(m) - 2

    def test_missing_split_is_a_message(self, model_path, image_folder, tmp_path, capsys):
        from ecgkit.cli import main

        rc = main(["evaluate", "--model", str(model_path), "--data", str(image_folder),
                   "--split", "val", "--out", str(tmp_path / "r"), "--quiet"])
        assert rc == 1
        err = capsys.readouterr().err
        assert f"error: {image_folder / 'manifest.csv'}: no images in split 'val'" in err
        assert "it has: test" in err


class TestEvaluateRecordOptions:
    def test_fallback_lead_where_the_message_points(self, model_path, copy_records, tmp_path,
                                                    caplog):
        from ecgkit.cli import main

        d = copy_records("100", "107")
        hea = d / "100.hea"
        hea.write_bytes(hea.read_bytes().replace(b"MLII", b"V2"))
        args = ["evaluate", "--model", str(model_path), "--data", str(d), "--split", "all",
                "--max-beats-per-record", "1", "--bootstrap", "0", "--quiet"]
        assert main([*args, "--out", str(tmp_path / "a")]) == 0
        assert "--fallback-lead V2" in caplog.text
        without = json.loads((tmp_path / "a" / "metrics.json").read_text())["n"]
        assert main([*args, "--fallback-lead", "V2", "--out", str(tmp_path / "b")]) == 0
        assert json.loads((tmp_path / "b" / "metrics.json").read_text())["n"] == without + 3

    def test_unknown_symbols_where_the_message_points(self, model_path, synthetic_record,
                                                      tmp_path, capsys):
        from ecgkit.cli import main

        d = synthetic_record("u1", symbols=["N"] * 10 + ["B"] + ["N"] * 8)
        args = ["evaluate", "--model", str(model_path), "--data", str(d), "--split", "all",
                "--bootstrap", "0", "--out", str(tmp_path / "r"), "--quiet"]
        assert main(args) == 1
        assert "--unknown-symbols skip" in capsys.readouterr().err
        assert main([*args, "--unknown-symbols", "skip"]) == 0


class TestSummaryLabelsClassSet:
    def test_headline_names_the_classes_it_is_over(self):
        y = np.array([0, 1, 2, 3, 4, 0])
        r = evaluate_predictions(y, _probs(y), n_boot=0)
        first = format_summary(r).splitlines()[0]
        assert first.startswith("N/S/V/F/Q (5 classes): accuracy")
