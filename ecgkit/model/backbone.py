"""The ResNet50 backbone: in-model preprocessing and offline-safe ImageNet weights.

Introduced in: notebooks/10_resnet50_backbone.ipynb

The backbone is ``keras.applications.ResNet50(include_top=False)`` built on top of a small
preprocessing layer, so that a saved model takes raw images (0..255, uint8 or float, RGB) and
needs nothing else at inference time. Its layers are inlined into the calling model (not nested
as one sub-model), so stage outputs such as ``conv2_block3_out`` can be tapped by name.

Weights:

* ``None``: random initialisation (tests, ablations).
* ``"imagenet"``: the Keras ImageNet weights. If the weights file is not yet in the Keras cache
  and ``storage.googleapis.com`` cannot be reached within a few seconds, building fails at once
  with :class:`WeightsUnavailableError`, which says how to pre-seed the cache. It never hangs.
  A cached file that fails Keras' checksum (truncated, or an error page saved in its place) is
  downloaded again by Keras when online; offline the error names the file and how to replace it.
* a path: either ``*.weights.h5`` saved from a ``ResNet50(include_top=False)`` (or from this
  backbone), or the Keras cache file ``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
from keras import layers, ops

from ecgkit.contract import MIN_IMAGE_SIZE
from ecgkit.data.download import PROBE_TIMEOUT_S, can_reach

STAGE_OUTPUTS = ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out")
"""Names of the ResNet50 stage outputs (strides 4, 8, 16, 32) that later blocks tap."""

IMAGENET_WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
"""File name under which Keras caches the ImageNet ResNet50 weights without the top."""

IMAGENET_WEIGHTS_MD5 = "4d473c1dd8becc155b73f8504c6f6626"
"""Checksum Keras verifies for that file (``keras.src.applications.resnet.WEIGHTS_HASHES``)."""

IMAGENET_WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                        + IMAGENET_WEIGHTS_FILE)

IMAGENET_WEIGHTS_HOST = ("storage.googleapis.com", 443)
MIN_INPUT_SIZE = MIN_IMAGE_SIZE
"""Smallest image side ResNet50 (five stride-2 stages) accepts; the ECG blocks add no limit."""

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
"""ImageNet channel means (B, G, R) that ResNet50's "caffe" preprocessing subtracts."""


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights are neither cached nor downloadable (offline machine)."""


@keras.saving.register_keras_serializable(package="ecgkit")
class CaffePreprocessing(layers.Layer):
    """ResNet50 "caffe" preprocessing as a layer: RGB -> BGR, then subtract the ImageNet means.

    The same arithmetic as ``keras.applications.resnet.preprocess_input`` for channels-last
    images, written with ``keras.ops`` so that it is saved with the model. No scaling to [0, 1]:
    inputs stay in the 0..255 range.

    The layer also carries how the model's ECG images are rendered, so that it is saved with
    the model: ``grid``, whether they show the ECG-paper grid (``GRID``). It takes no part in the
    arithmetic; ``ecgkit train`` records it (:func:`record_grid`) and evaluation renders the
    images the same way (:func:`recorded_grid`).

    Args:
        mean: Three channel means subtracted after the channel flip (BGR order).
        flip_channels: Whether to reverse the channel axis (RGB -> BGR) first.
        grid: Whether the model's images show the ECG-paper grid; None: not recorded.
        **kwargs: Base ``Layer`` keyword arguments.
    """

    def __init__(self, mean=CAFFE_MEAN_BGR, flip_channels=True, grid=None, provenance=None,
                 **kwargs):
        super().__init__(**kwargs)
        mean = tuple(float(m) for m in mean)
        if len(mean) != 3:
            raise ValueError(f"`mean` must have three values (B, G, R). Received: mean={mean}")
        if grid not in (None, True, False):
            raise ValueError(f"`grid` must be True, False or None. Received: grid={grid!r}")
        self.mean = mean
        self.flip_channels = bool(flip_channels)
        self.grid = None if grid is None else bool(grid)
        self.provenance = dict(provenance) if provenance else None
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(
                "CaffePreprocessing expects 3-channel RGB images. "
                f"Received: input_shape={input_shape}"
            )
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.flip_channels:
            x = ops.flip(x, axis=-1)
        return x - ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        base = super().get_config()
        return {**base, "mean": list(self.mean), "flip_channels": self.flip_channels,
                "grid": self.grid, "provenance": self.provenance}


def _preprocessing_layer(model):
    return next((layer for layer in model.layers if isinstance(layer, CaffePreprocessing)), None)


def record_grid(model, grid: bool) -> bool:
    """Records in ``model`` (its :class:`CaffePreprocessing` layer) whether its images show the
    ECG-paper grid, so that the setting is saved with the model.

    Returns:
        True when recorded, False for a model without that layer (nothing is changed).
    """
    layer = _preprocessing_layer(model)
    if layer is not None:
        layer.grid = bool(grid)
    return layer is not None


def record_provenance(model, provenance: dict) -> bool:
    """Records in ``model`` how it was trained (split protocol, validation records, seed, image
    size, grid, context, class set: a JSON-able dict), saved with the model, so that evaluation
    reads it back (:func:`recorded_provenance`). Returns False for a model without the layer."""
    layer = _preprocessing_layer(model)
    if layer is not None:
        layer.provenance = dict(provenance)
    return layer is not None


def recorded_provenance(model) -> dict:
    """What :func:`record_provenance` saved with ``model`` (empty when nothing was)."""
    layer = _preprocessing_layer(model)
    return dict(getattr(layer, "provenance", None) or {}) if layer is not None else {}


def recorded_grid(model) -> bool | None:
    """Whether ``model``'s images show the ECG-paper grid, as :func:`record_grid` saved it with
    the model; None when not recorded (a model saved before ecgkit recorded it, or another)."""
    layer = _preprocessing_layer(model)
    return None if layer is None else layer.grid


def keras_cache_dirs() -> list[Path]:
    """Folders where Keras looks for cached model files, most likely first.

    Mirrors ``keras.utils.get_file``: ``$KERAS_HOME/models`` or ``~/.keras/models``, and
    ``/tmp/.keras/models`` when the home folder is not writable.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [Path(home).expanduser() / "models", Path("/tmp/.keras/models")]


