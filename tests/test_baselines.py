"""Baselines on real beats (inter-patient: fitted on training patients, scored on test patients)."""

from __future__ import annotations

import numpy as np
import pytest

from ecgkit.contract import BEFORE_SAMPLES, CLASSES, DS2, WINDOW_SAMPLES
from ecgkit.data.datasets import BeatSet
from ecgkit.evaluation.baselines import (
    BASELINES,
    always_n,
    comparison_table,
    morphology_features,
    nearest_neighbour,
    rr_logistic_regression,
    run_baselines,
)


def _subset(beats, mask):
    mask = np.asarray(mask, dtype=bool)
    return BeatSet(beats.windows[mask], beats.labels[mask],
                   beats.meta[mask].reset_index(drop=True), beats.report)


@pytest.fixture(scope="module")
def split_beats():
    """Embedded records, at most 60 beats per record and class, weighted; train and test."""
    from ecgkit.data.datasets import load_beats

    beats = load_beats(max_beats_per_record=60, progress=False)
    return beats.subset("train"), beats.subset("test")


@pytest.fixture(scope="module")
def results(split_beats):
    train, test = split_beats
    return run_baselines(train, test)


class TestOnRealBeats:
    def test_shapes_and_probabilities(self, split_beats, results):
        _, test = split_beats
        assert list(results) == list(BASELINES)
        for name, p in results.items():
            assert p.shape == (len(test), len(CLASSES)), name
            np.testing.assert_allclose(p.sum(axis=1), 1.0, err_msg=name)
            assert (p >= 0).all(), name

    def test_each_baseline_does_what_it_should(self, split_beats, results):
        _, test = split_beats
        table = comparison_table(results, test)
        n, nn, lr = (table.loc[k] for k in ("always_n", "nearest_neighbour",
                                           "rr_logistic_regression"))
        assert n["N_Se"] == 1.0 and n["S_Se"] == n["V_Se"] == n["F_Se"] == 0.0
        assert n["accuracy"] == pytest.approx(n["N_PP"])  # everything is called N
        assert nn["V_Se"] > 0.3  # morphology finds ventricular beats
        assert lr["S_Se"] > 0.3  # timing finds premature supraventricular beats
        assert nn["macro_f1"] > n["macro_f1"] and lr["macro_f1"] > n["macro_f1"]
        trees = table.loc["gradient_boosted_trees"]
        # shape against the patient's usual beat and the RR ratios: the strongest of the four
        assert trees["V_Se"] > 0.6 and trees["S_Se"] > 0.3
        assert trees["macro_f1"] > max(nn["macro_f1"], lr["macro_f1"])

    def test_trees_feature_sets_and_modes(self, split_beats):
        from ecgkit.data.context import N_FEATURES, N_RHYTHM
        from ecgkit.evaluation.baselines import (
            TREE_FEATURE_SETS,
            gradient_boosted_trees,
            tree_features,
        )

        train, test = split_beats
        widths = {f: tree_features(test, f).shape[1] for f in TREE_FEATURE_SETS}
        assert widths == {"context": N_FEATURES, "shape+rr": N_FEATURES, "shape": 71,
                          "rr": N_RHYTHM}
        p = gradient_boosted_trees(train, test, mode="causal", max_iter=20)
        assert p.shape == (len(test), len(CLASSES))
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        with pytest.raises(ValueError, match="features must be one of"):
            gradient_boosted_trees(train, test, features="pixels")
        with pytest.raises(ValueError, match="CONTEXT_MODE must be one of"):
            gradient_boosted_trees(train, test, mode="future")
        with pytest.raises(ValueError, match="max_iter must be an integer"):
            gradient_boosted_trees(train, test, max_iter=0)
        bare = _subset(test, np.ones(len(test), bool))  # a BeatSet built without context
        with pytest.raises(ValueError, match="carry no 'offline' context"):
            gradient_boosted_trees(train, bare)

    def test_comparison_table_options(self, split_beats, results):
        _, test = split_beats
        table = comparison_table(results, test)
        assert list(table.columns) == ["N_Se", "N_PP", "S_Se", "S_PP", "V_Se", "V_PP", "F_Se",
                                       "F_PP", "macro_f1", "accuracy", "n_beats", "n_weighted"]
        assert (table["n_weighted"] > table["n_beats"]).all()  # the cap weights were used
        plain = comparison_table(results, test, weights=None)
        assert (plain["n_weighted"] == plain["n_beats"]).all()
        nsv = comparison_table(results, test, class_set=("N", "S", "V"))
        assert nsv[["F_Se", "F_PP"]].isna().all().all()
        assert (nsv["n_beats"] < table["n_beats"]).all()
        ds2 = comparison_table(results, test, records=DS2)
        assert (ds2["n_beats"] < table["n_beats"]).all()  # the paced test record is left out
        five = comparison_table(results, test, class_set=CLASSES)
        assert "Q_Se" in five.columns and five.loc["always_n", "Q_Se"] == 0.0

    def test_training_without_a_class(self, split_beats):
        train, test = split_beats
        no_f = _subset(train, train.meta["label"] != "F")
        f = CLASSES.index("F")
        for fit in (nearest_neighbour, rr_logistic_regression):
            p = fit(no_f, test)
            assert (p[:, f] == 0).all(), fit.__name__
            np.testing.assert_allclose(p.sum(axis=1), 1.0)
        only_n = _subset(train, train.meta["label"] == "N")
        p = rr_logistic_regression(only_n, test)
        assert (p[:, CLASSES.index("N")] == 1).all()

    def test_training_weights_balance_the_weighted_classes(self, split_beats):
        train, test = split_beats
        a = rr_logistic_regression(train, test)
        unweighted = _subset(train, np.ones(len(train), bool))
        unweighted.meta["weight"] = 1.0
        b = rr_logistic_regression(unweighted, test)
        assert a.shape == b.shape and not np.allclose(a, b)

    def test_nearest_neighbour_options(self, split_beats):
        train, test = split_beats
        p = nearest_neighbour(train, test, rr_weight=0.0, max_per_record_class=5)
        assert set(np.unique(p)) <= {0.0, 1.0}  # one-hot rows
        q = nearest_neighbour(train, test, features="ratios")
        assert q.shape == p.shape


