"""The machine a training run uses: devices, distribution, mixed precision, seeds.

Introduced in: notebooks/20_training.ipynb.

``train`` calls :func:`set_seeds`, :func:`hardware_settings` and :func:`select_strategy` before
it builds the model, and records :func:`versions` in run.json. Every function here works on the
Keras backend in use (``KERAS_BACKEND``: ``tensorflow``, ``jax`` or ``torch``) and imports only
that backend's package.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import keras
import numpy as np


def accelerators() -> list[str]:
    """The GPUs (or other accelerators) the backend sees; empty on a CPU-only machine."""
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if name == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    if name == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return []


class OneDevice:
    """The strategy of a run on one device (or on several through the backend's own defaults):
    nothing to distribute, a scope that does nothing."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def select_strategy(devices: list[str] | None = None):
    """Chooses how a run is distributed over the visible hardware, for the backend in use.

    TensorFlow (``tf.distribute``):

    - ``TF_CONFIG`` set in the environment: ``MultiWorkerMirroredStrategy`` (several machines);
    - ``devices`` given (e.g. two logical CPUs in a test): ``MirroredStrategy(devices)``;
    - two or more GPUs: ``MirroredStrategy`` over all of them;
    - otherwise the default strategy (one GPU or the CPU).

    JAX (``keras.distribution``): ``DataParallel`` over ``devices`` when given (e.g.
    ``["cpu:0", "cpu:1"]``), over all accelerators when there are two or more, else
    :class:`OneDevice`. PyTorch: :class:`OneDevice` (Keras trains on one device;
    several need PyTorch's own DistributedDataParallel, outside ecgkit).

    Every returned object has ``scope()``; :func:`replicas` counts its devices.
    """
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        if os.environ.get("TF_CONFIG"):
            return tf.distribute.MultiWorkerMirroredStrategy()
        if devices:
            return tf.distribute.MirroredStrategy(devices)
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "jax":
        if devices:
            return keras.distribution.DataParallel(devices=list(devices))
        found = accelerators()
        if len(found) > 1:
            return keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    return OneDevice()


def replicas(strategy) -> int:
    """How many devices a strategy from :func:`select_strategy` trains on."""
    if hasattr(strategy, "num_replicas_in_sync"):
        return int(strategy.num_replicas_in_sync)
    return int(np.asarray(strategy.device_mesh.devices).size)  # keras.distribution


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
    determinism anyway, and XLA on CPU compiled slowly and ran 6x slower here. On JAX every
    training step is compiled with XLA (``jit_compile`` True: JAX has no graph mode without it,
    and running op by op is many times slower); on PyTorch it is False (``torch.compile``).

    Returns:
        ``{"gpus", "mixed_precision" (bool), "policy" (Keras dtype policy name or None),
        "jit_compile"}``.
    """
    if mixed_precision not in ("auto", "on", "off"):
        raise ValueError(f"MIXED_PRECISION must be 'auto', 'on' or 'off'. "
                         f"Received: {mixed_precision!r}")
    gpus = accelerators()
    policy = "mixed_float16" if gpus else "mixed_bfloat16"
    mp = mixed_precision == "on" or (mixed_precision == "auto" and (bool(gpus) or cpu_has_bf16()))
    name = keras.backend.backend()
    jit = {"tensorflow": bool(gpus) and not deterministic, "jax": True}.get(name, False)
    return {"backend": name, "gpus": gpus, "mixed_precision": mp,
            "policy": policy if mp else None, "jit_compile": jit}


def set_seeds(seed: int, deterministic: bool = False) -> None:
    """Seeds Python, NumPy and the backend; optionally makes its ops deterministic (slower).

    JAX on a CPU is deterministic already; on a GPU set ``XLA_FLAGS=--xla_gpu_deterministic_ops``
    before starting Python.
    """
    keras.utils.set_random_seed(seed)
    if not deterministic:
        return
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif name == "torch":
        import torch

        torch.use_deterministic_algorithms(True)


def versions() -> dict[str, str]:
    """Versions of the software that produced a run."""
    try:
        ecgkit_version = version("ecgkit")
    except PackageNotFoundError:  # not installed as a distribution
        ecgkit_version = "unknown"
    name = keras.backend.backend()
    return {"python": sys.version.split()[0], "backend": name,
            name: _package_version(name), "keras": keras.__version__, "numpy": np.__version__,
            "ecgkit": ecgkit_version, "platform": platform.platform()}


def _package_version(module: str) -> str:
    try:
        return __import__(module).__version__
    except (ImportError, AttributeError):
        return "unknown"
