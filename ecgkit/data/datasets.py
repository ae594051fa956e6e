"""Beats in memory and the pipeline that renders them for a model.

Introduced in: notebooks/02_signals_to_images.ipynb (pipelines: notebooks/20_training.ipynb).

:func:`load_beats` reads the records that :func:`ecgkit.data.splits.plan_split` chose (one lead, by
name), cuts the beat-centred windows, puts each beat on its record's side of the split and keeps
everything in a :class:`BeatSet`. Loading is cached in memory (per record, keyed by folder,
record, lead and the files' size and time) and, when a cache folder is given, on disk as
``.npz``, so notebooks and tests re-load in milliseconds.

:func:`signal_dataset` feeds a model ``(uint8 images (b, H, W, 3), float32 one-hot (b, 5))``,
rendering the images on the fly from the in-memory windows, a whole batch at a time in worker
threads (:class:`ecgkit.data.batches.Batches`, a ``keras.utils.PyDataset``: any Keras backend), with
optional signal-level and image-level augmentation. Image files on disk are
:mod:`ecgkit.data.images`' concern.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import logging
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ecgkit import contract
from ecgkit.contract import CLASSES, EMBEDDED_DATA_DIR, IMAGE_SIZE, LEAD, patient_of
from ecgkit.data.context import CONTEXT_MODES, causal_windows, record_context
from ecgkit.data.records import beat_windows, read_record
from ecgkit.data.render import render_batch
from ecgkit.data.rr import RR_COLUMNS, rr_features
from ecgkit.data.splits import leaky_beat_split, plan_split

if TYPE_CHECKING:
    from ecgkit.data.batches import Batches

log = logging.getLogger("ecgkit")

LEAKY_TEST_FRACTION = 0.3
"""Share of beats put in "test" by the beat-random-LEAKS-PATIENTS split."""
CACHE_VERSION = 3
"""Bump when the windowing or the per-beat arrays change, so old ``.npz`` caches are not used
(2: RR features added; 3: context vectors added)."""
META_COLUMNS = ["record", "patient", "sample", "symbol", "label", "split", *RR_COLUMNS, "weight"]
"""Columns of ``BeatSet.meta``, in order (see :class:`BeatSet`)."""
CONTEXT_ARRAYS = {mode: f"context_{mode}" for mode in CONTEXT_MODES}
"""Per-record array holding each context mode's vectors (:mod:`ecgkit.data.context`)."""
_ARRAYS = ("windows", "samples", "symbols", "labels", *RR_COLUMNS, *CONTEXT_ARRAYS.values())
"""Per-beat arrays of one loaded record (cached in memory and in the ``.npz``)."""


