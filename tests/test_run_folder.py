"""Tests that a run folder belongs to one training configuration (issue 19, items 1-4).

An interrupted run resumes only with the same settings (others are refused before anything is
written, ``restart=True`` / ``--restart`` starts afresh), an interrupted run says so in its
run.json, the backup is one consistent pair whatever the moment of a Ctrl-C, and one training
at a time writes into a folder.

Training uses the tiny CNN of tests/test_train.py on 64x64 images of a few dozen real beats,
1-2 epochs of 1 step, in this process; an interruption is a callback or a save raising
``KeyboardInterrupt``, as Ctrl-C does.
"""

import contextlib
import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from ecgkit.training.train import train

TINY = {"IMAGE_SIZE": 64, "EPOCHS": 2, "STEPS_PER_EPOCH": 1, "BATCH_SIZE": 8,
        "AUGMENT_STRENGTH": 0.0, "WARMUP_EPOCHS": 0.5, "SEED": 1}


def tiny_model(size=64, filters=4):
    inp = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(filters, 3, strides=2, activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inp, out, name="tiny")


@pytest.fixture(scope="module")
def beats():
    from ecgkit.data.datasets import load_beats

    records = "100, 106, 118, 119, 200, 207, 208, 209, 213, 223, 232, 233"  # the smoke profile's
    return load_beats(records=records.split(", "), split="inter-patient-strict",
                      max_beats_per_record=2, progress=False)


class StopAfterEpoch(keras.callbacks.Callback):
    """Ctrl-C once epoch ``n`` (1-based) is finished and backed up (extras run last)."""

    def __init__(self, n=1):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise KeyboardInterrupt


class Watch(keras.callbacks.Callback):
    """Records the epochs begun, the weights at the start and after each epoch."""

    def __init__(self):
        super().__init__()
        self.begun, self.start, self.after = [], None, {}

    def on_train_begin(self, logs=None):  # after the backup is restored (extras run last)
        self.start = [w.copy() for w in self.model.get_weights()]

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.after[epoch + 1] = [w.copy() for w in self.model.get_weights()]


def _train(run_dir, beats, params=None, model=tiny_model, **kwargs):
    return train({**TINY, **(params or {})}, beats=beats, model=model, run_dir=run_dir,
                 progress=False, run_eagerly=True, **kwargs)


def _interrupted(run_dir, beats, params=None, model=tiny_model):
    """Runs until Ctrl-C after epoch 1; returns the bytes of everything in the folder."""
    with pytest.raises(KeyboardInterrupt):
        _train(run_dir, beats, params, model, callbacks=[StopAfterEpoch(1)])
    return _snapshot(run_dir)


def _snapshot(run_dir):
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(Path(run_dir).rglob("*"))
            if p.is_file()}


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


RUN_A = {"EPOCHS": 4, "LEARNING_RATE": 0.001, "MAX_BEATS_PER_RECORD": 2}  # the runs
RUN_B = {"EPOCHS": 2, "LEARNING_RATE": 0.05, "MAX_BEATS_PER_RECORD": 3}


class TestResumeOnlyTheSameSettings:

    def test_other_settings_are_refused_naming_them(self, tmp_path, beats):
        run = tmp_path / "run"
        before = _interrupted(run, beats, RUN_A)
        with pytest.raises(ValueError) as err:
            _train(run, beats, RUN_B)
        msg = str(err.value)
        assert msg.startswith(f"{run}: ")
        for change in ("EPOCHS 4 -> 2", "LEARNING_RATE 0.001 -> 0.05",
                       "MAX_BEATS_PER_RECORD 2 -> 3"):
            assert change in msg
        assert "1 epoch of 4 done" in msg
        assert "same settings" in msg and "another folder" in msg and "restart" in msg
        assert "SEED" not in msg and "IMAGE_SIZE" not in msg  # only what differs
        assert _snapshot(run) == before  # nothing rewritten, the interrupted run intact

        watch = Watch()  # the same settings resume it
        res = _train(run, beats, RUN_A, callbacks=[watch])
        assert watch.begun == [1, 2, 3] and res.info["resumed_after_epochs"] == 1

    def test_restart_discards_the_interrupted_run(self, tmp_path, beats):
        run = tmp_path / "run"
        _interrupted(run, beats, RUN_A)
        watch = Watch()
        res = _train(run, beats, RUN_B, callbacks=[watch], restart=True)
        assert watch.begun == [0, 1] and res.info["resumed_after_epochs"] == 0
        assert res.history["epoch"] == [0, 1]  # the interrupted run's log is gone
        info = json.loads((run / "run.json").read_text())
        assert info["params"]["LEARNING_RATE"] == 0.05 and info["status"] == "finished"

    def test_settings_that_do_not_train_may_differ(self, tmp_path, beats):
        run = tmp_path / "run"
        _interrupted(run, beats)
        watch = Watch()
        _train(run, beats, {"BOOTSTRAP": 7, "EXPLORER_STEPS": 3, "MODEL_PATH": "x.keras"},
               callbacks=[watch])
        assert watch.begun == [1]

    def test_other_model_switches_are_refused_before_anything_is_rewritten(self, tmp_path,
                                                                           beats):
        run = tmp_path / "run"
        before = _interrupted(run, beats)
        with pytest.raises(ValueError, match=r"ECG_BLOCK True -> False.*PYRAMID True -> False"):
            _train(run, beats, {"ECG_BLOCK": False, "PYRAMID": False})
        assert _snapshot(run) == before

    def test_another_model_with_the_same_settings_is_refused(self, tmp_path, beats):
        # A model passed to train() is not described by the parameters: its weights are.
        run = tmp_path / "run"
        before = _interrupted(run, beats)
        with pytest.raises(ValueError, match=f"{run}: .*model") as err:
            _train(run, beats, model=lambda: tiny_model(filters=6))
        assert "could not be loaded" not in str(err.value)
        assert _snapshot(run) == before

    def test_other_beats_with_the_same_settings_are_refused(self, tmp_path, beats):
        run = tmp_path / "run"
        before = _interrupted(run, beats)
        fewer = beats.take(np.flatnonzero(beats.meta["record"].astype(str) != "106"))
        with pytest.raises(ValueError, match=f"{run}: .*training data"):
            _train(run, fewer)
        assert _snapshot(run) == before


    def test_a_backup_without_its_run_json_is_refused(self, tmp_path, beats, monkeypatch):
        run = tmp_path / "run"
        _interrupted(run, beats)
        (run / "run.json").unlink()
        with monkeypatch.context() as m:
            m.setattr("ecgkit.data.datasets.load_beats", _must_not_load)
            with pytest.raises(ValueError, match=f"{run}: holds an interrupted run .*"
                                                 f"{run / 'run.json'}.*restart"):
                _train(run, None)
        watch = Watch()
        _train(run, beats, callbacks=[watch], restart=True)
        assert watch.begun == [0, 1]


