"""build-dataset (export, resume, atomic writes, CLI) and download (offline path only)."""

from __future__ import annotations

import json
import socket
import time

import cv2
import pandas as pd
import pytest

from ecgkit.cli import main
from ecgkit.data.download import DownloadError, download_mitdb
from ecgkit.data.export import build_dataset
from ecgkit.data.records import RecordError
from ecgkit.data.splits import SplitError

RECORDS = ["100", "107", "124", "223"]


class TestBuildDataset:
    def test_export_resume_and_cleanup(self, tmp_path):
        out = tmp_path / "ds"
        m = build_dataset(_embedded(), out, records=RECORDS,
                          max_beats_per_record=3, workers=1, progress=False, image_size=64)
        assert list(m.columns)[:7] == ["path", "record", "patient", "sample", "symbol", "label",
                                       "split"]
        assert set(m.split) == {"train", "val", "test"}
        assert m.groupby("split").patient.apply(set).pipe(
            lambda s: not (s["train"] & s["test"]) and not (s["val"] & s["test"]))
        assert (m.path.str.split("/").str[1] == m.label).all()
        assert m.attrs["report"]["written"] == len(m)
        img = cv2.imread(str(out / m.path[0]))
        assert img.shape == (64, 64, 3)
        on_disk = pd.read_csv(out / "manifest.csv", dtype={"record": str, "patient": str})
        assert on_disk.path.tolist() == m.path.tolist()

        # an interrupted run: one image missing, one temporary file left over
        (out / m.path[1]).unlink()
        tmp = out / m.path[0].rsplit("/", 1)[0] / f".{m.path[0].rsplit('/', 1)[1]}.123.tmp"
        tmp.write_bytes(b"half")
        again = build_dataset(_embedded(), out, records=RECORDS, max_beats_per_record=3,
                              workers=1, progress=False, image_size=64)
        rep = again.attrs["report"]
        assert rep["written"] == 1 and rep["existing"] == len(m) - 1 and rep["tmp_removed"] == 1
        assert not tmp.exists() and (out / m.path[1]).is_file()

        with pytest.raises(ValueError, match="already built with other options.*image_size"):
            build_dataset(_embedded(), out, records=RECORDS, max_beats_per_record=3,
                          workers=1, progress=False, image_size=96)

    def test_parallel_matches_serial(self, tmp_path):
        kw = dict(records=["100", "107"], max_beats_per_record=2, progress=False, image_size=32)
        a = build_dataset(_embedded(), tmp_path / "a", workers=1, **kw)
        b = build_dataset(_embedded(), tmp_path / "b", workers=2, **kw)
        assert a.equals(b)
        for p in a.path:
            assert (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes()

    def test_errors(self, tmp_path):
        with pytest.raises(SplitError, match="999"):
            build_dataset(_embedded(), tmp_path / "x", records=["100", "999"], progress=False)
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "mine.txt").write_text("x")
        with pytest.raises(ValueError, match="not an ecgkit dataset"):
            build_dataset(_embedded(), tmp_path / "busy", records=["100"], progress=False)
        with pytest.raises(RecordError, match="no such WFDB folder"):
            build_dataset(tmp_path / "nowhere", tmp_path / "y", progress=False)

    def test_cli_takes_params_and_set(self, tmp_path, capsys):
        out = tmp_path / "p"
        rc = main(["build-dataset", str(_embedded()), str(out), "--workers", "1", "--quiet",
                   "--set", "RECORDS=100,107", "MAX_BEATS_PER_RECORD=2", "IMAGE_SIZE=32",
                   "GRID=false", "SPLIT=none", "--image-size", "40"])
        assert rc == 0, capsys.readouterr().err
        info = json.loads((out / "build.json").read_text())
        assert info["image_size"] == 40 and info["grid"] is False  # the option wins over --set
        assert len(list((out / "all").glob("*/*.png"))) == 9  # 100: N2 S2 V1; 107: V2 Q2
        assert main(["build-dataset", str(_embedded()), str(tmp_path / "q"),
                     "--set", "NOT_A_PARAMETER=1"]) == 2
        assert "NOT_A_PARAMETER" in capsys.readouterr().err

    def test_cli(self, tmp_path, capsys):
        rc = main(["build-dataset", str(_embedded()), str(tmp_path / "c"), "--records", "100,107",
                   "--max-beats-per-record", "2", "--workers", "1", "--image-size", "32",
                   "--no-grid", "--split", "none"])
        out = capsys.readouterr().out
        assert rc == 0 and "all" in out and "images" in out
        assert len(list((tmp_path / "c" / "all").glob("*/*.png"))) == 9  # 100: N2 S2 V1; 107: V2 Q2
        rc = main(["build-dataset", str(_embedded()), str(tmp_path / "d"), "--records", "999"])
        assert rc == 1 and "999" in capsys.readouterr().err