@dataclass
class BeatSet:
    """Beat windows with their labels and where they come from.

    Attributes:
        windows: float32 (n, WINDOW_SAMPLES), mV, baseline-corrected (window median = 0).
        labels: int (n,), index into :data:`~ecgkit.contract.CLASSES`.
        meta: DataFrame, one row per beat, columns :data:`META_COLUMNS`:

            * ``record``, ``patient``, ``sample`` (R-peak sample index), ``symbol`` (annotation),
              ``label`` (class letter), ``split``;
            * ``pre_rr``, ``post_rr``, ``local_rr``, ``avg_rr``: RR features in seconds
              (:func:`ecgkit.data.rr.rr_features`), computed from all annotated beats of the record
              before any window is skipped or any beat capped;
            * ``weight``: inverse-probability weight of the per-class cap,
              ``N / n`` for the beat's (record, class) stratum (N beats loaded, n kept; 1.0
              without a cap), so weighted counts estimate the uncapped data
              (:func:`cap_weights`).
        report: counted skips and messages (see :func:`load_beats`).
        context: context mode -> float32 (n, ``context.N_FEATURES``): each beat's rhythm and
            shape against its own record (:func:`ecgkit.data.context.record_context`, computed from
            every beat of the record before any cap); empty when unknown.
    """

    windows: np.ndarray
    labels: np.ndarray
    meta: Any
    report: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def splits(self) -> list[str]:
        """Split names present, in a fixed order."""
        order = ["train", "val", "test", "all"]
        present = set(self.meta["split"])
        return [s for s in order if s in present] + sorted(present - set(order))

    def take(self, idx) -> "BeatSet":
        """The beats at ``idx`` (row indices or a boolean mask), in that order."""
        idx = np.asarray(idx)
        return BeatSet(self.windows[idx], self.labels[idx],
                       self.meta.iloc[idx].reset_index(drop=True), self.report,
                       {mode: c[idx] for mode, c in self.context.items()})

    def context_of(self, mode: str) -> np.ndarray:
        """The context vectors of ``mode`` (:mod:`ecgkit.data.context`), with a clear error when
        these beats carry none."""
        if mode not in self.context:
            raise ValueError(f"these beats carry no {mode!r} context (they have "
                             f"{sorted(self.context) or 'none'}): load them with "
                             "ecgkit.load_beats, which computes it from each whole record")
        return self.context[mode]

    def subset(self, split: str) -> "BeatSet":
        """The beats of one split (``"train"``, ``"val"``, ``"test"`` or ``"all"``)."""
        if split not in set(self.meta["split"]):
            raise ValueError(f"no split {split!r} in this BeatSet; it has {self.splits}")
        return self.take((self.meta["split"] == split).to_numpy())

    def class_counts(self) -> dict[str, int]:
        """Beats per class, all five classes in contract order (zeros included)."""
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(CLASSES))
        return {c: int(n) for c, n in zip(CLASSES, counts)}

    def records(self) -> list[str]:
        """Records present, sorted."""
        return sorted(set(self.meta["record"]))


# --- per-record loading, cached ----------------------------------------------------------------

def _stamp(d: Path, name: str) -> tuple:
    out = []
    for p in sorted(d.glob(f"{name}.*")):
        st = p.stat()
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def record_beats(data_dir: str | Path, name: str, lead: str = LEAD,
                 fallback_leads: Sequence[str] = (), unknown_symbols: str = "error") -> dict:
    """Reads one record and cuts its beat windows: the per-record step of loading and export.

    Returns:
        A dict of per-beat arrays, one row per kept beat: ``windows`` (float32, mV),
        ``samples``, ``symbols``, ``labels`` and the RR features
        (:data:`~ecgkit.data.rr.RR_COLUMNS`, computed from all beats before any window is skipped);
        and ``sig_name`` (the lead read), ``skips`` (skipped windows per reason), ``non_beat`` and
        ``unknown`` (symbol counts).

    Raises:
        RecordError, LeadNotFoundError: as :func:`ecgkit.data.records.read_record`.
    """
    rec = read_record(data_dir, name, lead, fallback_leads, unknown_symbols)
    rr = rr_features(rec.samples, rec.fs)  # all beats: before edge/NaN/flat windows are skipped
    windows, kept, skips = beat_windows(rec)
    rr = {k: rr[k][kept] for k in RR_COLUMNS}
    context = {CONTEXT_ARRAYS[mode]: record_context(
        windows, rec.samples[kept], mode, pre_rr=rr["pre_rr"], post_rr=rr["post_rr"],
        avg_rr=rr["avg_rr"], fs=rec.fs) for mode in CONTEXT_MODES}
    return {"windows": windows, "samples": rec.samples[kept], "symbols": rec.symbols[kept],
            "labels": rec.labels[kept], **rr, **context,
            "sig_name": rec.sig_name, "skips": dict(skips),
            "non_beat": dict(rec.skipped), "unknown": dict(rec.unknown)}


def no_beats_message(data_dir: str | Path, name: str, skips: dict) -> str:
    """Why a record gives no beats (none annotated, or every window skipped), as the warning
    of a skipped record."""
    if sum(skips.values()):
        why = "every beat window skipped: " + ", ".join(f"{k} {v}"
                                                        for k, v in sorted(skips.items()))
    else:
        why = f"{Path(data_dir) / name}.atr holds no beat annotations"
    return f"skipped record {name}: no beats ({why})"


