"""Workbook parameters: one set of names shared by every notebook, every profile and the CLI.

Introduced in: notebooks/00_setup_and_tour.ipynb.

``PARAMS`` is the one table of them: their types, defaults, meanings and allowed values. The
notebooks' ``parameters`` cells are written from it (``tools/make_notebooks.py``). A profile
(``params/smoke.yaml``, ``cpu.yaml``, ``gpu.yaml``, and ``demo.yaml`` for ``ecgkit demo``) is a
flat YAML mapping of these UPPER_CASE names that overrides the defaults. The same name means the
same thing in every notebook, so one profile drives the whole workbook (papermill injects the
values) and ``ecgkit train --params``. An unknown name is an error, never a warning: a typo must
not silently run the default.
"""

from __future__ import annotations

import collections.abc
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ecgkit.contract import IMAGE_SIZE, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE


@dataclass(frozen=True)
class Param:
    """One workbook parameter: its type, default, meaning and allowed values.

    Attributes:
        range: allowed interval for numbers, written as in mathematics: ``"[0, 1)"`` includes
            0 and excludes 1, ``"(0, inf)"`` is any positive finite number. Empty = any.
        choices: allowed values for strings. Empty = any.
    """

    type: type
    default: Any
    help: str
    range: str = ""
    choices: tuple[str, ...] = ()


