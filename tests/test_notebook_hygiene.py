"""Fast checks of every committed notebook against the workbook rules (no kernel, no TensorFlow)."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys

import nbformat
import papermill
import pytest

from ecgkit.contract import PROJECT_ROOT
from ecgkit.params import PARAMS, load_profile
from ecgkit.workbook.runner import (
    NOTEBOOKS_DIR,
    lint_notebook,
    list_notebooks,
    notebook_parameters,
    parameters_cell,
)

EXPECTED = [
    "00_setup_and_tour", "01_data_exploration", "02_signals_to_images", "03_ecg_augmentation",
    "10_resnet50_backbone", "11_ecg_specific_block", "12_attention", "13_feature_calibration",
    "14_pyramid_and_head", "20_training", "21_hyperparameter_explorer", "30_evaluation",
    "31_error_analysis", "32_ablation", "40_your_own_images",
]
NOTEBOOKS = list_notebooks()


def test_the_workbook_is_complete():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    strays = [p.name for p in NOTEBOOKS_DIR.glob("*.ipynb") if p.stem not in EXPECTED]
    assert strays == [], f"notebooks outside the reading order: {strays}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
class TestNotebookRules:
    def test_lint_clean(self, path):
        assert lint_notebook(path) == []

    def test_parameters_known_and_papermill_readable(self, path):
        ours = [p.name for p in notebook_parameters(path)]
        assert ours and set(ours) <= set(PARAMS)
        assert "RUN_DIR" in ours  # every notebook writes its figures under RUN_DIR
        assert list(papermill.inspect_notebook(str(path))) == ours  # --help-notebook sees them all

    def test_parameter_values_have_the_declared_type(self, path):
        for p in notebook_parameters(path):
            want = PARAMS[p.name].type
            assert isinstance(p.value, want) or (want is float and type(p.value) is int), p

    def test_parameters_cell_is_written_from_the_table(self, path):
        nb = nbformat.read(path, as_version=4)
        (cell,) = [c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        ours = notebook_parameters(path)
        assert cell == parameters_cell([p.name for p in ours], {p.name: p.value for p in ours})

    def test_teaches_with_the_library(self, path):
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "nb.show_source(" in code, "show the real ecgkit source of what the notebook teaches"
        assert re.search(r"nb\.record_figures\(\s*RUN_DIR,\s*NOTEBOOK", code)
        assert f'NOTEBOOK = "{path.stem}"' in code, "figures go to RUN_DIR/<notebook stem>"
        assert "import *" not in code and "sys.path" not in code

    def test_explains_before_it_computes(self, path):
        nb = nbformat.read(path, as_version=4)
        kinds = [c.cell_type for c in nb.cells]
        assert kinds.count("markdown") * 3 >= kinds.count("code"), "too little explanation"
        first_code = kinds.index("code")
        assert "markdown" in kinds[:first_code]


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "demo"])
def test_profiles_use_known_names(profile):
    values = load_profile(profile)
    assert values and set(values) <= set(PARAMS)


def test_smoke_profile_is_tiny():
    smoke = load_profile("smoke")
    assert smoke["IMAGE_SIZE"] <= 64 and smoke["EPOCHS"] == 1 and smoke["STEPS_PER_EPOCH"] <= 2
    assert smoke["BOOTSTRAP"] <= 20


def test_notebooks_match_their_generator():
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "tools" / "make_notebooks.py"),
                             "--check"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr


def not_installed(module: str) -> dict:
    """``skipif`` arguments for a test that runs ``python -m module``."""
    return {"condition": importlib.util.find_spec(module) is None,
            "reason": f"{module} not installed (pip install -e '.[dev]')"}


class TestSourcesAreCheckedCode:
    """The notebook sources in tools/nbsrc are Python that ruff and black check (pyproject.toml
    configures both: line length 100)."""

    @pytest.mark.skipif(**not_installed("ruff"))
    def test_ruff(self):
        result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                                 "--output-format", "concise", "tools/nbsrc"],
                                capture_output=True, text=True, cwd=PROJECT_ROOT)
        assert result.returncode == 0, (
            f"ruff finds problems in the notebook sources:\n{result.stdout}{result.stderr}")

    @pytest.mark.skipif(**not_installed("black"))
    def test_black(self):
        result = subprocess.run([sys.executable, "-m", "black", "--check", "tools/nbsrc"],
                                capture_output=True, text=True, cwd=PROJECT_ROOT)
        assert result.returncode == 0, ("black would reformat notebook sources (run "
                                         f"black tools/nbsrc, then tools/make_notebooks.py):\n"
                                         f"{result.stderr}")


@pytest.mark.skipif(**not_installed("ruff"))
def test_ruff_whole_project():
    """The package, tests, benchmarks and tools pass ruff too (pyproject.toml: E, F, W, line
    length 100)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                             "--output-format", "concise", "ecgkit", "tests", "benchmarks",
                             "tools"],
                            capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert result.returncode == 0, (
        f"ruff finds problems in the project:\n{result.stdout}{result.stderr}")


