'''Writes notebooks/NN_*.ipynb from their sources in tools/nbsrc/NN_*.py.

Usage:
    .venv/bin/python tools/make_notebooks.py           # (re)write every notebook
    .venv/bin/python tools/make_notebooks.py --check   # exit 1 if a notebook or source is stale
    .venv/bin/python tools/make_notebooks.py 20 30     # only these notebooks

A source is a plain Python script that reads top to bottom as its notebook does: markdown in
string blocks, code as code (keras-io's tutobooks), cells started by jupytext's "percent"
markers. ruff and black check the sources (``tests/test_notebook_hygiene.py``)::

    """
    Title: 20 · Training that learns: baseline first, then the enhanced ResNet50
    Description: One sentence. An indented line continues the line above it.
    What you will learn:
    - one item a line, starting with "- "
    Prerequisites:
    - 14_pyramid_and_head
    """

    # %% [markdown]
    """
    ## 1. A markdown cell is one string block
    """

    # %% [parameters]
    EPOCHS: int = 4  # training epochs; table default 10

    # %%
    print(EPOCHS)  # a code cell: the code up to the next marker

- The module docstring is the header: the four fields above, in any order. The header cell is
  built from them and the runtimes of the table in ``notebooks/README.md``, so every notebook
  has the same header parts (``ecgkit.workbook.runner.lint_notebook`` checks them).
- ``# %% [markdown]``: a markdown cell, the text of the one string block that follows.
- ``# %% [parameters]``: the papermill cell, exactly one. Its lines are those that
  ``ecgkit.workbook.runner.parameters_cell`` writes from ``ecgkit.params.PARAMS`` for the names and
  values declared there; a value is the notebook's own default (the comment then names the
  table's). To add a parameter, write ``NAME: type = value  # anything`` and run this script: it
  rewrites the block from the table (``--check`` reports a block that differs). Declared as real
  assignments, the parameters are names that ruff sees defined.
- ``# %%``: a code cell, the code up to the next marker.
- Blank lines around a cell are dropped. Nothing but the header comes before the first marker,
  and the sources import nothing from each other: a cell that several notebooks share is
  written out in each, and ``tests/test_notebook_hygiene.py`` checks that the copies agree.

A source is read with ``ast`` and its marker lines, never executed. The committed .ipynb files
are the product: clean (no outputs), ``python3`` kernelspec, stable cell ids (``NN-ii``, from the
cell's position), so regenerating changes nothing.
'''

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat

from ecgkit.workbook.runner import parameters_cell, parse_parameters

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "nbsrc"
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = ROOT / "ecgkit"
PACKAGE_FOLDERS = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
"""The package's stage folders (``data``, ``model``, ``training``, ``evaluation``, ``workbook``)."""

RUNTIME_TABLE = NOTEBOOKS / "README.md"
"""The measured table: one row per notebook (``| 00 | [...] | ... |``); the headers' runtimes are
read from its CPU (measured) and GPU (estimated) columns, so the two never disagree."""


def runtimes(table: Path = RUNTIME_TABLE) -> dict[str, tuple[str, str]]:
    """``{"00": (cpu, gpu), ...}`` from the notebook table of ``notebooks/README.md``.

    Raises:
        ValueError: if the table or its CPU or GPU column is missing, naming the file.
    """
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in table.read_text().splitlines() if ln.lstrip().startswith("| ")]
    head = next((r for r in rows if r and r[0] == "#"), None)
    if head is None:
        raise ValueError(f"{table}: no notebook table (a header row starting '| # |')")
    try:
        cpu = next(i for i, c in enumerate(head) if c.startswith("CPU"))
        gpu = next(i for i, c in enumerate(head) if c.startswith("GPU"))
    except StopIteration:
        raise ValueError(f"{table}: the notebook table needs a 'CPU ...' and a 'GPU ...' column")
    return {r[0]: (r[cpu].replace("\\*", "").replace("; see below", ""), r[gpu]) for r in rows
            if len(r) == len(head) and r[0].isdigit()}


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

MARKER = re.compile(r"# %%(?: \[(markdown|parameters)\])?")
"""A cell's first line: ``# %%`` (code), ``# %% [markdown]`` or ``# %% [parameters]``."""
HEADER_FIELDS = ("Title", "Description", "What you will learn", "Prerequisites")
LIST_FIELDS = ("What you will learn", "Prerequisites")


