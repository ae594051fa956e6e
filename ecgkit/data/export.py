"""Exporting the beats as a folder of ECG images with a manifest: ``ecgkit build-dataset``.

Introduced in: notebooks/02_signals_to_images.ipynb.

``build_dataset(SOURCE_DIR, OUT_DIR)`` writes ``OUT_DIR/<split>/<class>/<record>_<sample>.png``
and ``OUT_DIR/manifest.csv`` (path, record, patient, sample, symbol, label, split, sig_name).
The records and their sides come from :func:`ecgkit.data.splits.plan_split`, as for
:func:`ecgkit.data.datasets.load_beats`. Records are processed in parallel (one task per record, all
cores by default). Every file is
written under a temporary name in its folder and renamed (``os.replace``), so a crash never
leaves a half-written image; a re-run skips the images already there and writes the manifest,
atomically, at the end. A Ctrl-C stops the workers within seconds (they check before each
image; queued records are cancelled) and keeps the images written; the same command resumes.
``OUT_DIR/build.json`` records the options and whether the build finished: re-running into
the same folder with different options is refused, so images of two settings are never mixed
(and ``evaluate`` refuses a model of another image size or grid); a run that failed before
writing any image does not count. Options are checked (with the ranges of ``ecgkit.params``)
before anything is written.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from ecgkit.contract import CLASSES, IMAGE_SIZE, LEAD, patient_of
from ecgkit.data.splits import SplitPlan, plan_split
from ecgkit.training.atomic import exclusive_folder, make_folder, write_bytes

log = logging.getLogger("ecgkit")

MANIFEST = "manifest.csv"
BUILD_INFO = "build.json"
RENDER_CHUNK = 256
STOP_GRACE_S = 2.0
"""Seconds a stopped build gives its workers to finish the image they are writing; a worker
still busy after that (reading or rendering a record) is terminated."""
PNG_COMPRESSION = 3
"""zlib level for the PNGs: OpenCV's default writes ~41 KB per 224 px image, level 3 ~6 KB at
the same speed (~1.5 ms per image)."""
MANIFEST_COLUMNS = ["path", "record", "patient", "sample", "symbol", "label", "split", "sig_name"]


def _end_with_parent(parent_pid: int) -> None:
    """Worker initializer: the worker ends when the build-dataset process ends, however it ends.

    A killed parent (``kill -9``) runs no clean-up, and its workers would otherwise wait forever
    for work on a queue whose other end they hold themselves. On Linux the kernel sends the
    worker SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread checks
    the parent every half second.
    """
    import signal
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    else:
        def watch():
            while os.getppid() == parent_pid:
                threading.Event().wait(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="ecgkit-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


_stop_event = None
"""In a worker process: the build's stop event (set by the parent on Ctrl-C or an error)."""


class _Stopped(Exception):
    """A worker's record left unfinished because the build is stopping."""


def _init_worker(parent_pid: int, stop) -> None:
    """Worker initializer: ends with the parent (:func:`_end_with_parent`), leaves Ctrl-C to
    the parent (a terminal sends SIGINT to the workers too), and keeps the stop event that the
    parent sets instead."""
    import signal

    global _stop_event
    _end_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_event = stop


def _check_stop(name: str) -> None:
    if _stop_event is not None and _stop_event.is_set():
        raise _Stopped(f"record {name}: stopped (build-dataset interrupted)")


