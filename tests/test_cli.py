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
        from ecgkit.data.records import RecordError

        assert is_input_error(RecordError("x.hea: bad"))
        assert is_input_error(FileNotFoundError(2, "No such file", "/x/model.keras"))
        assert is_input_error(FileNotFoundError("Weights file not found: 'w.h5'"))
        assert not is_input_error(ValueError("a bug"))
        assert not is_input_error(KeyError("a bug"))


class TestLibraryOutput:
    """What libraries write to file descriptor 2 goes to a log file unless --verbose."""

    def test_tensorflow_startup_lines_go_to_the_log(self, tmp_path):
        import os

        import cv2
        import keras
        import numpy as np

        inp = keras.Input((32, 32, 3))
        x = keras.layers.GlobalAveragePooling2D()(inp)
        keras.Model(inp, keras.layers.Dense(5, activation="softmax")(x)).save(tmp_path / "m.keras")
        cv2.imwrite(str(tmp_path / "beat.png"), np.full((32, 32, 3), 255, np.uint8))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}  # not enough on its own
        cmd = [sys.executable, "-m", "ecgkit", "predict", "--model", str(tmp_path / "m.keras"),
               str(tmp_path / "beat.png"), "--log-file", str(tmp_path / "tf.log")]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f"{tmp_path / 'beat.png'}: ")
        assert res.stderr == ""
        log = (tmp_path / "tf.log").read_text()
        assert "absl::InitializeLog" in log or "I0000" in log, "start-up lines not in the log"

    def test_verbose_keeps_them_on_the_terminal(self, tmp_path, monkeypatch, capfd):
        import os

        import ecgkit.cli
        from ecgkit.cli import main

        def command(args):
            os.write(2, b"I0000 00:00:1.0 123 cudart_stub.cc:31] Could not find cuda drivers\n")
            print("answer")
            return 0

        monkeypatch.setattr(ecgkit.cli, "_cmd_predict", command)
        log = tmp_path / "lib.log"
        assert main(["predict", "--model", "m.keras", "x.png", "--log-file", str(log)]) == 0
        captured = capfd.readouterr()
        assert captured.out == "answer\n" and "cudart_stub" not in captured.err
        assert "cudart_stub" in log.read_text()
        assert main(["--verbose", "predict", "--model", "m.keras", "x.png"]) == 0
        assert "cudart_stub" in capfd.readouterr().err
        assert main(["predict", "--model", "m.keras", "x.png", "--verbose"]) == 0
        assert "cudart_stub" in capfd.readouterr().err
