"""The command line answers --help quickly and lists every subcommand."""

import subprocess
import sys
import time

import ecgkit


class TestCli:
    def test_help_lists_subcommands_without_importing_tensorflow(self):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c",
             "import sys; from ecgkit.cli import build_parser; build_parser().print_help(); "
             "print('TF_LOADED' if 'tensorflow' in sys.modules else 'TF_NOT_LOADED')"],
            capture_output=True, text=True, check=True,
        )
        elapsed = time.perf_counter() - start
        for command in ("build-dataset", "download", "train", "evaluate", "predict", "demo",
                        "workbook"):
            assert command in out.stdout, f"{command} missing from --help"
        assert "TF_NOT_LOADED" in out.stdout
        assert elapsed < 30

    def test_python_dash_m(self):
        out = subprocess.run([sys.executable, "-m", "ecgkit", "--help"],
                             capture_output=True, text=True)
        assert out.returncode == 0
        assert "usage: ecgkit" in out.stdout


class TestPackage:
    def test_lazy_exports_resolve(self):
        # every advertised name must exist in the module the table points to
        import importlib
        for name, module in ecgkit._EXPORTS.items():
            mod = importlib.import_module(f"ecgkit.{module}")
            assert hasattr(mod, name), f"ecgkit.{module} has no {name}"

    def test_unknown_attribute(self):
        import pytest
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            ecgkit.nope
