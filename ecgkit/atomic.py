"""Files written atomically: a reader sees the old file or the new one, never a half-written one.

Introduced in: notebooks/20_training.ipynb.

Each writer writes to a temporary name in the destination's folder, then ``os.replace`` (atomic
on POSIX and Windows within one file system) puts the file in place. Keras' own
``ModelCheckpoint`` opens the final file and writes into it, so an interruption can leave a
truncated file; training writes its checkpoints, model and run.json through these functions.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np


def atomic_save(model, path: str | Path) -> Path:
    """Saves ``model`` to ``path`` so that the file is never half-written.

    ``*.weights.h5`` saves the weights only (``model.save_weights``); any other name (``.keras``)
    saves the whole model. Either way the file is written to a temporary name in the same folder,
    then ``os.replace`` (atomic on POSIX and Windows for one file system) puts it in place: a
    reader sees the old file or the new one, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights_only = path.name.endswith(".weights.h5")
    suffix = ".weights.h5" if weights_only else path.suffix
    stem = path.name[: -len(suffix)] if suffix else path.name
    tmp = path.with_name(f".{stem}.tmp-{os.getpid()}{suffix}")
    try:
        (model.save_weights if weights_only else model.save)(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically: to ``.NAME.PID.tmp`` beside it, then
    ``os.replace``. A crash leaves at most that hidden temporary file (``build-dataset`` removes
    such leftovers when it runs again)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if math.isnan(float(o)) else float(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_json(path: Path, data: dict) -> None:
    """Writes JSON atomically (temp file + os.replace); NumPy numbers and paths are converted,
    NaN becomes null."""
    write_bytes(path, json.dumps(data, indent=2, default=_json_default).encode())