def _export_record(task: dict) -> dict:
    """Worker: reads one record, renders its beats, writes the missing PNGs.

    In a worker of a parallel build, stops before the next image when the parent stops the
    build (raising ``_Stopped``)."""
    import cv2

    from ecgkit.data.context_image import record_images
    from ecgkit.data.datasets import record_beats, select_beats
    from ecgkit.data.render import render_batch

    cv2.setNumThreads(1)
    name, out = task["record"], Path(task["out_dir"])
    _check_stop(name)
    data = record_beats(task["source_dir"], name, task["lead"], task["fallback_leads"],
                        task["unknown_symbols"])
    labels = data["labels"]
    idx, where = select_beats(name, labels, task["split"], task["split_name"],
                              task["max_beats_per_record"], task["val_fraction"], task["seed"])
    rows, todo = [], []
    for k, (i, s) in enumerate(zip(idx, where)):
        label = CLASSES[labels[i]]
        rel = f"{s}/{label}/{name}_{int(data['samples'][i]):07d}.png"
        rows.append({"path": rel, "record": name, "patient": patient_of(name),
                     "sample": int(data["samples"][i]), "symbol": str(data["symbols"][i]),
                     "label": label, "split": s, "sig_name": data["sig_name"]})
        if not (out / rel).is_file():
            todo.append(k)
    clipped = 0
    for start in range(0, len(todo), RENDER_CHUNK):
        _check_stop(name)
        chunk = todo[start:start + RENDER_CHUNK]
        if task["image_channels"] == "context":
            images, n_clip = record_images(data, idx[chunk], task["context_mode"],
                                           task["image_size"]), 0
        else:
            images, n_clip = render_batch(data["windows"][idx[chunk]], task["image_size"],
                                          task["grid"], baseline=False)
        clipped += n_clip
        for k, img in zip(chunk, images):
            _check_stop(name)
            write_png(out / rows[k]["path"], img)
    return {"record": name, "rows": rows, "written": len(todo),
            "existing": len(rows) - len(todo), "clipped": clipped, "skips": data["skips"],
            "capped": int(labels.shape[0] - idx.size), "unknown": data["unknown"]}


