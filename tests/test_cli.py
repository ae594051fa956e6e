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


class TestInputErrors:
    def test_ecgkit_errors_are_messages_in_every_command(self, tmp_path, capsys):
        from ecgkit.cli import main

        rc = main(["demo", "--ci", "--quiet", "--data", str(tmp_path / "nowhere"),
                   "--out", str(tmp_path / "demo")])
        err = capsys.readouterr().err
        assert rc == 1 and err == f"error: {tmp_path / 'nowhere'}: no such WFDB folder\n"

    def test_demo_sizes_checked_like_parameters(self, tmp_path, capsys):
        from ecgkit.cli import main

        rc = main(["demo", "--ci", "--quiet", "--epochs", "0", "--out", str(tmp_path / "d")])
        assert rc == 2
        assert "error: --epochs: parameter EPOCHS must be >= 1, got 0" in capsys.readouterr().err

    def test_bugs_keep_their_traceback(self):
        from ecgkit.cli import is_input_error
        from ecgkit.records import RecordError

        assert is_input_error(RecordError("x.hea: bad"))
        assert is_input_error(FileNotFoundError(2, "No such file", "/x/model.keras"))
        assert not is_input_error(ValueError("a bug"))
        assert not is_input_error(KeyError("a bug"))
