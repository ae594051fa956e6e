"""Tests for ecgkit.evaluate: per-class metrics, absent classes, curves, calibration, bootstrap."""

import json
import warnings

import numpy as np
import pytest

from ecgkit.contract import CLASSES
from ecgkit.evaluate import (
    LITERATURE,
    bootstrap_ci,
    calibration_bins,
    evaluate_predictions,
    literature_table,
    per_class_metrics,
    write_report,
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


class TestLiteratureTable:
    def test_ds2_only_and_notes(self):
        records = np.array(["100"] * 4 + ["217"] * 3 + ["107"] * 2)
        y = np.array([0, 1, 2, 0, 4, 4, 2, 0, 2])
        pred = np.array([0, 1, 0, 0, 4, 4, 2, 0, 2])
        r = evaluate_predictions(y, _probs(pred), records=records, n_boot=0)
        t = literature_table(r)
        ours = t.iloc[0]
        assert ours["kind"] == "this run"
        assert ours["n_beats"] == 4  # only record 100 is in DS2
        assert ours["accuracy"] == pytest.approx(0.75)
        assert ours["V_Se"] == 0.0 and ours["S_Se"] == 1.0
        assert "subset of DS2: 1 of 22" in ours["note"]
        assert "paced records excluded: 217" in ours["note"]
        assert "107" in ours["note"]
        lit = t[t["kind"] == "literature"]
        assert len(lit) == len(LITERATURE)
        assert (lit["note"] == "literature figure").all()
        mg = lit[lit["source"].str.startswith("Mondejar")].iloc[0]
        assert mg["accuracy"] == 0.945
        ll = lit[lit["source"].str.startswith("Llamedo")].iloc[0]
        assert (ll["S_Se"], ll["S_PP"], ll["V_Se"], ll["V_PP"]) == (0.77, 0.39, 0.81, 0.87)

    def test_needs_records(self):
        r = evaluate_predictions([0], _probs([0]), n_boot=0)
        with pytest.raises(ValueError, match="records"):
            literature_table(r)


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
        assert (tmp_path / "confusion.png").is_file()
        lit = (tmp_path / "literature.csv").read_text()
        assert "paced records excluded: 217" in lit and "Mondejar" in lit
        assert "accuracy" in capsys.readouterr().out

    def test_image_folder(self, model_path, tmp_path):
        import cv2
        import pandas as pd

        from ecgkit.evaluate import evaluate_image_folder

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
    from ecgkit.predict import load_model

    return load_model(path)


@pytest.fixture
def image_folder(tmp_path):
    from ecgkit.export import build_dataset

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
