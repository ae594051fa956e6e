"""Workbook parameters: one set of names shared by every notebook, every profile and the CLI.

Introduced in: notebooks/00_setup_and_tour.ipynb.

A profile (``params/smoke.yaml``, ``params/cpu.yaml``, ``params/gpu.yaml``) is a flat YAML
mapping of these UPPER_CASE names. The same name means the same thing in every notebook, so one
profile drives the whole workbook (papermill injects the values) and ``ecgkit train --params``.
An unknown name is an error, never a warning: a typo must not silently run the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Param:
    """One workbook parameter: its type, default and meaning."""

    type: type
    default: Any
    help: str


PARAMS: dict[str, Param] = {
    # Data
    "DATA_DIR": Param(str, "", "WFDB folder to read; empty = the embedded database in data/mitdb "
                      "(all 48 MIT-BIH records)"),
    "RECORDS": Param(str, "", "comma-separated record names to read from DATA_DIR; empty = every "
                     "record"),
    "SPLIT": Param(str, "inter-patient", "split protocol: 'inter-patient' (default) or "
                   "'beat-random-LEAKS-PATIENTS' (a leaky beat-level split, for comparison only)"),
    "LEAD": Param(str, "MLII", "ECG lead, chosen by name"),
    "IMAGE_SIZE": Param(int, 224, "side of the square ECG image in pixels"),
    "GRID": Param(bool, True, "draw the ECG-paper grid (1 mm / 5 mm) behind the trace"),
    "MAX_BEATS_PER_RECORD": Param(int, 0, "cap of beats per record and class (0 = no cap)"),
    "VAL_FRACTION": Param(float, 0.2, "share of training patients held out for validation"),
    # Model
    "WEIGHTS": Param(str, "none", "backbone weights: 'imagenet', 'none', or a weights file path"),
    "ECG_BLOCK": Param(bool, True, "use the multi-scale ECG-specific block"),
    "ATTENTION": Param(bool, True, "use channel + spatial attention"),
    "CALIBRATION": Param(bool, True, "use the feature calibration module"),
    "PYRAMID": Param(bool, True, "use feature-pyramid / multi-path fusion"),
    "DROPOUT": Param(float, 0.5, "dropout rate in the classification head"),
    # Training
    "EPOCHS": Param(int, 10, "training epochs"),
    "STEPS_PER_EPOCH": Param(int, 0, "batches per epoch (0 = one pass over the training data)"),
    "BATCH_SIZE": Param(int, 32, "images per batch"),
    "LEARNING_RATE": Param(float, 3e-4, "peak learning rate after warm-up (AdamW)"),
    "WEIGHT_DECAY": Param(float, 1e-4, "AdamW decoupled weight decay"),
    "WARMUP_EPOCHS": Param(float, 1.0, "linear warm-up length in epochs"),
    "FOCAL_GAMMA": Param(float, 2.0, "focal-loss focusing parameter gamma"),
    "CLASS_BALANCE": Param(str, "alpha", "'alpha' (focal alpha from counts), 'class_weight', "
                           "'sampling' (balanced batches) or 'none'"),
    "AUGMENT_STRENGTH": Param(float, 1.0, "ECG-safe augmentation strength (0 = off, 1 = default)"),
    "MIXED_PRECISION": Param(str, "auto", "'auto' (on for GPU), 'on' or 'off'"),
    "DETERMINISTIC": Param(bool, False, "op-deterministic training (slower; Keras turns XLA off)"),
    "SEED": Param(int, 42, "random seed for splits, sampling, augmentation and initialisation"),
    # Outputs
    "RUN_DIR": Param(str, "runs/notebooks", "folder where notebooks and runs write their outputs"),
    "MODEL_PATH": Param(str, "", "trained .keras model to evaluate; empty = RUN_DIR/models/enhanced.keras"),
    "ABLATION_EPOCHS": Param(int, 3, "epochs per model in the ablation study"),
    "BOOTSTRAP": Param(int, 200, "bootstrap resamples (by patient) for confidence intervals"),
}


class ParamError(ValueError):
    """A profile names an unknown parameter or gives a value of the wrong type."""


def defaults() -> dict[str, Any]:
    """Every parameter with its default value."""
    return {name: p.default for name, p in PARAMS.items()}


def _coerce(name: str, value: Any, source: str) -> Any:
    want = PARAMS[name].type
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if name == "RECORDS" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # one record written unquoted (RECORDS: 100) reads as a YAML number
    if want is str and value is None:
        return ""
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise ParamError(
            f"{source}: parameter {name} must be {want.__name__}, "
            f"got {type(value).__name__} {value!r}"
        )
    return value


def validate(values: dict[str, Any], source: str = "parameters") -> dict[str, Any]:
    """Checks names and types; returns a copy with ints widened to floats where needed.

    Raises:
        ParamError: on an unknown name (with the closest known names) or a wrong type.
    """
    import difflib

    out = {}
    for name, value in values.items():
        if name not in PARAMS:
            close = difflib.get_close_matches(name, PARAMS, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ParamError(f"{source}: unknown parameter {name!r}.{hint}")
        out[name] = _coerce(name, value, source)
    return out


def load_profile(path: str | Path) -> dict[str, Any]:
    """Reads a YAML profile and validates it. Values not in the file keep their defaults.

    Args:
        path: a YAML file, or a profile name (``smoke``, ``cpu``, ``gpu``) looked up in
            ``params/`` at the project root.

    Returns:
        The validated overrides in the file (not merged with defaults).
    """
    from ecgkit.contract import PROJECT_ROOT

    p = Path(path)
    if not p.suffix and not p.exists():
        p = PROJECT_ROOT / "params" / f"{path}.yaml"
    if not p.is_file():
        raise ParamError(f"{p}: profile not found")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ParamError(f"{p}: a profile must be a mapping of NAME: value")
    return validate(data, source=str(p))


def record_list(value: str | int | None) -> list[str] | None:
    """The ``RECORDS`` parameter as record names, for ``load_beats(records=...)``.

    ``"100, 107,232"`` -> ``["100", "107", "232"]``; ``100`` (one record, as papermill or YAML
    pass it unquoted) -> ``["100"]``; empty (or only spaces) -> None, meaning every record of
    ``DATA_DIR``. Whether the names exist is checked where they are read (``load_beats``).

    Raises:
        ParamError: not a string, an empty item (``"100,,107"``) or a name given twice.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ParamError(f"RECORDS must be a comma-separated string such as \"100, 107\", got "
                         f"{type(value).__name__} {value!r}")
    names = [n.strip() for n in value.split(",")]
    if "" in names:
        raise ParamError(f"RECORDS {value!r}: an empty name between commas")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ParamError(f"RECORDS {value!r}: {', '.join(twice)} given twice")
    return names


def resolve(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults updated with validated overrides."""
    values = defaults()
    values.update(validate(overrides or {}))
    return values
