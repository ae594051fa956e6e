"""A model with the beat's context: training records its provenance, evaluation and prediction
read it back, and settings that contradict it are refused (ecgkit.evaluation.provenance,
ecgkit.evaluation.predict)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgkit.data.context import N_FEATURES

TINY = {"IMAGE_SIZE": 32, "EPOCHS": 1, "STEPS_PER_EPOCH": 2, "BATCH_SIZE": 8,
        "AUGMENT_STRENGTH": 0.0, "WARMUP_EPOCHS": 0.5, "SEED": 1, "GRID": False,
        "SPLIT": "inter-patient-strict", "RECORDS": "106, 118, 119, 200, 207, 208, 209, 213, "
        "223, 232, 233", "MAX_BEATS_PER_RECORD": 3, "CONTEXT_MODE": "causal",
        "CONTEXT_STEPS": 30}


def tiny_context_model(size=32):
    """A small image network with the context branch, built as the factory builds it."""
    import keras

    from ecgkit.model.backbone import CaffePreprocessing
    from ecgkit.model.context_branch import BranchDropout, context_branch

    keras.utils.set_random_seed(0)
    image = keras.Input((size, size, 3), name="image")
    context = keras.Input((N_FEATURES,), name="context")
    x = CaffePreprocessing(name="preprocessing")(image)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, name="head_logits")(x)
    x = BranchDropout(name="image_logit_drop")(x)
    x = keras.layers.Add(name="logits")([x, context_branch(context, 5)])
    out = keras.layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model({"image": image, "context": context}, out, name="tiny_context")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny context model trained two steps by ecgkit.training.train (causal context, strict
    split)."""
    from ecgkit.training.train import train

    run = tmp_path_factory.mktemp("ctx-run")
    result = train(TINY, model=tiny_context_model, run_dir=run, progress=False,
                   run_eagerly=True)
    return result


class TestTrainingRecordsIt:
    def test_provenance_saved_with_the_model(self, trained):
        from ecgkit.evaluation.predict import load_model
        from ecgkit.model.backbone import recorded_provenance

        model = load_model(trained.paths["model"])
        rec = recorded_provenance(model)
        assert rec["split"] == "inter-patient-strict" and rec["context_mode"] == "causal"
        assert rec["image_size"] == 32 and rec["grid"] is False and rec["seed"] == 1
        assert rec["classes"] == ["N", "S", "V", "F", "Q"]
        assert rec["val_records"] and not set(rec["val_records"]) & set(rec["train_records"])
        # the image logits' weight, chosen on the validation beats, is saved with the model
        assert rec["image_scale"] == model.get_layer("image_logit_drop").scale
        assert trained.info["image_scale"]["chosen"] == rec["image_scale"]
        assert len(trained.info["image_scale"]["val_cross_entropy"]) == 11
        # the context standardisation holds the training beats' statistics
        norm = model.get_layer("context_norm")
        mean = np.asarray(norm.mean).ravel()
        assert mean.shape == (N_FEATURES,) and np.abs(mean).sum() > 0


class TestRefusals:
    def test_contradicting_settings_name_both_values(self, trained):
        from ecgkit.evaluation.provenance import ProvenanceError, check_settings

        model = trained.model
        check_settings(model, {"IMAGE_SIZE": 32, "GRID": False, "CONTEXT_MODE": "causal",
                               "CONTEXT": "head"})  # another join of the same inputs: fine
        for name, value, trained_value in (("IMAGE_SIZE", 64, 32), ("GRID", True, False),
                                           ("CONTEXT_MODE", "offline", "'causal'"),
                                           ("CONTEXT", "none", "'logits'"),
                                           ("IMAGE_CHANNELS", "context", "'paper'")):
            with pytest.raises(ProvenanceError) as err:
                check_settings(model, {name: value}, source="--set")
            msg = str(err.value)
            assert f"{name}={value!r}" in msg and f"trained with {name}={trained_value}" in msg

    def test_protocol_defaults_to_the_model_and_an_override_warns(self, trained):
        from ecgkit.evaluation.provenance import DEFAULT_PROTOCOL, protocol

        assert protocol(trained.model) == "inter-patient-strict"
        with pytest.warns(UserWarning, match="trained with SPLIT='inter-patient-strict'"):
            assert protocol(trained.model, "inter-patient") == "inter-patient"
        assert DEFAULT_PROTOCOL == "inter-patient"

    def test_image_files_are_refused_for_a_context_model(self, trained, tmp_path, capsys):
        import cv2

        from ecgkit.cli import main

        png = tmp_path / "beat.png"
        cv2.imwrite(str(png), np.full((32, 32, 3), 255, np.uint8))
        assert main(["predict", "--model", str(trained.paths["model"]), str(png)]) == 2
        assert "--record DIR/NAME" in capsys.readouterr().err