class TestCompare:
    """``compare`` is the chain the demo and notebook 30 share: its parts agree with each other."""

    def test_chain_on_real_beats(self, split_beats, results):
        from ecgkit.evaluation.baselines import compare

        _, test = split_beats
        res = {"network": results["nearest_neighbour"], **results}
        c = compare(res, test, models=("network",), records=DS2, n_boot=20, seed=0)
        assert c.table.equals(comparison_table(res, test, records=DS2))
        vs = c.versus["network"]
        assert set(vs) == set(results)
        for name, v in vs.items():  # the bootstrap's point estimates are the table's figures
            assert v["a"] == pytest.approx(c.table.loc["network", "macro_f1"])
            assert v["b"] == pytest.approx(c.table.loc[name, "macro_f1"])
        assert vs["nearest_neighbour"]["difference"] == pytest.approx(0.0)
        assert c.coverage["network"]["present"] == ["N", "S", "V", "F"]
        n = int(c.table.loc["network", "n_beats"])  # N/S/V/F beats of DS2: Q beats dropped
        assert c.verdicts["network"].startswith(f"On {n:,} test beats") and n < len(test)
        paired = c.paired()
        assert list(paired.index.names) == ["model", "minus"] and len(paired) == len(results)

    def test_unknown_model(self, split_beats, results):
        from ecgkit.evaluation.baselines import compare

        with pytest.raises(ValueError, match=r"models \['network'\] are not in results"):
            compare(results, split_beats[1], n_boot=1)


class TestMorphology:
    def test_values_around_the_r_peak(self):
        w = np.zeros((2, WINDOW_SAMPLES), np.float32)
        w[1, BEFORE_SAMPLES - 2:BEFORE_SAMPLES + 2] = 1.0  # a 4-sample spike at the R peak
        x = morphology_features(w)
        assert x.shape == (2, 71) and (x[0] == 0).all()
        assert x[1, 25] == pytest.approx(1.0) and x[1].sum() == pytest.approx(1.0)

    def test_window_must_cover_the_range(self):
        with pytest.raises(ValueError, match="do not cover"):
            morphology_features(np.zeros((1, 100)))
        with pytest.raises(ValueError, match="step_s"):
            morphology_features(np.zeros((1, WINDOW_SAMPLES)), step_s=0)


