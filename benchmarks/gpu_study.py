"""The GPU study: the gpu profile's recipe trained on a lent GPU (JAX), scored later by
bench_learning.py beside the baselines.

Run on the GPU machine (Keras, wfdb and soundfile installed; no TensorFlow needed):
     KERAS_BACKEND=jax python benchmarks/gpu_study.py [--save runs/gpu-study] [--budget 520]
         [--pack FILE.tar.gz]
then, on any machine, with the unpacked folder:
     .venv/bin/python benchmarks/bench_learning.py --recipes gpu-enhanced,gpu-baseline \\
         --seeds 42 --save DIR

Trains bench_learning's recipes ``gpu-enhanced`` and ``gpu-baseline`` (the gpu profile: 224 px
with the grid, every training beat once per epoch, batch 64, mixed precision; random weights and
``GPU_EPOCHS`` epochs, see bench_learning.py) one after the other, with the data, validation
patients and test sample of bench_learning, and writes what bench_learning reads: each run's
probabilities (``DIR/NAME-SEED.npz``) and its run folder (``DIR/runs/NAME-SEED``). The DS2 table,
the baselines and the paired bootstraps are computed there, on a CPU.

Device time is short (15 minutes a task), so the study keeps to ``--budget`` seconds: a recipe
is started only when the time the first one took is left, and at the budget the training in
progress is interrupted (run.json says ``interrupted``); the same command then resumes it from
its last finished epoch, and skips the recipes already saved. ``DIR/gpu_study.json`` records
the machine, the versions, and per recipe the seconds of each epoch and the training images/s.
``--pack`` writes the small files (no model, checkpoint or backup) into one archive.

``--step-rate`` trains nothing: it times each recipe's model on one batch held in memory, the
rate of the accelerator alone, to set beside the rate ``fit`` reaches from rendered batches
(about 3 minutes of device time for the two recipes, compiling included).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_learning  # noqa: E402  (beside this file)

LEFT_OUT = (".keras", ".h5", ".lock")  # models and checkpoints stay on the machine
RECORD = "gpu_study.json"


def epoch_timer():
    """A Keras callback that records each epoch's seconds, its validation's seconds and its
    training batches (``timer.epochs``: one dict per epoch)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs: list[dict] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.batches, self.val_s = time.perf_counter(), 0, 0.0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1

        def on_test_begin(self, logs=None):
            self.v0 = time.perf_counter()

        def on_test_end(self, logs=None):
            self.val_s += time.perf_counter() - self.v0

        def on_epoch_end(self, epoch, logs=None):
            e = {"epoch": epoch + 1, "seconds": time.perf_counter() - self.t0,
                 "validation_seconds": self.val_s, "batches": self.batches}
            self.epochs.append(e)
            print(f"  epoch {e['epoch']}: {e['seconds']:.0f} s ({e['validation_seconds']:.0f} s "
                  f"validation), {e['batches']} batches, val macro-F1 "
                  f"{(logs or {}).get('val_macro_f1', float('nan')):.3f}", flush=True)

    return EpochTimer()


def machine() -> dict:
    """The GPU (nvidia-smi) and the software of this run."""
    from ecgkit.training.hardware import versions

    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        gpu = f"nvidia-smi failed: {e}"
    return {"gpu": gpu, "cores": os.cpu_count(), "versions": versions()}