class TestInterruptedRunIsRecorded:
    def test_run_json_says_interrupted(self, tmp_path, beats):
        run = tmp_path / "run"
        _interrupted(run, beats)
        info = json.loads((run / "run.json").read_text())
        assert info["status"] == "interrupted" and info["epochs_run"] == 1

    @pytest.mark.parametrize("epoch", [1, 2])
    def test_ctrl_c_during_the_backup_leaves_a_consistent_one(self, tmp_path, beats, epoch):
        """Ctrl-C while the backup of ``epoch`` is written, its weights already on disk: the
        next run resumes from the backup before (epoch 2), or starts afresh (epoch 1)."""
        run = tmp_path / "run"
        first = Watch()

        def model():
            m = tiny_model()
            save = m.save_weights

            def save_then_ctrl_c(*args, **kwargs):
                save(*args, **kwargs)
                path = kwargs.get("filepath", args[0] if args else "")
                if "backup" in str(path) and len(first.after) == epoch - 1:
                    raise KeyboardInterrupt

            m.save_weights = save_then_ctrl_c
            return m

        with pytest.raises(KeyboardInterrupt):
            _train(run, beats, {"EPOCHS": 3}, model=model, callbacks=[first])
        assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
        second = Watch()
        _train(run, beats, {"EPOCHS": 3}, callbacks=[second])
        if epoch == 1:
            assert second.begun == [0, 1, 2] and _same(second.start, first.start)
        else:
            assert second.begun == [1, 2] and _same(second.start, first.after[1])


@contextlib.contextmanager
def _held(folder):
    """Holds the lock a running training holds on its folder."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _must_not_load(*args, **kwargs):
    raise AssertionError("the run must be refused before its beats are loaded")


class TestOneTrainingPerFolder:
    def test_a_second_training_is_refused(self, tmp_path, beats):
        run = tmp_path / "run"
        with _held(run), pytest.raises(
                ValueError, match=f"{run}: another training is writing into this folder"):
            _train(run, beats)
        assert not any(run.iterdir())
        _train(run, beats, {"EPOCHS": 1})  # free again

    def test_command_line_message(self, tmp_path, capsys, monkeypatch):
        from ecgkit.cli import main

        monkeypatch.setattr("ecgkit.data.datasets.load_beats", _must_not_load)
        run = tmp_path / "run"
        with _held(run):
            rc = main(["train", "--set", "EPOCHS=1", "--run-dir", str(run), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 1 and f"error: {run}: another training is writing" in err
        assert "Traceback" not in err


class TestRestartOption:
    def test_refusal_and_restart_on_the_command_line(self, tmp_path, beats, capsys,
                                                     monkeypatch):
        from ecgkit.cli import main

        run = tmp_path / "run"
        _interrupted(run, beats, {"EPOCHS": 4})
        monkeypatch.setattr("ecgkit.data.datasets.load_beats", _must_not_load)
        rc = main(["train", "--set", "EPOCHS=2", "--run-dir", str(run), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 1 and err.startswith(f"error: {run}: ") and "EPOCHS 4 -> 2" in err
        assert "--restart" in err and "Traceback" not in err

        seen = {}

        def fake_train(params, **kwargs):
            seen.update(kwargs)
            raise KeyboardInterrupt

        monkeypatch.setattr("ecgkit.training.train.train", fake_train)
        rc = main(["train", "--set", "EPOCHS=2", "--run-dir", str(run), "--quiet", "--restart"])
        assert seen["restart"] is True
        assert rc == 130 and "the same command resumes" in capsys.readouterr().err
