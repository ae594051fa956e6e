"""Blocks of the enhanced ResNet50: shapes, names, maths, validation, config round-trips."""

import keras
import numpy as np
import pytest

from ecgkit.model.attention import ChannelPooling, ecg_attention
from ecgkit.model.backbone import CaffePreprocessing
from ecgkit.model.calibration import ComponentPooling, feature_calibration
from ecgkit.model.ecg_block import ecg_multiscale_block
from ecgkit.model.head import classification_head
from ecgkit.model.pyramid import pyramid_fusion

RNG = np.random.default_rng(0)
to_numpy = keras.ops.convert_to_numpy


def _model(fn, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, fn(inputs))


class TestEcgMultiscaleBlock:
    def test_shape_and_names(self):
        model = _model(lambda x: ecg_multiscale_block(x, 32, name="blk"), (16, 16, 24))
        assert model.output_shape == (None, 16, 16, 32)
        names = {layer.name for layer in model.layers}
        assert {"blk_reduce_conv", "blk_3x3_conv", "blk_15x15_conv1", "blk_15x15_conv2",
                "blk_concat", "blk_fuse_conv", "blk_fuse_bn", "blk_out"} <= names
        # large kernels are factorized: 1 x k then k x 1
        assert model.get_layer("blk_9x9_conv1").kernel_size == (1, 9)
        assert model.get_layer("blk_9x9_conv2").kernel_size == (9, 1)
        out = model(RNG.normal(size=(2, 16, 16, 24)).astype("float32"))
        assert np.all(to_numpy(out) >= 0)  # fused output ends in ReLU

    def test_receptive_field_reaches_15_cells(self):
        # An impulse spreads 7 cells each way through the 15x15 branch (and no further).
        keras.utils.set_random_seed(0)  # some initialisations let no change through the ReLUs
        model = _model(lambda x: ecg_multiscale_block(x, 8, name="rf"), (31, 31, 4))
        x = np.zeros((1, 31, 31, 4), "float32")
        x[0, 15, 15, :] = 1.0
        y = to_numpy(model(x)) - to_numpy(model(np.zeros_like(x)))
        touched = np.abs(y).sum(axis=(0, 3)) > 1e-6
        rows, cols = np.nonzero(touched)
        assert rows.min() == 8 and rows.max() == 22 and cols.min() == 8 and cols.max() == 22

    @pytest.mark.parametrize("kwargs", [dict(kernel_sizes=(3, 4)), dict(kernel_sizes=()),
                                        dict(filters=0), dict(branch_filters=0)])
    def test_invalid_arguments(self, kwargs):
        x = keras.Input((8, 8, 4))
        with pytest.raises(ValueError, match="Received"):
            ecg_multiscale_block(x, **{"filters": 8, **kwargs})


class TestAttention:
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        inputs = keras.Input((6, 5, 32))
        out = ecg_attention(inputs, reduction=8, name="att")
        return keras.Model(inputs, out)

    def test_shapes_and_maps(self, model):
        assert model.output_shape == (None, 6, 5, 32)
        assert model.get_layer("att_channel_weights").output.shape == (None, 1, 1, 32)
        assert model.get_layer("att_spatial_map").output.shape == (None, 6, 5, 1)
        reader = keras.Model(model.input, [model.get_layer("att_channel_weights").output,
                                            model.get_layer("att_spatial_map").output])
        x = RNG.normal(size=(2, 6, 5, 32)).astype("float32")
        channel, spatial = (to_numpy(t) for t in reader(x))
        assert np.all((channel > 0) & (channel < 1)) and np.all((spatial > 0) & (spatial < 1))
        np.testing.assert_allclose(to_numpy(model(x)), x * channel * spatial, rtol=1e-5,
                                   atol=1e-6)

    def test_mlp_is_shared_between_avg_and_max(self, model):
        assert len(model.get_layer("att_mlp_1")._inbound_nodes) == 2

    def test_channel_pooling(self):
        x = RNG.normal(size=(2, 3, 4, 5)).astype("float32")
        y = to_numpy(ChannelPooling()(x))
        np.testing.assert_allclose(y[..., 0], x.mean(-1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y[..., 1], x.max(-1))

    @pytest.mark.parametrize("kwargs", [dict(reduction=0), dict(kernel_size=0)])
    def test_invalid_arguments(self, kwargs):
        with pytest.raises(ValueError, match="Received"):
            ecg_attention(keras.Input((4, 4, 8)), **kwargs)


class TestFeatureCalibration:
    def test_shape_gates_and_maps(self):
        inputs = keras.Input((5, 7, 64))
        model = keras.Model(inputs, feature_calibration(inputs, n_components=4, name="cal"))
        assert model.output_shape == (None, 5, 7, 64)
        maps_model = keras.Model(inputs, [model.get_layer("cal_detector_maps").output,
                                          model.get_layer("cal_gates").output])
        x = RNG.normal(size=(3, 5, 7, 64)).astype("float32")
        maps, gates = (to_numpy(t) for t in maps_model(x))
        assert maps.shape == (3, 5, 7, 4)
        np.testing.assert_allclose(maps.sum(axis=(1, 2)), 1.0, rtol=1e-5)
        np.testing.assert_allclose(to_numpy(model(x)), x * gates[:, None, None, :],
                                   rtol=1e-5, atol=1e-6)

    def test_component_pooling_math(self):
        f = RNG.normal(size=(2, 3, 4, 5)).astype("float32")
        w = RNG.random(size=(2, 3, 4, 2)).astype("float32")
        y = to_numpy(ComponentPooling()([f, w]))
        np.testing.assert_allclose(y, np.einsum("bhwk,bhwc->bkc", w, f), rtol=1e-5, atol=1e-5)

    def test_detector_maps_are_a_softmax_over_positions(self):
        # what the former SpatialSoftmax layer computed: per map, exp(x - max) / sum over (h, w)
        inputs = keras.Input((3, 4, 8))
        model = keras.Model(inputs, feature_calibration(inputs, n_components=2, name="cal"))
        reader = keras.Model(inputs, [model.get_layer("cal_detectors").output,
                                      model.get_layer("cal_detector_maps").output])
        x = 10 * RNG.normal(size=(2, 3, 4, 8)).astype("float32")
        responses, maps = (to_numpy(t) for t in reader(x))
        flat = responses.reshape(2, 12, 2)
        e = np.exp(flat - flat.max(axis=1, keepdims=True))
        expected = e / e.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(maps.reshape(2, 12, 2), expected, rtol=1e-5, atol=1e-7)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="Received: n_components=0"):
            feature_calibration(keras.Input((4, 4, 8)), n_components=0)
        with pytest.raises(ValueError, match="same spatial size"):
            ComponentPooling()([keras.Input((4, 4, 8)), keras.Input((3, 4, 2))])