def _embedded():
    from ecgkit.contract import EMBEDDED_DATA_DIR

    return EMBEDDED_DATA_DIR


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestDownloadOffline:
    def test_fails_fast_and_points_to_the_embedded_data(self, tmp_path):
        start = time.monotonic()
        with pytest.raises(DownloadError, match="cannot reach 127.0.0.1.*data/mitdb"):
            download_mitdb(tmp_path, host="127.0.0.1", port=_closed_port(), timeout=0.5)
        assert time.monotonic() - start < 3 and not any(tmp_path.iterdir())

    def test_cli_offline(self, tmp_path, monkeypatch, capsys):
        import ecgkit.data.download as dl

        monkeypatch.setattr(dl, "PHYSIONET_HOST", "127.0.0.1")
        monkeypatch.setattr(dl, "PHYSIONET_PORT", _closed_port())
        assert main(["download", "mitdb", str(tmp_path / "db"), "--timeout", "0.5"]) == 1
        assert "embedded MIT-BIH database" in capsys.readouterr().err


def _build(src, out, **kw):
    kw = {"max_beats_per_record": 2, "workers": 1, "progress": False, "image_size": 32, **kw}
    return build_dataset(src, out, **kw)


class TestBuildDatasetOptionChecks:
    @pytest.mark.parametrize("kw,msg", [
        ({"image_size": 0}, "image_size: parameter IMAGE_SIZE must be in [32, 1024], got 0"),
        ({"image_size": 100000}, "IMAGE_SIZE must be in [32, 1024], got 100000"),
        ({"val_fraction": 1.5}, "val_fraction: parameter VAL_FRACTION must be in [0, 1), got 1.5"),
        ({"max_beats_per_record": -1}, "MAX_BEATS_PER_RECORD must be >= 0, got -1"),
        ({"seed": -1}, "SEED must be in [0, 4294967295], got -1"),
        ({"workers": 0}, "workers must be >= 1"),
    ])
    def test_refused_before_anything_is_written(self, tmp_path, kw, msg):
        out = tmp_path / "ds"
        with pytest.raises(ValueError) as err:
            _build(_embedded(), out, records=["100"], **kw)
        assert msg in str(err.value)
        assert not out.exists()

    def test_corrected_retry_after_a_refused_size(self, tmp_path, capsys):
        out = tmp_path / "ds"
        args = ["build-dataset", str(_embedded()), str(out), "--records", "100",
                "--max-beats-per-record", "1", "--workers", "1", "--quiet"]
        assert main([*args, "--image-size", "0"]) == 2
        err = capsys.readouterr().err
        assert "error: --image-size: parameter IMAGE_SIZE must be in [32, 1024], got 0" in err
        assert main([*args, "--image-size", "32"]) == 0
        assert len(list(out.glob("*/*/*.png"))) == 3

    def test_a_failed_run_that_wrote_nothing_does_not_block_other_options(self, copy_records,
                                                                          tmp_path):
        src = copy_records("107", "100")
        (src / "107.dat").unlink()  # the first record fails
        out = tmp_path / "ds"
        with pytest.raises(RecordError, match="107.dat: missing signal"):
            _build(src, out, records=["107", "100"])
        m = _build(src, out, records=["100"], image_size=48)  # other options: allowed
        assert len(m) == 5 and json.loads((out / "build.json").read_text())["image_size"] == 48

    def test_a_failed_run_that_wrote_images_keeps_them_apart(self, copy_records, tmp_path):
        src = copy_records("100", "107")
        (src / "107.dat").unlink()  # the second record fails
        out = tmp_path / "ds"
        with pytest.raises(RecordError, match="107.dat: missing signal"):
            _build(src, out, records=["100", "107"])
        with pytest.raises(ValueError, match="did not finish.*5 images.*image_size: 32 -> 48"):
            _build(src, out, records=["100"], image_size=48)
        assert len(_build(src, out, records=["100"])) == 5  # same options: resumes


