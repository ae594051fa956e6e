"""The workbook runner and notebook rules, on tiny throwaway notebooks (no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from ecgkit.params import ParamError
from ecgkit.workbook import runner
from ecgkit.workbook.nb import read_figures, record_figures, show_source
from ecgkit.workbook.runner import (
    WorkbookError,
    lint_notebook,
    list_notebooks,
    notebook_parameters,
    parameters_cell,
    parse_parameters,
    run_workbook,
)

HEADER = """# 00 Tiny notebook
A notebook that exists to test the runner.

**What you will learn:** nothing.

**Prerequisites:** none.

**Runtime:** CPU 1 s, GPU 1 s.
"""
_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAA"
        "AABJRU5ErkJggg==")
"""A 1x1 PNG, base64."""
ENDING = "## Summary\nDone.\n\n## Exercises\n1. None."


def make_notebook(path: Path, params: str, *code: str, header: str = HEADER) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(header))
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in code)
    nb.cells.append(nbformat.v4.new_markdown_cell(ENDING))
    nbformat.write(nb, path)
    return path


RECORDING = """
import sys
from ecgkit.workbook.nb import record_figures
record_figures(RUN_DIR, "{stem}", {{"epochs": EPOCHS, "image_size": IMAGE_SIZE,
                                   "nested": {{"f1": 0.5}}, "executable": sys.executable,
                                   "model_path": MODEL_PATH}})