@functools.lru_cache(maxsize=64)
def _load_record(d: str, name: str, lead: str, fallback: tuple, unknown: str, stamp: tuple,
                 cache_dir: str | None) -> dict:
    path = None
    if cache_dir:
        key = repr((os.path.abspath(d), name, lead, fallback, unknown, stamp, CACHE_VERSION,
                    contract.FS, contract.WINDOW_SAMPLES, contract.BEFORE_SAMPLES))
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"{name}-{lead}-{digest}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in _ARRAYS}
                extra = json.loads(str(z["extra"]))
            data.update(extra)
            return _freeze(data)
    data = record_beats(d, name, lead, fallback, unknown)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        extra = {k: data[k] for k in ("sig_name", "skips", "non_beat", "unknown")}
        arrays = {k: data[k] for k in _ARRAYS}
        arrays["symbols"] = arrays["symbols"].astype(str)
        np.savez(tmp, **arrays, extra=np.array(json.dumps(extra)))
        os.replace(tmp, path)
    return _freeze(data)


def _freeze(data: dict) -> dict:
    for k in _ARRAYS:
        data[k] = np.asarray(data[k])
        data[k].setflags(write=False)
    return data


def clear_cache() -> None:
    """Forgets the in-memory record cache (the disk cache stays)."""
    _load_record.cache_clear()


def _cap_per_class(labels: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted) keeping at most ``cap`` beats per class, chosen at random."""
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size > cap:
            idx = rng.choice(idx, cap, replace=False)
        keep.append(idx)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def cap_weights(labels: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Inverse-probability weights of the beats a per-class cap kept.

    Within one record, the cap keeps ``n`` of the ``N`` beats of a class uniformly at random,
    so each kept beat stands for ``N / n`` beats: a weighted count (or a weighted confusion
    matrix) is then an unbiased estimate of the count over all ``N`` beats.

    Args:
        labels: class of every beat of the record, before the cap.
        idx: indices of the kept beats (``select_beats``).

    Returns:
        float64 weight per kept beat, ``N_c / n_c`` for its class ``c`` (1.0 when nothing was
        capped).
    """
    labels = np.asarray(labels, dtype=np.int64)
    idx = np.asarray(idx, dtype=np.int64)
    k = int(labels.max()) + 1 if labels.size else 0
    total = np.bincount(labels, minlength=k).astype(np.float64)
    kept = np.bincount(labels[idx], minlength=k).astype(np.float64)
    return (total / np.where(kept > 0, kept, 1.0))[labels[idx]]


def cap_beats(beats: "BeatSet", cap: int, seed: int = 42) -> "BeatSet":
    """At most ``cap`` beats per record and class of ``beats`` (0: all), drawn at random, each
    kept beat's ``meta["weight"]`` multiplied by ``N / n`` of its (record, class) stratum, so
    weighted metrics still estimate every beat (as :func:`load_beats` does for its own cap)."""
    if not cap:
        return beats
    keep, factor = [], []
    records = beats.meta["record"].astype(str).to_numpy()
    for name in np.unique(records):
        rows = np.flatnonzero(records == name)
        lab = np.asarray(beats.labels)[rows]
        idx = _cap_per_class(lab, int(cap), np.random.default_rng(_record_seed(seed, name)))
        keep.append(rows[idx])
        factor.append(cap_weights(lab, idx))
    order = np.argsort(np.concatenate(keep), kind="stable")
    out = beats.take(np.concatenate(keep)[order])
    weight = out.meta["weight"].to_numpy(np.float64) if "weight" in out.meta.columns else 1.0
    out.meta["weight"] = weight * np.concatenate(factor)[order]
    return out


def _record_seed(seed: int, name: str) -> list[int]:
    return [int(seed), zlib.crc32(name.encode())]


