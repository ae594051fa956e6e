"""Shared test fixtures: where the data is, broken copies of real records, synthetic records."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgkit.contract import EMBEDDED_DATA_DIR, FS


@pytest.fixture(scope="session", autouse=True)
def cli_logs_in_tmp(tmp_path_factory):
    """Commands run by tests write their library log files under pytest's tmp, not ~/.cache."""
    import os

    old = os.environ.get("ECGKIT_LOG_DIR")
    os.environ["ECGKIT_LOG_DIR"] = str(tmp_path_factory.mktemp("cli-logs"))
    yield
    if old is None:
        os.environ.pop("ECGKIT_LOG_DIR", None)
    else:
        os.environ["ECGKIT_LOG_DIR"] = old


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    """The whole MIT-BIH database shipped in data/mitdb (48 records, FLAC)."""
    return EMBEDDED_DATA_DIR


@pytest.fixture
def copy_records(tmp_path):
    """Copies real records (.hea, FLAC .dat, .atr) into a fresh folder; returns that folder."""

    def copy(*records: str, dest: Path | None = None) -> Path:
        out = dest or tmp_path / "wfdb"
        out.mkdir(parents=True, exist_ok=True)
        for r in records:
            for ext in ("hea", "dat", "atr"):
                shutil.copyfile(EMBEDDED_DATA_DIR / f"{r}.{ext}", out / f"{r}.{ext}")
        return out

    return copy


@pytest.fixture
def synthetic_record(tmp_path):
    """Writes a small synthetic WFDB record (spiky 'ECG', beats every second).

    Call with ``(name, signal=None, symbols=None, samples=None, sig_names=("MLII", "V1"),
    fmt="212")``; ``fmt="516"`` writes a FLAC signal file like those in data/mitdb.
    """
    import wfdb

    def make(name: str = "s01", signal: np.ndarray | None = None, symbols=None, samples=None,
             sig_names=("MLII", "V1"), folder: Path | None = None, fmt: str = "212") -> Path:
        out = folder or tmp_path / "synthetic"
        out.mkdir(parents=True, exist_ok=True)
        n = 20 * FS
        if samples is None:
            samples = np.arange(FS // 2, n - FS // 2, FS)
        if signal is None:
            t = np.arange(n)
            signal = 0.05 * np.sin(2 * np.pi * t / FS)
            for s in samples:
                signal[max(s - 3, 0):s + 3] += 1.0
        symbols = list(symbols) if symbols is not None else ["N"] * len(samples)
        sig = np.stack([signal] * len(sig_names), axis=1)
        no_sample = {"212": -2048, "516": -32768}[fmt]  # each format's "no sample" value
        digital = np.where(np.isnan(sig), no_sample, np.round(np.nan_to_num(sig) * 200))
        k = len(sig_names)  # 200 adu/mV like MIT-BIH
        wfdb.wrsamp(name, fs=FS, units=["mV"] * k, sig_name=list(sig_names),
                    d_signal=digital.astype(np.int64), fmt=[fmt] * k, adc_gain=[200.0] * k,
                    baseline=[0] * k, write_dir=str(out))
        wfdb.wrann(name, "atr", np.asarray(samples), symbol=symbols, write_dir=str(out))
        return out

    return make


@pytest.fixture(scope="session")
def small_beats():
    """14 records of the embedded database (N, S, V, F on every side, Q via the paced 107 and
    217 on train and test), default inter-patient split, at most 20 beats per record and class."""
    from ecgkit.data.datasets import load_beats

    records = ["100", "106", "107", "118", "119", "200", "207", "208", "209", "213", "217", "223",
               "232", "233"]
    return load_beats(records=records, max_beats_per_record=20, progress=False)


HEAVY_FIRST = ("test_notebooks_smoke.py", "test_backends.py", "test_browser.py", "test_demo.py",
               "test_train.py", "test_run_folder.py", "test_image_folders.py")
"""Test files that take minutes, longest first. ``make test`` runs the suite on two workers
(pytest-xdist, ``--dist loadfile``: a file's tests stay on one worker and share its fixtures),
which take files in collection order; starting the longest ones first keeps one worker from
being left with the 9-minute smoke workbook at the end."""


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).name, len(rank)))
