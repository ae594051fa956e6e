"""Your own labelled ECG images: reading a folder, splitting it by patient, auditing it.

Introduced in: notebooks/40_your_own_images.ipynb (the whole image-folder path, on the MIT-BIH
rhythm strips).

A labelled folder is either

- one sub-folder per class (``DIR/<class>/*.png``), or
- a labels CSV (``DIR/labels.csv`` when present, or ``--labels CSV``) with columns ``file``
  (relative to ``DIR``), ``label`` and, optionally, a group column: the patient each image
  comes from (``patient`` is used when present and no other is named).

:func:`read_labelled_images` reads it, decoding every image once (bad ones named, the
``--bad-images`` policy; images too small to classify refused) and noting its size and its
perceptual hash. :func:`split_images` puts each image on one side (train, val, test): by group
when there is one, so that no patient is on two sides (:func:`check_groups_apart`), else
stratified by class, with a warning that images of one patient may then sit on both sides.
:func:`near_duplicates` lists pairs of images on different sides whose perceptual hashes
(``imagehash.phash``) are close: resized, re-encoded or lightly cropped copies of one ECG.
:func:`data_report` is what to look at before training: class counts, groups, image sizes,
duplicates.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ecgkit.contract import MIN_IMAGE_SIZE
from ecgkit.data.images import (
    IMAGE_EXTENSIONS,
    ImageError,
    ImageFolderError,
    decode_image,
    report_bad,
)

log = logging.getLogger("ecgkit")

LABELS_FILE = "labels.csv"
"""The labels CSV read from the folder itself when ``labels`` is not given."""

DEFAULT_GROUP_COLUMN = "patient"
"""The group column used when none is named and the labels CSV has it."""

SIDES = ("train", "val", "test")

HASH_SIZE = 8
"""``imagehash.phash`` hash side: 64 bits."""

MAX_HASH_DISTANCE = 6
"""Images whose perceptual hashes differ in at most this many of the 64 bits are listed as
near-duplicates. Measured on synthetic 12-lead pages (tests/test_image_folders.py): copies
resized, re-encoded as JPEG and cropped by 1 to 2 px differ in 0 to 6 bits (a 2% crop in up to
8); 60 distinct pages of 30 patients, 132 x 102 px, in 8 or more (1,770 pairs). Heavier crops
and photographs of a page are not all found; listed pairs are for a person to look at."""

SPLIT_TRIES = 200
"""Random group orders tried by :func:`split_images`; the one closest to the asked fractions
with every class on every side wins."""


class LabelsError(ImageFolderError):
    """A labels CSV cannot be used; the message names the file, the row or column."""


@dataclass
class LabelledImages:
    """The images of a labelled folder, as :func:`read_labelled_images` found them.

    Attributes:
        folder: the folder.
        files: image paths (str), in the CSV's order or sorted by class then name.
        names: the same, relative to ``folder`` (``/`` separated): how a split records them.
        labels: class index of each image (into ``classes``).
        classes: class names, in label order.
        groups: the group (patient) of each image as str, or None.
        group_column: the CSV column the groups come from, or None.
        labels_csv: the CSV read, or None (class sub-folders).
        sizes: (n, 2) width and height of each image, in pixels.
        hashes: (n, 8) uint8: each image's 64-bit perceptual hash.
        bad: ``(file, problem)`` of each image left out (``on_bad="skip"``).
    """

    folder: Path
    files: list[str]
    names: list[str]
    labels: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray | None = None
    group_column: str | None = None
    labels_csv: Path | None = None
    sizes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64), repr=False)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros((0, 8), np.uint8), repr=False)
    bad: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)

    def class_counts(self, rows=None) -> dict[str, int]:
        """Images per class (of ``rows``, default all)."""
        labels = self.labels if rows is None else self.labels[rows]
        counts = np.bincount(labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}


@dataclass
class ImageSplit:
    """Which side (train, val, test) each image of a :class:`LabelledImages` is on.

    Attributes:
        sides: the side of each image (str array).
        method: ``"group"`` (no group on two sides) or ``"stratified"`` (by image).
        group_column: the column the groups come from, or None.
        seed, val_fraction, test_fraction: how it was drawn.
    """

    sides: np.ndarray
    method: str
    group_column: str | None
    seed: int
    val_fraction: float
    test_fraction: float

    def rows(self, side: str) -> np.ndarray:
        return np.flatnonzero(self.sides == side)


# --- Reading ---------------------------------------------------------------------------------

def _inspect(path: str, min_side: int) -> tuple[tuple[int, int], np.ndarray] | str:
    """(width, height) and the perceptual hash of one image, or its problem."""
    import imagehash
    from PIL import Image

    try:
        img = decode_image(path, min_side)
    except ImageError as exc:
        return exc.problem
    bits = imagehash.phash(Image.fromarray(img).convert("L"), hash_size=HASH_SIZE).hash
    return (img.shape[1], img.shape[0]), np.packbits(bits.ravel())


def _from_class_folders(root: Path) -> tuple[list[str], list[str]]:
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise ImageFolderError(
            f"{root}: no class sub-folders and no {LABELS_FILE}: give one sub-folder per class "
            f"(DIR/<class>/*.png) or a labels CSV (--labels) with columns file, label")
    names = {p.name for p in subdirs}
    if names <= {"train", "val", "test", "all"}:
        raise ImageFolderError(
            f"{root}: sub-folders {', '.join(sorted(names))} look like an `ecgkit build-dataset` "
            f"export, not classes: evaluate it with `ecgkit evaluate --data {root}`, or point "
            f"to one class-folder set, e.g. {root / sorted(names)[0]}")
    files, labels = [], []
    for sub in subdirs:
        found = [p for p in sorted(sub.iterdir()) if p.is_file() and not p.name.startswith(".")
                 and p.suffix.lower() in IMAGE_EXTENSIONS]
        if not found:
            raise ImageFolderError(f"{sub}: empty class: no image files (PNG, JPEG...) in this "
                                   f"class folder; remove it or add its images")
        files += [str(p) for p in found]
        labels += [sub.name] * len(found)
    return files, labels


def _from_csv(root: Path, csv: Path, group_column: str | None
              ) -> tuple[list[str], list[str], list[str] | None, str | None]:
    import pandas as pd

    if not csv.is_file():
        raise LabelsError(f"{csv}: labels CSV not found")
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several types (ParserError, UnicodeDecodeError...)
        raise LabelsError(f"{csv}: not a readable CSV ({type(exc).__name__}: {exc})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    have = ", ".join(table.columns) or "none"
    for column in ("file", "label"):
        if column not in table.columns:
            raise LabelsError(f"{csv}: no column {column!r} (columns: {have}); a labels CSV "
                              "needs file (relative to the image folder) and label")
    if group_column is not None and group_column not in table.columns:
        raise LabelsError(f"{csv}: unknown column {group_column!r} given as the group column "
                          f"(columns: {have})")
    if group_column is None and DEFAULT_GROUP_COLUMN in table.columns:
        group_column = DEFAULT_GROUP_COLUMN
    if table.empty:
        raise LabelsError(f"{csv}: no rows")
    problems = []
    seen: dict[str, int] = {}
    for i, (f, lab) in enumerate(zip(table["file"], table["label"])):
        row = i + 2  # the header is line 1
        if not f.strip():
            problems.append(f"row {row}: empty file")
        if not lab.strip():
            problems.append(f"row {row}: empty label (file {f!r})")
        if group_column and not table[group_column].iloc[i].strip():
            problems.append(f"row {row}: empty {group_column} (file {f!r})")
        if f.strip() in seen:
            problems.append(f"row {row}: file {f!r} also on row {seen[f.strip()]}")
        seen.setdefault(f.strip(), row)
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise LabelsError(f"{csv}: {len(problems)} bad row(s): {'; '.join(problems[:20])}{more}")
    files = [str(root / f.strip()) for f in table["file"]]
    groups = [g.strip() for g in table[group_column]] if group_column else None
    return files, [s.strip() for s in table["label"]], groups, group_column


def read_labelled_images(folder, labels=None, group_column: str | None = None,
                         classes: Sequence[str] | None = None, on_bad: str = "error",
                         min_side: int = MIN_IMAGE_SIZE,
                         workers: int | None = None) -> LabelledImages:
    """Reads a labelled image folder: class sub-folders, or a labels CSV (module docstring).

    Every image is decoded once (in threads): unreadable, missing and too-small images are
    named (``on_bad``), and each image's size and perceptual hash are kept for the report and
    the duplicate audit.

    Args:
        folder: the image folder.
        labels: a labels CSV (``file`` relative to ``folder``, ``label``, optional group
            column); None reads ``folder/labels.csv`` when present, else class sub-folders.
        group_column: the CSV column naming each image's patient (default ``patient`` when
            the CSV has it).
        classes: the class names the labels must come from, in label order (a trained
            model's); None: the labels found, sorted.
        on_bad: unreadable images: ``"error"`` (all named) or ``"skip"`` (named in a warning).
        min_side: refuse images whose shorter side has fewer pixels.
        workers: decoding threads (default: CPU count).

    Returns:
        A :class:`LabelledImages`.

    Raises:
        ImageFolderError: no such folder, an empty class folder, no images, unreadable images
            (``on_bad="error"``), fewer than two classes, or labels not in ``classes``.
        LabelsError: a labels CSV without ``file`` or ``label``, an unknown group column, empty
            or repeated rows (each named by its line).
    """
    root = Path(folder)
    if not root.is_dir():
        raise ImageFolderError(f"{root}: no such folder")
    if group_column is not None and labels is None and not (root / LABELS_FILE).is_file():
        raise LabelsError(f"{root}: --group-column {group_column} needs a labels CSV (none "
                          f"given and no {root / LABELS_FILE})")
    csv = Path(labels) if labels is not None else root / LABELS_FILE
    groups = None
    if labels is not None or csv.is_file():
        files, names, groups, group_column = _from_csv(root, csv, group_column)
        where = csv
    else:
        files, names = _from_class_folders(root)
        csv, where = None, root
    if classes is None:
        classes = tuple(sorted(set(names)))
        if len(classes) < 2:
            raise ImageFolderError(f"{where}: one class only ({classes[0]!r}); a classifier "
                                   "needs at least two")
    else:
        classes = tuple(classes)
        unknown = sorted(set(names) - set(classes))
        if unknown:
            rows = [f"{'row ' + str(i + 2) + ': ' if csv else ''}{Path(f).name} {lab!r}"
                    for i, (f, lab) in enumerate(zip(files, names)) if lab in unknown][:10]
            raise ImageFolderError(f"{where}: unknown label(s) {', '.join(map(repr, unknown))}: "
                                   f"the model's classes are {', '.join(classes)} "
                                   f"(e.g. {'; '.join(rows)})")
    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        found = list(pool.map(lambda f: _inspect(f, min_side), files))
    bad = [(f, r) for f, r in zip(files, found) if isinstance(r, str)]
    report_bad(bad, where, on_bad)
    keep = [i for i, r in enumerate(found) if not isinstance(r, str)]
    if not keep:
        raise ImageFolderError(f"{where}: no readable images ({len(bad)} unreadable)")
    index = {c: k for k, c in enumerate(classes)}
    out = LabelledImages(
        folder=root, files=[files[i] for i in keep],
        names=[Path(os.path.relpath(files[i], root)).as_posix() for i in keep],
        labels=np.array([index[names[i]] for i in keep], np.int64), classes=classes,
        groups=None if groups is None else np.array([groups[i] for i in keep], dtype=str),
        group_column=group_column, labels_csv=csv,
        sizes=np.array([found[i][0] for i in keep], np.int64).reshape(-1, 2),
        hashes=np.stack([found[i][1] for i in keep]), bad=bad)
    return out


# --- Splitting -------------------------------------------------------------------------------

def check_groups_apart(groups, sides) -> None:
    """Checks that no group (patient) has images on two sides.

    Raises:
        ImageFolderError: naming the groups on two sides and where.
    """
    import pandas as pd

    table = pd.DataFrame({"group": np.asarray(groups, dtype=str),
                          "side": np.asarray(sides, dtype=str)})
    both = table.groupby("group")["side"].unique()
    both = both[both.map(len) > 1]
    if len(both):
        listed = "; ".join(f"{g}: {', '.join(sorted(s))}" for g, s in both.head(20).items())
        raise ImageFolderError(f"{len(both)} group(s) on two sides of the split: {listed}")


def _score(labels, sides, n_classes, fractions) -> tuple[int, float]:
    """(class-side pairs without images, distance of the side shares from the asked ones)."""
    missing, dist = 0, 0.0
    for side, frac in fractions.items():
        on = sides == side
        missing += int((np.bincount(labels[on], minlength=n_classes) == 0).sum())
        dist += abs(on.mean() - frac)
    return missing, dist


def split_images(images: LabelledImages, val_fraction: float = 0.2, test_fraction: float = 0.2,
                 seed: int = 42) -> ImageSplit:
    """Puts every image on one side: test (``test_fraction`` of the images), validation
    (``val_fraction`` of the rest) and training.

    With groups, whole groups go to one side (the order of groups that comes closest to the
    fractions while keeping every class on every side, of :data:`SPLIT_TRIES` seeded orders),
    and :func:`check_groups_apart` checks it. Without groups the split is stratified by class
    image by image, with a warning: images of one patient may then sit on both sides (run
    :func:`near_duplicates`).

    Raises:
        ImageFolderError: fewer than three groups, or fractions out of range.
    """
    if not (0 < test_fraction < 1 and 0 < val_fraction < 1):
        raise ImageFolderError(f"the test and validation fractions must be in (0, 1). "
                               f"Received: {test_fraction}, {val_fraction}")
    n, k = len(images), len(images.classes)
    fractions = {"test": test_fraction, "val": (1 - test_fraction) * val_fraction}
    fractions["train"] = 1 - fractions["test"] - fractions["val"]
    if images.groups is None:
        warnings.warn(
            f"{images.labels_csv or images.folder}: no group column (patient), so the split is "
            "by image, stratified by class: images of one patient may sit on both sides, and "
            "the test figures are then optimistic. Give a labels CSV with a patient column "
            "(--group-column). Near-duplicates across the sides are listed in the report.",
            stacklevel=2)
        from sklearn.model_selection import train_test_split

        def cut(rows, fraction):
            try:  # stratified when every class has enough images for it
                return train_test_split(rows, test_size=fraction, random_state=seed,
                                        stratify=images.labels[rows])
            except ValueError:
                return train_test_split(rows, test_size=fraction, random_state=seed)

        rest, test = cut(np.arange(n), test_fraction)
        train, val = cut(rest, val_fraction)
        sides = np.empty(n, dtype=object)
        sides[train], sides[val], sides[test] = "train", "val", "test"
        return ImageSplit(sides.astype(str), "stratified", None, seed, val_fraction,
                          test_fraction)
    uniq, inverse = np.unique(images.groups, return_inverse=True)
    if len(uniq) < 3:
        raise ImageFolderError(f"{images.labels_csv}: {len(uniq)} group(s) in column "
                               f"{images.group_column!r}; a split by group needs at least 3 "
                               "(train, validation, test)")
    per_group = np.bincount(inverse, minlength=len(uniq))
    best, best_score = None, None
    for t in range(SPLIT_TRIES):
        order = np.random.default_rng([seed, t]).permutation(len(uniq))
        share = np.cumsum(per_group[order]) / n
        n_test = max(1, int(np.searchsorted(share, fractions["test"] - 1e-9) + 1))
        n_test = min(n_test, len(uniq) - 2)
        share_val = share - share[n_test - 1]
        n_val = max(1, int(np.searchsorted(share_val[n_test:], fractions["val"] - 1e-9) + 1))
        n_val = min(n_val, len(uniq) - n_test - 1)
        side_of = np.empty(len(uniq), dtype=object)
        side_of[order[:n_test]] = "test"
        side_of[order[n_test:n_test + n_val]] = "val"
        side_of[order[n_test + n_val:]] = "train"
        sides = side_of[inverse].astype(str)
        score = _score(images.labels, sides, k, fractions)
        if best_score is None or score < best_score:
            best, best_score = sides, score
    check_groups_apart(images.groups, best)
    return ImageSplit(best, "group", images.group_column, seed, val_fraction, test_fraction)


def split_record(images: LabelledImages, split: ImageSplit) -> dict[str, Any]:
    """The split as a model records it (JSON-able): how it was drawn, and the groups of each
    side (with groups) or the images of each side (relative names, without)."""
    out: dict[str, Any] = {"method": split.method, "group_column": split.group_column,
                           "seed": split.seed, "val_fraction": split.val_fraction,
                           "test_fraction": split.test_fraction,
                           "train_counts": images.class_counts(split.rows("train"))}
    key, values = (("groups", images.groups) if images.groups is not None
                   else ("files", np.asarray(images.names)))
    out[key] = {s: sorted(set(values[split.rows(s)].tolist())) for s in SIDES}
    return out


def sides_from_record(images: LabelledImages, record: dict[str, Any]) -> np.ndarray:
    """The side of each image under a recorded split (:func:`split_record`): a model's
    training, validation and test sides; ``"unseen"`` for groups (or, without groups, images)
    the split did not hold."""
    if "groups" in record:
        if images.groups is None:
            raise ImageFolderError(
                f"{images.folder}: the model was split by {record.get('group_column')!r}, but "
                "these images have no group column: give the labels CSV with that column "
                "(--labels, --group-column)")
        keys = images.groups
        side_of = {g: s for s, gs in record["groups"].items() for g in gs}
    else:
        keys = np.asarray(images.names)
        side_of = {f: s for s, fs in record.get("files", {}).items() for f in fs}
    return np.array([side_of.get(k, "unseen") for k in keys], dtype=object).astype(str)


# --- Auditing --------------------------------------------------------------------------------

def near_duplicates(images: LabelledImages, sides=None,
                    max_distance: int = MAX_HASH_DISTANCE):
    """Pairs of images whose perceptual hashes differ in at most ``max_distance`` bits.

    Args:
        images: the images (their hashes from :func:`read_labelled_images`).
        sides: the side of each image; only pairs on different sides are listed. None: every
            pair.
        max_distance: the largest Hamming distance listed (of 64 bits).

    Returns:
        A DataFrame (``file_a``, ``side_a``, ``file_b``, ``side_b``, ``distance``), closest first.
    """
    import pandas as pd

    bits = np.unpackbits(images.hashes, axis=1).astype(np.int16)  # (n, 64)
    n = len(bits)
    sides = np.full(n, "all") if sides is None else np.asarray(sides, dtype=str)
    rows = []
    for start in range(0, n, 512):  # (512, n) distances at a time
        block = bits[start:start + 512]
        dist = (block[:, None, :] != bits[None, :, :]).sum(axis=2)
        a, b = np.nonzero(dist <= max_distance)
        a = a + start
        keep = (b > a) & ((sides[a] != sides[b]) | (sides[a] == "all"))
        rows += [(images.names[i], sides[i], images.names[j], sides[j], int(dist[i - start, j]))
                 for i, j in zip(a[keep], b[keep])]
    table = pd.DataFrame(rows, columns=["file_a", "side_a", "file_b", "side_b", "distance"])
    return table.sort_values(["distance", "file_a"], kind="stable").reset_index(drop=True)


def data_report(images: LabelledImages, split: ImageSplit | None = None,
                duplicates=None) -> dict[str, Any]:
    """What to look at before training (JSON-able): classes and their counts per side, groups
    per side and whether any is on two sides, image sizes, unreadable images, near-duplicates
    across the sides."""
    w, h = images.sizes[:, 0], images.sizes[:, 1]
    aspect = w / h
    out: dict[str, Any] = {
        "folder": str(images.folder),
        "labels_csv": None if images.labels_csv is None else str(images.labels_csv),
        "images": len(images), "classes": list(images.classes),
        "class_counts": images.class_counts(),
        "group_column": images.group_column,
        "groups": None if images.groups is None else int(len(set(images.groups.tolist()))),
        "image_sizes": {"width": [int(w.min()), int(np.median(w)), int(w.max())],
                        "height": [int(h.min()), int(np.median(h)), int(h.max())],
                        "aspect_w_over_h": [round(float(aspect.min()), 3),
                                            round(float(np.median(aspect)), 3),
                                            round(float(aspect.max()), 3)],
                        "distinct_sizes": int(len({(a, b) for a, b in images.sizes.tolist()}))},
        "unreadable": [{"file": f, "problem": p} for f, p in images.bad],
    }
    if split is not None:
        out["split"] = {"method": split.method, "group_column": split.group_column,
                        "seed": split.seed, "sides": {}}
        for s in SIDES:
            rows = split.rows(s)
            side = {"images": int(len(rows)), "class_counts": images.class_counts(rows)}
            if images.groups is not None:
                side["groups"] = sorted(set(images.groups[rows].tolist()))
            out["split"]["sides"][s] = side
        if images.groups is not None:
            check_groups_apart(images.groups, split.sides)
            out["split"]["groups_on_two_sides"] = []
        else:
            out["split"]["warning"] = ("no group column: images of one patient may sit on "
                                       "both sides")
    if duplicates is not None:
        out["near_duplicates"] = {"max_distance": MAX_HASH_DISTANCE,
                                  "pairs": int(len(duplicates)),
                                  "list": duplicates.head(100).to_dict(orient="records")}
    return out


def format_data_report(report: dict[str, Any]) -> str:
    """:func:`data_report` as a few plain-text lines."""
    sizes = report["image_sizes"]
    groups = (f"{report['groups']} groups ({report['group_column']})" if report["groups"]
              else "no groups (patients unknown)")
    counts = ", ".join(f"{c} {n}" for c, n in report["class_counts"].items())
    lines = [f"{report['images']} images, {len(report['classes'])} classes: {counts}; {groups}",
             f"sizes: width {sizes['width'][0]}..{sizes['width'][2]} px, height "
             f"{sizes['height'][0]}..{sizes['height'][2]} px, aspect w/h "
             f"{sizes['aspect_w_over_h'][0]}..{sizes['aspect_w_over_h'][2]} "
             f"({sizes['distinct_sizes']} distinct sizes)"]
    if report["unreadable"]:
        lines.append(f"unreadable, left out: {len(report['unreadable'])}")
    split = report.get("split")
    if split:
        for s, side in split["sides"].items():
            per = ", ".join(f"{c} {n}" for c, n in side["class_counts"].items())
            g = f", {len(side['groups'])} groups" if "groups" in side else ""
            lines.append(f"{s:>5}: {side['images']} images{g} ({per})")
        lines.append("no group on two sides (checked)" if "groups_on_two_sides" in split
                     else f"WARNING: {split['warning']}")
    dup = report.get("near_duplicates")
    if dup is not None:
        lines.append(f"near-duplicates across the sides: {dup['pairs']}")
        for row in dup["list"][:10]:
            lines.append(f"  {row['file_a']} ({row['side_a']}) ~ {row['file_b']} "
                         f"({row['side_b']}), {row['distance']} bits")
    return "\n".join(lines)


def split_table(images: LabelledImages, sides):
    """One row per image: ``file`` (relative), ``label``, ``group``, ``side``."""
    import pandas as pd

    return pd.DataFrame({"file": images.names,
                         "label": np.asarray(images.classes)[images.labels],
                         "group": images.groups if images.groups is not None else "",
                         "side": np.asarray(sides, dtype=str)})
