"""Splitting beats by patient: the inter-patient protocol, its validation carve, and a leaky foil.

Introduced in: notebooks/01_data_exploration.ipynb.

The default protocol is de Chazal et al. (2004): training records DS1, test records DS2, so no
patient is on both sides. It is extended so that all five AAMI classes exist on both sides: the
paced records 102 and 107 join training and 104 and 217 join the test side
(:data:`~ecgkit.contract.PACED_TRAIN`, :data:`~ecgkit.contract.PACED_TEST`). Record 201 is left
out of training because its patient is also record 202, which is in DS2
(:data:`~ecgkit.contract.EXCLUDED_FROM_TRAIN`). A validation split is carved from the training
patients only; test patients never choose an epoch, a threshold or a model.

``beat-random-LEAKS-PATIENTS`` splits beats at random: beats of one patient land in training and
test, which inflates every test metric. It exists only to show that effect.

References:
    de Chazal P, O'Dwyer M, Reilly RB. Automatic classification of heartbeats using ECG
    morphology and heartbeat interval features. IEEE Trans Biomed Eng 51(7):1196-1206 (2004).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ecgkit.contract import (
    CLASSES,
    DS1,
    DS2,
    EXCLUDED_FROM_TRAIN,
    MITDB_RECORDS,
    PACED_TEST,
    PACED_TRAIN,
    patient_of,
)

SPLIT_PROTOCOLS = ("inter-patient", "beat-random-LEAKS-PATIENTS", "none")
"""Split protocols: by patient (default), a beat-level split that leaks patients, and none."""

TRAIN_RECORDS = tuple(sorted(set(DS1 + PACED_TRAIN) - set(EXCLUDED_FROM_TRAIN)))
TEST_RECORDS = tuple(sorted(DS2 + PACED_TEST))

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


def _check_known(records: Sequence[str]) -> None:
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
    cap = max(0.5, 1.5 * val_fraction)  # max share of a class that may move to val
    order = [str(r) for r in np.random.default_rng(seed).permutation(sorted(train))]
    val: list[str] = []
    val_counts = np.zeros(len(CLASSES), dtype=np.int64)

    def allowed(r: str) -> bool:
        after = val_counts + counts[r]
        keeps = (total - after > 0) | (total == 0)  # training keeps every class it had
        share_ok = (after <= cap * total) | (counts[r] == 0)
        return bool(keeps.all() and share_ok.all()) and len(val) + 1 < len(train)

    while True:  # 1) cover as many classes as possible
        best = None
        for rank, r in enumerate(order):
            if r in val or not allowed(r):
                continue
            new = int(((val_counts == 0) & (counts[r] > 0)).sum())
            if new == 0:
                continue
            key = (-new, abs(val_counts.sum() + counts[r].sum() - target), rank)
            best = min(best, (key, r)) if best else (key, r)
        if best is None:
            break
        val.append(best[1])
        val_counts += counts[best[1]]
    for r in order:  # 2) fill up to about val_fraction of the training beats, seeded order
        if r in val or not allowed(r):
            continue
        now = abs(val_counts.sum() - target)
        if abs(val_counts.sum() + counts[r].sum() - target) < now:
            val.append(r)
            val_counts += counts[r]
    return sorted(val)


def inter_patient_split(records: Iterable[str], val_fraction: float = 0.2,
                        seed: int = 42) -> dict[str, list[str]]:
    """Inter-patient split of MIT-BIH records into train, val and test.

    Training records are DS1 + 102, 107 without 201 (same patient as 202 in DS2); test records
    are DS2 + 104, 217. Only the given records are used (those present in the data folder).
    Validation patients are taken from the training records: first so that validation holds as
    many classes as possible while training keeps every class it has (no class loses more than
    half of its training beats, or ``1.5 * val_fraction`` if larger), then, in an order drawn
    from ``seed``, patients are added while that brings validation closer to ``val_fraction``
    of the training beats.

    Args:
        records: MIT-BIH record names.
        val_fraction: target share of training beats for validation (0 = no validation).
        seed: seeds the order in which the remaining patients are considered.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (sorted record names).

    Raises:
        SplitError: a name that is not an MIT-BIH record (all such names listed).
    """
    records = [str(r) for r in records]
    _check_known(records)
    present = set(records)
    train = [r for r in TRAIN_RECORDS if r in present]
    test = [r for r in TEST_RECORDS if r in present]
    val = _carve_validation(train, val_fraction, seed)
    return {"train": [r for r in train if r not in val], "val": val, "test": test}


def excluded_records(records: Iterable[str]) -> list[str]:
    """The given records that the inter-patient split leaves out (record 201)."""
    return sorted(set(map(str, records)) - set(TRAIN_RECORDS) - set(TEST_RECORDS))


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
