"""ECG images on disk: the one image reader, the checks that name every bad file, and the
batches of image files (any Keras backend).

Introduced in: notebooks/02_signals_to_images.ipynb.

:func:`read_image` is how every part of ecgkit reads an image file (``predict``, ``evaluate`` on a
``build-dataset`` folder, training on a folder). :func:`check_images` decodes every file once, so
a corrupt or missing one is reported by name with all the others before any training step;
:func:`image_folder_dataset` reads any folder with one sub-folder per class after
:func:`scan_image_folder` has checked it. An image's size is read from its header first
(:func:`image_dimensions`): one far outside :data:`MIN_IMAGE_SIDE` .. :data:`MAX_IMAGE_SIDE`
pixels a side is refused before its pixels are decoded.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ecgkit.contract import CLASSES, IMAGE_SIZE, MAX_IMAGE_SIZE

log = logging.getLogger("ecgkit")

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp",
                              ".ppm", ".pgm", ".pbm"})
BAD_IMAGE_POLICIES = ("skip", "error")
MIN_IMAGE_SIDE = 8
"""Smallest side of an image file ecgkit reads: below it there is no ECG trace to classify."""
MAX_IMAGE_SIDE = 4 * MAX_IMAGE_SIZE
"""Largest side of an image file ecgkit reads (4096 px: four times the largest IMAGE_SIZE, room
for a scanned strip or a 12-lead page, e.g. 1100 x 850 px at 100 dpi; decoded it is 50 MB). A
larger one is refused from its header, before its pixels are decoded: a blank 20,000 x 20,000
PNG of a few KB would take 2.5 GB and come back as a beat of class Q."""


class ImageFolderError(ValueError):
    """A folder of images cannot be used; the message names the folder or files."""


class ImageError(ValueError):
    """An image file cannot be read (missing, empty, not an image, corrupt or truncated).

    Attributes:
        path: the file.
        problem: what is wrong with it; the message is ``"{path}: {problem}"``.
    """

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem

    def __reduce__(self):  # pickles with its two arguments (e.g. across processes)
        return type(self), (self.path, self.problem)


@dataclass
class FolderReport:
    """What :func:`scan_image_folder` found.

    Attributes:
        folder: the folder scanned.
        files: readable image paths (str), sorted by class then name.
        labels: class index of each file.
        bad: ``(path, reason)`` of every unreadable image (skipped).
        ignored: number of non-image files ignored.
        empty_classes: classes with no readable image.
    """

    folder: Path
    files: list[str]
    labels: list[int]
    bad: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0
    empty_classes: list[str] = field(default_factory=list)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(CLASSES))
        return {c: int(n) for c, n in zip(CLASSES, counts)}


IMAGE_FITS = ("squash", "pad", "tile")
"""How an image of any shape becomes a square model input (:func:`fit_image`):

- ``"squash"``: resized to the square, aspect not kept (``build-dataset`` images are square, so
  nothing is distorted there);
- ``"pad"``: scaled so that its longer side fills the square, the rest padded with the colour of
  its border (never squashed: a 12-lead page is 11 x 8.5 in);
- ``"tile"``: cut along its longer side into squares of its shorter side (overlapping evenly,
  :func:`tile_boxes`), each resized; training draws one tile per image, prediction averages the
  probabilities of all tiles.
"""

EXIF_ORIENTATION = 0x0112
"""The EXIF tag of a camera's orientation (1: upright; 2 to 8: flipped or rotated)."""