class Cell(NamedTuple):
    kind: str  # "markdown", "parameters" or "code"
    text: str  # the cell's source in the notebook
    lines: tuple[int, int]  # where ``text`` is in the source file: [first, end) line indices
    where: str  # "NN_name.py, line n" of the marker, for errors


class Source(NamedTuple):
    path: Path
    header: dict[str, str | list[str]]
    cells: list[Cell]


def read_header(text: str, where: str) -> dict[str, str | list[str]]:
    """The header fields of a source's module docstring (see the module docstring).

    Raises:
        ValueError: on a missing, unknown or repeated field, or anything else before the first
            cell marker, naming the file.
    """
    tree = ast.parse(text)
    doc = ast.get_docstring(tree, clean=False)
    if doc is None or len(tree.body) != 1:
        raise ValueError(f"{where}: a source starts with its header docstring (Title: ..., "
                         "Description: ...) and has nothing else before the first '# %%'")
    fields: dict[str, list[str]] = {}
    key = None
    for line in doc.strip("\n").splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and key and fields[key]:  # continues the line above
            fields[key][-1] += " " + line.strip()
        elif line.startswith("- ") and key in LIST_FIELDS:
            fields[key].append(line[2:].strip())
        else:
            key, sep, value = line.partition(":")
            if not sep or key not in HEADER_FIELDS or key in fields:
                raise ValueError(f"{where}: header line {line!r}: expected one of the fields "
                                 f"{', '.join(HEADER_FIELDS)} (each once), a '- ' item under "
                                 f"{' or '.join(LIST_FIELDS)}, or an indented continuation")
            if key in LIST_FIELDS and value.strip():
                raise ValueError(f"{where}: the items of {key!r} go on lines of their own ('- ')")
            fields[key] = [value.strip()] if value.strip() else []
    missing = [k for k in HEADER_FIELDS if not fields.get(k)]
    if missing:
        raise ValueError(f"{where}: the header lacks {', '.join(missing)}")
    return {k: v if k in LIST_FIELDS else v[0] for k, v in fields.items()}


def read_source(path: Path) -> Source:
    """A source's header and cells, read with ``ast`` and its marker lines (never executed).

    Raises:
        ValueError: on a syntax error, an unknown marker, a markdown cell that is not one string
            block, or a number of parameters cells other than one, naming the file and line.
    """
    text = path.read_text()
    try:
        ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise ValueError(f"{path.name}, line {exc.lineno}: {exc.msg}") from exc
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("# %%")]
    if not starts:
        raise ValueError(f"{path.name}: no cells (a cell starts with a '# %%' line)")
    header = read_header("\n".join(lines[: starts[0]]), path.name)
    cells = []
    for start, end in zip(starts, starts[1:] + [len(lines)]):
        where = f"{path.name}, line {start + 1}"
        match = MARKER.fullmatch(lines[start].rstrip())
        if match is None:
            raise ValueError(f"{where}: unknown cell marker {lines[start]!r} (a cell starts with "
                             "'# %%', '# %% [markdown]' or '# %% [parameters]')")
        first = start + 1
        while first < end and not lines[first].strip():
            first += 1
        while end > first and not lines[end - 1].strip():
            end -= 1
        kind, body = match.group(1) or "code", "\n".join(lines[first:end])
        if kind == "markdown":
            block = ast.parse(body).body
            if not (len(block) == 1 and isinstance(block[0], ast.Expr)
                    and isinstance(block[0].value, ast.Constant)
                    and isinstance(block[0].value.value, str)):
                raise ValueError(f'{where}: a markdown cell is one string block ("""...""") '
                                 "and nothing else")
            body = block[0].value.value.strip("\n")
        cells.append(Cell(kind, body, (first, end), where))
    n_params = [c.kind for c in cells].count("parameters")
    if n_params != 1:
        raise ValueError(f"{path.name}: needs exactly one '# %% [parameters]' cell, has {n_params}")
    return Source(path, header, cells)


