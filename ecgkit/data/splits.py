"""Splitting beats by patient: the inter-patient protocol, its validation carve, and a leaky foil.

Introduced in: notebooks/01_data_exploration.ipynb.

The default protocol is de Chazal et al. (2004): training records DS1, test records DS2, so no
patient is on both sides. It is extended so that all five AAMI classes exist on both sides: the
paced records 102 and 107 join training and 104 and 217 join the test side
(:data:`~ecgkit.contract.PACED_TRAIN`, :data:`~ecgkit.contract.PACED_TEST`). Record 201 is left
out of training because its patient is also record 202, which is in DS2
(:data:`~ecgkit.contract.EXCLUDED_FROM_TRAIN`). A validation split is carved from the training
patients only; test patients never choose an epoch, a threshold or a model.

:func:`plan_split` is the one place that decides which records of a folder a split reads, where
each goes and why the others are left out (a :class:`SplitPlan`, from the headers alone):
:func:`ecgkit.data.datasets.load_beats` and ``ecgkit build-dataset`` both follow it.

``beat-random-LEAKS-PATIENTS`` splits beats at random: beats of one patient land in training and
test, which inflates every test metric. It exists only to show that effect.

References:
    de Chazal P, O'Dwyer M, Reilly RB. Automatic classification of heartbeats using ECG
    morphology and heartbeat interval features. IEEE Trans Biomed Eng 51(7):1196-1206 (2004).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ecgkit.contract import (
    CLASS_SET,
    CLASSES,
    DS1,
    DS2,
    EXCLUDED_FROM_TRAIN,
    LEAD,
    MITDB_RECORDS,
    PACED,
    PACED_TEST,
    PACED_TRAIN,
    SAME_PATIENT,
    patient_of,
)
from ecgkit.data.records import (
    LeadNotFoundError,
    RecordError,
    choose_lead,
    fallback_hint,
    list_records,
    read_header,
)

SPLIT_PROTOCOLS = ("inter-patient", "inter-patient-strict", "beat-random-LEAKS-PATIENTS", "none")
"""Split protocols: by patient (default, paced records on both sides), by patient under the
strict AAMI protocol (paced records out), a beat-level split that leaks patients, and none."""

PATIENT_SPLITS = ("inter-patient", "inter-patient-strict")
"""The protocols that assign whole records (patients) to train, val and test."""

TRAIN_RECORDS = tuple(sorted(set(DS1 + PACED_TRAIN) - set(EXCLUDED_FROM_TRAIN)))
TEST_RECORDS = tuple(sorted(DS2 + PACED_TEST))
STRICT_TRAIN_RECORDS = tuple(sorted(set(DS1) - set(EXCLUDED_FROM_TRAIN)))
STRICT_TEST_RECORDS = tuple(sorted(DS2))
"""The strict AAMI protocol (de Chazal 2004, and the literature table): DS1 / DS2 with the paced
records 102, 104, 107 and 217 on neither side (201 still out: its patient is 202, in DS2)."""

VAL_CLASSES = CLASS_SET
MIN_VAL_BEATS = 20
"""The validation carve looks for patients giving validation at least ``MIN_VAL_BEATS`` beats of
each of ``VAL_CLASSES`` (the classes the checkpoint metric must see). Q is not asked for: outside
the paced records it has a handful of beats, and the one paced training patient (107) must stay
in training."""
MAX_VAL_SHARE = 0.5
"""No class may lose more than this share of its training beats to validation."""
MIN_VAL_PATIENTS = 2
MIN_PATIENT_BEATS = 5
"""A class counts as covered by validation only when at least ``MIN_VAL_PATIENTS`` of its
patients give it ``MIN_PATIENT_BEATS`` beats or more each: a validation figure for S or F must not
be one patient's result (with one patient, 223, held 73 of the 76 validation S beats)."""
MAX_CARVE_PATIENTS = 4
"""The covering set of validation patients has at most this many patients."""

