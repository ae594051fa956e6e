"""The data contract: every fixed choice about signals, beats, images and splits, in one place.

Introduced in: notebooks/01_data_exploration.ipynb and notebooks/02_signals_to_images.ipynb.
``data/README.md`` documents the same choices for people; this module is what the code reads.
Names follow the WFDB vocabulary (``fs``, ``sig_name``, ``symbol``) as wfdb-python does.
"""

from __future__ import annotations

from pathlib import Path

# --- Signals -----------------------------------------------------------------------------------
FS = 360
"""Sampling rate (Hz) of every window. MIT-BIH is recorded at 360 Hz; other records are
resampled."""

LEAD = "MLII"
"""Default lead, chosen by name (``sig_name``), never by column: record 114 stores MLII second."""

# --- Beats and classes ----------------------------------------------------------------------------
CLASSES = ("N", "S", "V", "F", "Q")
"""AAMI EC57 classes in the order used everywhere: label index = position here."""

CLASS_SET = ("N", "S", "V", "F")
"""The class set of the inter-patient literature and of every headline figure: Q (unclassifiable
beats, 15 of them in MIT-BIH outside the paced records, 7 in DS2) is scored apart."""

CLASS_NAMES = {
    "N": "normal and bundle-branch block beats",
    "S": "supraventricular ectopic beats",
    "V": "ventricular ectopic beats",
    "F": "fusion of ventricular and normal beats",
    "Q": "paced, fusion of paced and normal, and unclassifiable beats",
}

AAMI_MAP = {
    "N": "N", "L": "N", "R": "N", "e": "N", "j": "N",
    "A": "S", "a": "S", "J": "S", "S": "S",
    "V": "V", "E": "V",
    "F": "F",
    "/": "Q", "f": "Q", "Q": "Q",
}
"""Beat annotation symbol -> AAMI class (the one table; ANSI/AAMI EC57:2012)."""

NON_BEAT_SYMBOLS = frozenset(
    ["[", "]", "!", "x", "(", ")", "p", "t", "u", "`", "'", "^", "|", "~", "+", "s", "T", "*",
     "D", "=", '"', "@", "r"]
)
"""Annotation symbols that are not beats (rhythm changes, noise, waves, comments, flutter waves).

``!`` (ventricular flutter wave) and ``x`` (non-conducted P wave) are annotations, not QRS beats,
and AAMI EC57 excludes them; ``|`` is an isolated QRS-like artefact.
"""

# --- Windows and images -------------------------------------------------------------------------
WINDOW_BEFORE_S = 1.5
WINDOW_AFTER_S = 1.5
"""Each example is the 3 s of signal centred on the annotated R peak, so the neighbouring beats
(and therefore the RR intervals: S beats are premature) are visible."""

WINDOW_SAMPLES = int(round((WINDOW_BEFORE_S + WINDOW_AFTER_S) * FS))  # 1080
BEFORE_SAMPLES = int(round(WINDOW_BEFORE_S * FS))  # 540: the R peak sits at this index

PAPER_SPEED_MM_S = 25.0
"""Standard ECG paper speed: 25 mm per second (horizontal)."""

PAPER_GAIN_MM_MV = 10.0
"""Standard ECG gain: 10 mm per millivolt (vertical)."""

MV_BELOW_BASELINE = 3.0
"""Fixed amplitude scale: the image spans the same number of mm vertically as horizontally
(square ECG paper). For a square image over 3 s that is 75 mm = 7.5 mV, placed from
-3.0 mV to +4.5 mV around the window's median (its baseline). Values outside are clipped and
counted. There is no per-image min-max stretching: amplitude is diagnostic."""

IMAGE_SIZE = 224
"""Default image side in pixels (images are square, uint8 RGB)."""

MIN_IMAGE_SIZE = 32
"""Smallest image side a model accepts: ResNet50 downsamples by 32 (five stride-2 stages)."""

MAX_IMAGE_SIZE = 1024
"""Largest image side accepted: a 1024 px image is 3 MB, a batch of 32 of them 100 MB before
the first convolution; larger sides only exhaust memory (a 100,000 px image would be 30 GB)."""

# --- Patients and splits ------------------------------------------------------------------------
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124",
       "201", "203", "205", "207", "208", "209", "215", "220", "223", "230")
"""de Chazal et al. (2004) training records."""

DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212",
       "213", "214", "219", "221", "222", "228", "231", "232", "233", "234")
"""de Chazal et al. (2004) test records."""

PACED = ("102", "104", "107", "217")
"""Paced records, outside DS1 and DS2 in de Chazal's protocol. The extended protocol used here
puts two on each side, by patient, so that class Q exists in training and test."""

PACED_TRAIN = ("102", "107")
PACED_TEST = ("104", "217")

MITDB_RECORDS = tuple(sorted(DS1 + DS2 + PACED))

SAME_PATIENT = {"202": "201"}
"""Records 201 and 202 come from one patient (MIT-BIH directory). Patient id = first record."""

EXCLUDED_FROM_TRAIN = ("201",)
"""de Chazal's record lists put 201 in DS1 and 202 (the same patient) in DS2. The default split
keeps the standard DS2 test set (so results compare with the literature) and leaves 201 out of
training, so no patient is on both sides."""


def patient_of(record: str) -> str:
    """Patient identifier of a record: its own name, except where two records share a patient."""
    return SAME_PATIENT.get(str(record), str(record))


# --- Where data lives ---------------------------------------------------------------------------
PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DATA_DIR = PROJECT_ROOT / "data" / "mitdb"
"""The whole MIT-BIH Arrhythmia Database (48 records, lossless FLAC, format 516) shipped with the
project: the offline default everywhere (``data/README.md``)."""
