"""Rhythm strips: 10-s ECG images labelled by the MIT-BIH rhythm annotations, and an RR baseline.

Introduced in: notebooks/40_your_own_images.ipynb (the strips as a labelled image folder, and
the RR-irregularity baseline).

``ecgkit build-dataset data/mitdb OUT --task rhythm`` (:func:`build_rhythm_dataset`) writes a
labelled image folder of the kind a user brings: ``OUT/images/<class>/<record>_<start>.png``,
``OUT/labels.csv`` (``file`` relative to OUT, ``label``, ``patient`` the group column,
``record``, ``start_s``, ``end_s``, ``rhythm`` the annotation's own code) and ``OUT/build.json``
(the options). It follows ``build-dataset``'s folder conventions (:mod:`ecgkit.data.export`): every
file written atomically, the folder locked while building, a re-run resumes (only missing images
are drawn), other options refused.

Episodes. A rhythm annotation (symbol ``+``) names in its ``aux_note`` the rhythm that starts
there (``(N``, ``(AFIB``...); the episode lasts until the next one, the last until the end of the
record; the seconds before the first one carry no rhythm and are not used. Strips are cut
without overlap from each episode's start and lie wholly inside it (:func:`strips_of`).

Classes (:data:`RHYTHM_CLASSES`). Counted on the 48 embedded records (10-s strips wholly inside
one episode, all of them, before the cap; the patients in brackets):

* ``NSR``: normal sinus rhythm ``(N``, 6106 strips (41 patients).
* ``AF``: atrial fibrillation ``(AFIB`` (752) and atrial flutter ``(AFL`` (60), 7 patients.
* ``OTHER``: every other rhythm, 1189 strips (20 patients): paced ``(P`` 631 (4 patients),
  sinus bradycardia ``(SBR`` 180 (1), ventricular bigeminy ``(B`` 144 (6), trigeminy ``(T``
  72 (7), second-degree block ``(BII`` 68 (1), pre-excitation ``(PREX`` 36 (1), and under 15
  each of ``(SVTA``, ``(IVR``, ``(VFL``, ``(VT``, ``(NOD``, ``(AB``.

No other rhythm has several patients and more than a few dozen strips, so a finer class set would
hold classes of one patient; the annotation's code stays in the ``rhythm`` column. Records 102
and 104 have no MLII lead and are skipped by default (``--fallback-lead V5`` includes them).

Cap. At most :data:`MAX_STRIPS_PER_RECORD` strips per record and class, spread evenly over the
record (:func:`cap_strips`, deterministic), so each patient weighs about the same and the folder
stays small. The default build of the 48 records (MLII; 102 and 104 skipped) holds 1811 strips:
NSR 1200 (39 patients), AF 225 (7), OTHER 386 (18); 47 MB.

Images. A strip is drawn by :func:`ecgkit.data.render.render_strip` at the beat images' paper
scales (25 mm/s, 10 mm/mV, -3.0 to +4.5 mV around the strip's median): ``image_size`` px high,
and 10/3 as wide (747 x 224 px by default).

Baseline. :func:`rr_irregularity_baseline` is a logistic regression on four RR-irregularity
features of the reference beats in each strip (:data:`RR_FEATURES`): atrial fibrillation is
irregularly irregular, bigeminy and trigeminy are regularly irregular (their RR intervals repeat
every 2 or 3 beats), sinus rhythm is regular. The fourth feature (``lag_ratio``) was chosen on
the training patients: leave-one-patient-out on the DS1 records, macro-F1 0.48 with it, 0.42
with the first three alone.

References:
    Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng in Med and Biol
    20(3):45-50 (2001). Tateno K, Glass L. Automatic detection of atrial fibrillation using the
    coefficient of variation and density histograms of RR and deltaRR intervals. Med Biol Eng
    Comput 39:664-671 (2001).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ecgkit.contract import FS, IMAGE_SIZE, LEAD, patient_of

RHYTHM_CLASSES = ("NSR", "AF", "OTHER")
"""The rhythm classes, in label order."""

RHYTHM_CLASS_OF = {"N": "NSR", "AFIB": "AF", "AFL": "AF"}
"""Rhythm code -> class; every other code is ``OTHER``."""

RHYTHM_NAMES = {
    "N": "normal sinus rhythm", "AFIB": "atrial fibrillation", "AFL": "atrial flutter",
    "P": "paced rhythm", "SBR": "sinus bradycardia", "B": "ventricular bigeminy",
    "T": "ventricular trigeminy", "BII": "2 degree heart block", "PREX": "pre-excitation (WPW)",
    "SVTA": "supraventricular tachyarrhythmia", "IVR": "idioventricular rhythm",
    "VFL": "ventricular flutter", "VT": "ventricular tachycardia",
    "NOD": "nodal (A-V junctional) rhythm", "AB": "atrial bigeminy",
}
"""The rhythm codes of the MIT-BIH Arrhythmia Database (the ``aux_note`` without its ``(``)."""

STRIP_S = 10.0
"""Length of a strip in seconds."""

MAX_STRIPS_PER_RECORD = 30
"""Default cap per record and class (0 = no cap)."""

LABELS = "labels.csv"
BUILD_INFO = "build.json"
LABEL_COLUMNS = ["file", "label", "patient", "record", "start_s", "end_s", "rhythm"]

RR_FEATURES = ("cv_rr", "rmssd_ratio", "pnn50", "lag_ratio")
"""Per strip, from the RR intervals of its reference beats: coefficient of variation, RMSSD /
mean RR, fraction of successive differences above 50 ms, and ``lag_ratio``: the smaller of the
RMS differences at lags 2 and 3 / mean RR (small for the regularly irregular bigeminy and
trigeminy, large for atrial fibrillation)."""


def rhythm_class(code: str) -> str:
    """The class (:data:`RHYTHM_CLASSES`) of a rhythm code such as ``"AFIB"``."""
    return RHYTHM_CLASS_OF.get(code, "OTHER")


def rhythm_episodes(data_dir, record: str) -> pd.DataFrame:
    """The rhythm episodes of a record, from its ``.atr`` rhythm annotations.

    Returns:
        DataFrame ``record, patient, rhythm, label, start, end``: ``start``/``end`` are sample
        indices at the contract rate ``FS`` (``end`` exclusive); consecutive annotations of
        one rhythm are merged.

    Raises:
        ecgkit.data.records.RecordError: a missing or unreadable ``.hea``/``.atr``, or a rhythm
            annotation whose ``aux_note`` is not a rhythm code (naming the file and sample).
    """
    from ecgkit.data.records import RecordError, read_atr, read_header

    d, record = Path(data_dir), str(record)
    header = read_header(d, record)
    ann = read_atr(d, record)
    scale = FS / float(header.fs)
    length = int(round(header.sig_len * scale))
    rows = []
    for symbol, sample, note in zip(ann.symbol, ann.sample, ann.aux_note):
        if symbol != "+":
            continue
        note = (note or "").strip("\x00").strip()
        if not note.startswith("(") or len(note) < 2:
            raise RecordError(f"{d / record}.atr: the rhythm annotation at sample {sample} has "
                              f"aux_note {note!r}, not a rhythm code such as '(N' or '(AFIB'")
        start = int(round(sample * scale))
        if start >= length:
            raise RecordError(f"{d / record}.atr: a rhythm annotation at sample {sample} lies "
                              f"after the last sample ({header.sig_len}, {d / record}.hea)")
        if rows and rows[-1][0] == note[1:]:
            continue
        rows.append((note[1:], start))
    ends = [start for _, start in rows[1:]] + [length] if rows else []
    return pd.DataFrame({
        "record": record, "patient": patient_of(record),
        "rhythm": [code for code, _ in rows], "label": [rhythm_class(c) for c, _ in rows],
        "start": np.array([s for _, s in rows], dtype=np.int64), "end": np.array(ends, np.int64),
    }, columns=["record", "patient", "rhythm", "label", "start", "end"])


def strips_of(episodes: pd.DataFrame, strip_s: float = STRIP_S) -> pd.DataFrame:
    """Non-overlapping strips of ``strip_s`` seconds cut from each episode's start, each wholly
    inside its episode (the remainder of an episode is not used).

    Returns:
        DataFrame ``record, patient, rhythm, label, start, end`` (samples at ``FS``).
    """
    n = int(round(strip_s * FS))
    parts = []
    for ep in episodes.itertuples(index=False):
        k = (ep.end - ep.start) // n
        if k > 0:
            starts = ep.start + n * np.arange(k, dtype=np.int64)
            parts.append(pd.DataFrame({"record": ep.record, "patient": ep.patient,
                                       "rhythm": ep.rhythm, "label": ep.label,
                                       "start": starts, "end": starts + n}))
    if not parts:
        return episodes.iloc[:0].copy()
    return pd.concat(parts, ignore_index=True)


def cap_strips(strips: pd.DataFrame, max_per_record: int) -> pd.DataFrame:
    """At most ``max_per_record`` strips per record and class (0 = all), spread evenly over the
    record (the first and the last are kept); deterministic."""
    if max_per_record < 0:
        raise ValueError(f"max_per_record must be >= 0. Received: {max_per_record!r}")
    strips = strips.sort_values(["record", "start"], kind="stable")
    if max_per_record == 0:
        return strips.reset_index(drop=True)
    keep = []
    for _, rows in strips.groupby(["record", "label"], sort=False).indices.items():
        if len(rows) > max_per_record:
            rows = rows[np.round(np.linspace(0, len(rows) - 1, max_per_record)).astype(int)]
        keep.extend(rows)
    return strips.iloc[sorted(keep)].reset_index(drop=True)


def strip_table(data_dir, records: Sequence[str] | None = None,
                max_strips_per_record: int = MAX_STRIPS_PER_RECORD, lead: str = LEAD,
                fallback_leads: Sequence[str] = (), missing_lead: str = "skip") -> pd.DataFrame:
    """The strips of a WFDB folder as the rows of ``labels.csv`` (annotations only, no signal).

    Args:
        data_dir: WFDB folder.
        records: record names (default: all); records without ``lead`` (or a fallback lead)
            are skipped with a message, or raise with ``missing_lead="error"``.
        max_strips_per_record: cap per record and class (0 = no cap).

    Returns:
        DataFrame with :data:`LABEL_COLUMNS`; ``attrs["records"]`` lists the records read and
        ``attrs["skipped_records"]`` maps skipped records to the reason.
    """
    from ecgkit.data.splits import plan_split

    plan = plan_split(data_dir, "none", records, lead, fallback_leads, missing_lead)
    strips = cap_strips(pd.concat([strips_of(rhythm_episodes(plan.data_dir, r))
                                   for r in plan.records], ignore_index=True),
                        max_strips_per_record)
    table = pd.DataFrame({
        "file": [f"images/{c}/{r}_{s:07d}.png"
                 for c, r, s in zip(strips.label, strips.record, strips.start)],
        "label": strips.label, "patient": strips.patient, "record": strips.record,
        "start_s": strips.start / FS, "end_s": strips.end / FS, "rhythm": strips.rhythm,
    }, columns=LABEL_COLUMNS)
    table.attrs.update(records=list(plan.records), skipped_records=dict(plan.skipped))
    return table


def count_table(labels: pd.DataFrame) -> pd.DataFrame:
    """Strips, records and patients per class (rows in :data:`RHYTHM_CLASSES` order)."""
    t = labels.groupby("label").agg(strips=("file", "size"), records=("record", "nunique"),
                                    patients=("patient", "nunique"))
    t = t.reindex([c for c in RHYTHM_CLASSES if c in t.index])
    t.loc["total"] = [len(labels), labels.record.nunique(), labels.patient.nunique()]
    return t


def _check_folder(out: Path, options: dict) -> None:
    """Refuses a folder holding something else, or a build with other options; then marks the
    build as started in build.json."""
    from ecgkit.data.export import OutputFolderError, changed_options
    from ecgkit.training.atomic import write_bytes

    old, diff = changed_options(out, options)
    if old is not None:
        if diff and (old.get("complete", True) or any(out.glob("images/*/*.png"))):
            listed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise OutputFolderError(f"{out}: already built with other options ({listed}); "
                                    "use a new output folder or delete this one")
    elif any(out.iterdir()):
        raise OutputFolderError(f"{out}: folder exists, is not empty and is not an ecgkit "
                                f"dataset (no {BUILD_INFO}); choose an empty or new folder")
    write_bytes(out / BUILD_INFO, json.dumps({**options, "complete": False}, indent=1).encode())


def build_rhythm_dataset(source_dir, out_dir, records: Sequence[str] | None = None,
                         max_strips_per_record: int = MAX_STRIPS_PER_RECORD,
                         image_size: int = IMAGE_SIZE, grid: bool = True, lead: str = LEAD,
                         fallback_leads: Sequence[str] = (), missing_lead: str = "skip",
                         unknown_symbols: str = "error", progress: bool = True) -> pd.DataFrame:
    """Writes the rhythm strips as ``OUT/images/<class>/*.png`` with ``labels.csv``.

    Args:
        source_dir: WFDB folder (e.g. ``data/mitdb``).
        out_dir: output folder (created; or one from an earlier run with the same options,
            which resumes).
        records: record names (default: all).
        max_strips_per_record: cap per record and class (0 = no cap).
        image_size: strip height in pixels (the width is 10/3 of it for 10-s strips).
        grid: draw the ECG-paper grid.
        lead, fallback_leads, missing_lead, unknown_symbols: as for ``build-dataset``.
        progress: show a progress bar and print the counts.

    Returns:
        The rows of ``labels.csv``; ``attrs["report"]`` holds the counts (written, existing,
        clipped, skipped records).

    Raises:
        ecgkit.params.ParamError: ``image_size`` out of range (before anything is written).
        ecgkit.data.export.OutputFolderError: the folder holds something else, other options, or
            another build is writing into it.
        ecgkit.data.records.RecordError: unreadable records.
    """
    from ecgkit.data.export import write_png
    from ecgkit.data.records import read_record
    from ecgkit.data.render import render_strip
    from ecgkit.params import check
    from ecgkit.training.atomic import exclusive_folder, write_bytes

    check("IMAGE_SIZE", image_size, "image_size")
    if isinstance(max_strips_per_record, bool) or not isinstance(max_strips_per_record, int) \
            or max_strips_per_record < 0:
        raise ValueError(f"max_strips_per_record must be an integer >= 0 (0 = no cap). "
                         f"Received: {max_strips_per_record!r}")
    table = strip_table(source_dir, records, max_strips_per_record, lead, fallback_leads,
                        missing_lead)
    if table.empty:
        from ecgkit.data.records import RecordError

        raise RecordError(f"{source_dir}: no 10-s strips inside one rhythm episode in record(s) "
                          f"{', '.join(table.attrs['records'])} (the rhythm annotations are "
                          "the .atr '+' annotations with an aux_note such as '(N')")
    options = {"task": "rhythm", "records": table.attrs["records"], "strip_s": STRIP_S,
               "classes": list(RHYTHM_CLASSES), "max_strips_per_record": max_strips_per_record,
               "image_size": int(image_size), "grid": bool(grid), "lead": lead,
               "fallback_leads": list(fallback_leads), "unknown_symbols": unknown_symbols}
    report = {"written": 0, "existing": 0, "clipped": 0,
              "skipped_records": table.attrs["skipped_records"]}
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    with exclusive_folder(out, "build-dataset"):
        try:
            _check_folder(out, options)
            for c in RHYTHM_CLASSES:
                (out / "images" / c).mkdir(parents=True, exist_ok=True)
            groups = table.groupby("record", sort=True).indices
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(groups), desc="build-dataset rhythm", unit="rec")
            for record, rows in groups.items():
                todo = [i for i in rows if not (out / table.file[i]).is_file()]
                report["existing"] += len(rows) - len(todo)
                if todo:
                    rec = read_record(source_dir, record, lead, fallback_leads, unknown_symbols)
                    for i in todo:
                        a = int(round(table.start_s[i] * FS))
                        img, clipped = render_strip(rec.signal[a:a + int(STRIP_S * FS)],
                                                    image_size, grid)
                        write_png(out / table.file[i], img)
                        report["written"] += 1
                        report["clipped"] += int(clipped)
                if bar:
                    bar.update(1)
            if bar:
                bar.close()
            keep = set(table.file)
            for p in out.glob("images/*/*"):
                if p.relative_to(out).as_posix() not in keep:
                    p.unlink()  # temporary files of an interrupted run
            write_bytes(out / LABELS, table.to_csv(index=False).encode())
            write_bytes(out / BUILD_INFO,
                        json.dumps({**options, "complete": True}, indent=1).encode())
        except BaseException:
            if created and not any(out.glob("images/*/*.png")):
                shutil.rmtree(out)
            raise
    table.attrs["report"] = report
    if progress:
        print(format_summary(table, out))
    return table


def format_summary(labels: pd.DataFrame, out) -> str:
    """What a build printed: images written, strips/records/patients per class, skips."""
    r = labels.attrs.get("report", {})
    lines = [f"{out}: {len(labels)} strips ({r.get('written', 0)} written, "
             f"{r.get('existing', 0)} already there)", count_table(labels).to_string()]
    lines += list(r.get("skipped_records", {}).values())
    if r.get("clipped"):
        lines.append(f"strips with the trace clipped at the amplitude range: {r['clipped']}")
    return "\n".join(lines)


# --- the RR-irregularity baseline ---------------------------------------------------------------

def strip_rr_features(table: pd.DataFrame, data_dir) -> np.ndarray:
    """RR-irregularity features (:data:`RR_FEATURES`) of each strip, from its reference beats.

    Args:
        table: rows with ``record``, ``start_s``, ``end_s`` (``labels.csv``).
        data_dir: the WFDB folder the strips come from.

    Returns:
        float (n, 4); NaN for a strip with fewer than five beats.
    """
    from ecgkit.data.records import read_annotations, read_header

    feats = np.full((len(table), len(RR_FEATURES)), np.nan)
    starts, ends = table["start_s"].to_numpy(float), table["end_s"].to_numpy(float)
    for record, rows in table.groupby(table["record"].astype(str)).indices.items():
        fs = float(read_header(data_dir, record).fs)
        t = read_annotations(data_dir, record, "skip")[0] / fs
        for i in rows:
            rr = np.diff(t[(t >= starts[i]) & (t < ends[i])])
            if len(rr) < 4:
                continue
            mean, d = rr.mean(), np.diff(rr)
            lag = min(np.sqrt(np.mean((rr[k:] - rr[:-k]) ** 2)) for k in (2, 3))
            feats[i] = (rr.std() / mean, np.sqrt(np.mean(d ** 2)) / mean,
                        np.mean(np.abs(d) > 0.05), lag / mean)
    return feats


def rr_irregularity_baseline(train_table: pd.DataFrame, test_table: pd.DataFrame, data_dir,
                             classes: Sequence[str] = RHYTHM_CLASSES) -> np.ndarray:
    """A logistic regression on the RR-irregularity features: class probabilities of the test
    strips.

    Fitted on ``train_table`` only (balanced class weights; standardised features; a strip
    without three beats gets the training medians).

    Returns:
        float (n_test, len(classes)); a class absent from training gets probability 0.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = train_table["label"].to_numpy()
    unknown = sorted(set(y) - set(classes))
    if unknown:
        raise ValueError(f"train_table has labels {unknown} outside classes {list(classes)}")
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                          LogisticRegression(class_weight="balanced", max_iter=1000))
    model.fit(strip_rr_features(train_table, data_dir), y)
    proba = model.predict_proba(strip_rr_features(test_table, data_dir))
    full = np.zeros((len(test_table), len(classes)))
    for j, c in enumerate(model.classes_):
        full[:, list(classes).index(c)] = proba[:, j]
    return full