RECORD_CLASS_COUNTS: dict[str, tuple[int, int, int, int, int]] = {
    "100": (2239, 33, 1, 0, 0), "101": (1860, 3, 0, 0, 2), "102": (99, 0, 4, 0, 2084),
    "103": (2082, 2, 0, 0, 0), "104": (163, 0, 2, 0, 2064), "105": (2526, 0, 41, 0, 5),
    "106": (1507, 0, 520, 0, 0), "107": (0, 0, 59, 0, 2078), "108": (1740, 4, 17, 2, 0),
    "109": (2492, 0, 38, 2, 0), "111": (2123, 0, 1, 0, 0), "112": (2537, 2, 0, 0, 0),
    "113": (1789, 6, 0, 0, 0), "114": (1820, 12, 43, 4, 0), "115": (1953, 0, 0, 0, 0),
    "116": (2302, 1, 109, 0, 0), "117": (1534, 1, 0, 0, 0), "118": (2166, 96, 16, 0, 0),
    "119": (1543, 0, 444, 0, 0), "121": (1861, 1, 1, 0, 0), "122": (2476, 0, 0, 0, 0),
    "123": (1515, 0, 3, 0, 0), "124": (1536, 31, 47, 5, 0), "200": (1743, 30, 826, 2, 0),
    "201": (1635, 128, 198, 2, 0), "202": (2061, 55, 19, 1, 0), "203": (2529, 2, 444, 1, 4),
    "205": (2571, 3, 71, 11, 0), "207": (1543, 107, 210, 0, 0), "208": (1586, 2, 992, 373, 2),
    "209": (2621, 383, 1, 0, 0), "210": (2423, 22, 195, 10, 0), "212": (2748, 0, 0, 0, 0),
    "213": (2641, 28, 220, 362, 0), "214": (2003, 0, 256, 1, 2), "215": (3195, 3, 164, 1, 0),
    "217": (244, 0, 162, 0, 1802), "219": (2082, 7, 64, 1, 0), "220": (1954, 94, 0, 0, 0),
    "221": (2031, 0, 396, 0, 0), "222": (2274, 209, 0, 0, 0), "223": (2045, 73, 473, 14, 0),
    "228": (1688, 3, 362, 0, 0), "230": (2255, 0, 1, 0, 0), "231": (1568, 1, 2, 0, 0),
    "232": (398, 1382, 0, 0, 0), "233": (2230, 7, 831, 11, 0), "234": (2700, 50, 3, 0, 0),
}
"""Reference beats per AAMI class (N, S, V, F, Q) of every MIT-BIH record, from the ``atr``
annotations with :data:`~ecgkit.contract.AAMI_MAP` (a test checks it against the full database).
The validation carve uses it to choose patients without reading any signal."""


class SplitError(ValueError):
    """Records that the split protocol does not know, or an impossible request."""


def check_known(records: Sequence[str]) -> None:
    """Raises SplitError naming every record that is not an MIT-BIH record."""
    unknown = sorted(set(records) - set(MITDB_RECORDS))
    if unknown:
        raise SplitError(
            f"inter-patient split: unknown MIT-BIH record name(s) {', '.join(unknown)}; "
            f"known records are {', '.join(MITDB_RECORDS)}. Use split='none' for other data."
        )


