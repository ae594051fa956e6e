"""Files written safely: atomically, and by one command at a time in a folder.

Introduced in: notebooks/20_training.ipynb.

Each writer writes to a temporary name in the destination's folder, then ``os.replace`` (atomic
on POSIX and Windows within one file system) puts the file in place. Keras' own
``ModelCheckpoint`` opens the final file and writes into it, so an interruption can leave a
truncated file; training writes its checkpoints, model and run.json through these functions.

An operating-system error while writing is raised as an :class:`OutputError` naming the path and
the problem in words (``[Errno 28] No space left on device`` names no file; ``[Errno 17] File
exists`` does not say that a file stands where a folder is expected): :func:`describe_os_error`
is the one translation, used by these writers and by the command line for any other writer.
:func:`exclusive_folder` keeps a second command (``build-dataset``, ``train``) out of a folder
that one is writing into.
"""

from __future__ import annotations

import contextlib
import errno
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


class OutputError(OSError):
    """Writing an output failed; the message names the path and the problem (``errno`` is the
    operating system's)."""

    def __str__(self) -> str:
        return str(self.strerror)


_FULL = {errno.ENOSPC: "no space left on the device (the disk is full)",
         getattr(errno, "EDQUOT", -1): "no space left in the disk quota"}


def _file_in_the_way(path: Path) -> Path | None:
    """The first existing part of ``path`` that is not a folder, or None."""
    for part in (*reversed(path.parents), path):
        if part.exists() and not part.is_dir():
            return part
    return None


def describe_os_error(exc: OSError, path: str | Path | None = None) -> str:
    """An operating-system error in words, naming the path (``path``, else the error's own).

    A full disk or quota says so; a file where a folder is expected (``[Errno 17] File exists``,
    ``[Errno 20] Not a directory``) names that file. Other errors read ``PATH: reason``.
    """
    if isinstance(exc, OutputError):
        return str(exc)
    where = Path(path) if path is not None else (Path(exc.filename) if exc.filename else None)
    if exc.errno in _FULL:
        problem = f"{_FULL[exc.errno]}; free some space or write elsewhere"
        return f"{where}: {problem}" if where is not None else problem[0].upper() + problem[1:]
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and where is not None:
        blocker = _file_in_the_way(where)
        if blocker is not None:
            also = "" if blocker == where else f" (for {where})"
            return (f"{blocker}: a file, where a folder is expected{also}; remove it or choose "
                    "another folder")
    if where is None:
        return str(exc)
    return f"{where}: {exc.strerror or exc}"


def output_error(exc: OSError, path: str | Path) -> OutputError:
    """``exc`` as an :class:`OutputError` whose message names ``path`` and the problem."""
    return OutputError(exc.errno, describe_os_error(exc, path))


@contextlib.contextmanager
def writing(path: str | Path):
    """Raises an operating-system error inside the block as an :class:`OutputError` naming
    ``path``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        if exc.errno is None:
            raise
        raise output_error(exc, path) from exc


def check_folder(path: str | Path) -> Path:
    """Checks that ``path`` can be an output folder (it and its parents are folders, or are
    not there yet) before any work is done; creates nothing.

    Raises:
        OutputError: naming the file in the way.
    """
    path = Path(path)
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise output_error(OSError(errno.EEXIST if blocker == path else errno.ENOTDIR,
                                   os.strerror(errno.EEXIST)), path)
    return path


def make_folder(path: str | Path) -> Path:
    """``path.mkdir(parents=True, exist_ok=True)``, a file in the way named as such."""
    path = Path(path)
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_save(model, path: str | Path) -> Path:
    """Saves ``model`` to ``path`` so that the file is never half-written.

    ``*.weights.h5`` saves the weights only (``model.save_weights``); any other name (``.keras``)
    saves the whole model. Either way the file is written to a temporary name in the same folder,
    then ``os.replace`` (atomic on POSIX and Windows for one file system) puts it in place: a
    reader sees the old file or the new one, never a truncated one.
    """
    path = Path(path)
    make_folder(path.parent)
    weights_only = path.name.endswith(".weights.h5")
    suffix = ".weights.h5" if weights_only else path.suffix
    stem = path.name[: -len(suffix)] if suffix else path.name
    tmp = path.with_name(f".{stem}.tmp-{os.getpid()}{suffix}")
    try:
        with writing(path):
            (model.save_weights if weights_only else model.save)(tmp)
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically: to ``.NAME.PID.tmp`` beside it, then
    ``os.replace``. A crash leaves at most that hidden temporary file (``build-dataset`` removes
    such leftovers when it runs again). A full disk or other failure removes the temporary
    file and raises :class:`OutputError` naming ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with writing(path):
            _write_file(tmp, data)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


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
