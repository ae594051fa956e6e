"""Reading MIT-BIH records: one lead by name, reference beats, AAMI classes.

Introduced in: notebooks/01_data_exploration.ipynb.

A record is read with wfdb (``NNN.hea`` header, ``NNN.dat`` signals, ``NNN.atr`` reference
annotations). The signal file may be in PhysioNet's format 212 (what ``ecgkit download`` gets)
or lossless FLAC (format 516, what ``data/mitdb`` ships); both decode to the same samples. The
lead is chosen by its name (``sig_name``), never by column: record 114 stores MLII second, and
records 102 and 104 have no MLII at all. Beats are the annotations whose symbol
is in :data:`ecgkit.contract.AAMI_MAP`; rhythm, noise and wave annotations
(:data:`~ecgkit.contract.NON_BEAT_SYMBOLS`) are counted and left out.

References:
    Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng in Med and Biol
    20(3):45-50 (2001). ANSI/AAMI EC57:2012 (beat classes).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ecgkit.contract import (
    AAMI_MAP,
    BEFORE_SAMPLES,
    CLASSES,
    FS,
    LEAD,
    NON_BEAT_SYMBOLS,
    WINDOW_SAMPLES,
    patient_of,
)

UNKNOWN_SYMBOL_POLICIES = ("error", "skip")

# bytes per sample for the WFDB signal formats found in practice
_BYTES_PER_SAMPLE = {"212": 1.5, "16": 2, "61": 2, "80": 1, "160": 2, "24": 3, "32": 4,
                     "310": 4 / 3, "311": 4 / 3, "8": 1}
# FLAC-compressed formats (8, 16, 24 bits): the file size says nothing about the sample count,
# so these files are checked through the FLAC stream itself (data/mitdb ships format 516)
_FLAC_FORMATS = ("508", "516", "524")


class RecordError(ValueError):
    """A record is missing, damaged or unusable; the message names the file and the problem."""


class LeadNotFoundError(RecordError):
    """The record has no lead of the requested name (and no usable fallback lead).

    Attributes:
        record: the record name.
        leads: the leads the record has.
        wanted: the leads that were asked for, in order.
    """

    def __init__(self, message: str, record: str = "", leads: Sequence[str] = (),
                 wanted: Sequence[str] = ()):
        super().__init__(message)
        self.record, self.leads, self.wanted = record, tuple(leads), tuple(wanted)


@dataclass
class Record:
    """One lead of one record with its reference beats.

    Attributes:
        name: record name (``"114"``).
        patient: patient identifier (:func:`ecgkit.contract.patient_of`).
        fs: sampling rate of ``signal`` in Hz (always the contract ``FS``).
        sig_name: the lead used (``"MLII"``, or a fallback lead).
        signal: float32 mV, 1-D.
        samples: int64 beat positions (sample index of the R peak annotation).
        symbols: the beats' annotation symbols.
        labels: int8 class index into :data:`~ecgkit.contract.CLASSES`.
        skipped: counts of annotation symbols that are not beats (and unknown symbols
            when ``unknown_symbols="skip"``).
        unknown: counts of unknown symbols among ``skipped``.
    """

    name: str
    patient: str
    fs: float
    sig_name: str
    signal: np.ndarray
    samples: np.ndarray
    symbols: np.ndarray
    labels: np.ndarray
    skipped: collections.Counter = field(default_factory=collections.Counter)
    unknown: collections.Counter = field(default_factory=collections.Counter)


def list_records(data_dir: str | Path) -> list[str]:
    """Record names in a WFDB folder: its ``RECORDS`` file if present, else every ``*.hea``.

    Raises:
        RecordError: if the folder does not exist or holds no records.
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise RecordError(f"{d}: no such WFDB folder")
    listing = d / "RECORDS"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.stem for p in d.glob("*.hea"))
    if not names:
        raise RecordError(f"{d}: no WFDB records (no RECORDS file and no *.hea headers)")
    return names


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise RecordError(f"{path}: missing {what} file")
    return path


def check_name(data_dir: str | Path, record: str) -> None:
    """Refuses a record name that wfdb cannot read: it drops non-ASCII letters from the names in
    a header (``réc1`` becomes ``rc1``) and would then look for files that do not exist.

    Raises:
        RecordError: naming the header and the record.
    """
    if not str(record).isascii():
        hea = Path(data_dir) / f"{record}.hea"
        raise RecordError(
            f"{hea}: record name {record!r} has non-ASCII characters, which are not supported "
            "(WFDB record names are ASCII letters, digits, '_' and '-'; wfdb drops the others "
            "from the header): rename the record's files and the names inside its header")


