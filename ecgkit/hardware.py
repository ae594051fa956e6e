"""The machine a training run uses: devices, distribution strategy, mixed precision, seeds.

Introduced in: notebooks/20_training.ipynb.

``train`` calls :func:`set_seeds`, :func:`hardware_settings` and :func:`select_strategy` before
it builds the model, and records :func:`versions` in run.json.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf


def select_strategy(devices: list[str] | None = None):
    """Chooses a ``tf.distribute`` strategy for the visible hardware.

    - ``TF_CONFIG`` set in the environment: ``MultiWorkerMirroredStrategy`` (several machines);
    - ``devices`` given (e.g. two logical CPUs in a test): ``MirroredStrategy(devices)``;
    - two or more GPUs: ``MirroredStrategy`` over all of them;
    - otherwise the default strategy (one GPU or the CPU).
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices:
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX; Linux /proc/cpuinfo).

    Without it, bfloat16 is emulated and slower than float32, so ``auto`` stays in float32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def hardware_settings(mixed_precision: str = "auto", deterministic: bool = False) -> dict[str, Any]:
    """Decides mixed precision and XLA from the hardware and the parameters.

    Mixed precision is used with ``"on"``, or with ``"auto"`` on a GPU (``mixed_float16``) and on
    a CPU that computes bfloat16 natively (``mixed_bfloat16``; measured 1.35x faster training
    steps than float32 for the enhanced ResNet50 at 64 px on a 2-core AMD EPYC, see
    benchmarks/README.md). float16 is never used on a CPU: it is emulated there. XLA
    (``jit_compile``) is used on GPU unless ``deterministic``: Keras turns XLA off under op
    determinism anyway, and XLA on CPU compiled slowly and ran 6x slower here.

    Returns:
        ``{"gpus", "mixed_precision" (bool), "policy" (Keras dtype policy name or None),
        "jit_compile"}``.
    """
    if mixed_precision not in ("auto", "on", "off"):
        raise ValueError(f"MIXED_PRECISION must be 'auto', 'on' or 'off'. "
                         f"Received: {mixed_precision!r}")
    gpus = tf.config.list_physical_devices("GPU")
    policy = "mixed_float16" if gpus else "mixed_bfloat16"
    mp = mixed_precision == "on" or (mixed_precision == "auto" and (bool(gpus) or cpu_has_bf16()))
    return {"gpus": [g.name for g in gpus], "mixed_precision": mp,
            "policy": policy if mp else None, "jit_compile": bool(gpus) and not deterministic}


def set_seeds(seed: int, deterministic: bool = False) -> None:
    """Seeds Python, NumPy and TensorFlow; optionally makes TF ops deterministic (slower)."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    """Versions of the software that produced a run."""
    try:
        ecgkit_version = version("ecgkit")
    except PackageNotFoundError:  # not installed as a distribution
        ecgkit_version = "unknown"
    return {"python": sys.version.split()[0], "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "ecgkit": ecgkit_version,
            "platform": platform.platform()}
