"""Files written safely: atomically, and by one command at a time in a folder.

Introduced in: notebooks/20_training.ipynb.

Each writer writes to a temporary name in the destination's folder, then ``os.replace`` (atomic
on POSIX and Windows within one file system) puts the file in place: a reader sees the old file
or the new one, never a half-written one. Keras' own ``ModelCheckpoint`` opens the final file
and writes into it, so an interruption can leave a truncated file; training writes its
checkpoints, model and run.json through these functions. :func:`exclusive_folder` keeps a
second command (``build-dataset``, ``train``) out of a folder that one is writing into.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from pathlib import Path

import numpy as np

log = logging.getLogger("ecgkit")


class FolderInUseError(ValueError):
    """Another process is writing into the folder (it holds :func:`exclusive_folder`)."""


@contextlib.contextmanager
def exclusive_folder(folder: str | Path, what: str):
    """Holds an exclusive lock on ``folder`` while the block runs.

    The lock is ``flock`` on the folder itself, so no lock file is left behind, and the kernel
    releases it when the process ends, even killed. Every command that writes into a folder
    takes the same lock, so a build-dataset and a training exclude each other too. On a
    platform without ``fcntl`` (Windows) nothing is locked and a warning says so.

    Args:
        folder: an existing folder.
        what: what is writing, for the messages (``"build-dataset"``, ``"training"``).

    Raises:
        FolderInUseError: another process holds the lock.
    """
    folder = Path(folder)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        log.warning(f"{folder}: no folder lock on this platform; run one {what} at a time")
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUseError(
                f"{folder}: another {what} is writing into this folder; wait for it to "
                "finish, or choose another folder") from None
        yield
    finally:
        os.close(fd)


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
