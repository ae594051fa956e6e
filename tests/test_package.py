"""Package-wide rules: public exports resolve, each module names a notebook that exists."""

import importlib
import re

import pytest

import ecgkit
from ecgkit.contract import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "ecgkit"
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
"""The folders of ``ecgkit/`` (alphabetical: data, evaluation, model, training, workbook)."""
MODULES = sorted(".".join(p.relative_to(PACKAGE).with_suffix("").parts)
                 for p in PACKAGE.rglob("*.py") if not p.stem.startswith("_"))
"""Dotted names below ``ecgkit``: ``cli``, ``data.records``, ``model.factory``, ..."""


def module_file(module: str) -> str:
    return "ecgkit/" + module.replace(".", "/") + ".py"


class TestExports:
    def test_lazy_exports_resolve(self):
        for name, module in ecgkit._EXPORTS.items():
            mod = importlib.import_module(f"ecgkit.{module}")
            assert hasattr(mod, name), f"ecgkit.{module} has no {name}"

    def test_unknown_attribute(self):
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            ecgkit.nope

    def test_exports_never_shadow_a_submodule(self):
        # `from ecgkit import data` must not turn the sub-package ecgkit.data into something else
        top = {m.split(".")[0] for m in MODULES} | set(SUBPACKAGES)
        assert not set(ecgkit._EXPORTS) & top

    def test_the_public_names_did_not_move(self):
        # the names of the published entry points and the command, from the package's top
        assert {"create_enhanced_resnet50", "get_training_config", "load_beats", "evaluate_model",
                "run_workbook", "load_model"} <= set(ecgkit.__all__)
        assert "from ecgkit.cli import main" in (PACKAGE / "__main__.py").read_text()  # -m ecgkit


class TestSubPackages:
    def test_every_module_lies_in_a_stage_folder(self):
        top = sorted(m for m in MODULES if "." not in m)
        assert top == ["cli", "contract", "params"], (
            f"ecgkit/ holds modules outside its stage folders: {top}; a new module goes into "
            f"one of {', '.join(f'ecgkit/{s}/' for s in SUBPACKAGES)}")

    @pytest.mark.parametrize("sub", SUBPACKAGES)
    def test_a_folder_says_what_it_holds(self, sub):
        doc = importlib.import_module(f"ecgkit.{sub}").__doc__ or ""
        modules = [m.split(".")[1] for m in MODULES if m.startswith(sub + ".")]
        unnamed = [m for m in modules if f"``{m}``" not in doc]
        assert not unnamed, f"ecgkit/{sub}/__init__.py does not name {unnamed} in its docstring"


class TestIntroducedIn:
    @pytest.mark.parametrize("module", [m for m in MODULES + SUBPACKAGES if m != "cli"])
    def test_module_names_an_existing_notebook(self, module):
        doc = importlib.import_module(f"ecgkit.{module}").__doc__ or ""
        where = f"ecgkit/{module}/__init__.py" if module in SUBPACKAGES else module_file(module)
        names = re.findall(r"notebooks/(\d\d_\w+\.ipynb)", doc)
        assert "Introduced in" in doc and names, f"{where} names no notebook"
        for name in names:
            assert (PROJECT_ROOT / "notebooks" / name).is_file(), \
                f"{where} names notebooks/{name}, which does not exist"


@pytest.fixture(scope="module")
def saved_with_custom_objects(tmp_path_factory):
    """A tiny model using an ecgkit layer (CaffePreprocessing) and metric (MacroF1), saved."""
    import keras

    from ecgkit.model.backbone import CaffePreprocessing
    from ecgkit.training.metrics import MacroF1

    inp = keras.Input((32, 32, 3))
    x = CaffePreprocessing(name="preprocessing")(inp)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(x))
    model = keras.Model(inp, keras.layers.Dense(5, activation="softmax")(x))
    model.compile(loss="categorical_crossentropy", metrics=[MacroF1(num_classes=5)])
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    model.save(path)
    return path


class TestPlainKerasLoad:
    """`import ecgkit` is enough for keras.models.load_model, in any import order."""

    @pytest.mark.parametrize("imports", [
        "import ecgkit\nimport keras",                       # Keras loaded after ecgkit
        "import keras\nimport ecgkit",                       # Keras loaded before
        # via an ecgkit module
        "from ecgkit.model.factory import create_baseline_resnet50\nimport keras",
    ])
    def test_fresh_process(self, saved_with_custom_objects, imports):
        import subprocess
        import sys

        script = (f"{imports}\n"
                  "import numpy as np\n"
                  f"model = keras.models.load_model({str(saved_with_custom_objects)!r})\n"
                  "logs = model.evaluate(np.zeros((1, 32, 32, 3)), np.eye(5)[:1], verbose=0,\n"
                  "                      return_dict=True)\n"
                  "print(type(model.get_layer('preprocessing')).__name__, sorted(logs))\n")
        res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=300, cwd=PROJECT_ROOT)
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.strip() == "CaffePreprocessing ['loss', 'macro_f1']"

    def test_import_ecgkit_still_loads_no_tensorflow(self):
        import subprocess
        import sys

        script = ("import sys, ecgkit\n"
                  "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
        res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=60, cwd=PROJECT_ROOT)
        assert res.stdout.strip() == "[]"
