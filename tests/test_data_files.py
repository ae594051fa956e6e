"""The shipped database in data/mitdb: all 48 MIT-BIH records, FLAC, decoding to the originals.

``SAMPLES_SHA256.csv`` was written by tools/convert_mitdb_flac.py from PhysioNet's format-212
files (after checking that the FLAC copies decode to the same samples); this test decodes every
shipped record again and compares, so a damaged or re-encoded file cannot pass unnoticed.
"""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import wfdb

from ecgkit.contract import EMBEDDED_DATA_DIR, FS, MITDB_RECORDS
from ecgkit.data.records import list_records


def _table(name: str) -> list[dict]:
    with open(EMBEDDED_DATA_DIR / name, newline="") as f:
        return list(csv.DictReader(f))


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TestShippedDatabase:
    def test_all_48_records_listed(self):
        assert list_records(EMBEDDED_DATA_DIR) == list(MITDB_RECORDS)
        rows = _table("SAMPLES_SHA256.csv")
        assert [r["record"] for r in rows] == list(MITDB_RECORDS)
        for name in MITDB_RECORDS:
            for ext in ("hea", "dat", "atr"):
                assert (EMBEDDED_DATA_DIR / f"{name}.{ext}").is_file(), f"{name}.{ext}"

    def test_headers_keep_physionet_metadata(self):
        for name in MITDB_RECORDS:
            h = wfdb.rdheader(str(EMBEDDED_DATA_DIR / name))
            assert (h.fs, h.n_sig, h.sig_len) == (FS, 2, 650000), name
            assert h.fmt == ["516", "516"] and h.file_name == [f"{name}.dat"] * 2, name
            assert h.adc_gain == [200.0, 200.0] and h.adc_res == [11, 11], name
            assert h.baseline == [1024, 1024] and h.units == ["mV", "mV"], name
            # first comment line: age, sex, ... (e.g. "69 M 1085 1629 x1"); then medications
            assert len(h.comments) >= 2 and h.comments[0].split()[1] in ("M", "F", "?"), name
        assert wfdb.rdheader(str(EMBEDDED_DATA_DIR / "114")).sig_name == ["V5", "MLII"]

    def test_decoded_samples_match_the_originals(self):
        for row in _table("SAMPLES_SHA256.csv"):
            rec = wfdb.rdrecord(str(EMBEDDED_DATA_DIR / row["record"]), physical=False)
            d = rec.d_signal
            assert d.shape == (int(row["sig_len"]), int(row["n_sig"])), row["record"]
            assert d.min() >= 0 and d.max() <= 2047, row["record"]  # 11-bit, as in format 212
            digest = hashlib.sha256(np.ascontiguousarray(d, dtype="<i2").tobytes()).hexdigest()
            assert digest == row["sha256"], f"{row['record']}: decoded samples differ"

    def test_sha256sums_cover_every_shipped_file(self):
        lines = (EMBEDDED_DATA_DIR / "SHA256SUMS").read_text().splitlines()
        sums = {name: digest for digest, name in (line.split("  ", 1) for line in lines)}
        shipped = {p.name for p in EMBEDDED_DATA_DIR.iterdir()} - {"SHA256SUMS"}
        assert set(sums) == shipped
        for name, digest in sums.items():
            assert _sha256(EMBEDDED_DATA_DIR / name) == digest, name