def write_png(path: Path, image) -> None:
    """Writes a uint8 RGB image as a PNG, atomically
    (:func:`ecgkit.training.atomic.write_bytes`)."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    write_bytes(path, buf.tobytes())


class OutputFolderError(ValueError):
    """The output folder cannot take this build (other options, another writer, lost images)."""


def check_options(image_size, max_beats_per_record, val_fraction, seed, workers,
                  names: dict[str, str] | None = None) -> None:
    """Checks the numeric options with the ranges of the matching workbook parameters.

    Args:
        names: how each option is called where it came from (``{"image_size":
            "--image-size", ...}`` for the command line); default the keyword names.

    Raises:
        ecgkit.params.ParamError: naming the option, the parameter, the value and the range.
        ValueError: ``workers`` below 1.
    """
    from ecgkit.params import check

    names = names or {}
    for key, param, value in (("image_size", "IMAGE_SIZE", image_size),
                              ("max_beats_per_record", "MAX_BEATS_PER_RECORD",
                               max_beats_per_record),
                              ("val_fraction", "VAL_FRACTION", val_fraction),
                              ("seed", "SEED", seed)):
        check(param, value, names.get(key, key))
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"{names.get('workers', 'workers')}: workers must be >= 1 "
                         f"(or None for all cores), got {workers!r}")


def _images_on_disk(out: Path) -> dict[str, dict[str, int]]:
    """record -> {split: images} of the PNGs under ``out/<split>/<class>/<record>_<n>.png``."""
    found: dict[str, dict[str, int]] = {}
    for p in out.glob("*/*/*.png"):
        record = p.stem.rsplit("_", 1)[0]
        split = p.parent.parent.name
        found.setdefault(record, {}).setdefault(split, 0)
        found[record][split] += 1
    return found


def _write_info(out: Path, options: dict, records: dict, complete: bool) -> None:
    info = {**options, "records": records, "complete": complete}
    write_bytes(out / BUILD_INFO, json.dumps(info, indent=1).encode())


OPTION_DEFAULTS = {"image_channels": "paper", "context_mode": None}
"""Options a build.json written before they existed holds implicitly (paper images)."""


def changed_options(out: Path, options: dict) -> tuple[dict | None, dict]:
    """What ``out/build.json`` holds (None when there is none) and the options that differ
    from ``options``: ``{name: (before, now)}``. Shared by both build-dataset tasks.

    Raises:
        OutputFolderError: an unreadable build.json, naming it.
    """
    info = out / BUILD_INFO
    if not info.is_file():
        return None, {}
    try:
        old = json.loads(info.read_text())
    except ValueError as exc:
        raise OutputFolderError(f"{info}: unreadable ({exc}); delete the folder and build "
                                "again") from None
    before = {**OPTION_DEFAULTS, **old}
    return old, {k: (before.get(k), v) for k, v in options.items() if before.get(k) != v}


def _check_out_dir(out: Path, options: dict, records: dict, prune: bool = False) -> None:
    """Refuses folders holding other data, and images this run would delete unless ``prune``;
    then marks the build as started in build.json.

    Args:
        records: record -> split of this run (None for the beat-level split).
    """
    on_disk = _images_on_disk(out)
    n_images = sum(n for splits in on_disk.values() for n in splits.values())
    old, diff = changed_options(out, options)
    if old is not None:
        finished = old.get("complete", True)  # build.json of older ecgkit: finished builds
        if diff and (finished or n_images):
            listed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            if finished:
                raise OutputFolderError(f"{out}: already built with other options ({listed}); "
                                        f"use a new output folder or delete this one")
            raise OutputFolderError(
                f"{out}: an earlier build-dataset with other options did not finish and left "
                f"{n_images} images here ({listed}); run it again with its options to finish "
                f"it, or delete this folder")
    elif any(p.name != BUILD_INFO for p in out.iterdir()):
        raise OutputFolderError(f"{out}: folder exists, is not empty and is not an ecgkit "
                                f"dataset (no {BUILD_INFO}); choose an empty or new folder")
    dropped = {r: sum(n.values()) for r, n in on_disk.items() if r not in records}
    moved = {r: (sorted(n), records[r]) for r, n in on_disk.items()
             if records.get(r) is not None and set(n) != {records[r]}}
    if (dropped or moved) and not prune:
        problems = []
        if dropped:
            listed = ", ".join(f"{r} ({n} images)" for r, n in sorted(dropped.items()))
            problems.append(f"it holds images of record(s) {listed} that this run leaves out")
        if moved:
            problems.append("record(s) " + ", ".join(
                f"{r} ({'/'.join(a)} -> {b})" for r, (a, b) in sorted(moved.items()))
                + " change split with this record list (the validation patients are drawn "
                  "from the training records given)")
        raise OutputFolderError(
            f"{out}: {'; '.join(problems)}. Their images would be deleted: pass --prune "
            "(prune=True) to delete them, or use another folder")
    _write_info(out, options, records, complete=False)


def _remove_if_unused(out: Path) -> None:
    """After a failed run in a folder it created: removes it if no image was written."""
    if any(out.glob("*/*/*.png")):
        return
    for p in sorted(out.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir():
            p.rmdir()
        else:
            p.unlink()
    out.rmdir()


def _remove_leftovers(out: Path, keep: set[str]) -> tuple[int, int]:
    """Deletes temporary files of an interrupted run and images no longer in the manifest."""
    tmp = stale = 0
    for p in out.glob("*/*/*"):
        rel = p.relative_to(out).as_posix()
        if p.name.startswith(".") and p.name.endswith(".tmp"):
            p.unlink()
            tmp += 1
        elif p.suffix == ".png" and rel not in keep:
            p.unlink()
            stale += 1
    return tmp, stale


def read_build_info(folder) -> dict | None:
    """The options a build-dataset folder was built with (its ``build.json``: ``image_size``,
    ``grid``, ``split``...); None when there is none (a manifest made by hand, or older ecgkit).

    Raises:
        ecgkit.data.images.ImageFolderError: an unreadable build.json, naming it.
    """
    from ecgkit.data.images import ImageFolderError

    info = Path(folder) / BUILD_INFO
    if not info.is_file():
        return None
    try:
        data = json.loads(info.read_text())
    except (ValueError, OSError) as exc:
        raise ImageFolderError(f"{info}: unreadable ({exc}); rebuild the folder with "
                               "build-dataset") from None
    if not isinstance(data, dict):
        raise ImageFolderError(f"{info}: not a build-dataset record (a JSON object expected)")
    return data


def read_manifest(folder, split: str = "all", on_bad: str = "error",
                  workers: int | None = None):
    """The manifest rows of one split of a build-dataset folder, every image checked first.

    Each image is decoded once (in threads), so a missing, corrupt or truncated file is named
    now, with all the others, instead of stopping an evaluation at the first.

    Args:
        folder: the folder holding ``manifest.csv``.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        on_bad: ``"error"`` (default: raise, naming every bad file) or ``"skip"`` (drop them,
            with a logged warning naming them).
        workers: decoding threads (default: CPU count).

    Returns:
        The rows (``record`` and ``patient`` as strings) with a ``file`` column holding each
        image's full path; ``attrs["bad"]`` lists ``(file, reason)`` of the skipped ones.

    Raises:
        ecgkit.data.images.ImageFolderError: no or unreadable manifest, rows that are not one image
            of one class each (:func:`check_manifest_rows`), no images in ``split`` (naming the
            splits there), or unreadable images with ``on_bad="error"``.
    """
    import pandas as pd

    from ecgkit.data.images import ImageFolderError, check_images

    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ImageFolderError(f"{folder}: no {MANIFEST} (is it an ecgkit build-dataset folder?)")
    try:
        m = pd.read_csv(path, dtype={"record": str, "patient": str})
    except (ValueError, OSError) as exc:
        raise ImageFolderError(f"{path}: unreadable manifest ({exc})") from None
    missing = [c for c in ("path", "label", "split") if c not in m.columns]
    if missing:
        raise ImageFolderError(f"{path}: no column(s) {', '.join(missing)}; expected "
                               f"{', '.join(MANIFEST_COLUMNS)}")
    check_manifest_rows(m, path)
    if split != "all":
        present = sorted(set(m["split"]))
        m = m[m["split"] == split].reset_index(drop=True)
        if m.empty:
            raise ImageFolderError(f"{path}: no images in split {split!r} (it has: "
                                   f"{', '.join(present) or 'no images at all'})")
    m["file"] = [str(p if Path(p).is_absolute() else folder / p) for p in m["path"]]
    bad = check_images(m["file"], path, on_bad, workers,
                       advice=". Rebuild them with build-dataset (it rewrites missing images), "
                              "or leave them out with --bad-images skip (on_bad='skip')")
    if bad:
        m = m[~m["file"].isin([f for f, _ in bad])].reset_index(drop=True)
        if m.empty:
            raise ImageFolderError(f"{path}: no readable images in split {split!r}")
    m.attrs["bad"] = bad
    return m


def _lines(rows) -> str:
    """``"line 3"`` / ``"lines 3, 7, 9"``: file lines of manifest rows (header on line 1), the
    first 10."""
    lines = [str(int(i) + 2) for i in rows]
    more = f" and {len(lines) - 10} more" if len(lines) > 10 else ""
    return f"line{'s' if len(lines) > 1 else ''} {', '.join(lines[:10])}{more}"


def check_manifest_rows(manifest, path) -> None:
    """Refuses a manifest that lists a file more than once (its beat would be scored as many
    times, and the intervals would be too narrow) or a label that is not a class name.

    Args:
        manifest: the rows as read (index 0 is the file's line 2).
        path: the manifest file, for the message.

    Raises:
        ecgkit.data.images.ImageFolderError: naming the repeated files or the unknown labels, with
            their lines.
    """
    from ecgkit.data.images import ImageFolderError

    files = manifest["path"].astype(str)
    repeated = files[files.duplicated(keep=False)]
    if not repeated.empty:
        groups = list(repeated.groupby(repeated, sort=False).groups.items())
        listed = "; ".join(f"{f} ({_lines(rows)})" for f, rows in groups[:10])
        more = f"; and {len(groups) - 10} more" if len(groups) > 10 else ""
        raise ImageFolderError(
            f"{path}: {len(groups)} file(s) listed more than once, which would score their "
            f"beats as many times: {listed}{more}. Keep one row per image (rebuild the folder "
            "with build-dataset, or drop the repeated rows)")
    labels = manifest["label"]
    unknown = labels[~labels.isin(CLASSES)]
    if not unknown.empty:
        shown = unknown.fillna("").astype(str)  # an empty cell (NaN) as ''
        groups = list(shown.groupby(shown, sort=False).groups.items())
        listed = "; ".join(f"{lab!r} ({_lines(rows)})" for lab, rows in groups)
        raise ImageFolderError(
            f"{path}: label(s) not among the classes {', '.join(CLASSES)} (upper case): "
            f"{listed}. Correct or remove these rows")


def summary_table(manifest) -> str:
    """Beats per split and class as a text table."""
    if manifest.empty:
        return "(no beats)"
    t = (manifest.groupby(["split", "label"]).size().unstack(fill_value=0)
         .reindex(columns=list(CLASSES), fill_value=0))
    order = [s for s in ("train", "val", "test", "all") if s in t.index]
    t = t.reindex(order + sorted(set(t.index) - set(order)))
    t["total"] = t.sum(axis=1)
    return t.to_string()


def build_dataset(source_dir, out_dir, records: Sequence[str] | None = None,
                  split: str = "inter-patient", image_size: int = IMAGE_SIZE, grid: bool = True,
                  max_beats_per_record: int = 0, workers: int | None = None,
                  progress: bool = True, lead: str = LEAD, fallback_leads: Sequence[str] = (),
                  val_fraction: float = 0.2, seed: int = 42, missing_lead: str = "skip",
                  unknown_symbols: str = "error", prune: bool = False,
                  image_channels: str = "paper", context_mode: str = "offline"):
    """Exports every beat as a PNG ECG image in ``OUT_DIR/<split>/<class>/`` plus a manifest.

    Args:
        source_dir: WFDB folder (e.g. ``data/mitdb``).
        out_dir: output folder (created; may be a folder from an earlier, interrupted run
            with the same options: finished images are kept).
        records: record names (default: all in ``source_dir``).
        split: ``"inter-patient"``, ``"none"`` or ``"beat-random-LEAKS-PATIENTS"``.
        image_size: image side in pixels.
        grid: draw the ECG-paper grid.
        max_beats_per_record: cap per record and class (0 = no cap).
        workers: processes (default: all cores; 1 = in this process).
        progress: show a progress bar and print a summary.
        lead, fallback_leads, missing_lead, unknown_symbols: as in
            :func:`ecgkit.data.datasets.load_beats`.
        val_fraction, seed: validation carve and sampling seed.
        image_channels: ``"paper"`` (the ECG strip, :mod:`ecgkit.data.render`) or ``"context"``
            (the beat's context in the colour channels, :mod:`ecgkit.data.context_image`: the images
            a model trained with ``IMAGE_CHANNELS=context`` takes; no grid).
        context_mode: ``"offline"`` or ``"causal"``: the context of ``"context"`` images.
        prune: allow deleting the images of records that were built into ``out_dir`` before
            but are not in this run (or now fall in another split). Without it such a run is
            refused, so images are never deleted by accident.

    Returns:
        The manifest DataFrame (also written to ``OUT_DIR/manifest.csv``); its
        ``attrs["report"]`` holds the counts (written, existing, skips, clipped).

    Raises:
        ecgkit.params.ParamError: an option out of range (before anything is written).
        OutputFolderError: the folder holds something else (another dataset, other options).
        ecgkit.training.atomic.FolderInUseError: another command is writing into the folder.
        ecgkit.data.records.RecordError: unreadable or unusable records.
    """
    out = Path(out_dir)
    check_options(image_size, max_beats_per_record, val_fraction, seed, workers)
    from ecgkit.data.context import check_mode
    from ecgkit.data.context_image import check_channels

    check_channels(image_channels)
    check_mode(context_mode)
    plan = plan_split(source_dir, split, records, lead, fallback_leads, missing_lead,
                      val_fraction, seed)
    report = {"skipped_records": dict(plan.skipped), "empty_records": {},
              "excluded_records": dict(plan.excluded),
              "skipped_windows": collections.Counter(), "unknown_symbols": collections.Counter(),
              "written": 0, "existing": 0, "clipped": 0, "capped": 0}
    options = {"split": split, "image_size": int(image_size), "grid": bool(grid),
               "max_beats_per_record": int(max_beats_per_record), "lead": lead,
               "fallback_leads": list(fallback_leads), "val_fraction": float(val_fraction),
               "seed": int(seed), "unknown_symbols": unknown_symbols,
               "image_channels": image_channels}
    if image_channels == "context":  # drawn without a grid; the context's mode matters
        options.update(grid=False, context_mode=context_mode)
    created = not out.exists()
    make_folder(out)
    with exclusive_folder(out, "build-dataset"):
        try:
            manifest = _build_into(out, plan, options, workers, progress, report, prune)
        except BaseException as exc:
            if created:
                _remove_if_unused(out)
            if isinstance(exc, KeyboardInterrupt):
                _say_interrupted(out)
            raise
    if progress:
        print(format_summary(manifest, report, out))
    return manifest


def _build_into(out: Path, plan: SplitPlan, options: dict, workers: int | None, progress: bool,
                report: dict, prune: bool):
    """The part of :func:`build_dataset` that writes: images, manifest, build.json."""
    import pandas as pd

    records = {r: plan.side_of(r) for r in plan.records}
    _check_out_dir(out, options, records, prune)
    for s in [s for s, rs in plan.sides.items() if rs] or ["train", "val", "test"]:
        for c in CLASSES:
            (out / s / c).mkdir(parents=True, exist_ok=True)
    tasks = [dict(options, record=r, source_dir=str(plan.data_dir), out_dir=str(out),
                  split_name=records[r]) for r in plan.records]
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(tasks) or 1))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="build-dataset", unit="rec")
    results = []
    try:
        if workers == 1:
            for t in tasks:
                results.append(_export_record(t))
                if bar:
                    bar.update(1)
        else:
            results = _export_in_pool(tasks, workers, bar)
    finally:
        if bar:
            bar.close()
    from ecgkit.data.datasets import no_beats_message

    rows = []
    for res in sorted(results, key=lambda r: r["record"]):
        rows.extend(res["rows"])
        if not res["rows"]:
            report["empty_records"][res["record"]] = no_beats_message(
                plan.data_dir, res["record"], res["skips"])
        report["skipped_windows"].update(res["skips"])
        report["unknown_symbols"].update(res["unknown"])
        for k in ("written", "existing", "clipped", "capped"):
            report[k] += res[k]
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    if manifest.empty:
        from ecgkit.data.records import RecordError

        skips = ", ".join(f"{k} {v}" for k, v in sorted(report["skipped_windows"].items()))
        raise RecordError(f"{plan.data_dir}: no beats to export from record(s) "
                          f"{', '.join(plan.records)}"
                          + (f" (skipped windows: {skips})" if skips else "")
                          + (f"; left out: {report['capped']} beats by max_beats_per_record"
                             if report["capped"] else ""))
    else:
        manifest = manifest.sort_values(["split", "label", "record", "sample"], kind="stable")
        manifest = manifest.reset_index(drop=True)
    report["tmp_removed"], report["stale_removed"] = _remove_leftovers(out, set(manifest["path"]))
    write_bytes(out / MANIFEST, manifest.to_csv(index=False).encode())
    _write_info(out, options, records, complete=True)
    manifest.attrs["report"] = report
    return manifest


def _export_in_pool(tasks: list[dict], workers: int, bar) -> list[dict]:
    """Runs :func:`_export_record` over the tasks in ``workers`` processes.

    On Ctrl-C (or a worker's error) the queued records are cancelled and the running ones stop
    before their next image (or after the chunk being rendered): the build ends within seconds,
    where leaving a pool's ``with`` block waits for every queued record (tens of seconds).
    """
    ctx = multiprocessing.get_context("spawn")  # safe even if TensorFlow is loaded
    stop = ctx.Event()
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx,
                                                  initializer=_init_worker,
                                                  initargs=(os.getpid(), stop))
    results = []
    try:
        futures = [pool.submit(_export_record, t) for t in tasks]
        for f in concurrent.futures.as_completed(futures):
            results.append(f.result())
            if bar:
                bar.update(1)
    except BaseException:
        stop.set()
        workers_alive = list((pool._processes or {}).values())  # the executor's only handle
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in workers_alive:  # most stop before their next image
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in workers_alive:  # one still reading or rendering a record: ended; its
            if proc.is_alive():     # writes are atomic, the rerun removes a temporary file
                proc.terminate()
                proc.join(5)
        raise
    pool.shutdown(wait=True)
    return results


def _say_interrupted(out: Path) -> None:
    """Logs what an interrupted build leaves and how to finish it."""
    if not out.is_dir():
        log.warning(f"{out}: build-dataset interrupted before writing any image; nothing kept")
        return
    n = sum(1 for _ in out.glob("*/*/*.png"))
    log.warning(f"{out}: build-dataset interrupted; the {n} images written so far are kept. Run "
                "the same command again to finish the build (it resumes where this one "
                "stopped)")


def format_summary(manifest, report: dict, out: Path) -> str:
    """The human summary printed at the end of an export."""
    lines = [f"{out}: {len(manifest)} images ({report['written']} written, "
             f"{report['existing']} already there)", summary_table(manifest)]
    for msg in report["skipped_records"].values():
        lines.append(msg)
    lines.extend(report.get("empty_records", {}).values())
    for msg in report["excluded_records"].values():
        lines.append(msg)
    if report["skipped_windows"]:
        lines.append("skipped windows: " + ", ".join(
            f"{k} {v}" for k, v in sorted(report["skipped_windows"].items())))
    if report["unknown_symbols"]:
        lines.append("skipped unknown symbols: " + ", ".join(
            f"{k!r} x{v}" for k, v in sorted(report["unknown_symbols"].items())))
    if report["capped"]:
        lines.append(f"left out by --max-beats-per-record: {report['capped']} beats")
    if report["clipped"]:
        lines.append(f"images with the trace clipped at the amplitude range: {report['clipped']}")
    if report.get("stale_removed"):
        lines.append(f"removed {report['stale_removed']} images no longer in the manifest")
    return "\n".join(lines)
