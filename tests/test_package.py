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