class TestBuildDatasetFolderSafety:
    def test_a_second_writer_is_refused(self, tmp_path):
        import fcntl
        import os

        out = tmp_path / "ds"
        out.mkdir()
        fd = os.open(out, os.O_RDONLY)  # what a running build-dataset holds
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with pytest.raises(ValueError, match="another build-dataset is writing"):
                _build(_embedded(), out, records=["100"])
            assert not any(out.iterdir())
        finally:
            os.close(fd)
        assert len(_build(_embedded(), out, records=["100"])) == 5

    def test_fewer_records_needs_prune(self, tmp_path, capsys):
        out = tmp_path / "ds"
        first = _build(_embedded(), out, records=["100", "107"], split="none")
        info = json.loads((out / "build.json").read_text())
        assert info["records"] == {"100": "all", "107": "all"} and info["complete"] is True
        with pytest.raises(ValueError, match=r"record\(s\) 107 \(4 images\).*--prune"):
            _build(_embedded(), out, records=["100"], split="none")
        assert sorted(p.name for p in out.glob("*/*/107_*.png")) and len(
            pd.read_csv(out / "manifest.csv")) == len(first)
        m = _build(_embedded(), out, records=["100"], split="none", prune=True)
        assert set(m.record) == {"100"} and m.attrs["report"]["stale_removed"] == 4
        assert not list(out.glob("*/*/107_*.png"))
        assert main(["build-dataset", str(_embedded()), str(out), "--records", "100", "107",
                     "--split", "none", "--max-beats-per-record", "2", "--image-size", "32",
                     "--workers", "1", "--quiet"]) == 0  # more records: nothing is lost
        assert main(["build-dataset", str(_embedded()), str(out), "--records", "107",
                     "--split", "none", "--max-beats-per-record", "2", "--image-size", "32",
                     "--workers", "1", "--quiet"]) == 1
        assert "--prune" in capsys.readouterr().err

    def test_records_changing_split_need_prune(self, tmp_path):
        out = tmp_path / "ds"
        _build(_embedded(), out, records=["100", "107", "124", "223"])
        more = ["100", "107", "124", "223", "207", "208", "209"]  # validation becomes 223
        with pytest.raises(ValueError, match=r"124 \(val -> train\), 223 \(train -> val\) "
                                             "change split.*--prune"):
            _build(_embedded(), out, records=more)
        m = _build(_embedded(), out, records=more, prune=True)
        assert set(m[m.split == "val"].record) == {"223"}
        assert not list((out / "val").glob("*/124_*.png"))


class TestEmptyResult:
    def test_every_record_skipped_is_an_error(self, copy_records, tmp_path, capsys):
        src = copy_records("100", "107")
        for r in ("100", "107"):
            hea = src / f"{r}.hea"
            hea.write_bytes(hea.read_bytes().replace(b"MLII", b"V2"))
        out = tmp_path / "ds"
        with pytest.raises(RecordError, match=r"no records to read.*skipped record 100.*"
                                              r"skipped record 107"):
            _build(src, out, split="none")
        assert not out.exists()
        assert main(["build-dataset", str(src), str(out), "--split", "none", "--quiet"]) == 1
        assert "no records to read" in capsys.readouterr().err

    def test_no_beat_inside_the_records_is_an_error(self, synthetic_record, tmp_path):
        src = synthetic_record("e01", samples=[100, 200, 300])  # every window cut by the edge
        with pytest.raises(RecordError, match=r"no beats to export.*edge 3"):
            _build(src, tmp_path / "ds", split="none")


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    import os

    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only nobody reaped it


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="uses /proc")
class TestWorkers:
    def test_workers_end_when_the_parent_is_killed(self, tmp_path):
        import os
        import signal
        import subprocess
        import sys

        script = (f"from ecgkit.data.export import build_dataset\n"
                  f"build_dataset({str(_embedded())!r}, {str(tmp_path / 'ds')!r}, workers=2, "
                  f"records=['100', '107', '124', '223'], image_size=32, progress=False)\n")
        parent = subprocess.Popen([sys.executable, "-c", script], cwd=_embedded().parent.parent)
        workers = []
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(workers) < 2:
                workers = [p for p in _children(parent.pid)
                           if b"spawn_main" in open(f"/proc/{p}/cmdline", "rb").read()]
                time.sleep(0.1)
            assert len(workers) == 2, "the build did not start its two workers"
            time.sleep(1.0)  # let them start working
            assert parent.poll() is None, "the build ended before the test could kill it"
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_alive(p) for p in workers):
                time.sleep(0.1)
            assert not [p for p in workers if _alive(p)], "workers outlived their parent"
        finally:
            for p in workers:
                if _alive(p):
                    os.kill(p, signal.SIGKILL)
            if parent.poll() is None:
                parent.kill()
