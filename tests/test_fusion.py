import numpy as np
import pytest

from ecgkit.evaluation import fusion


def _onehot_probs(pred, k=5, sure=0.7):
    p = np.full((len(pred), k), (1 - sure) / (k - 1))
    p[np.arange(len(pred)), pred] = sure
    return p


def test_fuse_ends_are_the_two_experts():
    rng = np.random.default_rng(0)
    a = rng.dirichlet(np.ones(5), size=20)
    b = rng.dirichlet(np.ones(5), size=20)
    np.testing.assert_allclose(fusion.fuse(a, b, 0.0), a, atol=1e-9)
    np.testing.assert_allclose(fusion.fuse(a, b, 1.0), b, atol=1e-9)
    mid = fusion.fuse(a, b, 0.5)
    np.testing.assert_allclose(mid.sum(axis=1), 1.0)
    geo = np.sqrt(a * b)
    np.testing.assert_allclose(mid, geo / geo.sum(axis=1, keepdims=True), atol=1e-9)


def test_fuse_a_zero_probability_does_not_veto():
    a = np.array([[1.0, 0.0, 0.0, 0.0, 0.0]])
    b = np.array([[0.0, 1.0, 0.0, 0.0, 0.0]])
    p = fusion.fuse(a, b, 0.5)
    assert np.all(np.isfinite(p)) and np.isclose(p.sum(), 1.0)
    assert np.isclose(p[0, 0], p[0, 1]) and p[0, 0] > 0.49


@pytest.mark.parametrize("a,b,w,match", [
    (np.ones((3, 5)) / 5, np.ones((2, 5)) / 5, 0.5, "same shape"),
    (np.ones((3, 5)) / 5, np.ones((3, 5)) / 5, 1.5, "weight must be in"),
    (np.ones((3, 5)) / 5, -np.ones((3, 5)), 0.5, "rr_prob must be"),
    (np.full((3, 5), np.nan), np.ones((3, 5)) / 5, 0.5, "network_prob must be"),
])
def test_fuse_rejects_bad_input(a, b, w, match):
    with pytest.raises(ValueError, match=match):
        fusion.fuse(a, b, w)


def test_choose_weight_finds_the_mix_that_beats_both_experts():
    # N, S, V, F: the network tells V and F but calls S beats N; the RR model tells S
    # but calls V and F beats N. Together they can get every class right.
    y = np.repeat([0, 1, 2, 3], 25)
    net = _onehot_probs(np.where(y == 1, 0, y), sure=0.6)
    rr = _onehot_probs(np.where(y >= 2, 0, y), sure=0.6)
    rr[y == 1] = _onehot_probs(np.ones((y == 1).sum(), int), sure=0.95)  # S: very sure
    w, curve = fusion.choose_weight(net, rr, y)
    assert list(curve.index) == list(fusion.WEIGHT_GRID)
    assert {"cross_entropy", "macro_f1", "N_Se", "S_Se", "V_Se", "F_Se"} <= set(curve.columns)
    assert 0.0 < w < 1.0
    assert curve.loc[w, "cross_entropy"] == curve["cross_entropy"].min()
    assert curve.loc[w, "macro_f1"] == pytest.approx(1.0)
    assert curve.loc[w, "macro_f1"] > max(curve.loc[0.0, "macro_f1"], curve.loc[1.0, "macro_f1"])


def test_choose_weight_prefers_the_network_on_a_tie_and_uses_weights():
    y = np.repeat([0, 2], 10)
    same = _onehot_probs(y)
    w, curve = fusion.choose_weight(same, same, y, class_set=("N", "V"))
    assert (w == 0.0 and np.allclose(curve["macro_f1"], 1.0)
            and np.ptp(curve["cross_entropy"]) < 1e-9)
    # Beat weights count: the network is right on the heavy beats, the RR model on the light ones
    net = _onehot_probs(np.array([0] * 10 + [0] * 5 + [2] * 5))
    rr = _onehot_probs(np.array([0] * 10 + [2] * 5 + [0] * 5))
    heavy = np.array([1.0] * 10 + [1.0] * 5 + [10.0] * 5)
    w, _ = fusion.choose_weight(net, rr, y, weights=heavy, class_set=("N", "V"), grid=(0.0, 1.0))
    assert w == 0.0
    light = np.array([1.0] * 10 + [10.0] * 5 + [1.0] * 5)
    w, _ = fusion.choose_weight(net, rr, y, weights=light, class_set=("N", "V"), grid=(0.0, 1.0))
    assert w == 1.0


@pytest.mark.parametrize("grid", [(), (0.5, 1.2)])
def test_choose_weight_rejects_a_bad_grid(grid):
    p = np.ones((4, 5)) / 5
    with pytest.raises(ValueError, match="grid"):
        fusion.choose_weight(p, p, np.zeros(4, int), grid=grid)


def test_balanced_cross_entropy_gives_every_class_the_same_weight():
    y = np.array([0, 0, 0, 1])
    p = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.25, 0.75]])
    # class 0: -log 0.5; class 1: -log 0.75; each class counts half
    expected = (np.log(2) + -np.log(0.75)) / 2
    assert fusion.balanced_cross_entropy(y, p) == pytest.approx(expected)
    # beat weights within a class shift that class's mean, not its share
    w = np.array([1.0, 1.0, 2.0, 5.0])
    assert fusion.balanced_cross_entropy(y, p, w) == pytest.approx(expected)
    p2 = p.copy()
    p2[2] = [0.1, 0.9]
    got = fusion.balanced_cross_entropy(y, p2, w)
    class0 = (np.log(2) * 2 + -np.log(0.1) * 2) / 4
    assert got == pytest.approx((class0 + -np.log(0.75)) / 2)
