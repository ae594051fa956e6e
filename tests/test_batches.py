"""Tests for ecgkit.data.batches: which items each batch holds, its random draws, and made_ahead."""

import threading
import time

import numpy as np
import pytest

from ecgkit.data.batches import Batches, made_ahead


def items(idx, rng):
    """A batch that shows which items it holds and its first random draw."""
    return idx.copy(), np.full(len(idx), rng.random())


class TestOrder:
    def test_sequential_pass_with_partial_last_batch(self):
        b = Batches(10, items, batch_size=4)
        assert len(b) == b.num_batches == 3
        assert [x.tolist() for x, _ in b] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
        with pytest.raises(IndexError):
            b[3]

    def test_shuffle_is_a_new_permutation_every_epoch(self):
        b = Batches(10, items, batch_size=4, order="shuffle", seed=3)
        first = np.concatenate([x for x, _ in b])
        b.on_epoch_end()
        second = np.concatenate([x for x, _ in b])
        assert sorted(first) == sorted(second) == list(range(10))
        assert first.tolist() != second.tolist()
        again = Batches(10, items, batch_size=4, order="shuffle", seed=3)
        np.testing.assert_array_equal(np.concatenate([x for x, _ in again]), first)

    def test_endless_stream_continues_across_epochs_and_from_start(self):
        b = Batches(10, items, batch_size=5, order="shuffle", seed=1, endless=True)
        assert b.num_batches is None and len(b) == 2
        epoch0 = np.concatenate([b[0][0], b[1][0]])
        epoch1 = np.concatenate([b[2][0], b[3][0]])
        assert sorted(epoch0) == sorted(epoch1) == list(range(10))
        assert epoch0.tolist() != epoch1.tolist()
        draws = [b[i][1][0] for i in range(4)]
        assert len(set(draws)) == 4  # every batch draws anew
        resumed = Batches(10, items, batch_size=5, order="shuffle", seed=1, endless=True)
        resumed.start = 2
        np.testing.assert_array_equal(resumed[0][0], b[2][0])
        assert resumed[1][1][0] == draws[3]

    def test_epoch_longer_than_a_pass_wraps(self):
        b = Batches(6, items, batch_size=4, endless=True, epoch_batches=3)
        assert [b[i][0].tolist() for i in range(4)] == [[0, 1, 2, 3], [4, 5], [0, 1, 2, 3],
                                                         [0, 1, 2, 3]]

    def test_balanced_draws_classes_equally(self):
        labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
        b = Batches(1000, items, batch_size=60, order="balanced", labels=labels, classes=[0, 1, 2],
                    endless=True)
        drawn = np.concatenate([b[i][0] for i in range(50)])
        counts = np.bincount(labels[drawn], minlength=3)
        assert (np.abs(counts / counts.sum() - 1 / 3) < 0.03).all()
        only = Batches(1000, items, batch_size=60, order="balanced", labels=labels, classes=[1, 2])
        assert set(labels[only[0][0]]) <= {1, 2}

    def test_cache_makes_each_batch_once(self):
        calls = []

        def make(idx, rng):
            calls.append(idx[0])
            return (idx,)

        b = Batches(8, make, batch_size=4, cache=True)
        for _ in range(3):
            list(b)
            b.on_epoch_end()
        assert calls == [0, 4]


class TestBadArguments:
    @pytest.mark.parametrize("kwargs, message", [
        ({"n": 0}, "no items"),
        ({"batch_size": 0}, "batch_size"),
        ({"order": "random"}, "order must be one of"),
        ({"order": "balanced"}, "needs the labels"),
        ({"order": "balanced", "labels": [0, 1]}, "2 labels for 4 items"),
        ({"order": "balanced", "labels": [0, 0, 1, 1], "classes": [0, 2]}, r"class\(es\) \[2\]"),
        ({"order": "shuffle", "cache": True}, "cache=True is for a sequential"),
    ])
    def test_clear_errors(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            Batches(**{"n": 4, "make": items, **kwargs})


class TestMadeAhead:
    def test_in_order_and_ahead_in_other_threads(self):
        threads = set()

        def make(idx, rng):
            threads.add(threading.get_ident())
            time.sleep(0.01 * (3 - idx[0] % 3))  # later batches finish first
            return (idx,)

        b = Batches(12, make, batch_size=2, workers=3)
        got = [x.tolist() for (x,) in made_ahead(b)]
        assert got == [[i, i + 1] for i in range(0, 12, 2)]
        assert threading.get_ident() not in threads

    def test_waiting_batches_are_bounded(self):
        made = []

        def make(idx, rng):
            made.append(idx[0])
            return (idx,)

        stream = made_ahead(Batches(100, make, batch_size=1, workers=2), ahead=3)
        next(stream)
        time.sleep(0.2)
        assert len(made) <= 4  # the one taken plus at most 3 waiting


class TestDefaultWorkers:
    """The pipeline's threads follow the cores this process may use: a 16-core GPU host renders
    on 16 threads (the 2,067 images/s of 2 cores at 224 px would starve a modern GPU)."""

    def test_follows_the_usable_cores(self, monkeypatch):
        import os

        from ecgkit.data import batches

        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)), raising=False)
        assert batches.default_workers() == 16
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
        assert batches.default_workers() == 1

    def test_without_affinity_uses_the_cpu_count(self, monkeypatch):
        import os

        from ecgkit.data import batches

        monkeypatch.delattr(os, "sched_getaffinity", raising=False)
        monkeypatch.setattr(os, "cpu_count", lambda: 12)
        assert batches.default_workers() == 12
        monkeypatch.setattr(os, "cpu_count", lambda: None)
        assert batches.default_workers() == 1