def _carve_validation(train: list[str], val_fraction: float, seed: int) -> list[str]:
    """Chooses validation patients among the training records (see inter_patient_split)."""
    if val_fraction <= 0 or len(train) < 2:
        return []
    counts = {r: np.asarray(RECORD_CLASS_COUNTS[r], dtype=np.int64) for r in train}
    total = sum(counts.values())
    target = val_fraction * total.sum()
    need = np.array([c in VAL_CLASSES for c in CLASSES])
    # A class can be asked of validation only if training keeps most of it.
    want = need & (total * MAX_VAL_SHARE >= MIN_VAL_BEATS)
    order = [str(r) for r in np.random.default_rng(seed).permutation(sorted(train))]
    rank = {r: i for i, r in enumerate(order)}

    def allowed(val_counts: np.ndarray, n_val: int) -> bool:
        keeps = (total - val_counts > 0) | (total == 0)  # training keeps every class it had
        share_ok = (val_counts <= np.maximum(MAX_VAL_SHARE, 1.5 * val_fraction) * total)
        return bool(keeps.all() and share_ok.all()) and n_val < len(train)

    # 1) the smallest set of at most MAX_CARVE_PATIENTS patients covering the wanted classes
    #    best, each class by at least MIN_VAL_PATIENTS patients where training can spare them
    contributors = {r: (c >= MIN_PATIENT_BEATS).astype(np.int64) for r, c in counts.items()}
    best_key, val = None, []
    for size in range(1, MAX_CARVE_PATIENTS + 1):
        for combo in itertools.combinations(order, size):
            vc = sum(counts[r] for r in combo)
            if not allowed(vc, size):
                continue
            several = sum(contributors[r] for r in combo) >= min(MIN_VAL_PATIENTS, size)
            covered = int(((vc >= MIN_VAL_BEATS) & several & want).sum())
            key = (-covered, size, abs(vc.sum() - target), sorted(rank[r] for r in combo))
            if best_key is None or key < best_key:
                best_key, val = key, list(combo)
        if best_key is not None and -best_key[0] == int(want.sum()):
            break
    val_counts = sum((counts[r] for r in val), np.zeros(len(CLASSES), dtype=np.int64))
    # 2) fill up to about val_fraction of the training beats, in the seeded order
    for r in order:
        if r in val or not allowed(val_counts + counts[r], len(val) + 1):
            continue
        if abs(val_counts.sum() + counts[r].sum() - target) < abs(val_counts.sum() - target):
            val.append(r)
            val_counts += counts[r]
    return sorted(val)


def validation_coverage(split: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """Reference beats per class of the train and val records of a split (for checks and docs)."""
    out = {}
    for side in ("train", "val"):
        total = sum((np.asarray(RECORD_CLASS_COUNTS[r]) for r in split.get(side, [])),
                    np.zeros(len(CLASSES), dtype=np.int64))
        out[side] = {c: int(n) for c, n in zip(CLASSES, total)}
    return out


def inter_patient_split(records: Iterable[str], val_fraction: float = 0.2,
                        seed: int = 42, strict: bool = False) -> dict[str, list[str]]:
    """Inter-patient split of MIT-BIH records into train, val and test.

    Training records are DS1 + 102, 107 without 201 (same patient as 202 in DS2); test records
    are DS2 + 104, 217. With ``strict=True`` (the strict AAMI protocol) the paced records are on
    neither side: DS1 without 201, and DS2. Only the given records are used (those present in
    the data folder).

    Validation patients are taken from the training records. First, the smallest set of at most
    ``MAX_CARVE_PATIENTS`` patients that gives validation at least ``MIN_VAL_BEATS`` reference
    beats of each of N, S, V and F (every one of them that training has at least twice that
    many of), each class from at least ``MIN_VAL_PATIENTS`` patients with ``MIN_PATIENT_BEATS``
    or more (so that no class's validation figure is one patient's), while training keeps every
    class it has and no class loses more than half of its training beats (or
    ``1.5 * val_fraction`` if larger). On the full database (strict) that is records 124 and 223
    (S 104 from two patients, F 19 from two: 20 with 215's one). Then, in an order drawn from
    ``seed``, patients are added while that brings validation closer to ``val_fraction`` of the
    training beats (122 and 215 for seed 42).

    Args:
        records: MIT-BIH record names.
        val_fraction: target share of training beats for validation (0 = no validation).
        seed: seeds the order in which the remaining patients are considered.
        strict: the strict AAMI protocol (paced records left out).

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (sorted record names).

    Raises:
        SplitError: a name that is not an MIT-BIH record (all such names listed).
    """
    records = [str(r) for r in records]
    check_known(records)
    present = set(records)
    train = [r for r in (STRICT_TRAIN_RECORDS if strict else TRAIN_RECORDS) if r in present]
    test = [r for r in (STRICT_TEST_RECORDS if strict else TEST_RECORDS) if r in present]
    val = _carve_validation(train, val_fraction, seed)
    return {"train": [r for r in train if r not in val], "val": val, "test": test}


def excluded_records(records: Iterable[str], strict: bool = False) -> list[str]:
    """The given records that the inter-patient split leaves out (201; strict: and the paced)."""
    sides = (STRICT_TRAIN_RECORDS + STRICT_TEST_RECORDS) if strict else (TRAIN_RECORDS
                                                                         + TEST_RECORDS)
    return sorted(set(map(str, records)) - set(sides))


def exclusion_reasons(records: Iterable[str], split: str = "inter-patient") -> dict[str, str]:
    """The given records that ``split`` leaves out, each with the reason (empty for other
    splits)."""
    if split not in PATIENT_SPLITS:
        return {}
    out = {}
    strict = split == "inter-patient-strict"
    for r in excluded_records(records, strict=strict):
        partner = [k for k, v in SAME_PATIENT.items() if v == r]
        if r in EXCLUDED_FROM_TRAIN and partner:
            out[r] = f"record {r} left out: its patient is also record {partner[0]} (test side)"
        elif strict and r in PACED:
            out[r] = f"record {r} left out: paced records are on neither side ({split})"
        else:
            out[r] = f"record {r} is in no split"
    return out


def assign_records(records: Sequence[str], split: str = "inter-patient", val_fraction: float = 0.2,
                   seed: int = 42) -> dict[str, list[str]]:
    """Split name -> records for ``split``: the one place that decides where a record goes.

    Patient splits (``inter-patient``, ``inter-patient-strict``) call
    :func:`inter_patient_split` on the records that are not excluded; ``none`` puts every record
    in ``"all"``; the leaky beat-level split assigns beats, not records (empty mapping).

    Raises:
        SplitError: an unknown split name, or unknown record names under a patient split.
    """
    if split not in SPLIT_PROTOCOLS:
        raise SplitError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_PROTOCOLS)}")
    records = [str(r) for r in records]
    if split in PATIENT_SPLITS:
        out = exclusion_reasons(records, split)
        return inter_patient_split([r for r in records if r not in out], val_fraction, seed,
                                   strict=split == "inter-patient-strict")
    if split == "none":
        return {"all": list(records)}
    return {}


