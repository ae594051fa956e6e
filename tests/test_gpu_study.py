"""benchmarks/gpu_study.py's parts that run without a GPU: the epoch timer, the archive of the
small files and the interruption at the budget."""

import json
import signal
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gpu_study  # noqa: E402


def test_epoch_timer_counts_each_epochs_batches_and_seconds(capsys):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((20, 3), "float32"), np.zeros((20, 2), "float32")
    timer = gpu_study.epoch_timer()
    model.fit(x, y, batch_size=5, epochs=2, validation_data=(x[:5], y[:5]), verbose=0,
              callbacks=[timer])
    assert [e["epoch"] for e in timer.epochs] == [1, 2]
    assert [e["batches"] for e in timer.epochs] == [4, 4]
    for e in timer.epochs:
        assert 0 <= e["validation_seconds"] <= e["seconds"]
    assert capsys.readouterr().out.count("batches, val macro-F1 nan") == 2


def test_pack_keeps_the_small_files_and_leaves_models_and_backups(tmp_path):
    save = tmp_path / "study"
    run = save / "runs" / "gpu-enhanced-42"
    for rel in ("gpu_study.json", "gpu-enhanced-42.npz", "runs/gpu-enhanced-42/run.json",
                "runs/gpu-enhanced-42/history.csv", "runs/gpu-enhanced-42/model.keras",
                "runs/gpu-enhanced-42/checkpoints/best.weights.h5",
                "runs/gpu-enhanced-42/backup/latest.txt"):
        (save / rel).parent.mkdir(parents=True, exist_ok=True)
        (save / rel).write_text("x")
    assert run.is_dir()
    archive = tmp_path / "out.tar.gz"
    gpu_study.pack(save, archive)
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert names == ["gpu-enhanced-42.npz", "gpu_study.json", "runs/gpu-enhanced-42/history.csv",
                     "runs/gpu-enhanced-42/run.json"]


def test_interrupt_at_raises_keyboard_interrupt_after_the_budget():
    previous = signal.getsignal(signal.SIGALRM)
    try:
        with pytest.raises(KeyboardInterrupt):
            gpu_study.interrupt_at(1)
            time.sleep(5)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_unknown_recipe_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        gpu_study.main(["--recipes", "gpu-enormous"])
    err = capsys.readouterr().err
    assert "unknown recipe(s) ['gpu-enormous']" in err and "gpu-enhanced" in err


def test_step_rate_trains_the_recipes_model_on_one_batch_in_memory(monkeypatch, tmp_path):
    import bench_learning

    small = {**bench_learning.RECIPES["gpu-baseline"], "IMAGE_SIZE": 32, "BATCH_SIZE": 2}
    monkeypatch.setitem(bench_learning.RECIPES, "gpu-baseline", small)
    monkeypatch.setattr(gpu_study.step_rate, "__defaults__", (2,))  # 2 timed steps, not 30
    gpu_study.main(["--recipes", "gpu-baseline", "--step-rate", "--save", str(tmp_path)])
    rate = json.loads((tmp_path / "gpu_study.json").read_text())["step_rate"]["gpu-baseline"]
    assert rate["batch"] == 2 and rate["steps"] == 2 and rate["images_per_s"] > 0
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"  # the policy is put back