PARAMS: dict[str, Param] = {
    # Data
    "DATA_DIR": Param(str, "", "WFDB folder to read; empty: the embedded database in data/mitdb "
                      "(all 48 MIT-BIH records)"),
    "RECORDS": Param(str, "", "comma-separated record names to read from DATA_DIR; empty: every "
                     "record"),
    "SPLIT": Param(str, "inter-patient", "split protocol: 'inter-patient' (default), "
                   "'inter-patient-strict' (paced records out: the literature's protocol) or "
                   "'beat-random-LEAKS-PATIENTS' (a leaky beat-level split, for comparison only)",
                   choices=("inter-patient", "inter-patient-strict", "beat-random-LEAKS-PATIENTS",
                            "none")),
    "LEAD": Param(str, "MLII", "ECG lead, chosen by name"),
    "FALLBACK_LEADS": Param(str, "", "leads to use, in order, for records without LEAD, comma "
                            "separated (e.g. 'V5,V1'); empty: skip those records"),
    "UNKNOWN_SYMBOLS": Param(str, "error", "annotation symbols that are neither beats nor known "
                             "non-beats: 'error' or 'skip' (counted)", choices=("error", "skip")),
    "IMAGE_SIZE": Param(int, IMAGE_SIZE, f"side of the square ECG image in pixels ({IMAGE_SIZE}: "
                        "the data contract's, ResNet50's ImageNet size); the profiles set it: "
                        "smoke 64, cpu 64, demo 64, gpu 224",
                        range=f"[{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]"),
    "GRID": Param(bool, True, "draw the ECG-paper grid (1 mm / 5 mm) behind the trace"),
    "MAX_BEATS_PER_RECORD": Param(int, 0, "cap of beats per record and class (0: no cap)",
                                  range="[0, inf)"),
    "TEST_MAX_BEATS_PER_RECORD": Param(int, 0, "cap of validation and test beats per record and "
                                       "class (0: every beat); capped beats carry weights N/n so "
                                       "metrics estimate every validation or test beat",
                                       range="[0, inf)"),
    "VAL_FRACTION": Param(float, 0.2, "share of training patients held out for validation",
                          range="[0, 1)"),
    # Your own images (notebook 40: the MIT-BIH rhythm strips as a labelled image folder)
    "STRIP_IMAGE_SIZE": Param(int, 160, "model input side for the 10-s rhythm strips of "
                              "notebook 40: each strip is drawn that wide (and 0.3 of it high) "
                              "and padded to a square, never squashed", range="[107, 1024]"),
    "STRIP_STEPS_PER_EPOCH": Param(int, 10, "batches per epoch for the rhythm-strip model of "
                                   "notebook 40 (its images are larger than the beats', so it "
                                   "takes its own budget; EPOCHS and BATCH_SIZE are shared)",
                                   range="[1, inf)"),
    "MAX_STRIPS_PER_RECORD": Param(int, 30, "cap of 10-s rhythm strips per record and class "
                                   "(build-dataset --task rhythm; 0: no cap)", range="[0, inf)"),
    "TEST_FRACTION": Param(float, 0.2, "share of an image folder's patients (or images) held "
                           "out for the test side (ecgkit train --images)", range="(0, 1)"),
    # Model
    "WEIGHTS": Param(str, "none", "backbone weights: 'imagenet', 'none', or a weights file path"),
    "ECG_BLOCK": Param(bool, True, "use the multi-scale ECG-specific block"),
    "ATTENTION": Param(bool, True, "use channel + spatial attention"),
    "CALIBRATION": Param(bool, True, "use the feature calibration module"),
    "PYRAMID": Param(bool, True, "use feature-pyramid / multi-path fusion"),
    "CONTEXT": Param(str, "logits", "the beat's context inside the model (ecgkit.data.context: "
                     "rhythm against the patient's RR, shape against the patient's usual beat): "
                     "'logits' (a context MLP whose logits add to the image head's), 'head' (its "
                     "features join the pooled image features) or 'none' (image only, the "
                     "published design)", choices=("logits", "head", "none")),
    "IMAGE_CHANNELS": Param(str, "paper", "what the image shows: 'paper' (the ECG strip on "
                            "paper, the published design) or 'context' (three traces in the "
                            "colour channels: the rhythm in units of the patient's RR, the beat "
                            "at 11 ms per pixel at 64 px, the patient's usual beat; "
                            "ecgkit.data.context_image)", choices=("paper", "context")),
    "CONTEXT_MODE": Param(str, "offline", "context from the whole record ('offline', Holter "
                          "review) or from the past only ('causal', a live monitor: no next "
                          "beat, no future average, the image cut 0.45 s after R)",
                          choices=("offline", "causal")),
    "CONTEXT_STEPS": Param(int, 2000, "batches that fit the context branch alone before the joint "
                           "training (CONTEXT logits; seconds on a CPU; 0: none)",
                           range="[0, inf)"),
    "DROPOUT": Param(float, 0.5, "dropout rate in the classification head", range="[0, 1)"),
    "BN_MOMENTUM": Param(float, 0.0, "BatchNorm moving-average momentum; 0: from the epoch "
                         "length (ecgkit.training.callbacks.auto_bn_momentum)", range="[0, 1)"),
    # Training
    "EPOCHS": Param(int, 10, "training epochs", range="[1, inf)"),
    "STEPS_PER_EPOCH": Param(int, 0, "batches per epoch (0: one pass over the training data)",
                             range="[0, inf)"),
    "BATCH_SIZE": Param(int, 32, "images per batch", range="[1, inf)"),
    "LEARNING_RATE": Param(float, 3e-4, "peak learning rate after warm-up (AdamW)",
                           range="(0, inf)"),
    "WEIGHT_DECAY": Param(float, 1e-4, "AdamW decoupled weight decay", range="[0, inf)"),
    "WARMUP_EPOCHS": Param(float, 1.0, "linear warm-up length in epochs", range="[0, inf)"),
    "FOCAL_GAMMA": Param(float, 2.0, "focal-loss focusing parameter gamma", range="[0, inf)"),
    "CLASS_BALANCE": Param(str, "sampling", "'sampling' (balanced batches: the measured cpu "
                           "recipe), 'alpha' (focal alpha from counts), 'class_weight' or 'none'",
                           choices=("alpha", "class_weight", "sampling", "none")),
    "EXPLORER_STEPS": Param(int, 10, "batches of one short run started from the explorer's "
                            "Train button (notebook 21; split into up to 3 short epochs, each "
                            "validated)", range="[1, inf)"),
    "AUGMENT_STRENGTH": Param(float, 1.0, "ECG-safe augmentation strength (0: off, 1: default)",
                              range="[0, 3]"),
    "MIXED_PRECISION": Param(str, "auto", "'auto' (on for a GPU, and bfloat16 on a CPU that "
                             "computes it natively), 'on' or 'off'",
                             choices=("auto", "on", "off")),
    "DETERMINISTIC": Param(bool, False, "op-deterministic training (slower; Keras turns XLA off)"),
    "SEED": Param(int, 42, "random seed for splits, sampling, augmentation and initialisation",
                  range=f"[0, {2**32 - 1}]"),
    # Outputs
    "RUN_DIR": Param(str, "runs/notebooks", "folder where notebooks and runs write their outputs"),
    "MODEL_PATH": Param(str, "", "trained .keras model to evaluate; empty: "
                         "RUN_DIR/models/enhanced.keras"),
    "BOOTSTRAP": Param(int, 200, "bootstrap resamples (by patient) for confidence intervals",
                       range="[0, inf)"),
}


class ParamError(ValueError):
    """A parameter is unknown, of the wrong type or out of range, or a profile is unreadable."""


def defaults() -> dict[str, Any]:
    """Every parameter with its default value."""
    return {name: p.default for name, p in PARAMS.items()}


def _interval(spec: str) -> tuple[float, float, bool, bool]:
    """``"[0, 1)"`` -> (0.0, 1.0, lower included, upper excluded)."""
    lo, hi = (float(x) for x in spec[1:-1].split(","))
    return lo, hi, spec[0] == "[", spec[-1] == "]"


