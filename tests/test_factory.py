"""Model factory: shapes, switches, gradients, mixed precision, saving, weights, validation."""

import itertools
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from ecgkit.model import backbone
from ecgkit.model.attention import attention_maps
from ecgkit.model.cost import count_flops, count_params
from ecgkit.model.factory import (
    ENHANCEMENTS,
    create_baseline_resnet50,
    create_enhanced_resnet50,
    gradcam_layer_name,
)

BASELINE_PARAMS = 24_771_717
ENHANCED_PARAMS = 27_587_308
ENHANCED_TRAINABLE_PARAMS = 27_530_988
RNG = np.random.default_rng(0)
to_numpy = keras.ops.convert_to_numpy


def images(n, size=64):
    return RNG.integers(0, 256, size=(n, size, size, 3)).astype("float32")


@pytest.fixture(scope="module")
def enhanced():
    return create_enhanced_resnet50((64, 64, 3), 5, weights=None)


@pytest.fixture(scope="module")
def baseline():
    return create_baseline_resnet50((64, 64, 3), 5, weights=None)


class TestShapesAndParameters:
    def test_pinned_parameter_counts(self, enhanced, baseline):
        assert count_params(baseline) == BASELINE_PARAMS
        assert count_params(enhanced) == ENHANCED_PARAMS
        assert count_params(enhanced, trainable=True) == ENHANCED_TRAINABLE_PARAMS
        assert enhanced.count_params() == ENHANCED_PARAMS

    def test_predict_64(self, enhanced, baseline):
        x = images(2)
        for model in (enhanced, baseline):
            p = model.predict(x, verbose=0)
            assert p.shape == (2, 5) and p.dtype == np.float32
            np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)

    def test_uint8_input_equals_float_input(self, enhanced):
        x = images(1)
        a = to_numpy(enhanced(x.astype("uint8"), training=False))
        b = to_numpy(enhanced(x, training=False))
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    @pytest.mark.parametrize("size,build", [(128, "enhanced"), (128, "baseline"),
                                            (224, "enhanced"), (100, "enhanced")])
    def test_other_sizes(self, size, build):
        if build == "enhanced":
            model = create_enhanced_resnet50((size, size, 3), 3, weights=None)
        else:
            model = create_baseline_resnet50((size, size, 3), 3, weights=None)
        assert model.output_shape == (None, 3)
        p = to_numpy(model(images(1, size), training=False))
        assert p.shape == (1, 3) and np.all(np.isfinite(p))

    def test_head_input(self, enhanced, baseline):
        assert enhanced.get_layer("fusion").output.shape == (None, 2048 + 4 * 128)
        assert baseline.get_layer("avg_pool").output.shape == (None, 2048)
        assert baseline.name == "baseline_resnet50" and enhanced.name == "enhanced_resnet50"


class TestSwitches:
    @pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=4)))
    def test_every_combination_builds(self, flags):
        switches = dict(zip(ENHANCEMENTS, flags))
        model = create_enhanced_resnet50((32, 32, 3), 5, weights=None, **switches)
        names = {layer.name for layer in model.layers}
        assert ("ecg_block_out" in names) == switches["ecg_block"]
        assert ("attention_out" in names) == switches["attention"]
        assert ("calibration_out" in names) == switches["calibration"]
        assert ("fpn_concat" in names) == switches["pyramid"]
        # without the pyramid, the ECG stream still reaches the head through its own pooling
        assert ("ecg_pool" in names) == (switches["ecg_block"] and not switches["pyramid"])
        if not any(flags):
            assert count_params(model) == BASELINE_PARAMS
        p = to_numpy(model(images(1, 32), training=False))
        assert p.shape == (1, 5) and np.all(np.isfinite(p))
        expected = ("calibration_out" if switches["calibration"] else
                    "attention_out" if switches["attention"] else "conv5_block3_out")
        assert gradcam_layer_name(model) == expected


class TestGradients:
    def test_every_trainable_weight_gets_a_gradient(self, enhanced):
        x, y = images(2), np.eye(5, dtype="float32")[[1, 3]]
        with tf.GradientTape() as tape:
            p = enhanced(x, training=True)
            loss = keras.losses.categorical_crossentropy(y, p)
        grads = tape.gradient(loss, enhanced.trainable_weights)
        missing = [w.path for w, g in zip(enhanced.trainable_weights, grads) if g is None]
        assert not missing
        nonzero = [bool(np.any(to_numpy(g) != 0)) for g in grads]
        assert np.mean(nonzero) > 0.95
        beta_grads = [g for w, g in zip(enhanced.trainable_weights, grads)
                      if w.path.endswith("beta")]
        assert beta_grads and all(np.all(np.isfinite(to_numpy(g))) for g in beta_grads)


