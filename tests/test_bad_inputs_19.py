"""Bad input of issue 19, items 10-16: duplicate profile keys, CLI option ranges, an unusable
Keras backend, bad sampling frequencies, records without beats, non-ASCII record names, full
disks and files where folders are expected."""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgkit.contract import EMBEDDED_DATA_DIR, PROJECT_ROOT
from ecgkit.data.records import RecordError, read_header, read_record
from ecgkit.params import ParamError, load_profile


def _edit_header(folder: Path, record: str, old: str, new: str) -> Path:
    hea = folder / f"{record}.hea"
    text = hea.read_text()
    assert old in text
    hea.write_text(text.replace(old, new, 1))
    return hea


class TestDuplicateProfileKeys:
    def test_duplicate_key_names_file_and_both_lines(self, tmp_path):
        p = tmp_path / "mine.yaml"
        p.write_text("# my profile\nEPOCHS: 1\nBATCH_SIZE: 8\nEPOCHS: 50\n")
        with pytest.raises(ParamError) as err:
            load_profile(p)
        assert str(err.value).startswith(f"{p}: EPOCHS is given twice, on lines 2 and 4")

    def test_train_refuses_before_any_work(self, tmp_path, capsys):
        from ecgkit.cli import main

        p = tmp_path / "mine.yaml"
        p.write_text("EPOCHS: 1\nEPOCHS: 50\n")
        assert main(["train", "--params", str(p), "--run-dir", str(tmp_path / "run")]) == 2
        assert f"error: {p}: EPOCHS is given twice, on lines 1 and 2" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()

    def test_workbook_run_refuses_too(self, tmp_path, capsys):
        from ecgkit.cli import main

        p = tmp_path / "wb.yaml"
        p.write_text("EPOCHS: 1\nIMAGE_SIZE: 64\nEPOCHS: 50\n")
        rc = main(["workbook", "run", "--profile", str(p), "--out", str(tmp_path / "wb")])
        assert rc == 1
        assert f"{p}: EPOCHS is given twice, on lines 1 and 3" in capsys.readouterr().err

    def test_shipped_profiles_have_no_duplicates(self):
        for p in sorted((PROJECT_ROOT / "params").glob("*.yaml")):
            load_profile(p)


def _numeric_actions():
    """(command, option, type) of every option of every command whose value is a number."""
    from ecgkit.cli import build_parser

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{prefix} {name}".strip())
            elif action.option_strings:
                yield prefix, action.option_strings[-1], action.type

    return list(walk(build_parser(), ""))


class TestOptionRanges:
    def test_no_option_is_a_bare_int_or_float(self):
        bare = [(c, o) for c, o, t in _numeric_actions() if t in (int, float)]
        assert bare == []

    @pytest.mark.parametrize("argv,message", [
        (["evaluate", "--model", "m.keras", "--max-beats-per-record", "-5"],
         "error: --max-beats-per-record: parameter TEST_MAX_BEATS_PER_RECORD must be >= 0, got -5"),
        (["evaluate", "--model", "m.keras", "--bootstrap", "-1"],
         "error: --bootstrap: parameter BOOTSTRAP must be >= 0, got -1"),
        (["evaluate", "--model", "m.keras", "--bootstrap", "many"],
         "error: --bootstrap: parameter BOOTSTRAP must be int, got 'many'"),
        (["build-dataset", "a", "b", "--workers", "0"], "error: --workers: must be >= 1, got 0"),
        (["build-dataset", "a", "b", "--val-fraction", "1.5"],
         "error: --val-fraction: parameter VAL_FRACTION must be in [0, 1), got 1.5"),
        (["download", "mitdb", "d", "--timeout", "-2"], "error: --timeout: must be > 0, got -2"),
        (["download", "mitdb", "d", "--timeout", "nan"], "error: --timeout: must be > 0, got nan"),
        (["workbook", "run", "--cell-timeout", "0"], "error: --cell-timeout: must be >= 1, got 0"),
        (["demo", "--batch-size", "0"], "error: --batch-size: parameter BATCH_SIZE must be >= 1"),
    ])
    def test_out_of_range_is_refused_before_any_work(self, argv, message, capsys):
        from ecgkit.cli import main

        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err

    def test_options_in_range_still_parse(self):
        from ecgkit.cli import build_parser

        args = build_parser().parse_args(["evaluate", "--model", "m", "--bootstrap", "0",
                                          "--max-beats-per-record", "3"])
        assert (args.bootstrap, args.max_beats_per_record) == (0, 3)
        args = build_parser().parse_args(["download", "mitdb", "d", "--timeout", "1e-1"])
        assert args.timeout == pytest.approx(0.1)


class TestKerasBackend:
    @staticmethod
    def _run(backend: str, *argv: str):
        env = dict(os.environ, KERAS_BACKEND=backend,
                   PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT),
                                               os.environ.get("PYTHONPATH", "")]))
        return subprocess.run([sys.executable, "-m", "ecgkit", *argv], capture_output=True,
                              text=True, env=env, timeout=300, check=False)

    @pytest.mark.parametrize("backend,says", [
        ("torch", "PyTorch is not installed"),
        ("numpy", "ecgkit runs on tensorflow, jax or torch"),
        ("tensorfow", "not a Keras backend (did you mean tensorflow?)"),
    ])
    def test_one_line_naming_backend_and_what_is_installed(self, backend, says):
        import importlib.util

        if backend == "torch" and importlib.util.find_spec("torch") is not None:
            pytest.skip("torch is installed here")
        out = self._run(backend, "predict", "--model", "m.keras", "x.png")
        assert out.returncode == 2 and "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith(f"error: KERAS_BACKEND={backend}: {says}")
        assert "installed: tensorflow" in lines[0] and "pip install" in lines[0]

    def test_help_still_answers(self):
        out = self._run("numpy", "--help")
        assert out.returncode == 0 and "usage: ecgkit" in out.stdout


