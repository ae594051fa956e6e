"""Converts the MIT-BIH Arrhythmia Database from WFDB format 212 to lossless FLAC (format 516).

Usage:
    .venv/bin/python tools/convert_mitdb_flac.py  # ../shared/data/mitdb -> data/mitdb
    .venv/bin/python tools/convert_mitdb_flac.py --source DIR --out DIR

``--source`` is a folder of PhysioNet's original files (``RECORDS``, ``NNN.hea``, ``NNN.dat`` in
format 212, ``NNN.atr``), e.g. from ``ecgkit download mitdb DIR``. Relative paths are taken from
the project root. The output is built in a temporary folder next to ``--out`` and swapped in
only when every record has been verified, so an interrupted or failed run leaves ``--out`` as
it was.

What it writes (all 48 records, about 35 MB instead of 100 MB):

* ``NNN.hea`` + ``NNN.dat``: the same record in format 516 (16-bit FLAC, one stream with both
  signals). ``wfdb.rdrecord(src, physical=False)`` reads the digital samples and every header
  field; the script sets ``fmt = ["516"] * n_sig`` and calls ``Record.wrsamp(write_dir=...)``,
  which writes the header and, for formats 508/516/524, the FLAC file through soundfile
  (libsndfile; ``wfdb.io._signal.wr_dat_file``).
* ``NNN.atr``, ``ANNOTATORS``: copied byte for byte. ``RECORDS``: the source's record list.
* ``SAMPLES_SHA256.csv``: per record ``record, sig_len, n_sig, sha256`` of the decoded digital
  samples: ``d_signal`` as int16 little-endian bytes, row-major (sample by sample, the signals
  of one sample side by side). It is computed from the format-212 original after checking that
  the FLAC copy decodes to the same array, so it is the durable statement "these are
  PhysioNet's samples", independent of the FLAC encoder.
* ``SHA256SUMS``: ``sha256sum -c`` list of every other file in the folder.

Verification, for every record: the FLAC copy's ``d_signal`` equals the original's bit for bit
(same shape, same values); the physical signal (mV) is equal too; the header fields (``fs``,
``n_sig``, ``sig_len``, ``sig_name``, ``units``, ``adc_gain``, ``baseline``, ``adc_res``,
``adc_zero``, ``init_value``, ``checksum``, ``comments`` with age, sex and medications, ...)
read back equal; the FLAC stream holds ``sig_len`` frames of ``n_sig`` channels; and the decoded
samples written back in format 212 give the source ``.dat`` byte for byte (so anyone can turn
``data/mitdb`` back into PhysioNet's files: ``rec = wfdb.rdrecord(path, physical=False);
rec.fmt = ["212"] * rec.n_sig; rec.wrsamp(write_dir=...)``).

wfdb 4.3.1 quirks met here:

* The header text is rewritten, not copied: LF line endings instead of PhysioNet's CRLF, and the
  gain field spelled out (``200.0(1024)/mV`` where PhysioNet writes ``200``, meaning baseline =
  ADC zero = 1024 and units mV). Same values, compared field by field after reading back.
* The FLAC stream's own sample rate is always 96,000 Hz (wfdb writes that fixed value); the
  header's ``fs`` (360 Hz) is the real rate. Audio tools will report 96 kHz.
* wfdb passes no compression level, so libsndfile's default FLAC level is used (output is
  byte-for-byte reproducible with the same libFLAC version; ``SHA256SUMS`` depends on that
  version, ``SAMPLES_SHA256.csv`` does not).
* Format 212 marks a missing sample with -2048, format 516 with -32768: a -2048 copied as is
  would silently become a valid sample. MIT-BIH has none (its samples are 0..2047); the script
  refuses a record that has one rather than changing samples.
* The signal file keeps its name ``NNN.dat`` although it holds FLAC (PhysioNet does the same);
  the header's format field says how to read it. Reading needs ``soundfile``, a dependency of
  wfdb.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = Path("..") / "shared" / "data" / "mitdb"
DEFAULT_OUT = Path("data") / "mitdb"
FLAC_FMT = "516"
SOURCE_FMT = "212"
INVALID_212 = -(2 ** 11)
"""Format 212's 'no sample' value (wfdb returns it as is when physical=False)."""