class TestMixedPrecision:
    def test_float32_probabilities_under_mixed_float16(self):
        previous = keras.config.dtype_policy()
        try:
            keras.config.set_dtype_policy("mixed_float16")
            model = create_enhanced_resnet50((64, 64, 3), 5, weights=None)
            assert model.get_layer("conv1_conv").compute_dtype == "float16"
            assert model.get_layer("attention_spatial_map").compute_dtype == "float16"
            p = model.predict(images(2), verbose=0)
        finally:
            keras.config.set_dtype_policy(previous)
        assert p.dtype == np.float32
        assert np.all(np.isfinite(p))
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-3)
        assert keras.config.dtype_policy().name == previous.name


class TestSaveLoad:
    def test_keras_file_reloads_in_a_fresh_process(self, enhanced, tmp_path):
        x = images(2)
        expected = enhanced.predict(x, verbose=0)
        path = tmp_path / "enhanced.keras"
        enhanced.save(path)
        np.save(tmp_path / "x.npy", x)
        script = textwrap.dedent(f"""
            import numpy as np
            from ecgkit.evaluation.predict import load_model
            model = load_model({str(path)!r})
            x = np.load({str(tmp_path / 'x.npy')!r})
            np.save({str(tmp_path / 'p.npy')!r}, model.predict(x, verbose=0))
        """)
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, rtol=1e-6, atol=1e-7)


class TestWeights:
    def test_offline_imagenet_fails_fast_with_instructions(self, monkeypatch, tmp_path):
        monkeypatch.setattr(backbone, "keras_cache_dirs", lambda: [tmp_path / "models"])
        monkeypatch.setattr(backbone, "can_reach", lambda host, port, timeout: False)
        start = time.perf_counter()
        with pytest.raises(backbone.WeightsUnavailableError) as info:
            create_enhanced_resnet50((64, 64, 3), 5, weights="imagenet")
        assert time.perf_counter() - start < 5
        message = str(info.value)
        assert backbone.IMAGENET_WEIGHTS_FILE in message
        assert str(tmp_path / "models") in message and "KERAS_HOME" in message

    def test_cached_imagenet_file_skips_the_network_probe(self, monkeypatch, tmp_path):
        import hashlib

        (tmp_path / "models").mkdir()
        (tmp_path / "models" / backbone.IMAGENET_WEIGHTS_FILE).write_bytes(b"good weights")
        monkeypatch.setattr(backbone, "IMAGENET_WEIGHTS_MD5",
                            hashlib.md5(b"good weights").hexdigest())
        monkeypatch.setattr(backbone, "keras_cache_dirs", lambda: [tmp_path / "models"])

        def probe(*args):
            raise AssertionError("must not probe the network when the file is cached")

        monkeypatch.setattr(backbone, "can_reach", probe)
        assert backbone.check_weights("imagenet") == "imagenet"

    def test_corrupt_cached_file_is_named_offline(self, monkeypatch, tmp_path):
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        cached = tmp_path / "models" / backbone.IMAGENET_WEIGHTS_FILE
        cached.parent.mkdir()
        cached.write_bytes(b"<html>captive portal</html>")
        monkeypatch.setattr(backbone, "can_reach", lambda host, port, timeout: False)
        with pytest.raises(backbone.WeightsUnavailableError) as info:
            backbone.check_weights("imagenet")
        message = str(info.value)
        assert message.startswith(f"{cached}: the cached ResNet50 ImageNet weights file is "
                                  "corrupt or incomplete")
        assert backbone.IMAGENET_WEIGHTS_MD5 in message and "Delete it" in message
        assert backbone.IMAGENET_WEIGHTS_URL in message

    def test_corrupt_cached_file_online_is_downloaded_again_by_keras(self, monkeypatch,
                                                                      tmp_path):
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        (tmp_path / "models").mkdir()
        (tmp_path / "models" / backbone.IMAGENET_WEIGHTS_FILE).write_bytes(b"half a file")
        monkeypatch.setattr(backbone, "can_reach", lambda host, port, timeout: True)
        assert backbone.check_weights("imagenet") == "imagenet"

    def test_checksum_is_the_one_keras_checks(self):
        from keras.src.applications.resnet import BASE_WEIGHTS_PATH, WEIGHTS_HASHES

        assert backbone.IMAGENET_WEIGHTS_MD5 == WEIGHTS_HASHES["resnet50"][1]
        assert backbone.IMAGENET_WEIGHTS_URL == BASE_WEIGHTS_PATH + backbone.IMAGENET_WEIGHTS_FILE

    def test_keras_failure_to_fetch_names_the_cache_file(self, monkeypatch, tmp_path):
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        monkeypatch.setattr(backbone, "check_weights", lambda weights: weights)

        def fetch_fails(**kwargs):
            raise Exception("URL fetch failure on https://storage.googleapis.com/...: None")

        monkeypatch.setattr(keras.applications, "ResNet50", fetch_fails)
        with pytest.raises(backbone.WeightsUnavailableError) as info:
            backbone.resnet50_backbone(keras.Input((32, 32, 3)), weights="imagenet")
        message = str(info.value)
        assert "URL fetch failure" in message
        assert str(tmp_path / "models" / backbone.IMAGENET_WEIGHTS_FILE) in message

    def test_corrupt_weights_file_is_named(self, tmp_path):
        bad = tmp_path / "resnet50_notop.weights.h5"
        bad.write_bytes(b"not hdf5")
        with pytest.raises(backbone.WeightsUnavailableError) as info:
            backbone.resnet50_backbone(keras.Input((32, 32, 3)), weights=str(bad))
        assert str(info.value).startswith(f"{bad}: cannot load ResNet50 weights from this file")

    def test_keras_home_sets_the_cache_folder(self, monkeypatch, tmp_path):
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        assert backbone.keras_cache_dirs()[0] == tmp_path / "models"

    def test_weights_files_load_into_the_backbone(self, tmp_path):
        reference = keras.applications.ResNet50(include_top=False, weights=None,
                                                input_shape=(64, 64, 3))
        new_path = tmp_path / "resnet50_notop.weights.h5"
        reference.save_weights(new_path)
        legacy_path = tmp_path / backbone.IMAGENET_WEIGHTS_FILE
        import h5py
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(legacy_path, "w") as f:  # the layout of the Keras cache file
            legacy_h5_format.save_weights_to_hdf5_group(f, reference)
        want = reference.get_layer("conv4_block2_2_conv").kernel.numpy()
        for path in (new_path, legacy_path):
            model = create_baseline_resnet50((64, 64, 3), 5, weights=str(path))
            np.testing.assert_array_equal(model.get_layer("conv4_block2_2_conv").kernel.numpy(),
                                          want)

    def test_bad_weights_arguments(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="not found"):
            backbone.check_weights(tmp_path / "missing.weights.h5")
        (tmp_path / "w.npz").write_bytes(b"")
        with pytest.raises(ValueError, match="weights.h5"):
            backbone.check_weights(tmp_path / "w.npz")
        with pytest.raises(ValueError, match="Received: weights=42"):
            backbone.check_weights(42)


