"""Tests for ecgkit.evaluation.predict: per-file errors, JSON output, exit status, clear model-load
errors."""

import json
import zipfile

import numpy as np
import pytest

from ecgkit.data.images import ImageError, read_image
from ecgkit.evaluation.predict import ModelLoadError, load_model, predict_files


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(2, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    keras.Model(inp, out).save(path)
    return path


@pytest.fixture
def files(tmp_path):
    import cv2

    good = tmp_path / "beat.png"
    cv2.imwrite(str(good), np.full((48, 48, 3), 255, np.uint8))  # resized to 32 on load
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:40])
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.touch()
    return {"good": good, "corrupt": corrupt, "text": text, "empty": empty,
            "missing": tmp_path / "nope.png"}


class TestImages:
    def test_load_and_resize(self, files):
        img = read_image(files["good"], 32)
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8

    @pytest.mark.parametrize("key,msg", [("missing", "not found"), ("corrupt", "not a readable"),
                                         ("text", "not a readable"), ("empty", "empty file")])
    def test_bad_files_named(self, files, key, msg):
        with pytest.raises(ImageError, match=msg) as err:
            read_image(files[key])
        assert str(err.value) == f"{files[key]}: {err.value.problem}"


class TestPredict:
    def test_bad_files_do_not_stop_good_ones(self, tiny_model_path, files):
        model = load_model(tiny_model_path)
        res = predict_files(model, [files["missing"], files["good"], files["corrupt"]])
        assert [r.ok for r in res] == [False, True, False]
        assert res[1].label in "NSVFQ"
        assert sum(res[1].probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert "not found" in res[0].error

    def test_cli_json_and_exit_status(self, tiny_model_path, files, capsys):
        from ecgkit.cli import main

        rc = main(["predict", "--model", str(tiny_model_path), str(files["good"]),
                   str(files["text"]), "--json"])
        out = json.loads(capsys.readouterr().out)
        assert rc == 1
        assert out[0]["class"] in list("NSVFQ") and out[0]["error"] is None
        assert out[1]["class"] is None and "not a readable image" in out[1]["error"]
        assert main(["predict", "--model", str(tiny_model_path), str(files["good"])]) == 0
        assert "beat.png:" in capsys.readouterr().out


class TestModelErrors:
    def test_missing_model(self, tmp_path):
        with pytest.raises(ModelLoadError, match="not found"):
            load_model(tmp_path / "none.keras")

    def test_truncated_model(self, tiny_model_path, tmp_path):
        bad = tmp_path / "bad.keras"
        bad.write_bytes(tiny_model_path.read_bytes()[:100])
        with pytest.raises(ModelLoadError) as err:
            load_model(bad)
        assert str(bad) in str(err.value) and "retrain" in str(err.value)

    def test_unregistered_custom_layer(self, tiny_model_path, tmp_path):
        # rewrite the config so the model names a layer class nobody registered
        bad = tmp_path / "custom.keras"
        with zipfile.ZipFile(tiny_model_path) as src, zipfile.ZipFile(bad, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "config.json":
                    data = data.replace(b'"Conv2D"', b'"EcgkitFutureLayer"')
                dst.writestr(item, data)
        with pytest.raises(ModelLoadError) as err:
            load_model(bad)
        msg = str(err.value)
        assert str(bad) in msg and "custom layers" in msg and "another ecgkit/Keras version" in msg

    def test_cli_reports_load_error(self, tmp_path, capsys):
        from ecgkit.cli import main

        assert main(["predict", "--model", str(tmp_path / "x.keras"), "a.png"]) == 2
        assert "model file not found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def three_class_model_path(tmp_path_factory):
    import keras

    inp = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inp))
    out = keras.layers.Dense(3, activation="softmax")(x)
    path = tmp_path_factory.mktemp("model3") / "three.keras"
    keras.Model(inp, out).save(path)
    return path


class TestModelMismatch:
    def test_predict_names_the_class_count(self, three_class_model_path, files, capsys):
        from ecgkit.cli import main

        rc = main(["predict", "--model", str(three_class_model_path), str(files["good"])])
        captured = capsys.readouterr()
        assert rc == 2 and captured.out == ""
        assert (f"error: {three_class_model_path}: the model outputs 3 classes, ecgkit's "
                "classes are 5 (N, S, V, F, Q)") in captured.err
        with pytest.raises(ModelLoadError, match="outputs 3 classes"):
            predict_files(load_model(three_class_model_path), [files["good"]])

    def test_evaluate_names_the_class_count(self, three_class_model_path, tmp_path, capsys):
        from ecgkit.cli import main

        rc = main(["evaluate", "--model", str(three_class_model_path), "--records", "100",
                   "--max-beats-per-record", "1", "--bootstrap", "0", "--out", str(tmp_path),
                   "--quiet"])
        assert rc == 2 and "the model outputs 3 classes" in capsys.readouterr().err
        assert not (tmp_path / "metrics.json").exists()

    def test_input_must_be_square_rgb(self, tmp_path):
        import keras

        from ecgkit.evaluation.predict import check_model

        inp = keras.Input((None, None, 1))
        out = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(inp))
        with pytest.raises(ModelLoadError, match=r"inputs of shape \(None, None, None, 1\)"):
            check_model(keras.Model(inp, out), "gray.keras")
