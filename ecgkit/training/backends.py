"""Which Keras backend a run asks for, and whether it can run here, before Keras is imported.

Introduced in: notebooks/00_setup_and_tour.ipynb.

Keras picks its backend from ``KERAS_BACKEND`` (else ``~/.keras/keras.json``) when it is first
imported; an unknown name, or a backend whose package is not installed, ends in a traceback from
inside Keras. :func:`backend_problem` says it in one line first, without importing Keras or any
backend (``importlib.util.find_spec`` only looks the package up). ``ecgkit.training.hardware`` is
about the backend once it runs.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
from pathlib import Path

SUPPORTED = ("tensorflow", "jax", "torch")
"""The Keras backends ecgkit runs on (the ``numpy`` and ``openvino`` backends cannot train)."""

_INSTALL = {
    "tensorflow": "pip install -e . (TensorFlow is a dependency of ecgkit)",
    "jax": "pip install -e '.[jax]' (jax[cuda12] for an NVIDIA GPU)",
    "torch": "pip install -e '.[torch]' (CPU-only: pip install torch --index-url "
             "https://download.pytorch.org/whl/cpu)",
}
_ANY = "tensorflow, jax or torch"
_TITLE = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def installed() -> list[str]:
    """The supported backends whose package is installed, in :data:`SUPPORTED` order."""
    return [name for name in SUPPORTED if importlib.util.find_spec(name) is not None]


def requested() -> tuple[str, str] | None:
    """``(backend, where it is set)`` from ``KERAS_BACKEND`` or Keras' ``keras.json``; None
    when neither names one (Keras then uses TensorFlow)."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name, "KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    config = Path(home) / "keras.json"
    try:
        name = json.loads(config.read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return (str(name), f"{config} (backend)") if name else None


def backend_problem() -> str | None:
    """One line naming the requested backend, what is installed and how to install the rest,
    when the requested backend cannot run ecgkit; None when it can."""
    asked = requested()
    if asked is None:
        name, where = "tensorflow", None
    else:
        name, where = asked
    here = installed()
    if name in SUPPORTED and name in here:
        return None
    source = {None: "KERAS_BACKEND not set (Keras' default: tensorflow)",
              "KERAS_BACKEND": f"KERAS_BACKEND={name}"}.get(where, f"{where}: {name}")
    has = f"installed: {', '.join(here) or 'none of them'}"
    choose = f"set KERAS_BACKEND={here[0]}" if here else "install one"
    if name in SUPPORTED:
        return (f"{source}: {_TITLE[name]} is not installed ({has}); install it with "
                f"{_INSTALL[name]}, or {choose}")
    close = difflib.get_close_matches(name.lower(), SUPPORTED, n=1)
    if close and close[0] != name:
        what = f"not a Keras backend (did you mean {close[0]}?); ecgkit runs on {_ANY}"
    else:
        what = f"ecgkit runs on {_ANY}, not {name}"
        if name in ("numpy", "openvino"):
            what += f" (Keras' {name} backend cannot train)"
    missing = [b for b in SUPPORTED if b not in here]
    more = "; ".join(f"{b}: {_INSTALL[b]}" for b in missing)
    return f"{source}: {what}; {has}; {choose}" + (f", or install {more}" if more else "")