class TestSamplingFrequency:
    @pytest.mark.parametrize("fs", ["0", "-360"])
    def test_zero_or_negative_fs_names_header_and_field(self, copy_records, fs):
        d = copy_records("100")
        hea = _edit_header(d, "100", "100 2 360 650000", f"100 2 {fs} 650000")
        with pytest.raises(RecordError) as err:
            read_record(d, "100")
        assert str(err.value).startswith(f"{hea}: sampling frequency")
        assert "must be a positive number" in str(err.value)
        with pytest.raises(RecordError, match="sampling frequency"):
            read_header(d, "100")


def _no_beats(folder: Path, record: str) -> None:
    """Rewrites a record's annotations keeping only its non-beat ones (rhythm, noise)."""
    import wfdb

    from ecgkit.contract import AAMI_MAP

    ann = wfdb.rdann(str(folder / record), "atr")
    keep = [i for i, s in enumerate(ann.symbol) if s not in AAMI_MAP]
    assert keep
    wfdb.wrann(record, "atr", np.asarray(ann.sample)[keep],
               symbol=[ann.symbol[i] for i in keep],
               aux_note=[ann.aux_note[i] for i in keep], write_dir=str(folder))


class TestRecordWithoutBeats:
    def test_counted_and_reported_beside_good_records(self, copy_records, caplog):
        from ecgkit.data.datasets import load_beats

        d = copy_records("100", "101")
        _no_beats(d, "101")
        beats = load_beats(d, split="none", max_beats_per_record=1, progress=False)
        assert beats.report["records"] == ["100"]
        msg = beats.report["empty_records"]["101"]
        assert "101" in msg and "no beats" in msg and "101.atr" in msg
        assert msg in beats.report["messages"] and msg in caplog.text
        assert set(beats.meta["record"]) == {"100"}

    def test_build_dataset_summary_names_it(self, copy_records, tmp_path, capsys):
        from ecgkit.cli import main

        d = copy_records("100", "101")
        _no_beats(d, "101")
        assert main(["build-dataset", str(d), str(tmp_path / "ds"), "--split", "none",
                     "--max-beats-per-record", "1", "--image-size", "32",
                     "--workers", "1"]) == 0
        out = capsys.readouterr().out
        assert "skipped record 101: no beats" in out


class TestNonAsciiRecordName:
    def test_said_not_supported_naming_the_record(self, tmp_path):
        d = tmp_path / "wfdb"
        d.mkdir()
        for ext in ("hea", "dat", "atr"):
            (d / f"réc1.{ext}").write_bytes((EMBEDDED_DATA_DIR / f"100.{ext}").read_bytes())
        hea = d / "réc1.hea"
        hea.write_text(hea.read_text().replace("100", "réc1"))
        with pytest.raises(RecordError) as err:
            read_record(d, "réc1")
        text = str(err.value)
        assert text.startswith(f"{hea}: record name 'réc1'") and "not supported" in text
        assert "rc1.dat" not in text


class TestOutputPaths:
    def test_full_disk_names_the_path(self, tmp_path, monkeypatch):
        from ecgkit.training import atomic

        def full(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        target = tmp_path / "out" / "run.json"
        target.parent.mkdir()
        monkeypatch.setattr(atomic, "_write_file", full)
        with pytest.raises(OSError) as err:
            atomic.write_json(target, {"a": 1})
        assert str(err.value).startswith(f"{target}: no space left on the device")
        assert err.value.errno == errno.ENOSPC
        assert list(target.parent.iterdir()) == []  # no temporary file left behind

    def test_full_disk_is_a_message_in_the_cli(self, tmp_path, monkeypatch, capsys):
        from ecgkit.cli import main
        from ecgkit.training import atomic

        def full(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(atomic, "_write_file", full)
        out = tmp_path / "ds"
        rc = main(["build-dataset", str(EMBEDDED_DATA_DIR), str(out), "--records", "100",
                   "--max-beats-per-record", "1", "--image-size", "32", "--workers", "1",
                   "--quiet"])
        err = capsys.readouterr().err
        assert rc == 1 and "Traceback" not in err
        assert f"error: {out}" in err and "no space left on the device" in err

    @pytest.mark.parametrize("argv", [
        ["build-dataset", str(EMBEDDED_DATA_DIR), "{file}", "--records", "100", "--quiet"],
        ["train", "--params", "smoke", "--run-dir", "{file}", "--quiet"],
        ["evaluate", "--model", "{missing}", "--out", "{file}", "--quiet"],
        ["train", "--params", "smoke", "--run-dir", "{file}/sub", "--quiet"],
    ])
    def test_file_where_a_folder_is_expected(self, tmp_path, capsys, argv):
        from ecgkit.cli import main

        file = tmp_path / "taken"
        file.write_text("x")
        argv = [a.format(file=file, missing=tmp_path / "none.keras") for a in argv]
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc in (1, 2) and "Traceback" not in err and "Errno" not in err
        assert f"error: {file}" in err
        assert f"{file}: a file, where a folder is expected" in err