"""
PARAMS = ('RUN_DIR: str = "runs/x"  # output folder\n'
          'EPOCHS: int = 10  # training epochs\n'
          'IMAGE_SIZE: int = 224  # image side\n'
          'MODEL_PATH: str = ""  # model\n')


@pytest.fixture()
def book(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    make_notebook(folder / "00_first.ipynb", PARAMS, RECORDING.format(stem="00_first"))
    make_notebook(folder / "01_second.ipynb", 'RUN_DIR: str = "runs/x"  # output folder\n',
                  "import json, pathlib\n"
                  "first = json.loads((pathlib.Path(RUN_DIR) / '00_first' / 'figures.json')"
                  ".read_text())\n"
                  "from ecgkit.workbook.nb import record_figures\n"
                  "record_figures(RUN_DIR, '01_second', {'seen_epochs': first['epochs']})")
    (folder / "notes.ipynb").write_text("{}")  # not NN_name: ignored
    return folder


class TestParseParameters:
    def test_reads_names_types_values_and_comments(self):
        params = parse_parameters('A_B: int = 3  # three\nX: float = -0.5  # neg\n'
                                  'S: str = ""  # s\nF: bool = False  # flag\n')
        assert [(p.name, p.annotation, p.value, p.comment) for p in params] == [
            ("A_B", "int", 3, "three"), ("X", "float", -0.5, "neg"), ("S", "str", "", "s"),
            ("F", "bool", False, "flag")]

    def test_parameters_cell_from_the_table_reads_back(self):
        text = parameters_cell(["EPOCHS", "RUN_DIR", "LEARNING_RATE"], {"EPOCHS": 2})
        assert text.splitlines()[0] == "EPOCHS: int = 2  # training epochs; table default 10"
        assert text.splitlines()[1].startswith('RUN_DIR: str = "runs/notebooks"  # folder')
        assert [(p.name, p.value) for p in parse_parameters(text)] == [
            ("EPOCHS", 2), ("RUN_DIR", "runs/notebooks"), ("LEARNING_RATE", 3e-4)]

    @pytest.mark.parametrize("names, values, message", [
        (["EPOCS"], {}, "unknown parameter 'EPOCS'"), (["EPOCHS"], {"EPOCHS": 0}, ">= 1"),
        (["EPOCHS"], {"SEED": 1}, "SEED, not among its names")])
    def test_parameters_cell_checks_names_and_values(self, names, values, message):
        with pytest.raises(ParamError, match=message):
            parameters_cell(names, values)

    @pytest.mark.parametrize("source, message", [
        ("X: int = f(3)  # call", "literal"),
        ("X: int = 2 * 3  # derived", "literal"),
        ("X = 3  # no annotation", "only 'NAME: type"),
        ("x: int = 3  # lower", "UPPER_CASE"),
        ("X: int = 3", "comment"),
        ("X: int = 'a'  # wrong type", "annotated int"),
        ("X: int = True  # bool is not int", "annotated int"),
        ("X: list = 3  # odd type", "type annotation"),
        ("import os", "only 'NAME: type"),
        ("X: int = 0  # 0 = all", "single '='"),
        ("X: str = 'a=b'  # value with =", "single '='"),
        ("X: int = (", "syntax error"),
    ])
    def test_rejects(self, source, message):
        with pytest.raises(WorkbookError, match=message):
            parse_parameters(source)

    def test_papermill_reads_what_we_accept(self, tmp_path):
        import papermill  # inspect_notebook is what `papermill --help-notebook` shows

        path = make_notebook(tmp_path / "00_x.ipynb", PARAMS)
        ours = [p.name for p in notebook_parameters(path)]
        theirs = list(papermill.inspect_notebook(str(path)))
        assert ours == theirs == ["RUN_DIR", "EPOCHS", "IMAGE_SIZE", "MODEL_PATH"]

    def test_unknown_name_is_an_error_with_a_hint(self, tmp_path):
        path = make_notebook(tmp_path / "00_x.ipynb", "EPOCS: int = 3  # typo\n")
        with pytest.raises(WorkbookError, match="unknown parameter 'EPOCS'.*EPOCHS"):
            notebook_parameters(path)

    def test_type_must_match_params(self, tmp_path):
        path = make_notebook(tmp_path / "00_x.ipynb", "EPOCHS: float = 3.0  # wrong\n")
        with pytest.raises(WorkbookError, match="EPOCHS is annotated float"):
            notebook_parameters(path)


class TestLint:
    def test_clean_notebook(self, book):
        assert lint_notebook(book / "00_first.ipynb") == []

    def test_finds_each_problem(self, tmp_path):
        path = make_notebook(tmp_path / "Bad-Name.ipynb", "EPOCHS: int = 3  # e\n",
                             "!pip install x", "import sys\nsys.path.append('.')",
                             "from os import *", "import urllib.request",
                             header="Just text")
        nb = nbformat.read(path, as_version=4)
        nb.metadata["kernelspec"]["name"] = "ir"
        nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="hi")]
        nbformat.write(nb, path)
        text = "\n".join(lint_notebook(path))
        for expected in ["NN_snake_case", "'# Title'", "lacks 'What you will learn'",
                         "lacks 'Runtime'", "kernelspec", "has outputs", "installs packages",
                         "sys.path", "star import", "downloads"]:
            assert expected in text

    def test_code_lines_at_most_100_characters(self, tmp_path):
        long = "x = " + "1 + " * 30 + "1"
        path = make_notebook(tmp_path / "00_x.ipynb", "EPOCHS: int = 3  # e\n",
                             "y = 1\n" + "z = " + "2 + " * 23 + "2", "y = 2\n" + long)
        problems = lint_notebook(path)
        assert len(long) > 100 and problems == [
            f"00_x.ipynb: cell 3, line 2 has {len(long)} characters (at most 100)"]

    def test_long_parameter_help_wraps_into_comment_lines(self):
        text = parameters_cell(["SPLIT", "CONTEXT"])
        assert max(len(ln) for ln in text.splitlines()) <= 100
        from ecgkit.params import PARAMS

        params = parse_parameters(text)
        assert [(p.name, p.comment) for p in params] == [
            ("SPLIT", PARAMS["SPLIT"].help), ("CONTEXT", PARAMS["CONTEXT"].help)]

    def test_two_parameter_cells(self, tmp_path):
        path = make_notebook(tmp_path / "00_x.ipynb", "EPOCHS: int = 3  # e\n")
        nb = nbformat.read(path, as_version=4)
        nb.cells[2].metadata["tags"] = ["parameters"]
        nbformat.write(nb, path)
        assert any("exactly one" in p for p in lint_notebook(path))


class TestListNotebooks:
    def test_order_and_only(self, book):
        assert [p.stem for p in list_notebooks(book)] == ["00_first", "01_second"]
        assert [p.stem for p in list_notebooks(book, "01")] == ["01_second"]
        assert ([p.stem for p in list_notebooks(book, ["01_second", "00"])]
                == ["00_first", "01_second"])

    def test_unknown_only(self, book):
        with pytest.raises(WorkbookError, match="--only 07.*00_first, 01_second"):
            list_notebooks(book, "07")


class TestRunWorkbook:
    def test_runs_in_order_injects_and_summarises(self, book, tmp_path):
        out = tmp_path / "run"
        lines = []
        result = run_workbook({"EPOCHS": 2, "IMAGE_SIZE": 64}, out=out, notebooks_dir=book,
                              log=lines.append)
        assert result.ok and [r.name for r in result.notebooks] == ["00_first", "01_second"]
        figs = read_figures(out, "00_first")
        assert figs["epochs"] == 2 and figs["image_size"] == 64  # the profile was injected
        assert figs["model_path"] == str(out / "models" / "enhanced.keras")  # chained by RUN_DIR
        assert (Path(figs["executable"]).resolve().parent
                == Path(__import__("sys").executable).resolve().parent)
        assert read_figures(out, "01_second") == {"seen_epochs": 2}  # read 00's output
        # only declared names are injected
        injected = nbformat.read(out / "01_second.ipynb", as_version=4)
        source = next(c.source for c in injected.cells
                      if "injected-parameters" in c.metadata.get("tags", []))
        assert "RUN_DIR" in source and "EPOCHS" not in source
        summary = (out / "summary.csv").read_text()
        assert "00_first,epochs,2" in summary and "00_first,nested.f1,0.5" in summary
        assert "01_second,status,ok" in summary
        assert "| 00_first | ok |" in (out / "summary.md").read_text()
        assert json.loads((out / "run.json").read_text())["params"]["EPOCHS"] == 2
        assert any("[1/2] 00_first ok in" in ln for ln in lines)

    def test_kernel_stderr_goes_to_the_run_log(self, book, tmp_path):
        make_notebook(book / "00_first.ipynb", PARAMS,
                      "import os; os.write(2, b'kernel-noise-xyz\\n')")
        out = tmp_path / "run"
        run_workbook({}, out=out, notebooks_dir=book, only="00", log=None)
        assert "kernel-noise-xyz" in (out / "kernels.log").read_text()

    def test_library_noise_stays_out_of_the_executed_notebook(self, book, tmp_path, monkeypatch):
        # what TensorFlow's C++ writes to file descriptor 2 ("failed call to cuInit" on a CPU
        # machine) is kept in kernels.log, not shown under the cell of the executed copy
        monkeypatch.delenv("PYTEST_CURRENT_TEST")  # ipykernel captures no fd under pytest
        make_notebook(book / "00_first.ipynb", PARAMS,
                      "import os, time\n"
                      "os.write(2, b'failed call to cu' + b'Init: CUDA error\\n')\n"
                      "time.sleep(1)  # the kernel forwards captured output from a thread",
                      "import sys; print('for the reader'); print('a warning', file=sys.stderr)")
        out = tmp_path / "run"
        run_workbook({}, out=out, notebooks_dir=book, only="00", log=None)
        executed = (out / "00_first.ipynb").read_text()
        assert "cuInit" not in executed
        assert "for the reader" in executed and "a warning" in executed  # Python output stays
        assert "cuInit" in (out / "kernels.log").read_text()

    def test_reader_copy_html_pages_and_index(self, book, tmp_path):
        make_notebook(book / "00_first.ipynb", PARAMS, RECORDING.format(stem="00_first"),
                      "from IPython.display import Image\n"
                      "import base64\n"
                      "Image(data=base64.b64decode(" + repr(_PNG) + "))")
        out = tmp_path / "run"
        result = run_workbook({}, out=out, notebooks_dir=book, log=None)
        page = (out / "00_first.html").read_text()
        assert "<img" in page and "data:image/png;base64," in page
        assert "00 Tiny notebook" in page
        assert (out / "01_second.html").exists()
        index = (out / "index.html").read_text()
        assert 'href="00_first.html"' in index and 'href="01_second.html"' in index
        assert "profile custom" in index and 'href="summary.md"' in index
        assert result.index_html == out / "index.html"

    def test_failure_names_notebook_and_cell_and_stops(self, book, tmp_path):
        make_notebook(book / "00_first.ipynb", PARAMS, "x = 1", "raise ValueError('bad beat')")
        with pytest.raises(WorkbookError) as err:
            run_workbook({}, out=tmp_path / "run", notebooks_dir=book, log=None)
        message = str(err.value)
        assert "00_first.ipynb failed in cell" in message
        assert "ValueError: bad beat" in message and "raise ValueError" in message
        run = json.loads((tmp_path / "run" / "run.json").read_text())
        assert [n["status"] for n in run["notebooks"]] == ["failed", "pending"]

    def test_unknown_profile_parameter_is_an_error(self, book, tmp_path):
        with pytest.raises(ParamError, match="EPOCS"):
            run_workbook({"EPOCS": 2}, out=tmp_path / "run", notebooks_dir=book, log=None)
        assert not (tmp_path / "run").exists()  # nothing ran

    def test_unknown_notebook_parameter_stops_before_running(self, book, tmp_path):
        make_notebook(book / "01_second.ipynb", "RUN_DIRR: str = 'x'  # typo\n")
        with pytest.raises(WorkbookError, match="01_second.*RUN_DIRR"):
            run_workbook({}, out=tmp_path / "run", notebooks_dir=book, log=None)
        assert not (tmp_path / "run" / "00_first.ipynb").exists()

    def test_cli(self, book, tmp_path, capsys):
        from ecgkit.cli import main

        profile = tmp_path / "p.yaml"
        profile.write_text("EPOCHS: 4\n")
        code = main(["workbook", "run", "--profile", str(profile), "--out", str(tmp_path / "r"),
                     "--only", "00", "--set", "IMAGE_SIZE=32", "--notebooks", str(book)])
        assert code == 0
        assert read_figures(tmp_path / "r", "00_first")["image_size"] == 32
        assert "[1/1] 00_first ok" in capsys.readouterr().out
        profile.write_text("EPOCS: 4\n")
        assert main(["workbook", "run", "--profile", str(profile), "--notebooks", str(book),
                     "--out", str(tmp_path / "r2")]) == 1
        assert "unknown parameter 'EPOCS'" in capsys.readouterr().err
        assert main(["workbook", "check", "--notebooks", str(book)]) == 0


class TestNbHelpers:
    def test_show_source_is_the_real_source(self):
        src = show_source(runner.parse_parameters)
        assert src.text.startswith("def parse_parameters(")
        assert src.path == "ecgkit/workbook/runner.py" and src.first_line > 1
        assert "```python" in src._repr_markdown_()
        assert show_source(runner).text.startswith('"""The workbook runner')
        with pytest.raises(TypeError, match="no Python source"):
            show_source(len)

    def test_record_figures_merges_and_converts(self, tmp_path):
        np = pytest.importorskip("numpy")
        record_figures(tmp_path, "01_x", {"a": np.int64(3), "b": np.arange(3), "c": float("nan")})
        path = record_figures(tmp_path, "01_x", {"a": 4, "d": {"e": np.float32(0.5)}})
        assert path == tmp_path / "01_x" / "figures.json"
        assert read_figures(tmp_path, "01_x") == {"a": 4, "b": [0, 1, 2], "c": None,
                                                  "d": {"e": 0.5}}
        with pytest.raises(TypeError, match="cannot store"):
            record_figures(tmp_path, "01_x", {"bad": object()})

    def test_flatten(self):
        flat = runner.flatten_figures({"a": {"b": 1, "c": [1, 2]}, "long": list(range(20)),
                                         "s": "x"})
        assert flat == {"a.b": 1, "a.c": "[1, 2]", "s": "x"}