HEADER_FIELDS = ("fs", "n_sig", "sig_len", "counter_freq", "base_counter", "base_time",
                 "base_date", "comments", "sig_name", "units", "adc_gain", "baseline", "adc_res",
                 "adc_zero", "init_value", "checksum", "samps_per_frame", "skew", "block_size")
SAMPLES_TABLE = "SAMPLES_SHA256.csv"
SUMS = "SHA256SUMS"


class ConversionError(RuntimeError):
    """A source record is unusable, or its FLAC copy does not decode to the same record."""


def samples_sha256(d_signal: np.ndarray) -> str:
    """SHA-256 of digital samples as int16 little-endian bytes, row-major."""
    d = np.asarray(d_signal)
    if d.size and (d.min() < -(2 ** 15) or d.max() >= 2 ** 15):
        raise ConversionError(f"samples outside int16: {d.min()}..{d.max()}")
    return hashlib.sha256(np.ascontiguousarray(d, dtype="<i2").tobytes()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _project_path(value: str | Path) -> Path:
    p = Path(value).expanduser()
    return (p if p.is_absolute() else ROOT / p).resolve()


def _equal(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def convert_record(src: Path, tmp: Path, name: str) -> dict:
    """Writes one record in format 516 into ``tmp`` and verifies it against the original.

    Returns:
        A row: record, sig_len, n_sig, sha256, sizes in bytes and seconds taken.

    Raises:
        ConversionError: naming the record and what differs.
    """
    import soundfile
    import wfdb

    start = time.perf_counter()
    for ext in ("hea", "dat", "atr"):
        if not (src / f"{name}.{ext}").is_file():
            raise ConversionError(f"{src / f'{name}.{ext}'}: missing")
    orig = wfdb.rdrecord(str(src / name), physical=False)
    if set(orig.fmt) != {SOURCE_FMT} or len(set(orig.file_name)) != 1:
        raise ConversionError(f"{src / name}.hea: expected one format-{SOURCE_FMT} signal file, "
                              f"got formats {orig.fmt} in {sorted(set(orig.file_name))}")
    if (orig.d_signal == INVALID_212).any():
        raise ConversionError(f"{src / name}.dat: {int((orig.d_signal == INVALID_212).sum())} "
                              f"missing samples (-2048) would become valid samples in format "
                              f"{FLAC_FMT}; not converting")
    digest = samples_sha256(orig.d_signal)
    dat_name = orig.file_name[0]

    orig.fmt = [FLAC_FMT] * orig.n_sig
    orig.wrsamp(write_dir=str(tmp))
    shutil.copyfile(src / f"{name}.atr", tmp / f"{name}.atr")

    back = wfdb.rdrecord(str(tmp / name), physical=False)
    if back.fmt != [FLAC_FMT] * orig.n_sig or back.file_name != [dat_name] * orig.n_sig:
        raise ConversionError(f"{tmp / name}.hea: format {back.fmt}, files {back.file_name}")
    if back.d_signal.shape != orig.d_signal.shape or not np.array_equal(back.d_signal,
                                                                         orig.d_signal):
        raise ConversionError(f"{tmp / dat_name}: decoded samples differ from {src / dat_name}")
    if samples_sha256(back.d_signal) != digest:
        raise ConversionError(f"{tmp / dat_name}: decoded samples hash differently")
    for f in HEADER_FIELDS:
        if not _equal(getattr(back, f), getattr(orig, f)):
            raise ConversionError(f"{tmp / name}.hea: field {f} reads back as "
                                  f"{getattr(back, f)!r}, the original has {getattr(orig, f)!r}")
    p_orig = wfdb.rdrecord(str(src / name)).p_signal
    p_back = wfdb.rdrecord(str(tmp / name)).p_signal
    if not np.array_equal(p_orig, p_back, equal_nan=True):
        raise ConversionError(f"{tmp / name}: physical signal (mV) differs from the original")
    info = soundfile.info(str(tmp / dat_name))
    if info.frames != orig.sig_len or info.channels != orig.n_sig:
        raise ConversionError(f"{tmp / dat_name}: FLAC stream has {info.frames} frames x "
                              f"{info.channels} channels, expected {orig.sig_len} x {orig.n_sig}")
    if (tmp / f"{name}.atr").read_bytes() != (src / f"{name}.atr").read_bytes():
        raise ConversionError(f"{tmp / name}.atr: not a byte-for-byte copy")
    roundtrip = tmp / ".roundtrip-212"
    roundtrip.mkdir(exist_ok=True)
    back.fmt = [SOURCE_FMT] * back.n_sig
    back.wrsamp(write_dir=str(roundtrip))
    same = (roundtrip / dat_name).read_bytes() == (src / dat_name).read_bytes()
    shutil.rmtree(roundtrip)
    if not same:
        raise ConversionError(f"{tmp / dat_name}: written back in format {SOURCE_FMT}, the "
                              f"samples do not give {src / dat_name} byte for byte")
    return {"record": name, "sig_len": int(orig.sig_len), "n_sig": int(orig.n_sig),
            "sha256": digest, "src_dat": (src / dat_name).stat().st_size,
            "flac_dat": (tmp / dat_name).stat().st_size,
            "hea": (tmp / f"{name}.hea").stat().st_size,
            "atr": (tmp / f"{name}.atr").stat().st_size,
            "seconds": time.perf_counter() - start}


def write_tables(tmp: Path, names: list[str], rows: list[dict]) -> None:
    """Writes RECORDS, SAMPLES_SHA256.csv and, last, SHA256SUMS over every other file."""
    (tmp / "RECORDS").write_text("".join(f"{n}\n" for n in names))
    with open(tmp / SAMPLES_TABLE, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["record", "sig_len", "n_sig", "sha256"])
        for r in rows:
            w.writerow([r["record"], r["sig_len"], r["n_sig"], r["sha256"]])
    files = sorted(p.name for p in tmp.iterdir() if p.is_file() and p.name != SUMS)
    (tmp / SUMS).write_text("".join(f"{file_sha256(tmp / n)}  {n}\n" for n in files))


def swap_in(tmp: Path, out: Path) -> None:
    """Replaces ``out`` by ``tmp`` (two renames on one file system; the old folder is removed)."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old.exists():
            os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def print_table(rows: list[dict], out: Path, seconds: float) -> None:
    print(f"{'record':>6} {'212 .dat':>10} {'FLAC .dat':>10} {'ratio':>6} {'.atr':>8} "
          f"{'s':>5}")
    for r in rows:
        print(f"{r['record']:>6} {r['src_dat']:>10,} {r['flac_dat']:>10,} "
              f"{r['src_dat'] / r['flac_dat']:>6.2f} {r['atr']:>8,} {r['seconds']:>5.2f}")
    src = sum(r["src_dat"] for r in rows)
    flac = sum(r["flac_dat"] for r in rows)
    atr = sum(r["atr"] for r in rows)
    print(f"{'total':>6} {src:>10,} {flac:>10,} {src / flac:>6.2f} {atr:>8,}")
    folder = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{len(rows)} records, every one bit-identical after decoding (and byte-identical to "
          f"the source .dat written back in format {SOURCE_FMT}); {out}: "
          f"{folder / 1e6:.1f} MB in {len(list(out.iterdir()))} files "
          f"(signals {flac / 1e6:.1f} MB, was {src / 1e6:.1f} MB in format {SOURCE_FMT}); "
          f"{seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(DEFAULT_SOURCE),
                    help=f"folder of format-212 WFDB records (default: {DEFAULT_SOURCE}, "
                         "relative to the project root)")
    ap.add_argument("--out", default=str(DEFAULT_OUT),
                    help=f"output folder, replaced when every record is verified "
                         f"(default: {DEFAULT_OUT})")
    args = ap.parse_args(argv)
    src, out = _project_path(args.source), _project_path(args.out)
    if not (src / "RECORDS").is_file():
        print(f"error: {src / 'RECORDS'}: missing (is {src} a WFDB folder from PhysioNet?)",
              file=sys.stderr)
        return 2
    if src == out:
        print("error: --source and --out are the same folder", file=sys.stderr)
        return 2
    names = [n.strip() for n in (src / "RECORDS").read_text().splitlines() if n.strip()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    start = time.perf_counter()
    try:
        rows = []
        for i, name in enumerate(names, 1):
            rows.append(convert_record(src, tmp, name))
            if sys.stderr.isatty():
                print(f"\r{i}/{len(names)} {name}", end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        if (src / "ANNOTATORS").is_file():
            shutil.copyfile(src / "ANNOTATORS", tmp / "ANNOTATORS")
        write_tables(tmp, names, rows)
        swap_in(tmp, out)
    except ConversionError as exc:
        print(f"\nerror: {exc}; {out} left unchanged", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows, out, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
