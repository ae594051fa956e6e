"""build-dataset (export, resume, atomic writes, CLI) and download (offline path only)."""

from __future__ import annotations

import socket
import time

import cv2
import pandas as pd
import pytest

from ecgkit.cli import main
from ecgkit.download import DownloadError, download_mitdb
from ecgkit.export import build_dataset
from ecgkit.records import RecordError
from ecgkit.splits import SplitError

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
        import ecgkit.download as dl

        monkeypatch.setattr(dl, "PHYSIONET_HOST", "127.0.0.1")
        monkeypatch.setattr(dl, "PHYSIONET_PORT", _closed_port())
        assert main(["download", "mitdb", str(tmp_path / "db"), "--timeout", "0.5"]) == 1
        assert "embedded MIT-BIH database" in capsys.readouterr().err