def code_cell_with(stem: str, text: str) -> str:
    """The one code cell of notebook ``stem`` that contains ``text``."""
    nb = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and text in c.source]
    assert len(cells) == 1, f"{stem}: {len(cells)} code cells contain {text!r}"
    return cells[0]


class TestSharedCells:
    """What several notebooks share is written out in each source (tools/nbsrc imports nothing
    from another source): the copies agree."""

    ARCHITECTURE = ["10_resnet50_backbone", "11_ecg_specific_block", "12_attention",
                    "13_feature_calibration", "14_pyramid_and_head"]
    EVALUATION = ["30_evaluation", "31_error_analysis", "32_ablation"]

    def test_architecture_notebooks_draw_the_same_beats_with_the_same_parameters(self):
        cells = {stem: code_cell_with(stem, "pick_names = ") for stem in self.ARCHITECTURE}
        assert len(set(cells.values())) == 1, "the real-images cells of 10-14 differ"
        params = {stem: notebook_parameters(NOTEBOOKS_DIR / f"{stem}.ipynb")
                  for stem in self.ARCHITECTURE}
        assert len({tuple(p) for p in params.values()}) == 1, "10-14 take different parameters"

    def test_evaluation_notebooks_read_the_same_test_beats(self):
        cells = {stem: code_cell_with(stem, 'test = beats.subset("test")')
                 for stem in self.EVALUATION}
        assert cells["31_error_analysis"] == cells["30_evaluation"]  # the model, then the beats
        assert cells["30_evaluation"].endswith("\n" + cells["32_ablation"])

    def test_evaluation_notebooks_take_the_training_defaults(self):
        """Run 20 and then 30-32 with the defaults: they read the test patients of the split 20
        trained on, drawn the way 20 drew them."""
        training = {p.name: p.value
                    for p in notebook_parameters(NOTEBOOKS_DIR / "20_training.ipynb")}
        for stem in self.EVALUATION:
            for p in notebook_parameters(NOTEBOOKS_DIR / f"{stem}.ipynb"):
                assert p.value == training.get(p.name, p.value), (stem, p.name)

    def test_training_passes_on_every_parameter(self):
        """20's ``PARAMS = {...}`` (what ``train()`` takes) names each parameter, and only those."""
        cell = code_cell_with("20_training", "PARAMS = {")
        (node,) = [n for n in ast.parse(cell).body if isinstance(n, ast.Assign)
                   and [t.id for t in n.targets if isinstance(t, ast.Name)] == ["PARAMS"]]
        keys = [k.value for k in node.value.keys]
        values = [v.id for v in node.value.values]
        names = [p.name for p in notebook_parameters(NOTEBOOKS_DIR / "20_training.ipynb")]
        assert keys == values == names


class TestRuntimes:
    """Each header's runtimes are those of the measured table in notebooks/README.md."""

    @pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
    def test_header_runtime_is_the_tables(self, path):
        sys.path.insert(0, str(PROJECT_ROOT / "tools"))
        try:
            from make_notebooks import runtimes
        finally:
            sys.path.remove(str(PROJECT_ROOT / "tools"))
        cpu, gpu = runtimes()[path.stem[:2]]
        header = nbformat.read(path, as_version=4).cells[0].source
        assert f"CPU {cpu}, measured" in header
        if "measured" in gpu:  # a figure from a GPU run says how it was had
            assert f"GPU {gpu} (`params/gpu.yaml`)" in header
        else:
            assert f"GPU {gpu}, an estimate, not measured" in header

    def test_a_gpu_figure_is_an_estimate_unless_the_table_says_measured(self):
        sys.path.insert(0, str(PROJECT_ROOT / "tools"))
        try:
            from make_notebooks import gpu_note
        finally:
            sys.path.remove(str(PROJECT_ROOT / "tools"))
        assert gpu_note("20 s") == ", an estimate, not measured"
        assert gpu_note("25 min, projected from measured epochs") == ""