def describe_range(name: str) -> str:
    """The allowed values of a parameter in words (``"in [0, 1)"``, ``">= 1"``), or ``""``."""
    p = PARAMS[name]
    if p.choices:
        return "one of " + ", ".join(repr(c) for c in p.choices)
    if not p.range:
        return ""
    lo, hi, lo_in, _ = _interval(p.range)
    if math.isinf(hi):
        return f"{'>=' if lo_in else '>'} {lo:g}"
    return f"in {p.range}"


def _coerce(name: str, value: Any, source: str) -> Any:
    want = PARAMS[name].type
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is float and isinstance(value, str):
        # YAML 1.1 reads 3e-4 and 1e-3 (no dot) as strings: accept every float a user writes
        try:
            return float(value.strip())
        except ValueError:
            pass
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


def check(name: str, value: Any, source: str = "parameters") -> Any:
    """Checks one value's type and range; returns it (ints widened to floats where needed).

    Command-line options that mean a parameter (``--image-size`` is ``IMAGE_SIZE``) are checked
    here too, with the option as ``source``, so every way in gives the same message.

    Raises:
        ParamError: naming the source, the parameter, the value and what is allowed.
    """
    value = _coerce(name, value, source)
    p = PARAMS[name]
    ok = True
    if p.choices:
        ok = value in p.choices
    elif p.range:
        lo, hi, lo_in, hi_in = _interval(p.range)
        ok = (lo <= value if lo_in else lo < value) and (value <= hi if hi_in else value < hi)
    if not ok:
        raise ParamError(f"{source}: parameter {name} must be {describe_range(name)}, "
                         f"got {value!r}")
    return value


def validate(values: dict[str, Any], source: str = "parameters") -> dict[str, Any]:
    """Checks names, types and ranges; returns a copy with ints widened to floats where needed.

    Raises:
        ParamError: on an unknown name (with the closest known names), a wrong type or a value
            out of range (naming the source, the parameter, the value and the allowed range).
    """
    import difflib

    out = {}
    for name, value in values.items():
        if name not in PARAMS:
            close = difflib.get_close_matches(name, PARAMS, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ParamError(f"{source}: unknown parameter {name!r}.{hint}")
        out[name] = check(name, value, source)
    return out


def weights_arg(value: str) -> str | None:
    """``WEIGHTS`` as the model builders take it: ``"none"`` or empty -> None (random
    initialisation); ``"imagenet"`` and a weights file path pass through."""
    return None if value in ("", "none") else value


def lead_list(value: str) -> tuple[str, ...]:
    """``FALLBACK_LEADS`` as a tuple: ``"V5, V1"`` -> ``("V5", "V1")``."""
    return tuple(x.strip() for x in value.split(",") if x.strip())


def parse_assignments(items: list[str], source: str = "--set") -> dict[str, Any]:
    """``["EPOCHS=2", "WEIGHTS=none"]`` -> validated ``{"EPOCHS": 2, "WEIGHTS": "none"}``.

    Each value is read as YAML (``2`` is an int, ``0.5`` a float, ``true`` a bool).

    Raises:
        ParamError: an item without ``=``, a value that is not YAML, or a bad parameter.
    """
    values = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name:
            raise ParamError(f"{source} {item}: expected NAME=VALUE")
        try:
            values[name.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ParamError(f"{source} {item}: the value is not valid YAML ({exc})") from None
    return validate(values, source=source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last
    value in silence: ``EPOCHS: 1`` then ``EPOCHS: 50`` would train 50)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, collections.abc.Hashable):
                continue  # the base class reports it
            if key in seen:
                raise ParamError(f"{key} is given twice, on lines {seen[key]} and {line}; keep "
                                 "one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_profile(path: str | Path) -> dict[str, Any]:
    """Reads a YAML profile and validates it. Values not in the file keep their defaults.

    Args:
        path: a YAML file, or a profile name (``smoke``, ``cpu``, ``gpu``, ``demo``) looked up in
            ``params/`` at the project root.

    Returns:
        The validated overrides in the file (not merged with defaults).

    Raises:
        ParamError: a missing file, bad YAML (naming the line), a name given twice (naming both
            lines), or a bad parameter.
    """
    from ecgkit.contract import PROJECT_ROOT

    p = Path(path)
    if not p.suffix and not p.exists():
        p = PROJECT_ROOT / "params" / f"{path}.yaml"
    if not p.is_file():
        raise ParamError(f"{p}: profile not found")
    try:
        data = yaml.load(p.read_text(), Loader=_UniqueKeyLoader) or {}
    except ParamError as exc:
        raise ParamError(f"{p}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ParamError(f"{where}: not valid YAML ({problem}); a profile is lines of "
                         "NAME: value") from None
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
