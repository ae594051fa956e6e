"""The model layer on Keras' other backends: JAX (and PyTorch when installed), on CPU.

Each check runs in a fresh process with ``KERAS_BACKEND`` set, because Keras picks its backend
once, at import. A model saved under TensorFlow (this process) must load there and predict the
same; a model built there must not need TensorFlow at all. Skipped for a backend whose package
is not installed (``pip install -e '.[jax]'``; PyTorch: see the README).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ecgkit.contract import PROJECT_ROOT
from ecgkit.factory import create_enhanced_resnet50
from ecgkit.predict import load_model

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(
    importlib.util.find_spec(package) is None, reason=f"{package} is not installed"))
    for name, package in (("jax", "jax"), ("torch", "torch"))]


def run_on(backend: str, script: str) -> dict:
    """Runs ``script`` under ``KERAS_BACKEND=backend``; returns the JSON it prints last."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                            text=True, timeout=600, env=env, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
class TestOtherBackend:
    def test_builds_and_predicts_without_tensorflow(self, backend, tmp_path):
        out = run_on(backend, f"""
            import json, sys
            import keras
            import numpy as np
            from ecgkit.factory import create_baseline_resnet50, create_enhanced_resnet50
            x = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype("uint8")
            np.save({str(tmp_path / "x.npy")!r}, x)
            sums = create_baseline_resnet50((64, 64, 3), 5, weights=None).predict(x, verbose=0)
            model = create_enhanced_resnet50((64, 64, 3), 5, weights=None)
            p = model.predict(x, verbose=0)
            tensorflow = "tensorflow" in sys.modules  # before saving: Keras' file utilities
            model.save({str(tmp_path / "there.keras")!r})  # use tf.io.gfile when TF is installed
            print(json.dumps({{"backend": keras.backend.backend(), "p": p.tolist(),
                              "sums": sums.sum(axis=1).tolist() + p.sum(axis=1).tolist(),
                              "tensorflow": tensorflow}}))
        """)
        assert out["backend"] == backend and not out["tensorflow"]
        np.testing.assert_allclose(out["sums"], 1.0, rtol=1e-5)
        # ... and the model saved there loads here (TensorFlow) and predicts the same
        model = load_model(tmp_path / "there.keras")
        np.testing.assert_allclose(model.predict(np.load(tmp_path / "x.npy"), verbose=0),
                                   np.array(out["p"]), atol=1e-5)

    def test_model_saved_under_tensorflow_predicts_the_same(self, backend, tmp_path):
        model = create_enhanced_resnet50((64, 64, 3), 5, weights=None)
        x = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3)).astype("uint8")
        expected = model.predict(x, verbose=0)
        model.save(tmp_path / "tf.keras")
        np.save(tmp_path / "x.npy", x)
        out = run_on(backend, f"""
            import json
            import numpy as np
            from ecgkit.predict import load_model
            model = load_model({str(tmp_path / "tf.keras")!r})
            x = np.load({str(tmp_path / "x.npy")!r})
            print(json.dumps(model.predict(x, verbose=0).tolist()))
        """)
        np.testing.assert_allclose(np.array(out), expected, atol=1e-5)
