"""The input pipeline: batches of images for any Keras backend (TensorFlow, JAX, PyTorch).

Introduced in: notebooks/20_training.ipynb.

:class:`Batches` is a ``keras.utils.PyDataset``: Keras feeds it to ``fit``, ``evaluate`` and
``predict`` on every backend, and worker threads make the next batches while the model trains
(OpenCV, which renders and augments the images, releases the GIL, so the threads overlap).
What goes into a batch is a pure function of the batch's number, so the stream is the same
whatever order the threads finish in, and a resumed run can continue it
(``Batches.start``):

- ``order="sequential"``: items 0..n-1 in order, the last batch partial (evaluation);
- ``order="shuffle"``: a new permutation of the items every epoch (seeded by the epoch);
- ``order="balanced"``: every slot of a batch draws a class uniformly from ``classes``, then one
  of that class's items (``CLASS_BALANCE="sampling"``).

With ``endless=True`` the stream never ends (``num_batches`` is None, so Keras needs
``steps_per_epoch``) and batch ``i`` of the whole run is made from epoch ``i // epoch_batches``;
its random draws (augmentation) come from ``numpy.random.default_rng([seed, i])``. Without it,
an epoch is one pass and ``on_epoch_end`` moves to the next epoch's permutation and draws.

The data come from ``make(idx, rng)``, which returns the batch for the item indices ``idx``:
``ecgkit.data.datasets.signal_dataset`` renders beat windows,
``ecgkit.data.images.image_files_dataset`` reads image files. ``cache=True`` keeps each batch after
it is first made (only for data that do not change between epochs: validation and test sets).
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
import os
from typing import Callable, Sequence

import keras
import numpy as np

ORDERS = ("sequential", "shuffle", "balanced")


def default_workers() -> int:
    """Threads making batches: one per core this process may use (``os.sched_getaffinity``, else
    ``os.cpu_count``), at least 1.

    Rendering and augmentation run in OpenCV and NumPy, which release the GIL, so the threads
    scale with the cores: 2 cores make about 2,000 images/s at 224 px with augmentation, too few
    for a modern GPU, and a GPU host's cores are all put to work.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        cores = os.cpu_count() or 1
    return max(1, cores)