def _to_rgb(img: np.ndarray) -> np.ndarray:
    """Any decoded array (grey, grey+alpha, RGB, RGBA; 8, 16 bit or float) as uint8 RGB;
    transparent pixels are put on white (an ECG's paper), not on black."""
    import cv2

    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        f = img.astype(np.float32)
        if f.max() <= 1.0:
            f = f * 255.0
        img = np.clip(f, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 2:  # grey + alpha
        img = np.dstack([img[:, :, 0]] * 3 + [img[:, :, 1]])
    if img.shape[2] == 4:
        if img[:, :, 3].min() == 255:  # opaque: nothing to put on white
            return np.ascontiguousarray(img[:, :, :3])
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        rgb = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.rint(rgb).astype(np.uint8)
    return img if img.shape[2] == 3 else np.ascontiguousarray(img[:, :, :3])


def _exif_oriented(path: Path) -> np.ndarray | None:
    """The image upright (``PIL.ImageOps.exif_transpose``) when its EXIF orientation says it is
    flipped or rotated (phone photos, scanners); None when it is upright or has no EXIF."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as pil:
            if pil.getexif().get(EXIF_ORIENTATION, 1) in (1, None):
                return None
            pil = ImageOps.exif_transpose(pil)
            mode = "RGBA" if ("A" in pil.mode or "transparency" in pil.info) else "RGB"
            return np.asarray(pil.convert(mode))
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None  # OpenCV decoded it; an EXIF block PIL cannot read is ignored


def _may_be_rotated(data: np.ndarray) -> bool:
    """Whether a file's bytes can hold an EXIF orientation: an EXIF block (JPEG, WebP: "Exif";
    PNG: an "eXIf" chunk) or a TIFF. Only those are opened with PIL (which decodes a whole PNG
    to look for EXIF)."""
    head = data[:4].tobytes()
    if head in (b"II*\x00", b"MM\x00*"):
        return True
    raw = data.tobytes()
    return b"Exif\x00\x00" in raw[:65536] or b"eXIf" in raw


def image_dimensions(path) -> tuple[int, int] | None:
    """``(width, height)`` of an image file from its header, without decoding its pixels.

    PNG (what ``build-dataset`` writes) is read here; other formats through Pillow, which opens
    files lazily.

    Returns:
        The size, or None when the header does not tell (not an image, or a format Pillow does
        not know: decoding the file then says what is wrong).

    Raises:
        ImageError: an image larger than Pillow's safety limit (a "decompression bomb").
    """
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    from PIL import Image

    try:
        with Image.open(path) as im:
            return tuple(im.size)
    except Image.DecompressionBombError:
        raise ImageError(path, f"more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, far larger "
                               f"than an ECG image (at most {MAX_IMAGE_SIDE} pixels a side); "
                               "crop or shrink it first") from None
    except Exception:  # noqa: BLE001 - not an image for Pillow; the decoder names the problem
        return None


def check_dimensions(path, dims: tuple[int, int] | None) -> None:
    """Refuses an image whose ``(width, height)`` lies outside
    :data:`MIN_IMAGE_SIDE` .. :data:`MAX_IMAGE_SIDE` pixels a side.

    Raises:
        ImageError: naming the file, its size and the range.
    """
    if dims is None:
        return
    w, h = dims
    if min(w, h) < MIN_IMAGE_SIDE or max(w, h) > MAX_IMAGE_SIDE:
        raise ImageError(path, f"{w} x {h} pixels, outside the sizes ecgkit reads as an ECG "
                               f"image ({MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE} pixels a side: a "
                               "beat image, a strip or a page); crop or resize it first")


def decode_image(path, min_side: int = 0) -> np.ndarray:
    """Reads an image file at its own size as uint8 RGB (H, W, 3), upright.

    Any image OpenCV can decode (PNG, JPEG, BMP, TIFF, WebP...). Grayscale, palette, 16-bit and
    RGBA images are converted (transparent pixels on white); an EXIF orientation (a rotated
    phone photo or scan) is applied. Its size is read from the header first, so a file far
    outside :data:`MIN_IMAGE_SIDE` .. :data:`MAX_IMAGE_SIDE` pixels a side is refused before its
    pixels are decoded.

    Args:
        path: the image file.
        min_side: refuse an image whose shorter side has fewer pixels (0: no limit).

    Raises:
        ImageError: the file is missing, empty, unreadable, not a decodable image, of a size
            outside that range, or smaller than ``min_side`` (naming the file and the problem).
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise ImageError(path, "not a file" if path.exists() else "file not found")
    check_dimensions(path, image_dimensions(path))
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(path, f"unreadable: {exc}") from exc
    if data.size == 0:
        raise ImageError(path, "empty file")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(path, "not a readable image (corrupt, truncated, or not an image "
                               "format: PNG, JPEG, BMP...)")
    check_dimensions(path, (img.shape[1], img.shape[0]))  # a header that did not tell
    upright = _exif_oriented(path) if _may_be_rotated(data) else None
    if upright is not None:
        img = _to_rgb(upright)
    else:
        if img.ndim == 3 and img.shape[2] in (3, 4):  # OpenCV's BGR(A) -> RGB(A)
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3
                               else cv2.COLOR_BGRA2RGBA)
        img = _to_rgb(img)
    h, w = img.shape[:2]
    if min(h, w) < min_side:
        raise ImageError(path, f"too small to classify: {w} x {h} px; the shorter side must "
                               f"have at least {min_side} px")
    return img


