"""Tests for ecgkit.training.train and what it uses (hardware, balance, callbacks, atomic): a short
real training, run.json, class balance, atomic checkpoints, resume after a kill
(BackupAndRestore) and MirroredStrategy on two logical CPUs (subprocesses).

Training uses a tiny CNN on 64x64 images of a few dozen real beats, 1-2 epochs of 1-2 steps.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgkit.params import ParamError
from ecgkit.training.atomic import atomic_save
from ecgkit.training.balance import class_weights
from ecgkit.training.callbacks import read_history
from ecgkit.training.hardware import hardware_settings
from ecgkit.training.train import train

TINY = {"IMAGE_SIZE": 64, "EPOCHS": 1, "STEPS_PER_EPOCH": 2, "BATCH_SIZE": 8,
        "AUGMENT_STRENGTH": 1.0, "WARMUP_EPOCHS": 0.5, "SEED": 1}

TINY_MODEL_SRC = '''
def tiny_model(size=64):
    import keras
    inp = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inp, out, name="tiny")
'''
_ns: dict = {"__name__": __name__}  # exec'd here and, as text, in subprocesses
exec(TINY_MODEL_SRC, _ns)
tiny_model = _ns["tiny_model"]


@pytest.fixture(scope="module")
def beats():
    from ecgkit.data.datasets import load_beats

    return load_beats(max_beats_per_record=2, progress=False)


class TestParameters:
    def test_records_parameter_reaches_load_beats(self, tmp_path, monkeypatch):
        import ecgkit.data.datasets

        seen = {}

        def stop(*args, **kwargs):
            seen.update(kwargs)
            raise RuntimeError("stop after load_beats")

        monkeypatch.setattr(ecgkit.data.datasets, "load_beats", stop)
        with pytest.raises(RuntimeError, match="stop after load_beats"):
            train({**TINY, "RECORDS": "100, 107"}, model=tiny_model, run_dir=tmp_path,
                  progress=False)
        assert seen["records"] == ["100", "107"]
        with pytest.raises(RuntimeError, match="stop after load_beats"):
            train(TINY, model=tiny_model, run_dir=tmp_path, progress=False)
        assert seen["records"] is None  # empty RECORDS: every record of DATA_DIR


class TestHelpers:
    def test_baseline_model_takes_partial_parameters(self):
        from ecgkit.training.train import baseline_model

        m = baseline_model({"IMAGE_SIZE": 32, "WEIGHTS": "none", "CONTEXT": "logits"})
        assert m.name == "baseline_resnet50" and len(m.inputs) == 2  # image and context

    def test_class_weights_inverse_frequency(self):
        w = class_weights({"N": 80, "S": 10, "V": 10, "F": 0, "Q": 0})
        assert w[0] == pytest.approx(100 / (3 * 80)) and w[1] == pytest.approx(100 / 30)
        assert w[3] == 0.0

    def test_cpu_hardware_settings(self):
        from ecgkit.training.hardware import cpu_has_bf16

        hw = hardware_settings("auto", deterministic=False)
        if not hw["gpus"]:
            bf16 = cpu_has_bf16()
            assert hw == {"backend": "tensorflow", "gpus": [], "mixed_precision": bf16,
                          "policy": "mixed_bfloat16" if bf16 else None, "jit_compile": False}
            assert hardware_settings("on")["policy"] == "mixed_bfloat16"  # never float16 on CPU
        assert hardware_settings("on")["mixed_precision"] is True
        assert hardware_settings("off")["policy"] is None
        with pytest.raises(ValueError, match="MIXED_PRECISION"):
            hardware_settings("maybe")

    def test_atomic_save_keeps_old_file_on_failure(self, tmp_path):
        path = tmp_path / "best.keras"
        model = tiny_model(32)
        atomic_save(model, path)
        before = path.read_bytes()

        class Broken:
            def save(self, p):
                Path(p).write_bytes(b"half")
                raise OSError("disk full")

        with pytest.raises(OSError):
            atomic_save(Broken(), path)
        assert path.read_bytes() == before  # the good checkpoint is untouched
        assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]  # no temp left behind

    def test_atomic_save_weights_only(self, tmp_path):
        path = tmp_path / "best.weights.h5"
        model = tiny_model(32)
        atomic_save(model, path)
        assert [p.name for p in tmp_path.iterdir()] == ["best.weights.h5"]
        other = tiny_model(32)
        other.load_weights(path)
        for a, b in zip(model.get_weights(), other.get_weights()):
            np.testing.assert_array_equal(a, b)

    def test_set_batchnorm_momentum_reaches_nested_layers(self):
        import keras

        from ecgkit.training.callbacks import set_batchnorm_momentum

        inner = keras.Sequential([keras.Input((8,)), keras.layers.BatchNormalization()])
        inp = keras.Input((8,))
        out = keras.layers.BatchNormalization()(inner(inp))
        model = keras.Model(inp, out)
        assert set_batchnorm_momentum(model, 0.9) == 2
        assert inner.layers[0].momentum == 0.9
        with pytest.raises(ValueError, match="momentum"):
            set_batchnorm_momentum(model, 1.0)

    @pytest.mark.parametrize("cap, passes", [(10**6, 1), (2 * 8 * 3, 3)])
    def test_reestimated_batchnorm_is_the_mean_of_the_training_batches(self, monkeypatch, cap,
                                                                       passes):
        # The moving statistics become those of the next BN_REESTIMATE_BATCHES training batches
        # (whether joined in one pass or split into equal passes), the configured momentum is
        # put back, and the batches drawn move on.
        import keras

        import ecgkit.training.callbacks as cb

        monkeypatch.setattr(cb, "BN_REESTIMATE_VALUES", cap)
        rng = np.random.default_rng(0)
        data = [(rng.normal(3.0 + i, 1.0 + i / 3, (8, 3)).astype("float32"),) for i in range(6)]

        class Stream(list):
            num_batches = 6

        inp = keras.Input((3,))
        bn = keras.layers.BatchNormalization(momentum=0.9)
        model = keras.Model(inp, bn(inp))
        calls = []
        model.call = (lambda call: lambda *a, **k: calls.append(1) or call(*a, **k))(model.call)
        callback = cb.ReestimateBatchNorm(Stream(data), batches=6)
        callback.set_model(model)
        callback.on_test_begin()
        x = np.concatenate([d[0] for d in data])
        chunks = np.split(x, passes)
        np.testing.assert_allclose(np.asarray(bn.moving_mean), x.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(bn.moving_variance),
                                   np.mean([c.var(axis=0) for c in chunks], axis=0), rtol=1e-4)
        assert bn.momentum == 0.9 and callback.drawn == 6 and len(calls) == passes

    def test_epoch_steps_is_the_parameter_or_one_pass(self):
        from ecgkit.training.train import epoch_steps

        assert epoch_steps(15, 1000, 16) == 15
        assert epoch_steps(0, 1000, 16) == 63 and epoch_steps(0, 32, 16) == 2

    def test_unknown_parameter_raises(self, tmp_path, beats):
        with pytest.raises(ParamError, match="EPOCS"):
            train({"EPOCS": 1}, beats=beats, model=tiny_model, run_dir=tmp_path)
        with pytest.raises(ValueError, match="CLASS_BALANCE"):
            train({**TINY, "CLASS_BALANCE": "oversample"}, beats=beats, model=tiny_model,
                  run_dir=tmp_path)


class TestTrain:
    def test_short_run_writes_everything(self, tmp_path, beats):
        res = train({**TINY, "EPOCHS": 2}, beats=beats, model=tiny_model, run_dir=tmp_path,
                    progress=False)
        p = res.paths
        for key in ("model", "best", "csv_log", "run_json"):
            assert p[key].is_file(), key
        assert any(p["tensorboard"].rglob("*tfevents*"))
        assert res.info["tensorboard"] == str(p["tensorboard"])
        assert not p["backup"].exists()  # deleted after a finished run
        assert res.history["epoch"] == [0, 1]
        for key in ("loss", "val_loss", "val_macro_f1", "learning_rate"):
            assert len(res.history[key]) == 2, key
        info = json.loads(p["run_json"].read_text())
        assert info["status"] == "finished"
        assert info["params"]["IMAGE_SIZE"] == 64 and info["params"]["CLASS_BALANCE"] == "sampling"
        assert info["class_balance"]["mode"] == "sampling"
        assert set(info["versions"]) >= {"python", "tensorflow", "keras", "ecgkit", "numpy"}
        assert set(info["data"]) == {"train", "val", "test"}
        assert info["data"]["val"]["beats"] == len(beats.subset("val"))
        assert set(info["data"]["train"]["per_class"]) == set("NSVFQ")
        assert info["best"]["monitor"] == "val_macro_f1"
        assert info["final_metrics"]["split"] == "val"
        assert info["hardware"]["replicas"] == 1
        # validation patients only: no test record in what chose the checkpoint
        assert not set(info["data"]["val"]["records"]) & set(info["data"]["test"]["records"])
        import keras

        loaded = keras.models.load_model(p["model"], compile=False)
        assert loaded.output_shape == (None, 5)

    @pytest.mark.parametrize("mode", ["class_weight", "sampling", "none"])
    def test_class_balance_modes_recorded(self, tmp_path, beats, mode):
        res = train({**TINY, "STEPS_PER_EPOCH": 1, "CLASS_BALANCE": mode,
                     "AUGMENT_STRENGTH": 0.0}, beats=beats, model=tiny_model,
                    run_dir=tmp_path, progress=False)
        cb = res.info["class_balance"]
        assert cb["mode"] == mode
        assert (cb["class_weight"] is not None) == (mode == "class_weight")

    def test_mixed_precision_on_is_recorded_and_not_leaked(self, tmp_path, beats):
        import keras

        res = train({**TINY, "STEPS_PER_EPOCH": 1, "MIXED_PRECISION": "on",
                     "AUGMENT_STRENGTH": 0.0}, beats=beats, model=tiny_model,
                    run_dir=tmp_path, progress=False)
        assert res.info["hardware"]["mixed_precision"] is True
        want = "float16" if res.info["hardware"]["gpus"] else "bfloat16"
        assert res.model.layers[2].compute_dtype == want
        assert keras.mixed_precision.global_policy().name == "float32"

    def test_balanced_sampling_draws_classes_equally(self, beats):
        from ecgkit.params import resolve
        from ecgkit.training.train import make_datasets

        p = resolve({**TINY, "CLASS_BALANCE": "sampling", "AUGMENT_STRENGTH": 0.0,
                     "BATCH_SIZE": 50})
        train_ds, _ = make_datasets(beats.subset("train"), beats.subset("val"), p, 4)
        labels = np.concatenate([train_ds[i][1].argmax(1) for i in range(4)])
        counts = np.bincount(labels, minlength=5)
        present = np.array(list(beats.subset("train").class_counts().values())) > 0
        assert (counts[present] > 200 / present.sum() * 0.5).all()


RUNNER = TINY_MODEL_SRC + '''
import json, os, sys
from pathlib import Path
import keras
from ecgkit.data.datasets import load_beats
from ecgkit.training.hardware import select_strategy
from ecgkit.training.train import train

run_dir = Path(sys.argv[1])
mode = sys.argv[2]
beats = load_beats(max_beats_per_record=2, progress=False)
params = json.loads(sys.argv[3])

class Recorder(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        with open(run_dir / "epochs_begun.txt", "a") as f:
            f.write(f"{epoch}\\n")

class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            os._exit(3)  # a hard kill: no cleanup, no on_train_end

extra = [Recorder()]
strategy = None
if mode == "kill":
    extra.append(Kill())
if mode == "mirrored":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    strategy = select_strategy(devices=["/cpu:0", "/cpu:1"])
res = train(params, beats=beats, model=tiny_model, run_dir=run_dir, progress=False,
            strategy=strategy, callbacks=extra)
print("DONE", res.info["hardware"]["strategy"], res.info["hardware"]["replicas"])
'''


def _run(tmp_path, mode, params):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    return subprocess.run([sys.executable, str(script), str(tmp_path / "run"), mode,
                           json.dumps(params)], capture_output=True, text=True, env=env,
                          timeout=300)


class TestResume:
    def test_killed_after_epoch_one_resumes_at_epoch_two(self, tmp_path):
        params = {**TINY, "EPOCHS": 2, "STEPS_PER_EPOCH": 1}
        first = _run(tmp_path, "kill", params)
        assert first.returncode == 3, first.stderr[-2000:]
        run = tmp_path / "run"
        assert (run / "backup" / "training_metadata.json").is_file()
        assert json.loads((run / "run.json").read_text())["status"] == "running"
        assert read_history(run / "history.csv")["epoch"] == [0]

        second = _run(tmp_path, "resume", params)
        assert second.returncode == 0, second.stderr[-2000:]
        begun = (run / "epochs_begun.txt").read_text().split()
        assert begun == ["0", "1"]  # run 1 began epoch 0; run 2 began at epoch 1 (the 2nd)
        info = json.loads((run / "run.json").read_text())
        assert info["resumed_after_epochs"] == 1 and info["status"] == "finished"
        assert read_history(run / "history.csv")["epoch"] == [0, 1]
        assert not (run / "backup").exists()


class TestMirroredStrategy:
    def test_two_logical_cpus(self, tmp_path):
        res = _run(tmp_path, "mirrored", {**TINY, "STEPS_PER_EPOCH": 1, "BATCH_SIZE": 8})
        assert res.returncode == 0, res.stderr[-3000:]
        assert "DONE MirroredStrategy 2" in res.stdout
        info = json.loads((tmp_path / "run" / "run.json").read_text())
        assert info["hardware"]["replicas"] == 2
        assert (tmp_path / "run" / "model.keras").is_file()


class TestTrainCommand:
    def test_unknown_name_in_profile_is_an_error(self, tmp_path, capsys):
        from ecgkit.cli import main

        prof = tmp_path / "p.yaml"
        prof.write_text("EPOCHS: 1\nLEARNING_RAT: 0.1\n")
        assert main(["train", "--params", str(prof), "--run-dir", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert "LEARNING_RAT" in err and "LEARNING_RATE" in err
        assert not (tmp_path / "r").exists()


class TestLearning:
    def test_train_memorises_one_batch_and_inference_agrees(self, tmp_path):
        # The cheapest proof that training learns: the real baseline ResNet50, trained by
        # train() on one batch of 16 real beats (4 per class), must classify that batch in
        # inference mode, i.e. with BatchNorm's moving statistics. With Keras' default momentum
        # (0.99) 20 steps leave them near their initial values and one class is predicted
        # (measured: accuracy 0.25 here with the momentum from the epoch length alone);
        # train() re-estimates them from training batches before every validation.
        import dataclasses

        from ecgkit.data.datasets import load_beats
        from ecgkit.model.factory import create_baseline_resnet50

        train_side = load_beats(max_beats_per_record=6, progress=False).subset("train")
        rng = np.random.default_rng(0)
        idx = np.concatenate([rng.choice(np.flatnonzero(train_side.labels == k), 4, replace=False)
                              for k in range(4)])
        one = dataclasses.replace(train_side.take(idx),  # unit weights: plain accuracy
                                  meta=train_side.meta.iloc[idx].reset_index(drop=True)
                                  .assign(weight=1.0))
        both = dataclasses.replace(
            one, windows=np.concatenate([one.windows, one.windows]),
            context={k: np.concatenate([v, v]) for k, v in one.context.items()},
            labels=np.concatenate([one.labels, one.labels]),
            meta=__import__("pandas").concat([one.meta.assign(split="train"),
                                              one.meta.assign(split="val")], ignore_index=True))
        res = train({"IMAGE_SIZE": 32, "GRID": False, "EPOCHS": 1, "STEPS_PER_EPOCH": 20,
                     "BATCH_SIZE": 16, "LEARNING_RATE": 1e-3, "WARMUP_EPOCHS": 0.1,
                     "AUGMENT_STRENGTH": 0.0, "CLASS_BALANCE": "none", "FOCAL_GAMMA": 0.0,
                     "MIXED_PRECISION": "off", "SEED": 0},
                    beats=both, run_dir=tmp_path, progress=False, run_eagerly=True,
                    model=lambda: create_baseline_resnet50((32, 32, 3), 5, weights=None))
        assert res.info["batchnorm"]["momentum"] == pytest.approx(0.9)
        always_n = float((one.labels == 0).mean())  # 0.25 on this balanced batch
        assert res.info["final_metrics"]["accuracy"] >= 0.9 > always_n


class TestTrainCommandChecks:
    @pytest.mark.parametrize("line,expected", [
        ("BATCH_SIZE: -4", "BATCH_SIZE must be >= 1, got -4"),
        ("EPOCHS: 0", "EPOCHS must be >= 1, got 0"),
        ("LEARNING_RATE: -1", "LEARNING_RATE must be > 0, got -1.0"),
        ("IMAGE_SIZE: 16", "IMAGE_SIZE must be in [32, 1024], got 16"),
        ("STEPS_PER_EPOCH: -3", "STEPS_PER_EPOCH must be >= 0, got -3"),
        ("DROPOUT: 1.5", "DROPOUT must be in [0, 1), got 1.5"),
        ("VAL_FRACTION: 1.5", "VAL_FRACTION must be in [0, 1), got 1.5"),
    ])
    def test_out_of_range_profile_value_is_a_message(self, tmp_path, capsys, monkeypatch, line,
                                                     expected):
        from ecgkit.cli import main

        monkeypatch.setattr("ecgkit.training.train.train", _must_not_train)

        prof = tmp_path / "p.yaml"
        prof.write_text(f"SEED: 1\n{line}\n")
        assert main(["train", "--params", str(prof), "--run-dir", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {prof}: parameter {expected}")
        assert "Traceback" not in err and not (tmp_path / "r").exists()

    def test_set_and_yaml_errors_are_messages(self, tmp_path, capsys, monkeypatch):
        from ecgkit.cli import main

        monkeypatch.setattr("ecgkit.training.train.train", _must_not_train)

        assert main(["train", "--set", "EPOCHS=0", "--run-dir", str(tmp_path / "r")]) == 2
        assert "error: --set: parameter EPOCHS must be >= 1, got 0" in capsys.readouterr().err
        assert main(["train", "--set", "EPOCHS", "--run-dir", str(tmp_path / "r")]) == 2
        assert "--set EPOCHS: expected NAME=VALUE" in capsys.readouterr().err
        assert main(["train", "--set", "WEIGHTS=/no/w.weights.h5"]) == 2
        assert "WEIGHTS: no such weights file '/no/w.weights.h5'" in capsys.readouterr().err
        prof = tmp_path / "p.yaml"
        prof.write_text("EPOCHS: 1\nSEED: : 2\n")
        assert main(["train", "--params", str(prof), "--run-dir", str(tmp_path / "r")]) == 2
        assert f"error: {prof}:2: not valid YAML" in capsys.readouterr().err
        assert not (tmp_path / "r").exists()


def _must_not_train(*args, **kwargs):
    raise AssertionError("train() must not start with bad parameters")


class TestTrainRecordOptions:
    def test_options_reach_load_beats(self, tmp_path, monkeypatch, capsys):
        import ecgkit.data.datasets
        from ecgkit.cli import main
        from ecgkit.data.records import RecordError

        seen = {}

        def fake_load_beats(*args, **kwargs):
            seen.update(kwargs)
            raise RecordError("stop here")

        monkeypatch.setattr(ecgkit.data.datasets, "load_beats", fake_load_beats)
        rc = main(["train", "--set", "EPOCHS=1", "--fallback-lead", "V5", "--fallback-lead", "V1",
                   "--unknown-symbols", "skip", "--run-dir", str(tmp_path / "r"), "--quiet"])
        assert rc == 1 and "error: stop here" in capsys.readouterr().err
        assert tuple(seen["fallback_leads"]) == ("V5", "V1")
        assert seen["unknown_symbols"] == "skip"

    def test_parameters(self):
        from ecgkit.params import ParamError, validate

        assert validate({"FALLBACK_LEADS": "V5, V1", "UNKNOWN_SYMBOLS": "skip"})
        with pytest.raises(ParamError, match="UNKNOWN_SYMBOLS must be one of 'error', 'skip'"):
            validate({"UNKNOWN_SYMBOLS": "ignore"})


class TestSampledClasses:
    def test_rare_classes_are_not_drawn_as_often_as_the_others(self):
        from ecgkit.training.balance import SAMPLING_MIN_BEATS, sampled_classes

        labels = np.repeat([0, 1, 2, 4], [500, SAMPLING_MIN_BEATS, 120, 8])  # Q: 8 beats
        assert sampled_classes(labels) == [0, 1, 2]

    def test_tiny_sets_draw_every_class_present(self):
        from ecgkit.training.balance import sampled_classes

        assert sampled_classes(np.repeat([0, 1, 3], [6, 2, 2])) == [0, 1, 3]


class TestWholeBatches:
    def test_pads_with_zero_weight_copies(self, beats):
        from ecgkit.training.train import whole_batches

        val = beats.subset("val")
        padded = whole_batches(val, 8)
        assert len(padded) % 8 == 0 and 0 <= len(padded) - len(val) < 8
        w = padded.meta["weight"].to_numpy()
        np.testing.assert_array_equal(w[:len(val)], val.meta["weight"].to_numpy())
        assert (w[len(val):] == 0).all()
        assert whole_batches(val, 1) is val

    def test_batch_must_split_over_the_devices(self, beats, tmp_path):
        class TwoDevices:
            num_replicas_in_sync = 2

            def scope(self):
                import contextlib

                return contextlib.nullcontext()

        with pytest.raises(ValueError, match="BATCH_SIZE 7 must split evenly over the 2 devices"):
            train({**TINY, "BATCH_SIZE": 7}, beats=beats, model=tiny_model, run_dir=tmp_path,
                  progress=False, strategy=TwoDevices())