class TestBadInput:
    def test_not_a_beatset_or_empty(self, split_beats):
        train, test = split_beats
        with pytest.raises(ValueError, match="must be a BeatSet.*ndarray"):
            always_n(train, test.windows)
        empty = _subset(train, np.zeros(len(train), bool))
        for fit in (nearest_neighbour, rr_logistic_regression):
            with pytest.raises(ValueError, match="train_beats holds no beats"):
                fit(empty, test)
        for fit in BASELINES.values():
            with pytest.raises(ValueError, match="test_beats holds no beats"):
                fit(train, empty)

    def test_missing_rr_features_and_bad_options(self, split_beats):
        train, test = split_beats
        bare = BeatSet(train.windows, train.labels, train.meta.drop(columns=["pre_rr"]))
        with pytest.raises(ValueError, match="lacks the RR columns"):
            rr_logistic_regression(bare, test)
        with pytest.raises(ValueError, match="features='raw'"):
            rr_logistic_regression(train, test, features="raw")
        with pytest.raises(ValueError, match="rr_weight=-1"):
            nearest_neighbour(train, test, rr_weight=-1)

    def test_run_and_compare_errors(self, split_beats, results):
        train, test = split_beats
        with pytest.raises(ValueError, match="svm"):
            run_baselines(train, test, names=["svm"])
        with pytest.raises(ValueError, match="options for"):
            run_baselines(train, test, names=["always_n"], options={"nearest_neighbour": {}})
        with pytest.raises(ValueError, match=r"shape=\(3, 5\)"):
            comparison_table({"bad": np.ones((3, 5)) / 5}, test)
        with pytest.raises(ValueError, match="no test beats from records"):
            comparison_table(results, test, records=["999"])
        with pytest.raises(ValueError, match="one value per test beat"):
            comparison_table(results, test, weights=[1.0])


class TestVerdict:
    """The verdict is computed from the table: it follows the figures either way."""

    @staticmethod
    def _table(net):
        import pandas as pd

        return pd.DataFrame({"macro_f1": [net, 0.25, 0.5, 0.45], "n_beats": [840] * 4,
                             "n_weighted": [25013.4] * 4},
                            index=["network", "always_n", "nearest_neighbour",
                                   "rr_logistic_regression"])

    def test_sentence_follows_the_numbers(self):
        from ecgkit.evaluation.baselines import verdict

        up = verdict(self._table(0.6))
        assert up.startswith("On 840 test beats (weighted 25,013), the network's macro-F1 over "
                             "N/S/V/F is 0.600: above always-N (0.250), above 1-NN (0.500) and "
                             "above RR-LR (0.450).")
        down = verdict(self._table(0.3))
        assert "above always-N (0.250), below 1-NN (0.500) and below RR-LR (0.450)" in down

    def test_bootstrap_and_coverage(self):
        from ecgkit.evaluation.baselines import verdict

        def boot(d, lo, hi):
            return {"difference": d, "lo": lo, "hi": hi, "share_above_zero": 0.5,
                    "level": 0.95, "n_boot": 200}

        text = verdict(self._table(0.4), versus={
            "always_n": boot(0.15, 0.05, 0.3), "nearest_neighbour": boot(-0.1, -0.2, -0.01),
            "rr_logistic_regression": boot(-0.05, -0.2, 0.1)},
            coverage={"present": ["N", "S", "V", "F"], "never_predicted": ["F"]})
        assert "(95% interval, 200 resamples): better than always-N (difference +0.150" in text
        assert "worse than 1-NN" in text and "not distinguishable from RR-LR" in text
        assert text.endswith("It never predicts F of the classes present (N, S, V, F).")
        every = verdict(self._table(0.4), coverage={"present": ["N", "S"], "never_predicted": []})
        assert every.endswith("It predicts every class present (N, S).")
        with pytest.raises(ValueError, match="not a row"):
            verdict(self._table(0.4), model="enhanced")