def cached_imagenet_weights() -> Path | None:
    """Path of the cached ImageNet notop weights file, or None when it is not cached."""
    for folder in keras_cache_dirs():
        candidate = folder / IMAGENET_WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    return None


_MD5_SEEN: dict[tuple, str] = {}


def _md5(path: Path) -> str:
    """MD5 of a file, remembered per (path, size, modification time): 94 MB take ~0.2 s."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _MD5_SEEN:
        import hashlib

        h = hashlib.md5()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _MD5_SEEN[key] = h.hexdigest()
    return _MD5_SEEN[key]


def check_weights(weights):
    """Validate a ``weights`` argument and make sure it can be loaded without hanging.

    Args:
        weights: ``"imagenet"``, ``None`` or a path to a weights file.

    Returns:
        The value to pass to ``keras.applications.ResNet50`` (a ``str`` path for files).

    Raises:
        WeightsUnavailableError: ``"imagenet"`` is not cached (or the cached file is corrupt)
            and the download host is unreachable.
        FileNotFoundError: ``weights`` is a path that does not exist.
        ValueError: ``weights`` is something else, or a file with an unsupported suffix.
    """
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        cached = cached_imagenet_weights()
        if cached is not None and _md5(cached) == IMAGENET_WEIGHTS_MD5:
            return "imagenet"
        host, port = IMAGENET_WEIGHTS_HOST
        reachable = can_reach(host, port, PROBE_TIMEOUT_S)
        if cached is not None and not reachable:
            raise WeightsUnavailableError(
                f"{cached}: the cached ResNet50 ImageNet weights file is corrupt or incomplete "
                f"({cached.stat().st_size} bytes, MD5 {_md5(cached)}; Keras expects MD5 "
                f"{IMAGENET_WEIGHTS_MD5}), and {host}:{port} is unreachable to download it "
                "again. Delete it and run once online (Keras downloads it again), or replace it "
                f"with a good copy of {IMAGENET_WEIGHTS_URL} (check it with `md5sum`), or use "
                "weights=None (WEIGHTS: none) for random initialisation."
            )
        if cached is None and not reachable:
            folder = keras_cache_dirs()[0]
            raise WeightsUnavailableError(
                "weights='imagenet' needs the ResNet50 ImageNet weights, which are not in the "
                f"Keras cache and cannot be downloaded ({host}:{port} is unreachable). Either "
                f"copy '{IMAGENET_WEIGHTS_FILE}' into '{folder}' (set the KERAS_HOME "
                "environment variable to use another cache folder, which then needs a 'models' "
                "sub-folder), or pass weights=<path to that .h5 file or to a .weights.h5 saved "
                "from ResNet50(include_top=False)>, or use weights=None for random "
                "initialisation."
            )
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"Weights file not found: '{path}'. Pass 'imagenet', None, or an existing file."
            )
        if not (path.name.endswith(".weights.h5") or path.suffix in (".h5", ".hdf5")):
            raise ValueError(
                "A weights file must be a Keras '.weights.h5' file or the Keras cache '.h5' "
                f"file '{IMAGENET_WEIGHTS_FILE}'. Received: weights='{path}'"
            )
        return str(path)
    raise ValueError(
        f"`weights` must be 'imagenet', None or a file path. Received: weights={weights!r}"
    )


def resnet50_backbone(input_tensor, weights="imagenet"):
    """Build ResNet50 (no top) on ``input_tensor``, with preprocessing in front of it.

    Args:
        input_tensor: Symbolic image tensor ``(batch, H, W, 3)`` with raw values 0..255 (RGB),
            typically ``keras.Input(shape)``.
        weights: ``"imagenet"``, ``None`` or a path to a weights file (see module docstring).

    Returns:
        A dict mapping each name in :data:`STAGE_OUTPUTS` to its symbolic tensor. Its layers
        belong to whatever model is later built from ``input_tensor``.

    Raises:
        WeightsUnavailableError, FileNotFoundError, ValueError: see :func:`check_weights`.
    """
    weights = check_weights(weights)
    x = CaffePreprocessing(name="preprocessing")(input_tensor)
    try:
        resnet = keras.applications.ResNet50(include_top=False, weights=weights, input_tensor=x)
    except Exception as exc:  # Keras and h5py raise plain Exception, OSError, ValueError...
        if weights is None:
            raise
        cause = f"{type(exc).__name__}: {exc}"
        if weights == "imagenet":
            raise WeightsUnavailableError(
                f"loading the ResNet50 ImageNet weights failed ({cause}). Keras keeps them in "
                f"{keras_cache_dirs()[0] / IMAGENET_WEIGHTS_FILE}: copy a good copy of "
                f"{IMAGENET_WEIGHTS_URL} there (MD5 {IMAGENET_WEIGHTS_MD5}), or use "
                "weights=None (WEIGHTS: none)."
            ) from exc
        raise WeightsUnavailableError(
            f"{weights}: cannot load ResNet50 weights from this file ({cause}): it is corrupt "
            "or truncated, or holds the weights of another model. Pass a '.weights.h5' saved "
            f"from ResNet50(include_top=False) or the Keras cache file {IMAGENET_WEIGHTS_FILE}."
        ) from exc
    return {name: resnet.get_layer(name).output for name in STAGE_OUTPUTS}
