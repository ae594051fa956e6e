"""The workbook runner: every notebook, in reading order, executed with papermill from one profile.

Introduced in: notebooks/00_setup_and_tour.ipynb.

``ecgkit workbook run --profile cpu [--out runs/workbook-cpu] [--only 01,02]`` validates the
profile (``ecgkit.params``), checks that every notebook's ``parameters`` cell uses only known
names, then executes the notebooks one after the other into the run folder. Each notebook gets
the resolved value of exactly the names it declares, ``RUN_DIR`` being the run folder, so the
model that ``20_training`` saves is the one ``30_evaluation`` reads. A failing notebook stops the
run and the error names the notebook and the cell. At the end ``summary.csv`` and ``summary.md``
collect what each notebook recorded in ``RUN_DIR/<notebook>/figures.json``, and the reader's copy
is written beside them: each executed notebook as an HTML page (nbconvert, figures embedded) and
``index.html`` linking the pages, so a run can be read in a browser without Jupyter.

What libraries write to file descriptor 2 in a kernel (TensorFlow's C++ start-up lines and its
``failed call to cuInit`` on a machine without a GPU) goes to ``kernels.log``, not under the cells:
kernels start with ipykernel's ``capture_fd_output`` off. Python's own warnings stay in the cells.

The same module holds the notebook rules (``lint_notebook``) that ``ecgkit workbook check`` and
the hygiene test apply.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import io
import json
import os
import re
import sys
import textwrap
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ecgkit.contract import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
KERNEL_NAME = "python3"
NOTEBOOK_NAME_RE = re.compile(r"^(\d\d)_[a-z0-9]+(?:_[a-z0-9]+)*\.ipynb$")
MAX_LINE = 100
"""Longest code line a notebook may have (as the package's own code)."""
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]
"""The kernel leaves file descriptors 1 and 2 alone: C++ library lines go to ``kernels.log``."""
HEADER_PARTS = ("What you will learn", "Prerequisites", "Runtime")
"""Headings the first (markdown) cell must contain, besides the title and one-line description."""
ENDING_PARTS = ("Summary", "Exercises")
ANNOTATIONS = {"int": int, "float": float, "str": str, "bool": bool}
FORBIDDEN_CODE = (
    (re.compile(r"^\s*[!%]+\s*pip\b", re.M), "installs packages (!pip / %pip)"),
    (re.compile(r"^\s*!", re.M), "runs a shell command (!)"),
    (re.compile(r"\bsys\.path\b"), "edits sys.path"),
    (re.compile(r"\bimport\s+\*"), "uses a star import"),
    (re.compile(r"\b(urllib|requests|httpx|wget|curl)\b"), "downloads (network client)"),
    (re.compile(r"\b(download_mitdb|dl_database|dl_files)\b"), "downloads data"),
)


class WorkbookError(RuntimeError):
    """A notebook breaks the rules, a profile is wrong, or a notebook failed while running."""


# --- Notebooks and their parameters --------------------------------------------------------------
@dataclass(frozen=True)
class NotebookParam:
    """One line of a notebook's ``parameters`` cell: ``NAME: type = literal  # comment``."""

    name: str
    annotation: str
    value: Any
    comment: str


def list_notebooks(folder: str | Path = NOTEBOOKS_DIR, only: str | list[str] | None = None
                   ) -> list[Path]:
    """The workbook notebooks in reading order (``NN_snake_case.ipynb``).

    Args:
        folder: where the notebooks are.
        only: keep these, by number (``"01"``) or stem (``"01_data_exploration"``); a
            comma-separated string or a list.

    Raises:
        WorkbookError: if ``only`` names a notebook that does not exist.
    """
    folder = Path(folder)
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME_RE.match(p.name))
    if not only:
        return found
    wanted = [w.strip() for w in (only.split(",") if isinstance(only, str) else only) if w.strip()]
    chosen = []
    for w in wanted:
        match = [p for p in found if p.stem == w or p.stem.split("_", 1)[0] == w]
        if not match:
            names = ", ".join(p.stem for p in found) or "(none)"
            raise WorkbookError(f"--only {w}: no such notebook in {folder}; available: {names}")
        chosen.extend(m for m in match if m not in chosen)
    return sorted(chosen)


