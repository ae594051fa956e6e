"""Reading real MIT-BIH records: lead by name, reference beats, AAMI classes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from ecgkit.contract import AAMI_MAP, CLASSES, DS1, DS2, MITDB_RECORDS, NON_BEAT_SYMBOLS
from ecgkit.data.records import (
    LeadNotFoundError,
    RecordError,
    beat_table,
    beat_windows,
    list_records,
    read_record,
)
from ecgkit.data.splits import RECORD_CLASS_COUNTS


def _rename_lead(folder, record, old, new):
    hea = folder / f"{record}.hea"
    hea.write_bytes(hea.read_bytes().replace(old.encode(), new.encode()))


class TestReadRecord:
    def test_lead_chosen_by_name_not_column(self, embedded_dir):
        rec = read_record(embedded_dir, "114")  # 114 stores V5 first, MLII second
        assert rec.sig_name == "MLII"
        raw = wfdb.rdrecord(str(embedded_dir / "114"))
        assert raw.sig_name == ["V5", "MLII"]
        np.testing.assert_allclose(rec.signal, raw.p_signal[:, 1].astype(np.float32))

    def test_beats_are_reference_beats_only(self, embedded_dir):
        rec = read_record(embedded_dir, "100")
        assert rec.fs == 360 and rec.signal.dtype == np.float32 and rec.signal.ndim == 1
        assert rec.samples.dtype == np.int64 and rec.labels.dtype == np.int8
        assert set(rec.symbols) <= set(AAMI_MAP)
        assert set(rec.skipped) <= NON_BEAT_SYMBOLS and rec.skipped["+"] > 0
        assert np.bincount(rec.labels, minlength=5).tolist() == list(RECORD_CLASS_COUNTS["100"])
        assert [CLASSES[i] for i in rec.labels[:3]] == [AAMI_MAP[s] for s in rec.symbols[:3]]

    def test_missing_lead_names_file_and_leads(self, copy_records):
        d = copy_records("100")
        _rename_lead(d, "100", "MLII", "V2")
        with pytest.raises(LeadNotFoundError, match=r"100\.hea.*leads V2, V5.*no MLII") as err:
            read_record(d, "100")
        assert err.value.leads == ("V2", "V5")
        rec = read_record(d, "100", fallback_leads=("V5",))
        assert rec.sig_name == "V5"

    def test_records_without_mlii(self, embedded_dir):
        for name in ("102", "104"):
            with pytest.raises(LeadNotFoundError, match=rf"{name}\.hea.*V5, V2"):
                read_record(embedded_dir, name)
        assert read_record(embedded_dir, "102", fallback_leads=("V5",)).sig_name == "V5"


class TestBadRecords:
    @pytest.mark.parametrize("ext,what", [("hea", "header"), ("dat", "signal"),
                                          ("atr", "annotation")])
    def test_missing_file_is_named(self, copy_records, ext, what):
        d = copy_records("100")
        (d / f"100.{ext}").unlink()
        with pytest.raises(RecordError, match=rf"100\.{ext}: missing {what}"):
            read_record(d, "100")

    @pytest.mark.parametrize("fmt", ["212", "516"])
    def test_truncated_dat(self, synthetic_record, fmt):
        d = synthetic_record("t1", fmt=fmt)
        assert wfdb.rdheader(str(d / "t1")).fmt == [fmt, fmt]
        read_record(d, "t1")  # whole: reads
        data = (d / "t1.dat").read_bytes()
        (d / "t1.dat").write_bytes(data[: len(data) // 3])
        with pytest.raises(RecordError, match=r"t1\.dat: truncated"):
            read_record(d, "t1")

    def test_flac_sample_count_must_match_the_header(self, synthetic_record):
        d = synthetic_record("f1", fmt="516")  # 20 s = 7,200 samples
        hea = d / "f1.hea"
        hea.write_text(hea.read_text().replace("f1 2 360 7200", "f1 2 360 7000", 1))
        with pytest.raises(RecordError, match=r"f1\.dat: the FLAC stream holds 7200 samples x 2 "
                                              r"signals, the header expects 7000 x 2"):
            read_record(d, "f1")

    def test_flac_format_but_not_flac(self, synthetic_record):
        d = synthetic_record("f2", fmt="516")
        (d / "f2.dat").write_bytes(b"\x00" * 4096)
        with pytest.raises(RecordError, match=r"f2\.dat: not a FLAC file.*format 516"):
            read_record(d, "f2")

    def test_flac_and_212_read_the_same(self, synthetic_record, tmp_path):
        sig = 0.3 * np.sin(np.arange(20 * 360) / 15.0)
        a = read_record(synthetic_record("p1", signal=sig.copy(), folder=tmp_path / "a"), "p1")
        b = read_record(synthetic_record("p1", signal=sig.copy(), folder=tmp_path / "b",
                                         fmt="516"), "p1")
        np.testing.assert_array_equal(a.signal, b.signal)
        np.testing.assert_array_equal(a.samples, b.samples)

    def test_header_shorter_than_dat_is_named(self, synthetic_record, capsys):
        d = synthetic_record("h1")  # 7200 samples x 2 signals, format 212 (3 bytes a frame)
        hea = d / "h1.hea"
        hea.write_text(hea.read_text().replace(" 7200", " 6000", 1))
        with pytest.raises(RecordError) as err:
            read_record(d, "h1")
        assert str(err.value).startswith(f"{d / 'h1.dat'}: 21600 bytes hold 7200 samples per "
                                         f"signal, but {hea} says 6000")
        from ecgkit.cli import main

        assert main(["build-dataset", str(d), str(d.parent / "ds"), "--split", "none",
                     "--workers", "1", "--quiet"]) == 1
        assert "says 6000" in capsys.readouterr().err

    def test_beats_after_the_header_end_are_named(self, synthetic_record):
        import wfdb

        d = synthetic_record("h2")  # header and signal agree on 6000 samples; the beats go on
        hea = d / "h2.hea"
        hea.write_text(hea.read_text().replace(" 7200", " 6000", 1))
        dat = d / "h2.dat"
        dat.write_bytes(dat.read_bytes()[:6000 * 3])
        late = int((wfdb.rdann(str(d / "h2"), "atr").sample >= 6000).sum())
        assert late > 0
        with pytest.raises(RecordError, match=rf"h2\.atr: {late} beat annotations lie after the "
                                              r"last sample \(6000 samples"):
            read_record(d, "h2")

    def test_unknown_symbol_error_or_counted_skip(self, synthetic_record):
        d = synthetic_record("u1", symbols=["N"] * 10 + ["B"] + ["N"] * 8)
        with pytest.raises(RecordError, match=r"u1\.atr: unknown annotation symbol.*'B'"):
            read_record(d, "u1")
        rec = read_record(d, "u1", unknown_symbols="skip")
        assert rec.unknown == {"B": 1} and rec.skipped["B"] == 1 and len(rec.samples) == 18

    def test_all_nan_and_flat_records_are_errors(self, synthetic_record):
        n = 20 * 360
        d = synthetic_record("nan1", signal=np.full(n, np.nan))
        with pytest.raises(RecordError, match=r"nan1\.dat.*all NaN"):
            read_record(d, "nan1")
        d = synthetic_record("flat1", signal=np.zeros(n))
        with pytest.raises(RecordError, match=r"flat1\.dat.*flat"):
            read_record(d, "flat1")

    def test_nan_flat_and_edge_windows_are_counted(self, synthetic_record):
        n = 20 * 360
        sig = 0.2 * np.sin(np.arange(n) / 20.0)
        sig[5000:5010] = np.nan
        sig[4320 - 600: 4320 + 600] = 0.0  # a flat stretch around the beat at 12 s
        samples = np.array([100, 2000, 3240, 4320, 5005, 7000])
        d = synthetic_record("w1", signal=sig, samples=samples)
        rec = read_record(d, "w1")
        windows, kept, skips = beat_windows(rec)
        assert skips == {"edge": 2, "nan": 1, "flat": 1}  # edge: 100 and 7000
        assert rec.samples[kept].tolist() == [2000, 3240]
        assert windows.shape == (2, 1080) and np.allclose(np.median(windows, axis=1), 0)


class TestListAndTable:
    def test_list_records(self, embedded_dir, tmp_path):
        assert list_records(embedded_dir) == list(MITDB_RECORDS)  # RECORDS: all 48, in order
        with pytest.raises(RecordError, match="no WFDB records"):
            list_records(tmp_path)

    def test_beat_table_columns(self, embedded_dir):
        t = beat_table(embedded_dir, ["100", "107"])
        assert list(t.columns) == ["record", "patient", "sample", "symbol", "label"]
        assert set(t.label) <= set(CLASSES) and (t.record == "107").sum() == 2137

    def test_reproduces_published_counts(self, embedded_dir):
        t = beat_table(embedded_dir)
        ds1 = t[t.record.isin(DS1)].label.value_counts().to_dict()
        ds2 = t[t.record.isin(DS2)].label.value_counts().to_dict()
        assert ds1 == {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
        assert ds2 == {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}
        per = t.groupby(["record", "label"]).size().unstack(fill_value=0)
        per = per.reindex(columns=list(CLASSES), fill_value=0)
        assert {r: tuple(int(v) for v in row) for r, row in per.iterrows()} == RECORD_CLASS_COUNTS
        assert sorted(RECORD_CLASS_COUNTS) == list(MITDB_RECORDS)
