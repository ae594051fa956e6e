"""Writes notebooks/NN_*.ipynb from their sources in tools/nbsrc/NN_*.py.

Usage:
    .venv/bin/python tools/make_notebooks.py           # (re)write every notebook
    .venv/bin/python tools/make_notebooks.py --check   # exit 1 if a committed notebook differs

A source module defines ``TITLE``, ``DESCRIPTION``, ``LEARN`` (list), ``PREREQUISITES`` (list)
and ``CELLS``: a list of ``("md" | "code", text)`` and one ``("params", names)``. The header cell
is built here from those and the runtimes of the table in ``notebooks/README.md``, so every notebook has the same
header parts (``ecgkit.workbook.lint_notebook`` checks them). ``names`` lists the parameters the
notebook takes, as ``"SEED"`` or, where the notebook needs its own default, ``"EPOCHS=2"`` (the
value read as YAML, as ``--set`` reads it); the cell's lines, with types, defaults and help, are
written from ``ecgkit.params.PARAMS`` (``ecgkit.workbook.parameters_cell``). The committed .ipynb files are the product:
clean (no outputs), ``python3`` kernelspec, stable cell ids (so regenerating changes nothing).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import textwrap
from pathlib import Path

import nbformat

from ecgkit.params import parse_assignments
from ecgkit.workbook import parameters_cell

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "nbsrc"
NOTEBOOKS = ROOT / "notebooks"

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


def load_source(path: Path):
    if str(SOURCES) not in sys.path:  # the sources share cells through tools/nbsrc/_*.py
        sys.path.insert(0, str(SOURCES))
    spec = importlib.util.spec_from_file_location(f"nbsrc_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def header(src, number: str) -> str:
    cpu, gpu = runtimes().get(number, ("not measured", "not measured"))
    learn = "\n".join(f"- {item}" for item in src.LEARN)
    prereq = "\n".join(f"- {item}" for item in src.PREREQUISITES)
    return (f"# {src.TITLE}\n\n{src.DESCRIPTION}\n\n"
            f"**What you will learn**\n\n{learn}\n\n"
            f"**Prerequisites**\n\n{prereq}\n\n"
            f"**Runtime:** CPU {cpu}, measured (`params/cpu.yaml`, 2 cores); "
            f"GPU {gpu}, an estimate, not measured (`params/gpu.yaml`). "
            f"From the table in `notebooks/README.md`.")


def params_text(names: list[str], where: str) -> str:
    """The parameters cell for ``["SEED", "EPOCHS=2", ...]``, from ``ecgkit.params.PARAMS``."""
    if isinstance(names, str):
        raise TypeError(f"{where}: a list of parameter names, not cell text")
    values = parse_assignments([n for n in names if "=" in n], source=where)
    return parameters_cell([n.partition("=")[0] for n in names], values)


def build(path: Path) -> nbformat.NotebookNode:
    src = load_source(path)
    number = path.stem.split("_", 1)[0]
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    cells = [("md", header(src, number))] + list(src.CELLS)
    for i, (kind, text) in enumerate(cells):
        if kind == "params":
            text = params_text(text, where=f"{path.name} parameters")
        text = textwrap.dedent(text).strip("\n")
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(text)
        elif kind in ("code", "params"):
            cell = nbformat.v4.new_code_cell(text)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
        else:
            raise ValueError(f"{path.name}: cell {i} has unknown kind {kind!r}")
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
        target = NOTEBOOKS / f"{path.stem}.ipynb"
        text = nbformat.writes(build(path)) + "\n"
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        elif not target.exists() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date (run tools/make_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