def _read(path: Path):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for bad JSON
        raise WorkbookError(f"{path}: not a readable notebook ({exc})") from exc


def parameters_cells(nb) -> list[int]:
    """Indices of the cells tagged ``parameters``."""
    return [i for i, c in enumerate(nb.cells)
            if "parameters" in c.get("metadata", {}).get("tags", [])]


def parse_parameters(source: str, where: str = "parameters cell") -> list[NotebookParam]:
    """Parses a ``parameters`` cell: only ``NAME: type = literal  # comment`` lines.

    Comment-only lines right after a parameter's line continue its comment (a long help text
    wrapped to ``MAX_LINE``; papermill skips them).

    Raises:
        WorkbookError: on anything else (a call, an import, a derived value, a missing annotation
            or comment, a lower-case name), naming the line.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise WorkbookError(f"{where}: syntax error on line {exc.lineno}: {exc.msg}") from exc
    comments = {}
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    for lineno in sorted(comments, reverse=True):  # fold continuation lines into the one above
        above = lineno - 1
        if lines[lineno - 1].lstrip().startswith("#") and above in comments:
            comments[above] = f"{comments[above]} {comments.pop(lineno)}".strip()
    params = []
    for node in tree.body:
        line = f"{where}, line {node.lineno}"
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            raise WorkbookError(f"{line}: only 'NAME: type = literal  # comment' lines are allowed")
        name = node.target.id
        text = source.splitlines()[node.lineno - 1]
        if node.end_lineno != node.lineno or text.count("=") != 1:
            raise WorkbookError(f"{line}: {name} must fit on one line with a single '=' "
                                "(papermill cannot read a second '=', even in the comment)")
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise WorkbookError(f"{line}: parameter {name!r} must be UPPER_CASE")
        if not isinstance(node.annotation, ast.Name) or node.annotation.id not in ANNOTATIONS:
            raise WorkbookError(f"{line}: {name} needs a type annotation (int, float, str or bool)")
        value_node = node.value
        if isinstance(value_node, ast.UnaryOp) and isinstance(value_node.op, ast.USub):
            value_node = value_node.operand  # -1 and -0.5 are literals too
        if not isinstance(value_node, ast.Constant):
            raise WorkbookError(f"{line}: {name} must be a literal (no calls, no derived values)")
        value = ast.literal_eval(node.value)
        want = ANNOTATIONS[node.annotation.id]
        if not (isinstance(value, want) or (want is float and type(value) is int)) or (
                want is int and isinstance(value, bool)):
            raise WorkbookError(f"{line}: {name} is annotated {want.__name__} but is {value!r}")
        if node.lineno not in comments:
            raise WorkbookError(f"{line}: {name} needs a comment saying what it means")
        params.append(NotebookParam(name, node.annotation.id, value, comments[node.lineno]))
    return params


def parameters_cell(names: list[str], values: dict[str, Any] | None = None) -> str:
    """A notebook's ``parameters`` cell, generated from ``ecgkit.params.PARAMS``.

    ``tools/make_notebooks.py`` writes every notebook's cell with it: one
    ``NAME: type = literal  # help`` line per name, in the order given, with the table's type,
    help and default. ``values`` gives a notebook's own defaults where it needs them (a data cap
    so that the notebook runs in minutes without a profile); the comment then names the table's
    default too. ``parse_parameters`` reads the cell back.

    Raises:
        ecgkit.params.ParamError: an unknown name, a value for a name not in ``names``, or a
            value of the wrong type or out of range.
    """
    from ecgkit import params as P

    values = dict(values or {})
    stray = sorted(set(values) - set(names))
    if stray:
        raise P.ParamError(f"parameters cell: values for {', '.join(stray)}, not among its names")
    values = P.validate({n: values.get(n, P.PARAMS[n].default if n in P.PARAMS else None)
                         for n in names}, source="parameters cell")
    lines = []
    for name, value in values.items():
        p = P.PARAMS[name]
        note = "" if value == p.default else f"; table default {_literal(p.default)}"
        code = f"{name}: {p.type.__name__} = {_literal(value)}  # "
        help_lines = textwrap.wrap(f"{p.help}{note}", MAX_LINE - len(code),
                                   break_on_hyphens=False) or [""]
        lines.append(code + help_lines[0])
        rest = " ".join(help_lines[1:])
        lines += [f"#   {ln}" for ln in textwrap.wrap(rest, MAX_LINE - 4, break_on_hyphens=False)]
    return "\n".join(lines)


def _literal(value: Any) -> str:
    """A parameter value as Python source: strings in double quotes (as papermill writes them)."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def notebook_parameters(path: str | Path) -> list[NotebookParam]:
    """The parameters a notebook declares, checked against ``ecgkit.params.PARAMS``.

    Raises:
        WorkbookError: if the notebook has no or several ``parameters`` cells, if the cell breaks
            the rules of ``parse_parameters``, or if it names a parameter unknown to
            ``ecgkit.params`` or with another type.
    """
    from ecgkit.params import PARAMS

    path = Path(path)
    nb = _read(path)
    cells = parameters_cells(nb)
    if len(cells) != 1:
        raise WorkbookError(f"{path.name}: needs exactly one cell tagged 'parameters', "
                            f"found {len(cells)}")
    params = parse_parameters(nb.cells[cells[0]].source, where=f"{path.name} parameters cell")
    for p in params:
        if p.name not in PARAMS:
            import difflib

            close = difflib.get_close_matches(p.name, PARAMS, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise WorkbookError(f"{path.name}: unknown parameter {p.name!r} "
                                f"(not in ecgkit.params).{hint}")
        if PARAMS[p.name].type.__name__ != p.annotation:
            raise WorkbookError(f"{path.name}: {p.name} is annotated {p.annotation}, "
                                f"ecgkit.params says {PARAMS[p.name].type.__name__}")
    return params


def lint_notebook(path: str | Path) -> list[str]:
    """Every way a notebook breaks the workbook rules (below); ``[]`` when none.

    Checks the file name, the header cell, the single ``parameters`` cell, the summary and
    exercises at the end, the ``python3`` kernelspec, that no outputs are committed, that code
    lines are at most ``MAX_LINE`` characters, and that no cell installs packages, edits
    ``sys.path``, star-imports or downloads.
    """
    path = Path(path)
    problems = []
    if not NOTEBOOK_NAME_RE.match(path.name):
        problems.append(f"{path.name}: name must be NN_snake_case.ipynb")
    try:
        nb = _read(path)
    except WorkbookError as exc:
        return problems + [str(exc)]
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        problems.append(f"{path.name}: the first cell must be the markdown header")
    else:
        header = nb.cells[0].source
        if not re.match(r"#\s+\S", header):
            problems.append(f"{path.name}: the header must start with a '# Title' line")
        body = [ln for ln in header.splitlines()[1:] if ln.strip()]
        if not body or body[0].lstrip().startswith("#"):
            problems.append(f"{path.name}: the header needs a one-sentence description "
                            "under the title")
        for part in HEADER_PARTS:
            if part.lower() not in header.lower():
                problems.append(f"{path.name}: the header lacks '{part}'")
        runtime = header.lower().split("runtime", 1)[-1]
        if "cpu" not in runtime or "gpu" not in runtime:
            problems.append(f"{path.name}: the header's runtime must give CPU and GPU times")
    try:
        notebook_parameters(path)
    except WorkbookError as exc:
        problems.append(str(exc))
    tail = "\n".join(c.source for c in nb.cells[-3:] if c.cell_type == "markdown")
    for part in ENDING_PARTS:
        if not re.search(rf"^#+\s*{part}", tail, re.M | re.I):
            problems.append(f"{path.name}: the last cells need a '## {part}' section")
    spec = nb.metadata.get("kernelspec", {})
    if spec.get("name") != KERNEL_NAME:
        problems.append(f"{path.name}: kernelspec must be {KERNEL_NAME!r}, is {spec.get('name')!r}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            problems.append(f"{path.name}: cell {i} has outputs (commit notebooks cleared)")
        for pattern, what in FORBIDDEN_CODE:
            if pattern.search(cell.source):
                problems.append(f"{path.name}: cell {i} {what}")
        for n, line in enumerate(cell.source.splitlines(), 1):
            if len(line) > MAX_LINE:
                problems.append(f"{path.name}: cell {i}, line {n} has {len(line)} characters "
                                f"(at most {MAX_LINE})")
    return problems


# --- Running -------------------------------------------------------------------------------------
@dataclass
class NotebookRun:
    """What happened to one notebook in a workbook run."""

    name: str
    output: Path
    status: str = "pending"  # "ok", "failed", "pending"
    seconds: float = 0.0
    error: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkbookResult:
    """A workbook run: its folder, the parameters used and each notebook's outcome."""

    out: Path
    profile: str
    params: dict[str, Any]
    notebooks: list[NotebookRun]
    summary_csv: Path | None = None
    summary_md: Path | None = None
    index_html: Path | None = None

    @property
    def ok(self) -> bool:
        return all(n.status == "ok" for n in self.notebooks)


def run_parameters(profile: str | Path | dict[str, Any] | None, out: Path,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the profile, then ``overrides``, validated; ``RUN_DIR`` = ``out`` and
    ``MODEL_PATH`` made explicit (``out/models/enhanced.keras`` unless the profile names one)."""
    from ecgkit import params as P

    if isinstance(profile, dict):
        values = P.validate(profile, source="profile")
    elif profile:
        values = P.load_profile(profile)
    else:
        values = {}
    values.update(P.validate(overrides or {}, source="--set"))
    resolved = P.resolve(values)
    resolved["RUN_DIR"] = str(out)
    if resolved.get("DATA_DIR"):
        from ecgkit.workbook.nb import project_path

        resolved["DATA_DIR"] = str(project_path(resolved["DATA_DIR"]))
    resolved["MODEL_PATH"] = str(_model_path(out, resolved.get("MODEL_PATH", "")))
    return resolved


def _model_path(out: Path, value: str) -> Path:
    from ecgkit.workbook.nb import model_path

    return model_path(out, value)


@contextlib.contextmanager
def _kernel_environment(out: Path) -> Iterator[None]:
    """Quieter kernels (TensorFlow's C++ info logs and the debugger's frozen-module warning off)
    sharing one beat cache: ``ECGKIT_CACHE_DIR`` defaults to ``out/cache``, so the notebooks after
    the first read the 48 records' windows from ``.npz`` files in a fraction of a second instead
    of decoding them again (measured 0.3 s against 3-4 s per notebook)."""
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
             "ECGKIT_CACHE_DIR": str(out / "cache")}
    saved = {k: os.environ.get(k) for k in quiet}
    for k, v in quiet.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Sends this process's stderr (file descriptor 2, which kernels inherit) to ``path``.

    Kernels print TensorFlow's start-up lines and transport warnings there; in the log file they
    stay available without burying the runner's progress lines.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log_file:
        os.dup2(log_file.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def run_workbook(profile: str | Path | dict[str, Any] | None = "cpu", out: str | Path | None = None,
                 only: str | list[str] | None = None, notebooks_dir: str | Path = NOTEBOOKS_DIR,
                 overrides: dict[str, Any] | None = None, kernel_name: str = KERNEL_NAME,
                 cell_timeout: int | None = None, log: Callable[[str], None] | None = print
                 ) -> WorkbookResult:
    """Executes the workbook notebooks in order with papermill.

    Args:
        profile: a profile name (``smoke``, ``cpu``, ``gpu``), a YAML path, or a dict.
        out: the run folder (``RUN_DIR``); default ``runs/workbook-<profile>``.
        only: run only these notebooks (``"01,02"``); artifacts of the others are read from
            ``out`` if an earlier run left them there.
        notebooks_dir: where the notebooks are.
        overrides: parameter values applied on top of the profile.
        kernel_name: the Jupyter kernel (``python3``: the interpreter running this code).
        cell_timeout: seconds a single cell may run (None: no limit).
        log: where progress lines go (None: silent).

    Returns:
        A ``WorkbookResult`` (all notebooks ``ok``).

    Raises:
        ecgkit.params.ParamError: on an unknown parameter or a wrong type in the profile.
        WorkbookError: if a notebook breaks the parameter rules (before anything runs) or fails
            (naming the notebook, the cell and the error; the run stops there).
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    say = log or (lambda _msg: None)
    name = Path(profile).stem if isinstance(profile, (str, Path)) and profile else "custom"
    out = Path(out) if out else PROJECT_ROOT / "runs" / f"workbook-{name}"
    out = out if out.is_absolute() else Path.cwd() / out
    notebooks = list_notebooks(notebooks_dir, only)
    if not notebooks:
        raise WorkbookError(f"{notebooks_dir}: no NN_name.ipynb notebooks to run")
    values = run_parameters(profile, out, overrides)
    declared = {nb.stem: [p.name for p in notebook_parameters(nb)] for nb in notebooks}
    out.mkdir(parents=True, exist_ok=True)
    runs = [NotebookRun(nb.stem, out / nb.name) for nb in notebooks]
    result = WorkbookResult(out=out, profile=name, params=values, notebooks=runs)
    kernel_log = out / "kernels.log"
    say(f"workbook: profile {name}, {len(notebooks)} notebook(s) -> {out} "
        f"(kernel messages: {kernel_log.name})")
    started = time.perf_counter()
    try:
        with _kernel_environment(out):
            for i, (nb, run) in enumerate(zip(notebooks, runs), 1):
                inject = {k: values[k] for k in declared[nb.stem] if k in values}
                say(f"[{i}/{len(notebooks)}] {nb.stem} ...")
                t0 = time.perf_counter()
                try:
                    with _stderr_to(kernel_log):
                        pm.execute_notebook(
                            str(nb), str(run.output), parameters=inject, kernel_name=kernel_name,
                            cwd=str(out), progress_bar=False, log_output=False,
                            execution_timeout=cell_timeout, extra_arguments=KERNEL_ARGUMENTS,
                        )
                except PapermillExecutionError as exc:
                    run.seconds = time.perf_counter() - t0
                    run.status = "failed"
                    first = next((ln for ln in exc.source.splitlines() if ln.strip()), "")
                    run.error = (f"{nb.name} failed in cell {exc.cell_index} (execution count "
                                 f"{exc.exec_count}, starting {first.strip()!r}): "
                                 f"{exc.ename}: {exc.evalue}")
                    say(f"[{i}/{len(notebooks)}] {nb.stem} FAILED after {run.seconds:.1f} s")
                    raise WorkbookError(f"{run.error}\n  executed copy: {run.output}"
                                        f"\n  kernel messages: {kernel_log}") from exc
                except Exception as exc:  # kernel died, timeout, bad notebook
                    run.seconds = time.perf_counter() - t0
                    run.status = "failed"
                    run.error = f"{nb.name} failed: {type(exc).__name__}: {exc}"
                    say(f"[{i}/{len(notebooks)}] {nb.stem} FAILED after {run.seconds:.1f} s")
                    raise WorkbookError(f"{run.error}\n  executed copy: {run.output}"
                                        f"\n  kernel messages: {kernel_log}") from exc
                run.seconds = time.perf_counter() - t0
                run.status = "ok"
                run.figures = _figures(out, nb.stem)
                say(f"[{i}/{len(notebooks)}] {nb.stem} ok in {run.seconds:.1f} s "
                    f"(total {time.perf_counter() - started:.0f} s)")
    finally:
        for run in runs:
            if run.status != "ok" and not run.figures:
                run.figures = _figures(out, run.name)
        write_summary(result)
        write_reader_copy(result)
    say(f"workbook: all {len(runs)} notebook(s) ok in {time.perf_counter() - started:.0f} s; "
        f"summary: {result.summary_md}")
    return result


def _figures(out: Path, stem: str) -> dict[str, Any]:
    from ecgkit.workbook.nb import read_figures

    return read_figures(out, stem)


# --- Summary -------------------------------------------------------------------------------------
def flatten_figures(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalar figures with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists are left
    out unless short lists of scalars (shapes, small tables), which are kept as text."""
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        k = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_figures(value, prefix=f"{k}."))
        elif isinstance(value, list):
            if len(value) <= 8 and all(isinstance(v, (int, float, str, bool)) or v is None
                                       for v in value):
                flat[k] = json.dumps(value)
        else:
            flat[k] = value
    return flat


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_summary(result: WorkbookResult) -> tuple[Path, Path]:
    """Writes ``summary.csv`` (notebook, figure, value), ``summary.md`` and ``run.json``."""
    out = result.out
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in result.notebooks:
        rows.append((run.name, "status", run.status))
        rows.append((run.name, "seconds", round(run.seconds, 1)))
        rows.extend((run.name, k, v) for k, v in flatten_figures(run.figures).items())
    csv_path = out / "summary.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "figure", "value"])
        writer.writerows((n, k, _fmt(v)) for n, k, v in rows)
    lines = [f"# Workbook run: profile {result.profile}", "",
             f"Run folder: `{out}`", "", "| notebook | status | seconds |", "|---|---|---:|"]
    lines += [f"| {r.name} | {r.status} | {r.seconds:.1f} |" for r in result.notebooks]
    for run in result.notebooks:
        flat = flatten_figures(run.figures)
        if not flat and not run.error:
            continue
        lines += ["", f"## {run.name}", ""]
        if run.error:
            lines += [f"**Failed:** {run.error}", ""]
        if flat:
            lines += ["| figure | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v).replace('|', '/')} |" for k, v in flat.items()]
    md_path = out / "summary.md"
    md_path.write_text("\n".join(lines) + "\n")
    (out / "run.json").write_text(json.dumps({
        "profile": result.profile,
        "params": result.params,
        "notebooks": [{"name": r.name, "status": r.status, "seconds": round(r.seconds, 2),
                       "error": r.error} for r in result.notebooks],
    }, indent=2) + "\n")
    result.summary_csv, result.summary_md = csv_path, md_path
    return csv_path, md_path


# --- The reader's copy ---------------------------------------------------------------------------
def notebook_html(path: str | Path) -> str:
    """An executed notebook as one HTML page (nbconvert's ``lab`` template, images embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(Path(path), as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return body


def write_reader_copy(result: WorkbookResult) -> Path:
    """Writes ``<notebook>.html`` for every executed copy in the run and ``index.html``.

    The index names the profile, links each page (with the notebook's status and seconds) and
    the summary; a notebook that did not run is listed without a link.

    Returns:
        The path of ``index.html``.
    """
    import html

    out = result.out
    rows = []
    for run in result.notebooks:
        page = out / f"{run.name}.html"
        if run.output.exists():
            page.write_text(notebook_html(run.output), encoding="utf-8")
            link = f'<a href="{page.name}">{html.escape(run.name)}</a>'
        else:
            link = html.escape(run.name)
        rows.append(f"<tr><td>{link}</td><td>{html.escape(run.status)}</td>"
                    f'<td style="text-align:right">{run.seconds:.1f}</td></tr>')
    title = f"Workbook run: profile {html.escape(result.profile)}"
    text = "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title></head><body>", f"<h1>{title}</h1>",
        "<p>Each executed notebook as a page, with every figure and number of this run. "
        'Figures of each notebook: <a href="summary.md">summary.md</a> '
        '(also <a href="summary.csv">summary.csv</a>, <a href="run.json">run.json</a>).</p>',
        "<table><thead><tr><th>notebook</th><th>status</th><th>seconds</th></tr></thead>",
        "<tbody>", *rows, "</tbody></table>", "</body></html>", ""])
    index = out / "index.html"
    index.write_text(text, encoding="utf-8")
    result.index_html = index
    return index
