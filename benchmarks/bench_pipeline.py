"""Input pipeline throughput: images/s of ``signal_dataset`` (``ecgkit.data.batches.Batches``) as
``fit`` consumes it, beside the ``tf.data`` pipeline it replaced, in one run.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--batches 100] [--batch-size 64]
     KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_pipeline.py   (no reference column)

Renders on the fly from the in-memory windows of the embedded MIT-BIH database (training split,
shuffled, endless), with no model attached, at 224 px (the gpu profile) and 96 px (the cpu
profile), with augmentation off and on (strength 1: signal augmentation, then image
augmentation). ``Batches`` is read through Keras' own PyDataset adapter (worker threads and
queue; on TensorFlow the ``tf.data`` wrapper ``fit`` builds around it). The reference is the
pipeline of commit 18cb43f (before issue #10), kept below only for this comparison: one
``tf.numpy_function`` per batch in a parallel ``map``, and image augmentation by Keras' random
layers in a second ``map``; it needs TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import time

TARGET = 2000  # images/s at 224 px, augmentation off, 2 cores


def reference_tfdata(beats, image_size, batch_size, strength, seed=42):
    """The tf.data pipeline before issue #10 (signal_dataset + augment_dataset), for comparison."""
    import numpy as np
    import tensorflow as tf

    from ecgkit.data.augment import ecg_augmentation, make_signal_augment
    from ecgkit.data.datasets import one_hot
    from ecgkit.data.render import render_batch

    windows = np.ascontiguousarray(beats.windows, dtype=np.float32)
    targets = one_hot(beats.labels)
    signal_augment = make_signal_augment(strength) if strength > 0 else None

    def render(draw, idx):
        w = windows[idx]
        if signal_augment is not None:
            w = signal_augment(w.copy(), np.random.default_rng([seed, int(draw) & 0x7FFFFFFF]))
        images, _ = render_batch(w, image_size, True, baseline=signal_augment is not None)
        return images, targets[idx]

    def tf_render(idx, draw):
        images, y = tf.numpy_function(render, [draw, idx], [tf.uint8, tf.float32])
        images.set_shape([None, image_size, image_size, 3])
        return images, y

    ds = tf.data.Dataset.range(len(windows)).shuffle(len(windows), seed=seed).repeat()
    ds = tf.data.Dataset.zip(ds.batch(batch_size), tf.data.Dataset.random(seed=seed))
    ds = ds.map(tf_render, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if strength > 0:
        aug = ecg_augmentation(strength, seed=seed)

        def apply(x, y):
            out = aug(tf.cast(x, tf.float32), training=True)
            return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8), y

        ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    return iter(ds.prefetch(tf.data.AUTOTUNE))


def batches_iterator(train_beats, val_beats, image_size, batch_size, strength, seed=42):
    """The training stream of ``train.make_datasets`` (shuffled, CLASS_BALANCE none), read as
    ``fit`` reads it: the image path alone (``context=None``; the context vectors of the default
    CONTEXT logits are cheap beside rendering)."""
    import math

    from ecgkit.params import resolve
    from ecgkit.training.train import make_datasets

    p = resolve({"IMAGE_SIZE": image_size, "GRID": True, "BATCH_SIZE": batch_size,
                 "AUGMENT_STRENGTH": strength, "CLASS_BALANCE": "none", "SEED": seed})
    ds, _ = make_datasets(train_beats, val_beats, p, math.ceil(len(train_beats) / batch_size),
                          context=None)
    yield from read_as_fit(ds)


def read_as_fit(ds):
    """The batches of a ``keras.utils.PyDataset`` read as ``fit`` reads them: through Keras'
    adapter, as a ``tf.data`` stream on TensorFlow, NumPy batches on the other backends."""
    import keras
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(ds, shuffle=False)
    adapter.on_epoch_begin()
    try:
        if keras.backend.backend() == "tensorflow":
            yield from adapter.get_tf_dataset()
        else:
            yield from adapter.get_numpy_iterator()
    finally:
        adapter.on_epoch_end()  # stops the worker threads


def rate(it, batches: int) -> float:
    for _ in range(5):  # warm-up: threads, queues, autotune
        next(it)
    n = 0
    start = time.perf_counter()
    for _ in range(batches):
        x = next(it)[0]
        if isinstance(x, dict):  # a model with a context input: its batches are dicts
            x = x["image"]
        n += int(x.shape[0])
    seconds = time.perf_counter() - start
    if hasattr(it, "close"):
        it.close()
    return n / seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from ecgkit.data.datasets import load_beats

    beats = load_beats(progress=False)
    train, val = beats.subset("train"), beats.subset("val")
    backend = keras.backend.backend()
    reference = backend == "tensorflow"
    print(f"{len(train):,} training beats, batch {args.batch_size}, {os.cpu_count()} cores, "
          f"Keras backend {backend}")
    print(f"{'images/s':26} {'Batches':>9} {'tf.data (ref)':>14} {'ratio':>6}")
    for size in (224, 96):
        for strength in (0.0, 1.0):
            ours = rate(batches_iterator(train, val, size, args.batch_size, strength), args.batches)
            label = f"{size} px, augmentation {'on' if strength else 'off'}"
            if reference:
                ref = rate(reference_tfdata(train, size, args.batch_size, strength), args.batches)
                print(f"{label:26} {ours:>9,.0f} {ref:>14,.0f} {ours / ref:>6.2f}")
            else:
                print(f"{label:26} {ours:>9,.0f} {'-':>14} {'-':>6}")
    print(f"target: >= {TARGET:,} images/s at 224 px, augmentation off, and at least the "
          "reference's rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
