"""The benchmarks' operating-point arithmetic: moving a model's decisions to another prior
correction and S offset must give what the model's ``prior_shift`` layer would compute."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_context_branch  # noqa: E402
import bench_learning  # noqa: E402


def _softmax(z):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def test_reshifted_replaces_the_saved_shift_by_another():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(50, 5))
    old, new = rng.normal(size=5), rng.normal(size=5)
    got = bench_learning.reshifted(_softmax(logits + old), old, new)
    np.testing.assert_allclose(got, _softmax(logits + new), rtol=1e-9, atol=1e-12)


def test_saved_shift_reads_run_json_in_class_order(tmp_path):
    (tmp_path / "run.json").write_text(
        '{"prior_shift": {"tau": 0.2, "shift": {"F": -0.4, "N": -0.01, "V": -0.5, "S": 0.1,'
        ' "Q": -2.0}}}')
    np.testing.assert_array_equal(bench_learning.saved_shift(tmp_path, 4),
                                  [-0.01, 0.1, -0.5, -0.4])


def test_corrected_adds_the_s_offset_to_the_s_logit_only():
    rng = np.random.default_rng(1)
    logits, log_prior = rng.normal(size=(20, 5)), np.log([0.8, 0.05, 0.1, 0.04, 0.01])
    z = logits + 0.2 * log_prior
    z[:, 1] += 0.5
    np.testing.assert_allclose(bench_context_branch.corrected(logits, log_prior, 0.2, 0.5),
                               _softmax(z), rtol=1e-12)
    before = logits.copy()
    bench_context_branch.corrected(logits, log_prior, 0.3, 1.0)
    np.testing.assert_array_equal(logits, before)  # the caller's logits are left alone


@pytest.mark.parametrize("value", ["0.3", "0.3,x", "0.3,0,1"])
def test_also_at_needs_two_numbers(value, capsys):
    with pytest.raises(SystemExit):
        bench_learning.main(["--also-at", value])
    assert "--also-at takes TAU,S_OFFSET" in capsys.readouterr().err
