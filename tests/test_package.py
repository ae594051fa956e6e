"""Package-wide rules: public exports resolve, each module names a notebook that exists."""

import importlib
import re

import pytest

import ecgkit
from ecgkit.contract import PROJECT_ROOT

MODULES = sorted(p.stem for p in (PROJECT_ROOT / "ecgkit").glob("*.py")
                 if not p.stem.startswith("_"))


class TestExports:
    def test_lazy_exports_resolve(self):
        for name, module in ecgkit._EXPORTS.items():
            mod = importlib.import_module(f"ecgkit.{module}")
            assert hasattr(mod, name), f"ecgkit.{module} has no {name}"

    def test_unknown_attribute(self):
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            ecgkit.nope

    def test_exports_never_shadow_a_submodule(self):
        # `from ecgkit import train` must not turn the module ecgkit.train into a function
        assert not set(ecgkit._EXPORTS) & set(MODULES)


class TestIntroducedIn:
    @pytest.mark.parametrize("module", [m for m in MODULES if m not in ("cli",)])
    def test_module_names_an_existing_notebook(self, module):
        doc = importlib.import_module(f"ecgkit.{module}").__doc__ or ""
        names = re.findall(r"notebooks/(\d\d_\w+\.ipynb)", doc)
        assert "Introduced in" in doc and names, f"ecgkit/{module}.py names no notebook"
        for name in names:
            assert (PROJECT_ROOT / "notebooks" / name).is_file(), \
                f"ecgkit/{module}.py names notebooks/{name}, which does not exist"


@pytest.fixture(scope="module")
def saved_with_custom_objects(tmp_path_factory):
    """A tiny model using an ecgkit layer (CaffePreprocessing) and metric (MacroF1), saved."""
    import keras

    from ecgkit.backbone import CaffePreprocessing
    from ecgkit.metrics import MacroF1

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
        "from ecgkit.factory import create_baseline_resnet50\nimport keras",  # via an ecgkit module
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