def parameters_text(cell: Cell) -> str:
    """The parameters cell for the names and values a source's block declares, written from
    ``ecgkit.params.PARAMS`` (types, help, the table's default where the notebook's differs)."""
    declared = parse_parameters(cell.text, where=f"{cell.where} (parameters)")
    return parameters_cell([p.name for p in declared], {p.name: p.value for p in declared})


def current_source(src: Source) -> str:
    """The source's text with its parameters block as ``parameters_text`` writes it."""
    lines = src.path.read_text().splitlines()
    (cell,) = [c for c in src.cells if c.kind == "parameters"]
    first, end = cell.lines
    lines[first:end] = parameters_text(cell).splitlines()
    return "\n".join(lines) + "\n"


def gpu_note(gpu: str) -> str:
    """What a GPU figure is: a figure of the table that says it was measured or projected from
    measurements says so itself; any other is an estimate."""
    return "" if "measured" in gpu else ", an estimate, not measured"


def package_code(src: Source) -> str:
    """The ecgkit folders and modules a notebook's code cells import, for its header:
    ``ecgkit/model/`` (``attention``), ``ecgkit/workbook/`` (``nb``, ``plots``); the modules at the
    package's top (``contract``, ``params``) last. Read from the imports, so it cannot drift."""
    folders: dict[str, set[str]] = {}
    for cell in src.cells:
        if cell.kind == "markdown":
            continue
        for node in ast.walk(ast.parse(cell.text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ecgkit"):
                parts = node.module.split(".")[1:]
                if len(parts) == 2:  # from ecgkit.data.records import read_record
                    folders.setdefault(parts[0], set()).add(parts[1])
                elif len(parts) == 1 and parts[0] in PACKAGE_FOLDERS:  # from ecgkit.data import x
                    folders.setdefault(parts[0], set()).update(a.name for a in node.names)
                elif len(parts) == 1:  # from ecgkit.contract import CLASSES
                    folders.setdefault("", set()).add(parts[0])
                else:  # from ecgkit import contract, params (or a public name)
                    folders.setdefault("", set()).update(
                        a.name for a in node.names if (PACKAGE / f"{a.name}.py").is_file())
    folders = {k: v for k, v in folders.items() if v}
    return "; ".join(f"`ecgkit/{k}{'/' if k else ''}` ({', '.join(f'`{m}`' for m in sorted(v))})"
                     for k, v in sorted(folders.items(), key=lambda kv: (not kv[0], kv[0])))


def header(src: Source, number: str) -> str:
    cpu, gpu = runtimes().get(number, ("not measured", "not measured"))
    fields = src.header
    learn = "\n".join(f"- {item}" for item in fields["What you will learn"])
    prereq = "\n".join(f"- {item}" for item in fields["Prerequisites"])
    return (f"# {fields['Title']}\n\n{fields['Description']}\n\n"
            f"**What you will learn**\n\n{learn}\n\n"
            f"**Prerequisites**\n\n{prereq}\n\n"
            f"**The code it shows:** {package_code(src)} (`ARCHITECTURE.md` maps every "
            "module).\n\n"
            f"**Runtime:** CPU {cpu}, measured (`params/cpu.yaml`, 2 cores); "
            f"GPU {gpu}{gpu_note(gpu)} (`params/gpu.yaml`). "
            f"From the table in `notebooks/README.md`.")


def build(src: Source) -> nbformat.NotebookNode:
    number = src.path.stem.split("_", 1)[0]
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    cells = [("markdown", header(src, number))]
    cells += [(c.kind, parameters_text(c) if c.kind == "parameters" else c.text)
              for c in src.cells]
    for i, (kind, text) in enumerate(cells):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        cell["id"] = f"{number}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("only", nargs="*", help="notebook numbers to build (default: all)")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        if args.only and path.stem[:2] not in args.only:
            continue
        src = read_source(path)
        target = NOTEBOOKS / f"{path.stem}.ipynb"
        for file, text in ((path, current_source(src)),
                           (target, nbformat.writes(build(src)) + "\n")):
            if file.exists() and file.read_text() == text:
                continue
            if args.check:
                stale.append(str(file.relative_to(ROOT)))
            else:
                file.write_text(text)
                print(f"wrote {file.relative_to(ROOT)}")
    if stale:
        print("out of date (run tools/make_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
