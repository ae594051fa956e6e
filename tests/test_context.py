"""The beat's context (ecgkit.data.context): offline against causal, on real records and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ecgkit.contract import BEFORE_SAMPLES, FS, WINDOW_SAMPLES
from ecgkit.data import context
from ecgkit.data.datasets import record_beats
from ecgkit.data.rr import rr_features


@pytest.fixture(scope="module")
def rec119(embedded_dir):
    """Record 119 (bigeminy: hundreds of V beats among N): all beats, with their windows."""
    return record_beats(embedded_dir, "119")


def _ctx(data, mode, upto=None):
    sl = slice(None, upto)
    return context.record_context(
        data["windows"][sl], data["samples"][sl], mode, pre_rr=data["pre_rr"][sl],
        post_rr=data["post_rr"][sl], avg_rr=data["avg_rr"][sl])


class TestCausal:
    def test_a_causal_feature_ignores_later_beats(self, rec119):
        """The context of beat i is unchanged when every beat after i is deleted."""
        full = _ctx(rec119, "causal")
        for i in (0, 1, 5, 99, 100, 101, 700, len(full) - 1):
            cut = _ctx(rec119, "causal", upto=i + 1)
            np.testing.assert_array_equal(cut[i], full[i], err_msg=f"beat {i}")

    def test_offline_features_do_look_ahead(self, rec119):
        """The control: offline context changes when later beats go (post RR, usual beat)."""
        n = len(rec119["samples"])
        i = n // 2
        cut_rr = rr_features(rec119["samples"][:i + 1])
        cut = context.record_context(rec119["windows"][:i + 1], rec119["samples"][:i + 1],
                                     "offline", **{k: cut_rr[k] for k in
                                                   ("pre_rr", "post_rr", "avg_rr")})
        assert not np.array_equal(cut[i], _ctx(rec119, "offline")[i])

    def test_causal_image_sees_nothing_after_the_cut(self):
        rng = np.random.default_rng(0)
        w = rng.normal(size=(3, WINDOW_SAMPLES)).astype(np.float32)
        end = BEFORE_SAMPLES + int(round(context.CAUSAL_AFTER_S * FS))
        a = context.causal_windows(w)
        w2 = w.copy()
        w2[:, end:] = 99.0  # a different future
        np.testing.assert_array_equal(a, context.causal_windows(w2))
        assert (a[:, end:] == 0).all() and np.abs(a[:, :end]).sum() > 0

    def test_causal_rr_uses_only_past_intervals(self):
        samples = np.array([0, 360, 720, 900, 1440, 1800, 2160])  # beat 3 is premature
        c = context.causal_rr(samples, fs=360)
        np.testing.assert_allclose(c["pre"], [1, 1, 1, 0.5, 1.5, 1, 1])
        np.testing.assert_allclose(c["prev_pre"][3:5], [1, 0.5])
        # avg over the 5 past minutes: everything so far, this beat's pre included
        np.testing.assert_allclose(c["avg_past"][3], (1 + 1 + 1 + 0.5) / 4)


class TestVectors:
    def test_shape_is_relative_to_the_usual_beat(self, rec119):
        off = _ctx(rec119, "offline")
        assert off.shape == (len(rec119["samples"]), context.N_FEATURES)
        assert off.dtype == np.float32 and np.isfinite(off).all()
        labels = np.asarray(rec119["labels"])
        shape = off[:, context.N_RHYTHM:]
        # N beats sit near the usual beat; V beats (wide, other axis) far from it
        dist = np.abs(shape).mean(axis=1)
        assert np.median(dist[labels == 2]) > 3 * np.median(dist[labels == 0])
        # the shape of the median beat itself is 0 where the usual beat is the median
        np.testing.assert_allclose(np.median(shape, axis=0), 0, atol=1e-6)

    def test_rhythm_ratios_match_the_rr_features(self, rec119):
        off = _ctx(rec119, "offline")
        np.testing.assert_allclose(off[:, 0], rec119["pre_rr"] / rec119["avg_rr"], rtol=1e-5)
        np.testing.assert_allclose(off[:, 2], rec119["pre_rr"] / rec119["post_rr"], rtol=1e-5)

    def test_names_and_bad_input(self, rec119):
        assert len(context.feature_names("causal")) == context.N_FEATURES
        assert context.feature_names()[:3] == ["pre/avg", "post/avg", "pre/post"]
        with pytest.raises(ValueError, match="CONTEXT_MODE must be one of"):
            context.record_context(rec119["windows"], rec119["samples"], "future")
        with pytest.raises(ValueError, match="offline context needs"):
            context.record_context(rec119["windows"], rec119["samples"], "offline")
        with pytest.raises(ValueError, match="must match"):
            context.record_context(rec119["windows"][:3], rec119["samples"][:4], "causal")
        one = context.record_context(rec119["windows"][:1], rec119["samples"][:1], "causal")
        assert one.shape == (1, context.N_FEATURES) and np.isfinite(one).all()

    def test_load_beats_carries_both_modes_through_take(self, embedded_dir):
        from ecgkit.data.datasets import load_beats

        beats = load_beats(records=["119", "220"], split="none", max_beats_per_record=20,
                           progress=False)
        for mode in context.CONTEXT_MODES:
            assert beats.context_of(mode).shape == (len(beats), context.N_FEATURES)
        sub = beats.take(np.arange(5))
        np.testing.assert_array_equal(sub.context_of("causal"),
                                      beats.context_of("causal")[:5])
        bare = type(beats)(beats.windows, beats.labels, beats.meta)
        with pytest.raises(ValueError, match="carry no 'offline' context"):
            bare.context_of("offline")
