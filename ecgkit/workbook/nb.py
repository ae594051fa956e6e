"""Small helpers the notebooks use to teach: real source, output folders, recorded figures.

Introduced in: notebooks/00_setup_and_tour.ipynb.

Notebooks explain and call ``ecgkit``; they never paste a copy of its code. ``show_source``
displays the library's own source, so the text a learner reads is the code that runs.
``record_figures`` writes each notebook's key numbers to ``RUN_DIR/<notebook>/figures.json``;
the workbook runner (``ecgkit.workbook.runner``) assembles them into a summary table and the tests
assert on them.
"""

from __future__ import annotations

import inspect
import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ecgkit.contract import PROJECT_ROOT
from ecgkit.model.context_branch import image_size_of  # noqa: F401 (notebooks call nb.image_size_of)

FIGURES_FILE = "figures.json"


# --- Source -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """The source of one function, class or module, displayable in a notebook.

    Attributes:
        qualname: dotted name, e.g. ``ecgkit.data.render.render_ecg_image``.
        path: the file, relative to the project root where possible.
        first_line: line number of the first source line (1-based).
        text: the source code.
    """

    qualname: str
    path: str
    first_line: int
    text: str

    @property
    def last_line(self) -> int:
        return self.first_line + self.text.count("\n") - (1 if self.text.endswith("\n") else 0)

    @property
    def caption(self) -> str:
        return f"{self.qualname} - {self.path}, lines {self.first_line}-{self.last_line}"

    def __str__(self) -> str:
        return f"# {self.caption}\n{self.text}"

    def __repr__(self) -> str:  # the text/plain form a notebook stores
        return str(self)

    def _repr_markdown_(self) -> str:
        return f"**`{self.qualname}`** - `{self.path}`, lines {self.first_line}-{self.last_line}" \
               f"\n\n```python\n{self.text.rstrip()}\n```\n"


def show_source(obj: Any) -> Source:
    """The real source of an ``ecgkit`` object, for display as the last expression of a cell.

    Args:
        obj: a function, class, method or module.

    Returns:
        A ``Source`` that renders as highlighted code with its file and line numbers.

    Raises:
        TypeError: if ``obj`` has no Python source (a builtin, an instance).
    """
    target = inspect.unwrap(obj) if callable(obj) else obj
    try:
        lines, first = inspect.getsourcelines(target)
        file = inspect.getsourcefile(target)
    except (TypeError, OSError) as exc:
        raise TypeError(f"show_source: no Python source for {obj!r} ({exc})") from exc
    path = Path(file or "?")
    try:
        shown = path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        shown = str(path)
    module = getattr(target, "__module__", None) or getattr(target, "__name__", "")
    name = getattr(target, "__qualname__", None)
    qualname = f"{module}.{name}" if name and module != name else module
    return Source(qualname=qualname, path=shown, first_line=max(first, 1), text="".join(lines))


# --- Paths ---------------------------------------------------------------------------------------
def project_path(path: str | Path) -> Path:
    """A path from a parameter: absolute paths as they are, relative ones from the project root.

    Notebooks run with ``notebooks/`` as their working folder in JupyterLab and with the run
    folder under papermill; resolving against the project root makes ``RUN_DIR: runs/x`` mean
    the same folder in both.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def output_dir(run_dir: str | Path, name: str) -> Path:
    """``RUN_DIR/<name>``, created: the folder where notebook ``name`` writes its outputs."""
    out = project_path(run_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    return out


def data_dir(value: str | Path | None) -> Path:
    """The WFDB folder a ``DATA_DIR`` parameter names (empty = the embedded data/mitdb)."""
    from ecgkit.contract import EMBEDDED_DATA_DIR

    return EMBEDDED_DATA_DIR if not value else project_path(value)


def model_path(run_dir: str | Path, value: str | Path | None) -> Path:
    """The ``MODEL_PATH`` parameter resolved (empty = ``RUN_DIR/models/enhanced.keras``)."""
    return project_path(value) if value else project_path(run_dir) / "models" / "enhanced.keras"


def trained_model(run_dir: str | Path, name: str = "enhanced"):
    """The model notebook 20 saved as ``RUN_DIR/models/<name>.keras``, or None if there is none.

    The architecture notebooks (11-13) run before training in the workbook's order; when a run
    folder already holds a trained model (a second run, or 20 run by hand), they show its maps
    next to the untrained ones.
    """
    path = project_path(run_dir) / "models" / f"{name}.keras"
    if not path.is_file():
        print(f"no trained model at {path}: "
              "run 20_training with this RUN_DIR, then this cell again")
        return None
    from ecgkit.evaluation.predict import load_model

    model = load_model(path)
    print(f"trained model: {path} ({image_size_of(model)} px)")
    return model


# --- Recorded figures ----------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """Numbers, strings, lists and dicts only; numpy scalars and arrays converted; NaN -> None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalar or array, tf/keras tensor converted by numpy
        return _jsonable(value.tolist())
    if hasattr(value, "to_dict"):  # pandas Series / DataFrame
        return _jsonable(value.to_dict())
    raise TypeError(f"record_figures: cannot store {type(value).__name__} {value!r} in JSON")


def record_figures(run_dir: str | Path, name: str, figures: dict[str, Any]) -> Path:
    """Adds key figures of notebook ``name`` to ``RUN_DIR/<name>/figures.json``.

    Calling it again with other keys adds to the file; the same key is overwritten. Values may be
    numbers, strings, lists, dicts, numpy scalars/arrays or pandas objects.

    Args:
        run_dir: the ``RUN_DIR`` parameter.
        name: the notebook stem, e.g. ``"01_data_exploration"``.
        figures: ``{key: value}``.

    Returns:
        The path of the JSON file.
    """
    path = output_dir(run_dir, name) / FIGURES_FILE
    current = read_figures(run_dir, name) if path.exists() else {}
    current.update(_jsonable(dict(figures)))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def read_figures(run_dir: str | Path, name: str) -> dict[str, Any]:
    """The figures notebook ``name`` recorded (``{}`` when it recorded none)."""
    path = project_path(run_dir) / name / FIGURES_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def save_figure(fig: Any, run_dir: str | Path, name: str, filename: str, dpi: int = 100) -> Path:
    """Saves a matplotlib figure as ``RUN_DIR/<name>/<filename>`` (PNG unless told otherwise)."""
    path = output_dir(run_dir, name) / filename
    if not path.suffix:
        path = path.with_suffix(".png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


# --- Environment ---------------------------------------------------------------------------------
def environment() -> dict[str, Any]:
    """Versions of Python and the main libraries, the Keras backend and the accelerators it
    sees."""
    from importlib import metadata

    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("ecgkit", "tensorflow", "jax", "torch", "keras", "numpy", "wfdb",
                 "opencv-python-headless", "pandas", "matplotlib", "papermill", "ipywidgets",
                 "jupyterlab"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    import keras

    from ecgkit.training.hardware import accelerators

    info["backend"] = keras.backend.backend()
    info["gpus"] = accelerators()
    info["cpu_count"] = _cpu_count()
    return info


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- Exercises -----------------------------------------------------------------------------------
def compare_blocks(mine: Callable, reference: Callable, input_shape: tuple[int, ...],
                   seed: int = 0, **kwargs: Any) -> dict[str, Any]:
    """Builds a learner's block and the library's on the same input and compares them.

    Both are called as ``block(x, **kwargs)`` on ``keras.Input(input_shape)``. Compared: the
    output shape, the number of parameters and, when the weights have the same shapes, the
    **outputs**: the library's weights are copied into the learner's block (each weight to the
    first unused library weight of the same shape, in creation order) and both run on the same
    seeded random input in inference mode. A block with the right shape and size but different
    math (a missing activation, a swapped kernel) fails there.

    Args:
        mine: the learner's block function.
        reference: the library's block function.
        input_shape: shape of one example (no batch axis).
        seed: seed of the random input batch (2 examples).
        **kwargs: passed to both blocks (e.g. ``filters=64``).

    Returns:
        ``{"mine": {...}, "reference": {...}, "same_shape": bool, "same_params": bool,
        "same_output": bool | None (None when the weights could not be matched),
        "max_abs_diff": float | None}``.
    """
    import keras
    import numpy as np

    def build(block: Callable, tag: str):
        inp = keras.Input(input_shape)
        kw = dict(kwargs)
        if "name" not in kw:
            kw["name"] = tag
        return keras.Model(inp, block(inp, **kw))

    models = {"mine": build(mine, "mine"), "reference": build(reference, "reference")}
    a, b = ({"output_shape": tuple(m.output.shape), "params": int(m.count_params())}
            for m in models.values())
    result = {"mine": a, "reference": b, "same_shape": a["output_shape"] == b["output_shape"],
              "same_params": a["params"] == b["params"], "same_output": None,
              "max_abs_diff": None}
    ref_weights = models["reference"].get_weights()
    used, matched = set(), []
    for w in models["mine"].get_weights():
        j = next((j for j, r in enumerate(ref_weights) if j not in used and r.shape == w.shape),
                 None)
        if j is None:
            return result
        used.add(j)
        matched.append(ref_weights[j])
    if not (result["same_shape"] and len(used) == len(ref_weights)):
        return result
    models["mine"].set_weights(matched)
    x = np.random.default_rng(seed).normal(size=(2, *input_shape)).astype("float32")
    out_a, out_b = (np.asarray(m(x, training=False), dtype=np.float64) for m in models.values())
    diff = float(np.abs(out_a - out_b).max())
    scale = float(np.abs(out_b).max()) or 1.0
    result.update(same_output=diff <= 1e-4 * scale + 1e-5, max_abs_diff=diff)
    return result


def check_block(mine: Callable, reference: Callable, input_shape: tuple[int, ...],
                **kwargs: Any) -> dict[str, Any]:
    """``compare_blocks``, then an ``AssertionError`` that says what differs, if anything."""
    result = compare_blocks(mine, reference, input_shape, **kwargs)
    a, b = result["mine"], result["reference"]
    problems = []
    if not result["same_shape"]:
        problems.append(f"output shape {a['output_shape']} != library {b['output_shape']}")
    if not result["same_params"]:
        problems.append(f"{a['params']:,} parameters != library {b['params']:,}")
    if result["same_output"] is None and not problems:
        problems.append("the weights do not match the library's in shape, so the outputs "
                        "cannot be compared")
    elif result["same_output"] is False:
        problems.append(f"with the library's weights and the same input, the outputs differ "
                        f"(max |difference| {result['max_abs_diff']:.3g}): check the layers' "
                        "order, activations and kernel sizes")
    if problems:
        raise AssertionError("Your block differs from the library's: " + "; ".join(problems))
    return result


def image_input(model):
    """The image input of ``model`` (its ``"image"`` input when it also takes the beat's context),
    for sub-models that read what the network makes of the image alone."""
    return model.input["image"] if isinstance(model.input, dict) else model.input


def captioned(table, caption: str, digits: int = 3):
    """``table`` shown with a caption above it (e.g. the class set and records it covers) and
    floats to ``digits`` decimals; the DataFrame itself is not changed (``.data``)."""
    return table.style.format(precision=digits).set_caption(caption)
