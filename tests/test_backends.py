"""ecgkit on Keras' other backends: JAX (and PyTorch when installed), on CPU.

Each check runs in a fresh process with ``KERAS_BACKEND`` set, because Keras picks its backend
once, at import, and with ``import tensorflow`` made to fail there, as on a machine without
TensorFlow (the GPU machine this project is sometimes lent has none). A model saved under
TensorFlow (this process) must load there and predict the same, and the other way round;
training with resume, evaluation, Grad-CAM and the CI-sized demo must run there. Skipped for a
backend whose package is not installed (``pip install -e '.[jax]'``; PyTorch: ``make
test-torch``, see the README).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_train import TINY, TINY_MODEL_SRC

from ecgkit.contract import PROJECT_ROOT
from ecgkit.evaluation.predict import load_model
from ecgkit.model.factory import create_enhanced_resnet50

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(
    importlib.util.find_spec(package) is None, reason=f"{package} is not installed"))
    for name, package in (("jax", "jax"), ("torch", "torch"))]


WITHOUT_TENSORFLOW = """
import sys


class _WithoutTensorFlow:
    # Wraps each import finder so that it finds no tensorflow: `import tensorflow` fails and
    # importlib.util.find_spec("tensorflow") is None, as on a machine without it.
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tensorflow" or not hasattr(self.finder, "find_spec"):
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, name):
        return getattr(self.finder, name)


sys.meta_path[:] = [_WithoutTensorFlow(f) for f in sys.meta_path]
"""


def run_on(backend: str, script: str) -> dict:
    """Runs ``script`` under ``KERAS_BACKEND=backend`` without TensorFlow; returns the JSON it
    prints last."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(PROJECT_ROOT)}
    code = WITHOUT_TENSORFLOW + textwrap.dedent(script)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=900, env=env, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
class TestOtherBackend:
    def test_builds_and_predicts_without_tensorflow(self, backend, tmp_path):
        out = run_on(backend, f"""
            import json, sys
            import keras
            import numpy as np
            from ecgkit.model.factory import create_baseline_resnet50, create_enhanced_resnet50
            x = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype("uint8")
            np.save({str(tmp_path / "x.npy")!r}, x)
            sums = create_baseline_resnet50((64, 64, 3), 5, weights=None).predict(x, verbose=0)
            model = create_enhanced_resnet50((64, 64, 3), 5, weights=None)
            p = model.predict(x, verbose=0)
            model.save({str(tmp_path / "there.keras")!r})
            print(json.dumps({{"backend": keras.backend.backend(), "p": p.tolist(),
                              "sums": sums.sum(axis=1).tolist() + p.sum(axis=1).tolist(),
                              "tensorflow": "tensorflow" in sys.modules}}))
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
            from ecgkit.evaluation.predict import load_model
            model = load_model({str(tmp_path / "tf.keras")!r})
            x = np.load({str(tmp_path / "x.npy")!r})
            print(json.dumps(model.predict(x, verbose=0).tolist()))
        """)
        np.testing.assert_allclose(np.array(out), expected, atol=1e-5)

    def test_trains_resumes_evaluates_and_explains(self, backend, tmp_path):
        """A short training interrupted after its first epoch and run again (it resumes at the
        second), evaluation on the test patients, Grad-CAM; the model it saves predicts the
        same here, and its Grad-CAM maps are TensorFlow's."""
        run = tmp_path / "run"
        out = run_on(backend, TINY_MODEL_SRC + textwrap.dedent(f"""
            import json
            import keras
            import numpy as np
            from ecgkit.data.datasets import load_beats, signal_dataset
            from ecgkit.evaluation.error_analysis import grad_cam
            from ecgkit.evaluation.evaluate import evaluate_model
            from ecgkit.training.train import train

            beats = load_beats(max_beats_per_record=2, progress=False)
            params = {{**{TINY!r}, "EPOCHS": 2}}

            class Interrupt(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    raise KeyboardInterrupt  # after the epoch's backup (extras run last)

            try:
                train(params, beats=beats, model=tiny_model, run_dir={str(run)!r},
                      progress=False, callbacks=[Interrupt()])
            except KeyboardInterrupt:
                pass
            res = train(params, beats=beats, model=tiny_model, run_dir={str(run)!r},
                        progress=False)
            test = beats.subset("test")
            report = evaluate_model(res.model, test, n_boot=20, figures=False)
            x = signal_dataset(test, image_size=64, batch_size=6)[0][0]
            np.save({str(tmp_path / "x.npy")!r}, x)
            cam = grad_cam(res.model, x, layer_name="last_conv")
            print(json.dumps({{"backend": keras.backend.backend(),
                              "history": res.history.get("epoch"),
                              "resumed": res.info["resumed_after_epochs"],
                              "run_backend": res.info["hardware"]["backend"],
                              "macro_f1": float(report.macro["f1"]), "n": int(len(report.y_true)),
                              "p": res.model.predict(x, verbose=0).tolist(),
                              "cam": cam.tolist()}}))
        """))
        assert out["backend"] == out["run_backend"] == backend
        assert out["history"] == [0, 1] and out["resumed"] == 1
        assert 0.0 <= out["macro_f1"] <= 1.0 and out["n"] > 0
        from ecgkit.evaluation.error_analysis import grad_cam

        model = load_model(run / "model.keras")
        x = np.load(tmp_path / "x.npy")
        np.testing.assert_allclose(model.predict(x, verbose=0), out["p"], atol=1e-4)
        cam = np.array(out["cam"])
        assert cam.shape[0] == 6 and cam.min() >= 0.0 and cam.max() <= 1.0
        np.testing.assert_allclose(grad_cam(model, x, layer_name="last_conv"), cam, atol=1e-3)

    def test_ci_sized_demo(self, backend, tmp_path):
        out = run_on(backend, f"""
            import json
            from ecgkit.workbook.demo import CI, run_demo
            summary = run_demo({str(tmp_path)!r}, CI, progress=False)
            print(json.dumps({{"macro_f1": summary["test"]["macro_f1"]}}))
        """)
        assert 0.0 <= out["macro_f1"] <= 1.0
        data = json.loads((tmp_path / "metrics.json").read_text())
        assert data["hardware"]["backend"] == backend
        assert (tmp_path / "evaluation" / "metrics.json").is_file()
        assert not (tmp_path / "train" / "tensorboard").exists()  # TensorBoard needs TF


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_data_parallel_on_two_jax_cpu_devices(tmp_path):
    """keras.distribution on JAX, the counterpart of TensorFlow's MirroredStrategy test: two
    CPU devices made by XLA, each batch split between them."""
    run = tmp_path / "run"
    out = run_on("jax", "import os\nos.environ['XLA_FLAGS'] = "
                 "'--xla_force_host_platform_device_count=2'\n" + TINY_MODEL_SRC
                 + textwrap.dedent(f"""
        import json
        from ecgkit.data.datasets import load_beats
        from ecgkit.training.hardware import select_strategy
        from ecgkit.training.train import train

        strategy = select_strategy(["cpu:0", "cpu:1"])
        res = train({{**{TINY!r}, "BATCH_SIZE": 8}}, beats=load_beats(max_beats_per_record=2,
                    progress=False), model=tiny_model, run_dir={str(run)!r}, progress=False,
                    strategy=strategy)
        print(json.dumps(res.info["hardware"]))
    """))
    assert out["strategy"] == "DataParallel" and out["replicas"] == 2
    assert (run / "model.keras").is_file()