def select_beats(name: str, labels: np.ndarray, split: str, split_name: str | None,
                 max_beats_per_record: int, val_fraction: float, seed: int):
    """Which beats of one record to keep (the per-class cap) and their split names.

    Shared by :func:`load_beats` and :func:`ecgkit.data.export.build_dataset`, so both choose the
    same beats. Returns ``(indices, split name per kept beat)``.
    """
    idx = np.arange(labels.shape[0])
    if max_beats_per_record:
        idx = _cap_per_class(labels, int(max_beats_per_record),
                             np.random.default_rng(_record_seed(seed, name)))
    if split == "beat-random-LEAKS-PATIENTS":
        where = leaky_beat_split(labels[idx], val_fraction, LEAKY_TEST_FRACTION,
                                 _record_seed(seed, name))
    else:
        where = np.full(idx.shape[0], split_name, dtype=object)
    return idx, np.asarray(where, dtype=object)


def load_beats(data_dir=None, split: str = "inter-patient", records: Sequence[str] | None = None,
               lead: str = LEAD, fallback_leads: Sequence[str] = (), max_beats_per_record: int = 0,
               val_fraction: float = 0.2, seed: int = 42, progress: bool = True,
               missing_lead: str = "skip", unknown_symbols: str = "error",
               cache_dir=None) -> BeatSet:
    """Loads beat windows of many records and assigns each beat to a split.

    Args:
        data_dir: WFDB folder; None = the embedded database ``data/mitdb`` (48 records).
        split: ``"inter-patient"`` (train/val/test by patient, the default),
            ``"inter-patient-strict"`` (the same with the paced records left out: the strict
            AAMI protocol of the literature),
            ``"beat-random-LEAKS-PATIENTS"`` (beat-level, leaks patients) or ``"none"``
            (every beat in one split ``"all"``; any WFDB folder).
        records: record names (default: every record in the folder).
        lead: lead to read, by name.
        fallback_leads: leads to use when a record lacks ``lead``.
        max_beats_per_record: keep at most this many beats per record and class (0 = all),
            chosen at random with ``seed``. ``meta["weight"]`` records ``N / n`` per (record,
            class), so weighted metrics estimate the uncapped data (with the leaky split the
            weights refer to the record's capped sample, before it is cut into splits).
        val_fraction: validation share of training beats (carved by patient).
        seed: seed for the validation carve, the cap and the leaky split.
        progress: show a progress bar.
        missing_lead: ``"skip"`` (default: a counted, logged skip) or ``"error"``.
        unknown_symbols: ``"error"`` (default) or ``"skip"`` (counted).
        cache_dir: folder for an ``.npz`` cache per record (default: ``$ECGKIT_CACHE_DIR``
            if set, else memory only).

    Returns:
        A :class:`BeatSet`. ``report`` holds ``records`` (used), ``skipped_records``
        (record -> message), ``empty_records`` (record -> message: read, but no beats),
        ``excluded_records`` (record -> reason), ``skipped_windows``
        (edge / nan / flat counts), ``non_beat_annotations``, ``unknown_symbols``,
        ``capped`` (beats dropped by the cap), ``splits`` (split -> records) and ``messages``.

    Raises:
        RecordError, LeadNotFoundError, SplitError: bad records or options, naming them.
        ecgkit.params.ParamError: ``max_beats_per_record`` below 0.
    """
    import pandas as pd

    from ecgkit.params import check

    check("MAX_BEATS_PER_RECORD", max_beats_per_record, "max_beats_per_record")
    plan = plan_split(data_dir or EMBEDDED_DATA_DIR, split, records, lead, fallback_leads,
                      missing_lead, val_fraction, seed)
    d = plan.data_dir
    cache_dir = cache_dir or os.environ.get("ECGKIT_CACHE_DIR") or None
    report: dict = {"data_dir": str(d), "split": split, "lead": lead, "records": [],
                    "skipped_records": dict(plan.skipped), "empty_records": {},
                    "excluded_records": dict(plan.excluded),
                    "skipped_windows": collections.Counter(),
                    "non_beat_annotations": collections.Counter(),
                    "unknown_symbols": collections.Counter(), "capped": 0, "splits": {},
                    "messages": []}

    def note(msg: str) -> None:
        report["messages"].append(msg)
        log.warning(msg)

    for msg in plan.skipped.values():
        note(msg)
    loaded: dict[str, dict] = {}
    it = plan.records
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(plan.records, desc="records", unit="rec")
    for name in it:
        loaded[name] = _load_record(str(d), name, lead, tuple(fallback_leads), unknown_symbols,
                                    _stamp(d, name), str(cache_dir) if cache_dir else None)

    windows, labels, metas = [], [], []
    contexts: dict[str, list] = {mode: [] for mode in CONTEXT_MODES}
    any_beats = any(data["labels"].size for data in loaded.values())
    for name, data in loaded.items():
        report["skipped_windows"].update(data["skips"])
        report["non_beat_annotations"].update(data["non_beat"])
        report["unknown_symbols"].update(data["unknown"])
        lab = data["labels"]
        if lab.size == 0:
            report["empty_records"][name] = no_beats_message(d, name, data["skips"])
            note(report["empty_records"][name])
            if any_beats:  # else kept, an empty BeatSet, which the caller refuses
                continue
        idx, where = select_beats(name, lab, split, plan.side_of(name), max_beats_per_record,
                                  val_fraction, seed)
        report["capped"] += int(lab.shape[0] - idx.size)
        weight = cap_weights(lab, idx)
        lab = lab[idx]
        windows.append(data["windows"][idx])
        for mode in CONTEXT_MODES:
            contexts[mode].append(data[CONTEXT_ARRAYS[mode]][idx])
        labels.append(lab.astype(np.int64))
        metas.append(pd.DataFrame({
            "record": name, "patient": patient_of(name), "sample": data["samples"][idx],
            "symbol": data["symbols"][idx], "label": np.asarray(CLASSES)[lab], "split": where,
            **{k: np.asarray(data[k][idx], dtype=np.float64) for k in RR_COLUMNS},
            "weight": weight,
        }))
        report["records"].append(name)
    sides = {s: [r for r in rs if r in report["records"]] for s, rs in plan.sides.items()}
    if split == "beat-random-LEAKS-PATIENTS":
        sides = {s: list(report["records"]) for s in ("train", "val", "test")}
    report["splits"] = {s: sorted(rs) for s, rs in sides.items()}
    skipped_w = report["skipped_windows"]
    if skipped_w:
        note("skipped beat windows: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped_w.items()))
             + " (edge = cut by the record edge; nan = missing samples; flat = zero variance)")
    if report["unknown_symbols"]:
        note("skipped unknown annotation symbols: " + ", ".join(
            f"{k!r} x{v}" for k, v in sorted(report["unknown_symbols"].items())))
    return BeatSet(windows=np.concatenate(windows), labels=np.concatenate(labels),
                   meta=pd.concat(metas, ignore_index=True)[META_COLUMNS], report=report,
                   context={mode: np.concatenate(c) for mode, c in contexts.items()})