MISSING_LEAD_POLICIES = ("skip", "error")
"""What to do with a record that lacks the lead: skip it with a message, or raise."""


@dataclass
class SplitPlan:
    """Which records a split uses, where each one goes, and why the others are left out.

    Made by :func:`plan_split` from the headers alone, and followed by both
    :func:`ecgkit.data.datasets.load_beats` and :func:`ecgkit.data.export.build_dataset`, so the two
    read the same records, put them on the same side and give the same reasons.

    Attributes:
        data_dir: the WFDB folder.
        split: the split protocol (one of :data:`SPLIT_PROTOCOLS`).
        records: the records to read, in the order asked (those given, or the folder's).
        sides: split name -> records: ``train``, ``val`` and ``test`` under a patient split,
            ``all`` under ``none``, nothing under the beat-level split (it splits beats).
        excluded: record -> why the protocol leaves it out (201; strict: the paced records).
        skipped: record -> why it is skipped (it lacks the lead and ``missing_lead="skip"``).
    """

    data_dir: Path
    split: str
    records: list[str]
    sides: dict[str, list[str]]
    excluded: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def side_of(self, record: str) -> str | None:
        """The split a record goes to (None under the beat-level split)."""
        return next((s for s, rs in self.sides.items() if record in rs), None)


def _skip_message(err: LeadNotFoundError) -> str:
    leads = ", ".join(err.leads) or "none"
    first = err.leads[0] if err.leads else "..."
    return (f"skipped record {err.record} (leads {leads}; no {err.wanted[0]}): "
            f"{fallback_hint(first)}")