def tile_boxes(height: int, width: int) -> list[tuple[int, int, int]]:
    """The square tiles ``"tile"`` cuts an image into: ``(top, left, side)`` each.

    The side is the image's shorter side; ``ceil(longer / shorter)`` tiles cover the longer
    side, evenly spaced (overlapping where it does not divide). A square image is one tile.
    """
    side = min(height, width)
    longer = max(height, width)
    k = math.ceil(longer / side - 1e-9)
    starts = np.rint(np.linspace(0, longer - side, k)).astype(int) if k > 1 else [0]
    if width >= height:
        return [(0, int(s), side) for s in starts]
    return [(int(s), 0, side) for s in starts]


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    if img.shape[:2] == (height, width):
        return img
    shrink = img.shape[0] > height or img.shape[1] > width
    return cv2.resize(img, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def fit_image(img: np.ndarray, image_size: int, fit: str = "squash",
              tile: int | None = None) -> np.ndarray:
    """An RGB image of any shape as a square (size, size, 3) model input (:data:`IMAGE_FITS`).

    Args:
        img: uint8 RGB (H, W, 3), e.g. from :func:`decode_image`.
        image_size: the square's side in pixels.
        fit: ``"squash"``, ``"pad"`` or ``"tile"``.
        tile: with ``"tile"``, which tile of :func:`tile_boxes` (None: the middle one).

    Raises:
        ValueError: an unknown ``fit`` or a tile number out of range.
    """
    size = int(image_size)
    h, w = img.shape[:2]
    if fit == "squash":
        return _resize(img, size, size)
    if fit == "pad":
        scale = size / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        out = np.empty((size, size, 3), np.uint8)
        out[:] = np.median(border, axis=0).astype(np.uint8)
        top, left = (size - nh) // 2, (size - nw) // 2
        out[top:top + nh, left:left + nw] = _resize(img, nw, nh)
        return out
    if fit == "tile":
        boxes = tile_boxes(h, w)
        k = len(boxes) // 2 if tile is None else int(tile)
        if not 0 <= k < len(boxes):
            raise ValueError(f"tile {tile} of an image with {len(boxes)} tiles")
        top, left, side = boxes[k]
        return _resize(img[top:top + side, left:left + side], size, size)
    raise ValueError(f"fit must be one of {IMAGE_FITS}. Received: fit={fit!r}")


def image_tiles(img: np.ndarray, image_size: int) -> np.ndarray:
    """Every tile of ``img`` (:func:`tile_boxes`) as (k, size, size, 3) uint8."""
    return np.stack([fit_image(img, image_size, "tile", k)
                     for k in range(len(tile_boxes(*img.shape[:2])))])


def read_image(path, image_size: int = IMAGE_SIZE, fit: str = "squash", min_side: int = 0,
               tile: int | None = None) -> np.ndarray:
    """Reads an image file as uint8 RGB (size, size, 3): ecgkit's one image reader.

    :func:`decode_image` (any format and mode, EXIF orientation) then :func:`fit_image`. The
    default ``"squash"`` resizes to the square (area interpolation when shrinking, linear when
    enlarging): ``build-dataset`` images are square already. Images of other shapes (a page, a
    strip) take ``fit="pad"`` or ``"tile"``. A file far outside :data:`MIN_IMAGE_SIDE` ..
    :data:`MAX_IMAGE_SIDE` pixels a side is refused from its header, before decoding. The
    image-folder pipeline, the manifest of ``build-dataset``, ``evaluate`` and ``predict`` all
    read images with it.

    Raises:
        ImageError: the file is missing, empty, unreadable, not a decodable image, of a size
            outside that range, or smaller than ``min_side`` (naming the file and the problem).
    """
    return fit_image(decode_image(path, min_side), image_size, fit, tile)


def report_bad(bad: Sequence[tuple[str, str]], where, on_bad: str = "skip",
               advice: str = "") -> None:
    """Applies the ``--bad-images`` policy to ``(file, problem)`` pairs: a warning naming them
    (``"skip"``) or :class:`ImageFolderError` (``"error"``), the first 20 named.

    Raises:
        ImageFolderError: bad images with ``on_bad="error"``.
        ValueError: an unknown policy.
    """
    if on_bad not in BAD_IMAGE_POLICIES:
        raise ValueError(f"on_bad must be one of {BAD_IMAGE_POLICIES}. Received: on_bad={on_bad!r}")
    if not bad:
        return
    listed = "; ".join(f"{f}: {why}" for f, why in bad[:20])
    more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
    if on_bad == "error":
        raise ImageFolderError(f"{where}: {len(bad)} unreadable image(s): {listed}{more}"
                               f"{advice}")
    log.warning(f"{where}: skipped {len(bad)} unreadable image(s): {listed}{more}")


def warn_other_sizes(files, image_size: int, where) -> int:
    """Logs a warning when image files (sizes read from their headers) are not
    ``image_size`` x ``image_size`` pixels: they will be resized, and a model scores a resized
    image differently from one rendered at its size. Returns how many are of another size.

    Args:
        files: image paths.
        image_size: the model's image side.
        where: the folder or manifest they come from (it starts the message).
    """
    files = [str(f) for f in files]
    sizes = [image_dimensions(f) for f in files]
    other = [(f, d) for f, d in zip(files, sizes) if d is not None and d != (image_size,) * 2]
    if other:
        seen = sorted({d for _, d in other})
        shown = ", ".join(f"{w} x {h}" for w, h in seen[:5]) + (", ..." if len(seen) > 5 else "")
        log.warning(f"{where}: {len(other)} of {len(files)} images are not the model's "
                    f"{image_size} x {image_size} pixels ({shown}; e.g. {other[0][0]}); they are "
                    "resized, with other line widths and grid spacing than the model was "
                    f"trained on: render them at {image_size} px (build-dataset --image-size "
                    f"{image_size})")
    return len(other)


def check_images(files, where, on_bad: str = "skip", workers: int | None = None,
                 advice: str = "", min_side: int = 0) -> list[tuple[str, str]]:
    """Decodes every image once (in threads); returns ``(file, problem)`` of the bad ones.

    So a corrupt or missing file is named now, with all the others, rather than stopping
    training or an evaluation at the first.

    Args:
        files: image paths.
        where: the folder or manifest they come from (it starts the messages).
        on_bad: ``"skip"`` (log a warning naming them) or ``"error"``.
        workers: decoding threads (default: CPU count).
        advice: what to do, appended to the error message.
        min_side: also refuse images whose shorter side has fewer pixels (0: no limit).

    Raises:
        ImageFolderError: bad images with ``on_bad="error"`` (the first 20 named).
    """
    if on_bad not in BAD_IMAGE_POLICIES:
        raise ValueError(f"on_bad must be one of {BAD_IMAGE_POLICIES}. Received: on_bad={on_bad!r}")

    def problem(path: str) -> str | None:
        try:
            decode_image(path, min_side)
        except ImageError as exc:
            return exc.problem
        return None

    files = [str(f) for f in files]
    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        bad = [(f, why) for f, why in zip(files, pool.map(problem, files)) if why]
    report_bad(bad, where, on_bad, advice)
    return bad


def scan_image_folder(folder, on_bad: str = "skip", workers: int | None = None) -> FolderReport:
    """Checks a folder of ECG images (one sub-folder per class) before training.

    Every image is decoded once (in threads), so a corrupt or truncated file is reported by
    name now rather than crashing an epoch later. Non-image files are ignored.

    Args:
        folder: folder with sub-folders named after classes (``N``, ``S``, ``V``, ``F``, ``Q``).
        on_bad: ``"skip"`` (log and count unreadable images) or ``"error"``.
        workers: decoding threads (default: CPU count).

    Returns:
        A :class:`FolderReport`.

    Raises:
        ImageFolderError: missing folder, sub-folders that are not class names, no images at
            all, or unreadable images with ``on_bad="error"``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ImageFolderError(f"{root}: no such folder")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    wrong = [p.name for p in subdirs if p.name not in CLASSES]
    if wrong:
        hint = ""
        if set(wrong) & {"train", "val", "test", "all"}:
            hint = (f"; this looks like an exported dataset: point to one split, "
                    f"e.g. {root / wrong[0]}")
        raise ImageFolderError(f"{root}: sub-folder(s) {', '.join(wrong)} are not class names; "
                               f"class folders must be named from {', '.join(CLASSES)}{hint}")
    if not subdirs:
        raise ImageFolderError(f"{root}: no class sub-folders (expected some of "
                               f"{', '.join(CLASSES)}, each holding that class's images)")
    candidates, labels, ignored = [], [], 0
    for sub in subdirs:
        for p in sorted(sub.iterdir()):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                candidates.append(str(p))
                labels.append(CLASSES.index(sub.name))
            else:
                ignored += 1
    bad = check_images(candidates, root, on_bad, workers)
    skip = {p for p, _ in bad}
    good = [(p, lab) for p, lab in zip(candidates, labels) if p not in skip]
    if not good:
        raise ImageFolderError(
            f"{root}: no readable images in the class folders "
            f"({', '.join(p.name for p in subdirs)}; {len(bad)} unreadable, {ignored} non-image)")
    report = FolderReport(root, [p for p, _ in good], [lab for _, lab in good], bad, ignored)
    report.empty_classes = [c for c, n in report.class_counts().items() if n == 0]
    if report.empty_classes:
        log.warning(f"{root}: no images for class(es) {', '.join(report.empty_classes)}")
    return report


def image_files_dataset(files: Sequence, labels: Sequence[int], image_size: int = IMAGE_SIZE,
                        batch_size: int = 32, shuffle: bool = False, seed: int = 42,
                        repeat: bool = False, workers: int | None = None, fit: str = "squash",
                        image_augment=None, balance_classes: Sequence[int] | None = None,
                        num_classes: int | None = None, epoch_batches: int | None = None,
                        cache: bool = False):
    """Batches of image files (:func:`read_image`), in order unless shuffled, for any backend.

    Args:
        files: image paths (check them first: :func:`check_images`).
        labels: class index of each file.
        image_size: image side in pixels.
        batch_size: images per batch.
        shuffle: a new order every epoch (seeded).
        seed: shuffle seed.
        repeat: an endless stream (use with ``steps_per_epoch``).
        workers: threads reading files (default ``batches.default_workers()``).
        fit: how an image becomes a square (:data:`IMAGE_FITS`); with ``"tile"`` each image
            gives one tile, drawn at random from the batch's generator (the same one for a
            cached pass).
        image_augment: ``f(images, rng) -> images`` applied to each batch
            (``augment.make_image_augment``), or None.
        balance_classes: draw every batch equally from these classes (``order="balanced"``).
        num_classes: width of the one-hot labels (default 5, ecgkit's classes).
        epoch_batches: batches per epoch of an endless stream.
        cache: keep each batch once made (a sequential, finite pass: validation).

    Returns:
        ``ecgkit.data.batches.Batches`` of ``(uint8 (b, H, W, 3), float32 one-hot (b, k))``.
    """
    from ecgkit.data.batches import Batches  # needs Keras; scanning folders does not

    paths = [str(f) for f in files]
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} files and {len(labels)} labels")
    if not paths:
        raise ValueError("image_files_dataset: no files")
    if fit not in IMAGE_FITS:
        raise ValueError(f"fit must be one of {IMAGE_FITS}. Received: fit={fit!r}")
    k = len(CLASSES) if num_classes is None else int(num_classes)
    targets = np.eye(k, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]
    size = int(image_size)

    def make(idx, rng):
        images = np.empty((len(idx), size, size, 3), np.uint8)
        for j, i in enumerate(idx):
            img = decode_image(paths[i])
            tile = None
            if fit == "tile":
                tile = int(rng.integers(len(tile_boxes(*img.shape[:2]))))
            images[j] = fit_image(img, size, fit, tile)
        if image_augment is not None:
            images = image_augment(images, rng)
        return images, targets[idx]

    if balance_classes is not None:
        order = "balanced"
    else:
        order = "shuffle" if shuffle else "sequential"
    return Batches(len(paths), make, batch_size=batch_size, order=order,
                   labels=labels if balance_classes is not None else None,
                   classes=balance_classes, seed=seed, endless=repeat,
                   epoch_batches=epoch_batches, cache=cache, workers=workers)


def image_folder_dataset(folder, image_size: int = IMAGE_SIZE, batch_size: int = 32,
                         on_bad: str = "skip", shuffle: bool = False, seed: int = 42,
                         repeat: bool = False):
    """Batches over a folder of ECG images with one sub-folder per class.

    The folder is scanned first (:func:`scan_image_folder`), so bad files are reported (and
    skipped, or raised with ``on_bad="error"``) before any training step.

    Returns:
        ``(Batches of (uint8 (b, H, W, 3), float32 one-hot (b, 5)), FolderReport)``.
    """
    report = scan_image_folder(folder, on_bad=on_bad)
    ds = image_files_dataset(report.files, report.labels, image_size, batch_size, shuffle, seed,
                             repeat)
    return ds, report