def read_header(data_dir: str | Path, record: str):
    """Reads the header (``.hea``) of a WFDB record, without its signal.

    Returns:
        A ``wfdb.Record`` holding the header fields (``sig_name``, ``fs``, ``sig_len``...).

    Raises:
        RecordError: the header is missing or unreadable, its record name is not ASCII, or its
            sampling frequency is not a positive number (naming the file).
    """
    import wfdb

    data_dir = Path(data_dir)
    hea = _need(data_dir / f"{record}.hea", "header (.hea)")
    check_name(data_dir, record)
    try:
        header = wfdb.rdheader(str(data_dir / record))
    except Exception as exc:  # wfdb raises many types on a bad header
        raise RecordError(f"{hea}: unreadable header: {exc}") from exc
    fs = _first_line_fs(hea)
    if fs is not None and not (math.isfinite(fs) and fs > 0):
        raise RecordError(
            f"{hea}: sampling frequency {fs:g} (the third field of its first line) must be a "
            "positive number of samples per second")
    return header


def _first_line_fs(hea: Path) -> float | None:
    """The sampling frequency written on a header's first (record) line, or None when it is
    left out (WFDB's default, 250 Hz). wfdb reads ``0`` as 0 and ``-360`` as 250 Hz with a
    counter frequency, so the field is read here."""
    for line in hea.read_text(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            fields = line.split()
            if len(fields) < 3:
                return None
            try:
                return float(fields[2].split("/")[0])
            except ValueError:
                return None
    return None


def fallback_hint(lead: str) -> str:
    """How to include a record without the wanted lead, in each way ecgkit is used."""
    return (f"pass fallback_leads=({lead!r},) (command line: --fallback-lead {lead}; "
            f"parameter FALLBACK_LEADS: {lead}) to include it")


def choose_lead(header, path: Path | str, lead: str = LEAD,
                fallback_leads: Sequence[str] = ()) -> str:
    """The lead to read: ``lead`` if the record has it, else the first present fallback.

    Raises:
        LeadNotFoundError: naming the header file and the leads it has.
    """
    names = list(header.sig_name or [])
    for want in (lead, *fallback_leads):
        if want in names:
            return want
    record = Path(path).stem
    hint = f": {fallback_hint(names[0])}" if names else ""
    tried = ", ".join((lead, *fallback_leads))
    raise LeadNotFoundError(
        f"{path}: record {record} has leads {', '.join(names) or 'none'}; no {tried}{hint}",
        record=record, leads=names, wanted=(lead, *fallback_leads),
    )


def _check_flac(dat: Path, header, fmts: list[str], spf: list[int]) -> None:
    """Checks a FLAC signal file: its stream holds the header's frames and signals, and its
    last frame can be decoded (a truncated file cannot seek there; this costs about 1 ms)."""
    import soundfile

    with open(dat, "rb") as f:
        if f.read(4) != b"fLaC":
            raise RecordError(f"{dat}: not a FLAC file, but the header says format {fmts[0]}")
    expected = header.sig_len * spf[0] if header.sig_len else None
    try:
        with soundfile.SoundFile(str(dat)) as sf:
            frames, channels = sf.frames, sf.channels
            if frames:
                sf.seek(frames - 1)
                sf.read(1, dtype="int16")
    except Exception as exc:  # libsndfile reports a cut stream as a failed seek or lost sync
        raise RecordError(
            f"{dat}: truncated or damaged signal file (FLAC, format {fmts[0]}): {exc}"
        ) from exc
    if channels != len(fmts) or (expected is not None and frames != expected):
        raise RecordError(
            f"{dat}: the FLAC stream holds {frames} samples x {channels} signals, the header "
            f"expects {expected} x {len(fmts)} (format {fmts[0]})"
        )


def _check_dat(data_dir: Path, header) -> None:
    """Checks that every signal file exists and is as long as the header says (no shorter:
    truncated; no longer: the header's sample count would silently drop the rest).

    For byte formats (212, 16, ...) the file size is compared with the sample count; for the
    FLAC formats (508, 516, 524) the FLAC stream's frame count is, and its last frame decoded.
    """
    files = collections.OrderedDict()
    spfs = collections.OrderedDict()
    per_frame = header.samps_per_frame or [1] * len(header.fmt)
    for fname, fmt, spf in zip(header.file_name, header.fmt, per_frame):
        files.setdefault(fname, []).append(str(fmt))
        spfs.setdefault(fname, []).append(int(spf or 1))
    for fname, fmts in files.items():
        dat = _need(data_dir / fname, "signal (.dat)")
        if fmts[0] in _FLAC_FORMATS:
            _check_flac(dat, header, fmts, spfs[fname])
            continue
        per = [_BYTES_PER_SAMPLE.get(f) for f in fmts]
        if None in per or not header.sig_len:
            continue
        expected = math.ceil(header.sig_len * sum(per))
        size = dat.stat().st_size
        if size < expected:
            raise RecordError(
                f"{dat}: truncated signal file: {size} bytes, the header expects {expected} "
                f"({header.sig_len} samples x {len(fmts)} signals, format {fmts[0]})"
            )
        held = int(size // sum(per))
        if held > header.sig_len:
            hea = data_dir / f"{header.record_name}.hea"
            raise RecordError(
                f"{dat}: {size} bytes hold {held} samples per signal, but {hea} says "
                f"{header.sig_len} (its first line): the samples after {header.sig_len} and "
                "their beats would be lost. Correct the sample count in the header"
            )


def read_atr(data_dir: str | Path, record: str):
    """The reference annotation file (``.atr``) of a record as wfdb reads it: every annotation,
    beats and others (rhythm changes ``+`` with their ``aux_note``, noise, comments).

    Returns:
        A ``wfdb.Annotation``.

    Raises:
        RecordError: the ``.atr`` file is missing or unreadable (naming it).
    """
    import wfdb

    d = Path(data_dir)
    check_name(d, record)
    atr = _need(d / f"{record}.atr", "annotation (.atr)")
    try:
        return wfdb.rdann(str(d / record), "atr")
    except Exception as exc:
        raise RecordError(f"{atr}: unreadable annotation file: {exc}") from exc


def read_annotations(data_dir: str | Path, record: str, unknown_symbols: str = "error"):
    """Reference beats of a record (annotations only, no signal).

    Returns:
        ``(samples int64, symbols str array, labels int8, skipped Counter, unknown Counter)``.

    Raises:
        RecordError: missing or unreadable ``.atr``; an unknown symbol when
            ``unknown_symbols="error"``.
    """
    if unknown_symbols not in UNKNOWN_SYMBOL_POLICIES:
        raise ValueError(f"unknown_symbols must be one of {UNKNOWN_SYMBOL_POLICIES}. "
                         f"Received: unknown_symbols={unknown_symbols!r}")
    atr = Path(data_dir) / f"{record}.atr"
    ann = read_atr(data_dir, record)
    symbols = np.asarray(ann.symbol, dtype=object)
    samples = np.asarray(ann.sample, dtype=np.int64)
    is_beat = np.array([s in AAMI_MAP for s in symbols], dtype=bool)
    skipped = collections.Counter(symbols[~is_beat].tolist())
    unknown = collections.Counter({s: n for s, n in skipped.items() if s not in NON_BEAT_SYMBOLS})
    if unknown and unknown_symbols == "error":
        listed = ", ".join(f"{s!r} x{n}" for s, n in sorted(unknown.items()))
        raise RecordError(
            f"{atr}: unknown annotation symbol(s) {listed}: neither a beat (contract.AAMI_MAP) "
            "nor a known non-beat annotation; pass unknown_symbols='skip' (command line: "
            "--unknown-symbols skip; parameter UNKNOWN_SYMBOLS: skip) to count and skip them"
        )
    beat_symbols = symbols[is_beat].astype(str)
    labels = np.array([CLASSES.index(AAMI_MAP[s]) for s in beat_symbols], dtype=np.int8)
    return samples[is_beat], beat_symbols, labels, skipped, unknown


def read_record(data_dir: str | Path, record: str, lead: str = LEAD,
                fallback_leads: Sequence[str] = (), unknown_symbols: str = "error") -> Record:
    """Reads one lead (chosen by name) and the reference beats of a WFDB record.

    Args:
        data_dir: folder with ``record.hea``, its ``.dat`` and ``record.atr``.
        record: record name, e.g. ``"114"``.
        lead: lead name (``sig_name``) to read.
        fallback_leads: leads to use, in order, when the record has no ``lead``.
        unknown_symbols: ``"error"`` (default) or ``"skip"`` (count them in ``skipped``).

    Returns:
        A :class:`Record` at the contract sampling rate (resampled if the file differs).

    Raises:
        LeadNotFoundError: the record has neither ``lead`` nor a fallback lead.
        RecordError: a missing or truncated file, an unknown symbol, or a signal that is all
            NaN or flat.
    """
    import wfdb

    d = Path(data_dir)
    record = str(record)
    header = read_header(d, record)
    hea = d / f"{record}.hea"
    sig_name = choose_lead(header, hea, lead, fallback_leads)
    _check_dat(d, header)
    samples, symbols, labels, skipped, unknown = read_annotations(d, record, unknown_symbols)
    late = int((samples >= header.sig_len).sum()) if header.sig_len else 0
    if late:  # any signal format (also compressed ones, whose size says nothing)
        raise RecordError(
            f"{d / record}.atr: {late} beat annotations lie after the last sample "
            f"({header.sig_len} samples in {hea}): the header's sample count is too small, or "
            "the annotations belong to another record"
        )
    try:
        rec = wfdb.rdrecord(str(d / record), channel_names=[sig_name])
    except Exception as exc:
        raise RecordError(f"{d / record}: unreadable signal ({sig_name}): {exc}") from exc
    signal = np.asarray(rec.p_signal[:, 0], dtype=np.float64)
    fs = float(rec.fs)
    if fs != FS:
        from wfdb.processing import resample_singlechan

        from_ann = samples.astype(np.int64)
        signal, samples = resample_singlechan(np.nan_to_num(signal), from_ann, fs, FS)
        samples = np.asarray(samples, dtype=np.int64)
    dat = d / header.file_name[header.sig_name.index(sig_name)]
    finite = np.isfinite(signal)
    if not finite.any():
        raise RecordError(f"{dat}: lead {sig_name} of record {record} is all NaN (no signal)")
    if np.nanstd(signal) == 0:
        raise RecordError(f"{dat}: lead {sig_name} of record {record} is flat (zero variance)")
    return Record(name=record, patient=patient_of(record), fs=float(FS), sig_name=sig_name,
                  signal=signal.astype(np.float32), samples=samples, symbols=symbols,
                  labels=labels, skipped=skipped, unknown=unknown)


def beat_windows(record: Record) -> tuple[np.ndarray, np.ndarray, collections.Counter]:
    """Cuts the beat-centred windows of a record, baseline-corrected (window median = 0).

    Windows cut by the record edge, windows with a NaN sample and flat windows are skipped
    and counted.

    Returns:
        ``(windows float32 (n, WINDOW_SAMPLES), kept int64 indices into record.samples,
        skips Counter with keys "edge", "nan", "flat")``.
    """
    n = record.signal.shape[0]
    start = record.samples - BEFORE_SAMPLES
    inside = (start >= 0) & (start + WINDOW_SAMPLES <= n)
    skips = collections.Counter()
    if (~inside).sum():
        skips["edge"] = int((~inside).sum())
    kept = np.flatnonzero(inside)
    if kept.size == 0:
        return np.zeros((0, WINDOW_SAMPLES), np.float32), kept, skips
    idx = start[kept, None] + np.arange(WINDOW_SAMPLES)[None, :]
    windows = record.signal[idx]
    bad_nan = ~np.isfinite(windows).all(axis=1)
    ptp = np.where(bad_nan, 1.0, np.ptp(np.nan_to_num(windows), axis=1))
    bad_flat = ~bad_nan & (ptp == 0)
    if bad_nan.any():
        skips["nan"] = int(bad_nan.sum())
    if bad_flat.any():
        skips["flat"] = int(bad_flat.sum())
    good = ~(bad_nan | bad_flat)
    windows, kept = windows[good], kept[good]
    windows -= np.median(windows, axis=1, keepdims=True)
    return np.ascontiguousarray(windows, dtype=np.float32), kept, skips


def beat_table(data_dir: str | Path, records: Iterable[str] | None = None,
               lead: str | None = None, unknown_symbols: str = "error"):
    """Reference beats of many records as a table (annotations only when ``lead`` is None).

    Args:
        data_dir: WFDB folder.
        records: record names (default: :func:`list_records`).
        lead: if given, each record must have this lead (checked from the header).
        unknown_symbols: ``"error"`` or ``"skip"``.

    Returns:
        DataFrame with columns ``record, patient, sample, symbol, label`` (label = class letter).
    """
    import pandas as pd

    d = Path(data_dir)
    names = list(records) if records is not None else list_records(d)
    parts = []
    for name in names:
        if lead is not None:
            choose_lead(read_header(d, name), d / f"{name}.hea", lead)
        samples, symbols, labels, _, _ = read_annotations(d, name, unknown_symbols)
        parts.append(pd.DataFrame({
            "record": name, "patient": patient_of(name), "sample": samples,
            "symbol": symbols, "label": np.asarray(CLASSES)[labels],
        }))
    if not parts:
        return pd.DataFrame(columns=["record", "patient", "sample", "symbol", "label"])
    return pd.concat(parts, ignore_index=True)