class TestValidation:
    @pytest.mark.parametrize("kwargs,match", [
        (dict(input_shape=(31, 64, 3)), "at least 32"),
        (dict(input_shape=(64, 64, 1)), "3 \\(RGB\\) channels"),
        (dict(input_shape=(None, 64, 3)), "three integers"),
        (dict(input_shape=(64, 64)), "three integers"),
        (dict(num_classes=1), "num_classes=1"),
        (dict(num_classes=2.5), "num_classes=2.5"),
        (dict(dropout=1.0), "dropout=1.0"),
        (dict(ecgblock=False), "did you mean 'ecg_block'"),
        (dict(attention="yes"), "attention='yes'"),
    ])
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            create_enhanced_resnet50(**{"weights": None, **kwargs})


class TestMapsAndCost:
    def test_attention_maps(self, enhanced, baseline):
        maps = attention_maps(enhanced, images(3))
        assert maps["attention_channel_weights"].shape == (3, 1, 1, 2048)
        assert maps["attention_spatial_map"].shape == (3, 2, 2, 1)
        assert maps["calibration_detector_maps"].shape == (3, 2, 2, 4)
        with pytest.raises(ValueError, match="no attention"):
            attention_maps(baseline, images(1))

    def test_flops(self, enhanced, baseline):
        # ResNet50 at 224 x 224 is about 4.1 G multiply-accumulates (7.7 GFLOPs here); the
        # counted FLOPs scale with the number of output positions.
        reference = keras.applications.ResNet50(include_top=False, weights=None,
                                                input_shape=(64, 64, 3))
        assert count_flops(reference) == 629_538_816
        assert count_flops(baseline) - count_flops(reference) == 2 * (2048 * 512 + 512 * 256
                                                                     + 256 * 5)
        assert 1.0 < count_flops(enhanced) / count_flops(baseline) <= 1.25

    def test_flop_formulas_on_a_small_model(self):
        inputs = keras.Input((10, 10, 4))
        x = keras.layers.Conv2D(6, 3, strides=2, padding="same")(inputs)  # 5x5x6, 3x3x4 kernel
        x = keras.layers.DepthwiseConv2D(3, padding="same")(x)            # 5x5x6, 3x3 kernel
        x = keras.layers.SeparableConv2D(8, 3, padding="valid")(x)        # 3x3x8
        x = keras.layers.Dense(7)(x)                                      # 3x3 positions
        model = keras.Model(inputs, x)
        macs = (5 * 5 * 6 * 9 * 4) + (5 * 5 * 6 * 9) + (3 * 3 * 6 * 9 + 3 * 3 * 6 * 8) + 9 * 8 * 7
        assert count_flops(model) == 2 * macs
        assert count_params(model) == model.count_params()