def pack(save: Path, archive: Path) -> None:
    """``save``'s small files (not models, checkpoints or backups) into ``archive`` (.tar.gz)."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(save.rglob("*")):
            rel = path.relative_to(save)
            if (path.is_file() and not path.name.endswith(LEFT_OUT)
                    and not {"backup", "checkpoints", "tensorboard"} & set(rel.parts)):
                tar.add(path, arcname=str(rel))
    print(f"packed {archive} ({archive.stat().st_size / 1e6:.1f} MB)", flush=True)


def interrupt_at(seconds: float) -> None:
    """Raises KeyboardInterrupt in the main thread after ``seconds`` (the training in progress
    stops as after Ctrl-C, resumable)."""
    signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.alarm(max(1, int(seconds)))


def read_record(save: Path) -> dict:
    """``DIR/gpu_study.json`` as an earlier call left it, or {}."""
    path = save / RECORD
    return json.loads(path.read_text()) if path.is_file() else {}


def study(names: list[str], seed: int, save: Path, budget: float, started: float) -> dict:
    """Trains and saves each recipe while the budget allows; returns the timing record."""
    import numpy as np

    record = read_record(save)
    record.update(machine=machine(), budget_s=budget)
    record.setdefault("recipes", {})
    t0 = time.perf_counter()
    beats, val, test = bench_learning.study_beats()
    record["load_s"] = time.perf_counter() - t0
    print(f"beats loaded in {record['load_s']:.0f} s: {len(beats.subset('train'))} training, "
          f"{len(val)} validation sample, {len(test)} DS2 sample", flush=True)
    run_root = save / "runs"
    first_s = None
    for name in names:
        saved = save / f"{name}-{seed}.npz"
        if saved.is_file() and not bench_learning.stale(run_root / f"{name}-{seed}",
                                                        bench_learning.RECIPES[name], seed):
            print(f"{name}: saved already", flush=True)
            continue
        left = budget - (time.time() - started)
        if first_s is not None and left < first_s:
            print(f"{name}: not started, {left:.0f} s left of the budget and the first recipe "
                  f"took {first_s:.0f} s (run this command again to train it)", flush=True)
            continue
        timer = epoch_timer()
        interrupt_at(left)
        try:
            r = bench_learning.run_recipe(name, bench_learning.RECIPES[name], seed, beats, val,
                                          test, run_root, callbacks=[timer])
        finally:
            signal.alarm(0)
            entry = record["recipes"].setdefault(name, {"epochs": []})
            entry["epochs"] += timer.epochs  # across resumes
            (save / RECORD).write_text(json.dumps(record, indent=2))
        bench_learning.save_run(saved, r)
        first_s = first_s or r["train_s"]
        images = r["images"] / max(1, bench_learning.RECIPES[name]["EPOCHS"])
        fit = [e["seconds"] - e["validation_seconds"] for e in timer.epochs]
        steady = fit[1:] or fit  # the first epoch compiles
        entry.update(train_s=r["train_s"], eval_s=r["eval_s"], best_epoch=r["best_epoch"],
                     val_macro_f1=r["val_macro_f1"], images_per_epoch=images,
                     train_images_per_s=images / float(np.median(steady)) if steady else None)
        (save / RECORD).write_text(json.dumps(record, indent=2))
        print(f"{name}: {r['train_s']:.0f} s, best epoch {r['best_epoch']}, val macro-F1 "
              f"{r['val_macro_f1']:.3f}, {entry['train_images_per_s'] or 0:,.0f} training "
              f"images/s after the first epoch", flush=True)
    return record


def record_step_rates(names: list[str], save: Path, started: float, budget: float) -> None:
    """:func:`step_rate` of each recipe while the budget lasts, into ``DIR/gpu_study.json``."""
    record = read_record(save)
    interrupt_at(budget - (time.time() - started))
    try:
        for name in names:
            record.setdefault("step_rate", {})[name] = step_rate(name)
            (save / RECORD).write_text(json.dumps(record, indent=2))
    finally:
        signal.alarm(0)


def step_rate(name: str, steps: int = 30) -> dict:
    """Training images/s of a recipe's model on one batch held in memory (no input pipeline):
    what the accelerator does alone, beside the rate ``fit`` reaches from rendered batches."""
    import numpy as np

    from ecgkit.model.factory import create_enhanced_resnet50
    from ecgkit.params import resolve
    from ecgkit.training.hardware import hardware_settings
    from ecgkit.training.train import baseline_model, model_kwargs
    from ecgkit.training.training_config import get_training_config
    from ecgkit.training.training_run import dtype_policy

    recipe = bench_learning.RECIPES[name]
    p = resolve(bench_learning.recipe_params(recipe, 42))
    hw = hardware_settings(p["MIXED_PRECISION"])
    with dtype_policy(hw):  # built and compiled in training's policy, which is put back after
        model = (baseline_model(p) if recipe["model"] == "baseline"
                 else create_enhanced_resnet50(**model_kwargs(p)))
        cfg = get_training_config(model, learning_rate=p["LEARNING_RATE"], epochs=p["EPOCHS"],
                                  steps_per_epoch=1000, focal_gamma=p["FOCAL_GAMMA"])
        model.compile(optimizer=cfg["optimizer"], loss=cfg["loss"],
                      jit_compile=hw["jit_compile"])
    rng, b = np.random.default_rng(0), p["BATCH_SIZE"]
    x = {i.name: rng.uniform(0, 255, (b, *i.shape[1:])).astype("float32") for i in model.inputs}
    y = np.eye(model.outputs[0].shape[-1], dtype="float32")[rng.integers(0, 5, b)]
    t0 = time.perf_counter()
    for _ in range(2):
        model.train_on_batch(x, y)  # compiles
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = time.perf_counter() - t0
    out = {"compile_s": first, "steps": steps, "batch": b, "images_per_s": steps * b / seconds}
    print(f"{name}: {out['images_per_s']:,.0f} training images/s from one batch in memory "
          f"(batch {b}, {steps} steps; compiling {first:.0f} s)", flush=True)
    return out


def main(argv=None) -> int:
    started = time.time()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--save", default="runs/gpu-study", help="output folder (resumes there)")
    ap.add_argument("--recipes", default="gpu-enhanced,gpu-baseline")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--budget", type=float, default=520.0,
                    help="seconds for the whole study, loading included")
    ap.add_argument("--pack", default=None, metavar="FILE.tar.gz",
                    help="also write the small files of --save into this archive")
    ap.add_argument("--step-rate", action="store_true",
                    help="instead of training: each recipe's training images/s on one batch "
                         "held in memory (no input pipeline), into DIR/gpu_study.json")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in bench_learning.RECIPES]
    if unknown:
        ap.error(f"unknown recipe(s) {unknown}; known: {list(bench_learning.RECIPES)}")
    save = Path(args.save)
    save.mkdir(parents=True, exist_ok=True)
    try:
        if args.step_rate:
            record_step_rates(names, save, started, args.budget)
        else:
            study(names, args.seed, save, args.budget, started)
    except KeyboardInterrupt:
        print(f"interrupted at {time.time() - started:.0f} s (budget {args.budget:.0f} s): run "
              "the same command again to resume", flush=True)
    finally:
        if args.pack:
            pack(save, Path(args.pack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