class TestPyramidFusion:
    def test_odd_sizes_are_cropped_and_levels_pooled(self):
        # 100 x 100 images give stride 4..32 maps of 25, 13, 7, 4 cells.
        sizes, chans = (25, 13, 7, 4), (16, 24, 32, 40)
        inputs = [keras.Input((s, s, c)) for s, c in zip(sizes, chans)]
        ecg = keras.Input((25, 25, 8))
        out = pyramid_fusion(inputs, ecg, channels=12, name="fp")
        model = keras.Model(inputs + [ecg], out)
        assert model.output_shape == (None, 4 * 12)
        assert model.get_layer("fp_p4_crop").output.shape[1:3] == (7, 7)
        assert "fp_ecg_lateral" in {layer.name for layer in model.layers}
        y = model([RNG.normal(size=(1, s, s, c)).astype("float32") for s, c in
                   zip(sizes + (25,), chans + (8,))])
        assert np.all(np.isfinite(to_numpy(y)))

    def test_ecg_stream_with_matching_channels_is_added_directly(self):
        inputs = [keras.Input((8, 8, 4)), keras.Input((4, 4, 4))]
        ecg = keras.Input((8, 8, 6))
        model = keras.Model(inputs + [ecg], pyramid_fusion(inputs, ecg, channels=6, name="q"))
        assert "q_ecg_lateral" not in {layer.name for layer in model.layers}

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="at least one"):
            pyramid_fusion([])
        with pytest.raises(ValueError, match="spatial size of the finest"):
            pyramid_fusion([keras.Input((8, 8, 4))], keras.Input((4, 4, 4)))
        with pytest.raises(ValueError, match="halve"):
            pyramid_fusion([keras.Input((8, 8, 4)), keras.Input((2, 2, 4))])


class TestClassificationHead:
    def test_float32_softmax_named_predictions(self):
        inputs = keras.Input((20,))
        model = keras.Model(inputs, classification_head(inputs, 3, units=(8,), dropout=0.2))
        layer = model.get_layer("predictions")
        assert layer.dtype_policy.compute_dtype == "float32"
        y = to_numpy(model(RNG.normal(size=(4, 20)).astype("float32")))
        assert y.shape == (4, 3)
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
        assert [type(lyr).__name__ for lyr in model.layers[1:]] == [
            "Dense", "BatchNormalization", "Activation", "Dropout", "Dense", "Activation"]

    @pytest.mark.parametrize("kwargs", [dict(num_classes=1), dict(num_classes=3, dropout=1.0),
                                        dict(num_classes=3, units=(0,))])
    def test_invalid_arguments(self, kwargs):
        with pytest.raises(ValueError, match="Received"):
            classification_head(keras.Input((4,)), **kwargs)


class TestCaffePreprocessing:
    def test_matches_keras_preprocess_input(self):
        x = RNG.integers(0, 256, size=(2, 5, 5, 3)).astype("float32")
        expected = keras.applications.resnet50.preprocess_input(x.copy())
        np.testing.assert_allclose(to_numpy(CaffePreprocessing()(x)), expected, atol=1e-4)

    def test_rejects_bad_arguments(self):
        with pytest.raises(ValueError, match="Received: mean"):
            CaffePreprocessing(mean=(1.0, 2.0))
        with pytest.raises(ValueError, match="3-channel"):
            CaffePreprocessing()(keras.Input((4, 4, 1)))
        with pytest.raises(ValueError, match="Received: grid='yes'"):
            CaffePreprocessing(grid="yes")


class TestConfigRoundTrip:
    @pytest.mark.parametrize("layer,inputs", [
        (CaffePreprocessing(mean=(1.0, 2.0, 3.0), flip_channels=False, grid=False, name="pre"),
         [np.full((1, 2, 2, 3), 10.0, "float32")]),
        (ChannelPooling(name="cp"), [RNG.normal(size=(1, 2, 3, 4)).astype("float32")]),
        (ComponentPooling(name="cpool"), [[RNG.normal(size=(1, 2, 3, 4)).astype("float32"),
                                           RNG.random(size=(1, 2, 3, 2)).astype("float32")]]),
    ])
    def test_from_config_of_get_config(self, layer, inputs):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        np.testing.assert_allclose(to_numpy(clone(*inputs)), to_numpy(layer(*inputs)))
        # registered under the ecgkit package, so .keras files find the class by name
        name = keras.saving.get_registered_name(type(layer))
        assert name == f"ecgkit>{type(layer).__name__}"
        assert keras.saving.get_registered_object(name) is type(layer)
