"""Writes notebooks/NN_*.ipynb from their sources in tools/nbsrc/NN_*.py.

Usage:
    .venv/bin/python tools/make_notebooks.py           # (re)write every notebook
    .venv/bin/python tools/make_notebooks.py --check   # exit 1 if a committed notebook differs

A source module defines ``TITLE``, ``DESCRIPTION``, ``LEARN`` (list), ``PREREQUISITES`` (list)
and ``CELLS``: a list of ``("md" | "code", text)`` and one ``("params", names)``. The header cell
is built here from those and the measured runtimes in ``RUNTIMES``, so every notebook has the same
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

RUNTIMES: dict[str, tuple[str, str]] = {
    # notebook number: (CPU, GPU). CPU: measured, `ecgkit workbook run --profile cpu` on the
    # 2-core CPU VM (2026-11-30, all 48 records). GPU: ESTIMATES for params/gpu.yaml (full
    # database, 224 px) on one modern GPU; no GPU was available to measure them.
    "00": ("7 s", "about 10 s"),
    "01": ("13 s", "about 2 min (full database)"),
    "02": ("5 s", "about 1 min"),
    "03": ("9 s", "about 30 s"),
    "10": ("10 s", "about 20 s"),
    "11": ("10 s", "about 20 s"),
    "12": ("10 s", "about 20 s"),
    "13": ("14 s", "about 20 s"),
    "14": ("16 s", "about 30 s"),
    "20": ("26 min (two models of 12,800 images with context; 2026-12-03, validating on every validation beat, since fixed)", "about 1-2 h (30 epochs, full DS1)"),
    "21": ("2.6 min (one button-press run)", "about 1 min + runs"),  # 154 s on 2026-12-03
    "30": ("1.8 min", "about 5 min"),
    "31": ("1.7 min", "about 3 min"),
    "32": ("3.7 min", "about 5 min (2 models predict DS2; no training)"),
}

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def load_source(path: Path):
    if str(SOURCES) not in sys.path:  # the sources share cells through tools/nbsrc/_*.py
        sys.path.insert(0, str(SOURCES))
    spec = importlib.util.spec_from_file_location(f"nbsrc_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def header(src, number: str) -> str:
    cpu, gpu = RUNTIMES.get(number, ("not measured", "not measured"))
    learn = "\n".join(f"- {item}" for item in src.LEARN)
    prereq = "\n".join(f"- {item}" for item in src.PREREQUISITES)
    return (f"# {src.TITLE}\n\n{src.DESCRIPTION}\n\n"
            f"**What you will learn**\n\n{learn}\n\n"
            f"**Prerequisites**\n\n{prereq}\n\n"
            f"**Runtime:** CPU {cpu} measured (`params/cpu.yaml`, 2 cores); "
            f"GPU {gpu}, estimated (`params/gpu.yaml`).")


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