# --- the pipeline: render on the fly ------------------------------------------------------------

def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 one-hot rows (n, len(CLASSES))."""
    return np.eye(len(CLASSES), dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def signal_dataset(beats: BeatSet, image_size: int = IMAGE_SIZE, grid: bool = True,
                   batch_size: int = 32, shuffle: bool = False, seed: int = 42,
                   signal_augment: Callable | None = None, image_augment: Callable | None = None,
                   repeat: bool = False, epoch_batches: int | None = None,
                   balance_classes: Sequence[int] | None = None, sample_weights: bool = False,
                   cache: bool = False, workers: int | None = None,
                   context: str | None = None, image_context: str | None = None) -> Batches:
    """Batches of ECG images rendered on the fly from in-memory beat windows, for any backend.

    Each batch takes its windows from memory, applies ``signal_augment``, renders them
    (``ecgkit.data.render.render_batch``) and applies ``image_augment``, in a worker thread
    (:class:`ecgkit.data.batches.Batches`, a ``keras.utils.PyDataset``).

    Args:
        beats: the beats (usually ``load_beats(...).subset("train")``).
        image_size: image side in pixels.
        grid: draw the ECG-paper grid.
        batch_size: images per batch.
        shuffle: a new order every epoch (seeded).
        seed: seed of the order and of the augmentation: each batch gets its own
            ``numpy.random.Generator``, new every epoch, reproducible for a seed.
        signal_augment: optional ``f(windows_batch float32 (b, samples), rng) -> same shape``
            applied before rendering (the window median is subtracted again afterwards).
        image_augment: optional ``f(images uint8 (b, H, W, 3), rng) -> same`` applied after
            rendering (``ecgkit.data.augment.make_image_augment``).
        repeat: an endless stream (use with ``steps_per_epoch``); ``Batches.start`` sets the
            batch it starts from.
        epoch_batches: batches per epoch of an endless stream (default one pass).
        balance_classes: draw every batch equally from these classes (implies an endless
            stream; ``ecgkit.training.balance.sampled_classes``).
        sample_weights: also yield each beat's ``meta["weight"]`` (the cap weight N/n of its
            record and class, 1 without a cap), so Keras metrics estimate the uncapped values.
        cache: keep the rendered batches after the first pass (validation, test).
        workers: threads rendering batches (default ``batches.default_workers()``).
        context: None (images only) or a context mode (``"offline"``, ``"causal"``,
            :mod:`ecgkit.data.context`): the inputs are then ``{"image": images, "context": float32
            (b, N_FEATURES)}``, and in causal mode the images end 0.45 s after the R peak
            (:func:`ecgkit.data.context.causal_windows`).
        image_context: None (the ECG-paper image of :mod:`ecgkit.data.render`) or a context mode
            drawn into the image's three channels (:mod:`ecgkit.data.context_image`: rhythm, beat,
            the patient's usual beat; ``grid`` is then not used).

    Returns:
        ``Batches`` of ``(uint8 (b, H, W, 3), float32 one-hot (b, 5))``, or with
        ``sample_weights`` ``(images, one-hot, float32 weights (b,))``; with ``context`` the
        images are replaced by the dict of both inputs.
    """
    # Here, not at the top: Batches needs Keras (and its backend), which reading beats does not.
    from ecgkit.data.batches import Batches

    n = len(beats)
    if n == 0:
        raise ValueError("signal_dataset: the BeatSet is empty")
    windows = np.ascontiguousarray(beats.windows, dtype=np.float32)
    targets = one_hot(beats.labels)
    size = int(image_size)
    if sample_weights and "weight" not in beats.meta.columns:
        raise ValueError("signal_dataset(sample_weights=True) needs a 'weight' column in "
                         "beats.meta (load_beats adds it)")
    weights = beats.meta["weight"].to_numpy(np.float32) if sample_weights else None
    vectors = drawn = None
    if context is not None:
        vectors = np.ascontiguousarray(beats.context_of(context), dtype=np.float32)
    if image_context is not None:
        from ecgkit.data.context_image import ContextImages

        drawn = ContextImages(beats, image_context, size)
    if "causal" in (context, image_context):
        windows = causal_windows(windows)

    def make(idx, rng):
        w = windows[idx]
        if signal_augment is not None:
            out = np.asarray(signal_augment(w.copy(), rng), dtype=np.float32)
            if out.shape != w.shape:
                raise ValueError(f"signal_augment returned shape {out.shape}, expected {w.shape}")
            w = out
        if drawn is not None:
            if signal_augment is not None:  # the wander moved the baseline
                w = w - np.median(w, axis=1, keepdims=True)
            images = drawn.render(idx, w)
        else:
            images, _ = render_batch(w, size, grid, baseline=signal_augment is not None)
        if image_augment is not None:
            images = image_augment(images, rng)
        if vectors is not None:
            images = {"image": images, "context": vectors[idx]}
        if weights is None:
            return images, targets[idx]
        return images, targets[idx], weights[idx]

    order = "balanced" if balance_classes is not None else "shuffle" if shuffle else "sequential"
    return Batches(n, make, batch_size=batch_size, order=order, labels=beats.labels,
                   classes=balance_classes, seed=seed,
                   endless=repeat or balance_classes is not None, epoch_batches=epoch_batches,
                   cache=cache, workers=workers)
