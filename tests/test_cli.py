"""The command line answers --help quickly and lists every subcommand."""

import subprocess
import sys
import time



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