class Batches(keras.utils.PyDataset):
    """Batches of ``make(idx, rng)`` over ``n`` items, in a seeded order (module docstring).

    Args:
        n: number of items.
        make: ``f(idx int64 array, rng numpy Generator) -> tuple of arrays`` (one batch).
        batch_size: items per batch.
        order: ``"sequential"``, ``"shuffle"`` or ``"balanced"``.
        labels: each item's class (needed by ``"balanced"``).
        classes: the classes ``"balanced"`` draws from (default: every class in ``labels``).
        seed: seed of the order and of the draws ``make`` receives.
        endless: never end (use with ``fit(steps_per_epoch=...)``).
        epoch_batches: batches per epoch of an endless stream (default one pass,
            ``ceil(n / batch_size)``); an endless stream moves to a new permutation after them.
        cache: keep each batch once made (sequential order only).
        workers: worker threads (default :func:`default_workers`); 0 or 1 makes batches in the
            calling thread.
    """

    def __init__(self, n: int, make: Callable, batch_size: int = 32, order: str = "sequential",
                 labels: Sequence[int] | None = None, classes: Sequence[int] | None = None,
                 seed: int = 42, endless: bool = False, epoch_batches: int | None = None,
                 cache: bool = False, workers: int | None = None, max_queue_size: int = 8):
        workers = default_workers() if workers is None else int(workers)
        super().__init__(workers=max(1, workers), use_multiprocessing=False,
                         max_queue_size=max_queue_size)
        if n < 1:
            raise ValueError("Batches: no items (n must be >= 1)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}. Received: order={order!r}")
        if cache and (order != "sequential" or endless):
            raise ValueError("cache=True is for a sequential, finite pass (validation, test)")
        self.n, self.make, self.batch_size, self.order = int(n), make, int(batch_size), order
        self.seed, self.endless, self.cache = int(seed), bool(endless), bool(cache)
        self.pass_batches = math.ceil(self.n / self.batch_size)
        self.epoch_batches = int(epoch_batches or self.pass_batches)
        self.epoch = 0  # finite streams: the epoch whose permutation and draws are used
        self.start = 0  # endless streams: batch number of the stream's first batch (resume)
        self._made: dict[int, tuple] = {}
        self._perm: tuple = (None, None)
        if order == "balanced":
            if labels is None:
                raise ValueError('order="balanced" needs the labels')
            labels = np.asarray(labels, dtype=np.int64)
            if len(labels) != self.n:
                raise ValueError(f"{len(labels)} labels for {self.n} items")
            classes = sorted(set(labels.tolist())) if classes is None else list(classes)
            self.members = [np.flatnonzero(labels == k) for k in classes]
            empty = [k for k, m in zip(classes, self.members) if len(m) == 0]
            if empty:
                raise ValueError(f"balanced order: no items of class(es) {empty}")

    @property
    def num_batches(self) -> int | None:
        return None if self.endless else self.pass_batches

    def __len__(self) -> int:
        """Batches in one pass (an endless stream has no end; this is its epoch length)."""
        return self.pass_batches if not self.endless else self.epoch_batches

    def _permutation(self, epoch: int) -> np.ndarray:
        cached = self._perm  # (epoch, permutation); worker threads may both compute it once
        if cached[0] != epoch:
            cached = (epoch, np.random.default_rng([self.seed, 0, epoch]).permutation(self.n))
            self._perm = cached
        return cached[1]

    def indices(self, i: int) -> tuple[np.ndarray, np.random.Generator]:
        """The item indices of batch ``i`` and the generator for its random draws."""
        if self.endless:
            number = self.start + int(i)
            epoch, j = divmod(number, self.epoch_batches)
        else:
            if not 0 <= i < self.pass_batches:
                raise IndexError(f"batch {i} of {self.pass_batches}")
            epoch, j = self.epoch, int(i)
            number = epoch * self.pass_batches + j
        rng = np.random.default_rng([self.seed, 1, number])
        if self.order == "balanced":
            slots = rng.integers(0, len(self.members), self.batch_size)
            idx = np.empty(self.batch_size, np.int64)
            for c, members in enumerate(self.members):
                hit = slots == c
                idx[hit] = members[rng.integers(0, len(members), int(hit.sum()))]
            return idx, rng
        j %= self.pass_batches  # an endless epoch longer than one pass wraps around
        lo, hi = j * self.batch_size, min(self.n, (j + 1) * self.batch_size)
        if self.order == "shuffle":
            return self._permutation(epoch)[lo:hi], rng
        return np.arange(lo, hi, dtype=np.int64), rng

    def __getitem__(self, i: int) -> tuple:
        if self.cache and i in self._made:
            return self._made[i]
        batch = self.make(*self.indices(i))
        if self.cache:
            self._made[i] = batch
        return batch

    def __iter__(self):
        """One pass (or one epoch of an endless stream), in order, in this thread."""
        for i in range(len(self)):
            yield self[i]

    def on_epoch_end(self) -> None:
        if not self.endless:
            self.epoch += 1


def made_ahead(batches, ahead: int | None = None):
    """Yields the batches of one pass in order, made ``ahead`` at a time in worker threads while
    the caller works on the current one (prediction), with at most ``ahead`` batches waiting.

    ``batches``: a :class:`Batches` (one pass, or one epoch of an endless stream) or any
    sequence with ``len`` and indexing; ``ahead`` defaults to its ``workers`` plus one.
    """
    n = len(batches)
    ahead = max(1, int(ahead or getattr(batches, "workers", 1) + 1))
    with concurrent.futures.ThreadPoolExecutor(max(1, ahead - 1)) as pool:
        waiting = collections.deque()
        for i in range(n):
            waiting.append(pool.submit(batches.__getitem__, i))
            if len(waiting) >= ahead:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()