class TestCommands:
    def test_predict_record_classifies_every_beat(self, trained, tmp_path, capsys,
                                                  embedded_dir):
        from ecgkit.cli import main

        out = tmp_path / "beats.csv"
        rc = main(["predict", "--model", str(trained.paths["model"]), "--record",
                   str(embedded_dir / "119"), "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        import pandas as pd

        table = pd.read_csv(out)
        assert len(table) > 1900  # record 119: 1,987 reference beats, windows cut at the edges
        assert list(table.columns[:5]) == ["sample", "symbol", "reference", "class",
                                           "confidence"]
        p = table[[f"p_{c}" for c in "NSVFQ"]].to_numpy()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4)
        assert (table["sample"].diff().dropna() > 0).all()
        assert "beats of" in capsys.readouterr().out
        assert main(["predict", "--model", str(trained.paths["model"]), "--record",
                     str(tmp_path / "nope")]) == 1
        assert "no such WFDB header" in capsys.readouterr().err

    def test_evaluate_takes_params_and_set(self, trained, tmp_path, capsys, caplog):
        from ecgkit.cli import main

        model = str(trained.paths["model"])
        profile = tmp_path / "mine.yaml"
        profile.write_text("RECORDS: '100, 232, 217'\nTEST_MAX_BEATS_PER_RECORD: 2\n"
                           "BOOTSTRAP: 0\nIMAGE_SIZE: 32\n")
        base = ["evaluate", "--model", model, "--quiet", "--params", str(profile)]
        assert main([*base, "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
        strict = json.loads((tmp_path / "a" / "metrics.json").read_text())
        assert strict["n"] > 0 and not strict["ci"]  # BOOTSTRAP 0 from the profile: no intervals
        assert main([*base, "--set", "SPLIT=inter-patient", "--out", str(tmp_path / "b")]) == 0
        assert "evaluating with 'inter-patient' as asked" in caplog.text
        assert json.loads((tmp_path / "b" / "metrics.json").read_text())["n"] > strict["n"]
        # an option given on the command line wins over the profile
        assert main([*base, "--max-beats-per-record", "1", "--out", str(tmp_path / "c")]) == 0
        assert json.loads((tmp_path / "c" / "metrics.json").read_text())["n"] < strict["n"]
        capsys.readouterr()
        assert main([*base, "--set", "IMAGE_SIZE=64", "--out", str(tmp_path / "d")]) == 2
        err = capsys.readouterr().err
        assert "IMAGE_SIZE=64 contradicts the model" in err and "IMAGE_SIZE=32" in err
        assert main([*base, "--set", "BOOTSTRAP=many"]) == 2
        assert "BOOTSTRAP" in capsys.readouterr().err

    def test_evaluate_uses_the_models_protocol(self, trained, tmp_path, capsys, caplog):
        from ecgkit.cli import main

        args = ["evaluate", "--model", str(trained.paths["model"]), "--records", "100", "232",
                "217", "--max-beats-per-record", "2", "--bootstrap", "0", "--quiet"]
        assert main([*args, "--out", str(tmp_path / "a")]) == 0
        out = capsys.readouterr().out
        assert "protocol: inter-patient-strict (as the model was trained)" in out
        strict = json.loads((tmp_path / "a" / "metrics.json").read_text())
        assert main([*args, "--protocol", "inter-patient", "--out", str(tmp_path / "b")]) == 0
        assert "evaluating with 'inter-patient' as asked" in caplog.text
        loose = json.loads((tmp_path / "b" / "metrics.json").read_text())
        assert loose["n"] > strict["n"]  # the paced record 217 counts only without strict
        assert main([*args, "--no-grid", "--out", str(tmp_path / "c")]) == 0  # as trained
