"""A run folder belongs to one training configuration: what may resume there, and what not.

Introduced in: notebooks/20_training.ipynb.

``train`` resumes an interrupted run from its backup (``ecgkit.training.callbacks``). Resuming with
other settings would continue one run's weights under another run's settings and record only the
second's: a model of two trainings that nobody asked for, or, with another architecture, a Keras
error after run.json was rewritten. So :func:`interrupted_run` reads what the interrupted run
recorded (its run.json), and :func:`check_resume` refuses a run whose parameters, training data
or model differ from it, naming each difference and the ways out, before anything in the folder
is written. ``train(..., restart=True)`` (``ecgkit train --restart``) discards the interrupted
run instead.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from ecgkit.training.callbacks import backup_state

RUN_JSON = "run.json"

RESUME_FREE_PARAMS = frozenset({"RUN_DIR", "MODEL_PATH", "BOOTSTRAP", "EXPLORER_STEPS"})
"""Parameters that may differ when a run resumes: none of them reaches the training (RUN_DIR
only names the default folder, MODEL_PATH and BOOTSTRAP are evaluation's, EXPLORER_STEPS the
explorer widget's). Every other one must be equal, because run.json records one set of
parameters for the whole run. EPOCHS included: the learning rate follows a warm-up and cosine
schedule over EPOCHS x steps, so a resume with more (or fewer) epochs would leave the first
run's schedule at the resume point for another one, a run neither setting describes. To train
longer, start a new run. How progress is shown (``progress``, ``--quiet``) is not a parameter
and never matters."""


class RunFolderError(ValueError):
    """A run folder holds an interrupted run that this run may not resume."""


def interrupted_run(run_dir: str | Path) -> dict[str, Any] | None:
    """What the interrupted run in ``run_dir`` recorded, or None when there is none to resume.

    Returns:
        Its run.json, with ``"epochs_done"`` set to the epochs its backup holds.

    Raises:
        RunFolderError: a backup without a readable run.json (its settings are unknown).
    """
    run_dir = Path(run_dir)
    state = backup_state(run_dir / "backup")
    if state is None:
        return None
    path = run_dir / RUN_JSON
    try:
        info = json.loads(path.read_text())
        info["params"].items()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RunFolderError(
            f"{run_dir}: holds an interrupted run ({_epochs(state['epoch'])} done) but {path} "
            f"does not say with which settings ({type(exc).__name__}: {exc}); start afresh in "
            "another folder, or in this one with --restart (restart=True), which discards "
            "the interrupted run") from None
    return {**info, "epochs_done": state["epoch"]}


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def model_signature(model) -> dict[str, Any]:
    """What identifies a model's weights for a resume: their count and a hash of their shapes
    in order (names are left out: Keras numbers unnamed layers per process)."""
    shapes = [tuple(int(d) for d in w.shape) for w in model.weights]
    digest = hashlib.sha256(repr(shapes).encode()).hexdigest()[:16]
    return {"weights": len(shapes), "parameters": sum(math.prod(s) for s in shapes),
            "shapes_sha256": digest}


def param_differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``["EPOCHS 4 -> 2", ...]``: the parameters that differ, except
    :data:`RESUME_FREE_PARAMS`; a parameter one side lacks is ``(not recorded)``."""
    out = []
    for name in sorted((set(before) | set(now)) - RESUME_FREE_PARAMS):
        a, b = before.get(name, _MISSING), now.get(name, _MISSING)
        if a != b:
            out.append(f"{name} {_show(a)} -> {_show(b)}")
    return out


_MISSING = object()


def _show(value) -> str:
    return "(not recorded)" if value is _MISSING else repr(value) if value == "" else str(value)


def check_resume(run_dir: str | Path, previous: dict[str, Any] | None,
                 params: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                 model: dict[str, Any] | None = None) -> None:
    """Refuses to resume ``previous`` (:func:`interrupted_run`) with other settings.

    Args:
        run_dir: the run folder, for the message.
        previous: the interrupted run's run.json; None: nothing to resume, nothing to check.
        params: this run's resolved parameters (None: not checked).
        data: this run's ``train.data_summary`` (None: not checked).
        model: this run's :func:`model_signature` (None, or none recorded: not checked).

    Raises:
        RunFolderError: something differs; the message names each difference, and the ways
            out: the same settings, another folder, or ``--restart`` (``restart=True``).
    """
    if previous is None:
        return
    problems = []
    if params is not None:
        changed = param_differences(previous.get("params", {}), params)
        if changed:
            problems.append("other parameters (" + ", ".join(changed) + ")")
    if data is not None and previous.get("data") is not None:
        data = json.loads(json.dumps(data))  # as run.json holds it
        if data != previous["data"]:
            problems.append("other training data (" + _data_change(previous["data"], data) + ")")
    if model is not None and previous.get("model") is not None and model != previous["model"]:
        a, b = previous["model"]["parameters"], model["parameters"]
        problems.append(f"another model ({a:,} -> {b:,} parameters)" if a != b
                        else "another model (as many parameters, in other shapes)")
    if not problems:
        return
    epochs = previous.get("params", {}).get("EPOCHS", "?")
    raise RunFolderError(
        f"{run_dir}: holds an interrupted run ({_epochs(previous['epochs_done'])} of {epochs} "
        f"done) and this run has {'; '.join(problems)}; resuming would mix two trainings in "
        "one model. Run again with the same settings to resume it, or start afresh in another "
        "folder, or in this one with --restart (restart=True), which discards the interrupted "
        "run")


def _data_change(before: dict[str, Any], now: dict[str, Any]) -> str:
    """``"train: 14 -> 12 beats, records 106 left out"`` for each split that differs."""
    parts = []
    for split in sorted(set(before) | set(now)):
        a, b = before.get(split) or {}, now.get(split) or {}
        if a == b:
            continue
        words = [f"{a.get('beats', 0)} -> {b.get('beats', 0)} beats"]
        gone = sorted(set(a.get("records", [])) - set(b.get("records", [])))
        new = sorted(set(b.get("records", [])) - set(a.get("records", [])))
        if gone:
            words.append("records " + " ".join(gone) + " left out")
        if new:
            words.append("records " + " ".join(new) + " added")
        parts.append(f"{split}: " + ", ".join(words))
    return "; ".join(parts)