def _asked_records(d: Path, split: str, records: Sequence[str] | None) -> list[str]:
    """The folder's records, or the given ones checked to exist (and to be MIT-BIH names
    under a patient split)."""
    if split not in SPLIT_PROTOCOLS:
        raise SplitError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_PROTOCOLS)}")
    available = list_records(d)
    names = list(available) if records is None else [str(r) for r in records]
    if split in PATIENT_SPLITS:
        check_known(names)
    if records is not None:
        missing = [r for r in names if r not in available and not (d / f"{r}.hea").exists()]
        if missing:
            raise RecordError(f"{d}: record(s) {', '.join(missing)} not in this folder "
                              f"(it has {', '.join(available)})")
    return names


def plan_split(data_dir, split: str = "inter-patient", records: Sequence[str] | None = None,
               lead: str = LEAD, fallback_leads: Sequence[str] = (), missing_lead: str = "skip",
               val_fraction: float = 0.2, seed: int = 42) -> SplitPlan:
    """Decides which records to read and where each goes, from the headers (no signal read).

    Records the protocol leaves out (:func:`exclusion_reasons`) and records without ``lead``
    or a fallback lead are set aside with a message; the others are assigned by
    :func:`assign_records`.

    Args:
        data_dir: WFDB folder.
        split: one of :data:`SPLIT_PROTOCOLS`.
        records: record names (default: every record in the folder).
        lead, fallback_leads: the lead to read, and the leads to use when a record lacks it.
        missing_lead: ``"skip"`` (a record without the lead is skipped, with a message) or
            ``"error"``.
        val_fraction, seed: the validation carve (:func:`inter_patient_split`).

    Returns:
        A :class:`SplitPlan`.

    Raises:
        SplitError: an unknown split, or names that are not MIT-BIH records under a patient
            split (all listed).
        RecordError: records not in the folder (all listed), or no record left to read.
        LeadNotFoundError: a record without the lead, with ``missing_lead="error"``.
    """
    if missing_lead not in MISSING_LEAD_POLICIES:
        raise ValueError(f"missing_lead must be one of {MISSING_LEAD_POLICIES}. "
                         f"Received: missing_lead={missing_lead!r}")
    d = Path(data_dir)
    asked = _asked_records(d, split, records)
    excluded = exclusion_reasons(asked, split)
    usable, skipped = [], {}
    for name in asked:
        if name in excluded:
            continue
        try:
            choose_lead(read_header(d, name), d / f"{name}.hea", lead, fallback_leads)
        except LeadNotFoundError as err:
            if missing_lead == "error":
                raise
            skipped[name] = _skip_message(err)
            continue
        usable.append(name)
    if not usable:
        reasons = [*skipped.values(), *excluded.values()]
        raise RecordError(f"{d}: no records to read (of {', '.join(asked) or 'none'}"
                          f"{': ' + '; '.join(reasons) if reasons else ''})")
    return SplitPlan(d, split, usable, assign_records(usable, split, val_fraction, seed),
                     excluded, skipped)


def leaky_beat_split(labels: Sequence[int], val_fraction: float = 0.2, test_fraction: float = 0.3,
                     seed: int = 42) -> np.ndarray:
    """Beat-level random split that LEAKS PATIENTS: one patient's beats go to every split.

    Beats are shuffled within each class (stratified) and cut into train/val/test. Because
    neighbouring beats of one patient look alike, test scores under this split are optimistic;
    use it only to compare with :func:`inter_patient_split`.

    Args:
        labels: class index of each beat.
        val_fraction: share of beats for validation.
        test_fraction: share of beats for test.
        seed: random seed.

    Returns:
        Array of ``"train"``, ``"val"`` or ``"test"``, one per beat.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise SplitError(f"fractions must be >= 0 and sum below 1. Received: "
                         f"val_fraction={val_fraction}, test_fraction={test_fraction}")
    labels = np.asarray(labels)
    out = np.full(labels.shape[0], "train", dtype=object)
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * idx.size))
        n_val = int(round(val_fraction * idx.size))
        out[idx[:n_test]] = "test"
        out[idx[n_test:n_test + n_val]] = "val"
    return out.astype(str)


def patient_overlap(records_a: Iterable[str], records_b: Iterable[str]) -> set[str]:
    """Patients that have records in both collections (empty for a sound split)."""
    return {patient_of(r) for r in records_a} & {patient_of(r) for r in records_b}
