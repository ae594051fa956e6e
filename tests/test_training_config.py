"""Training configuration: schedule, focal loss alpha, optimizer, and the compile/fit snippet."""

import keras
import numpy as np
import pytest

from ecgkit.model.factory import create_enhanced_resnet50
from ecgkit.training.metrics import METRIC_NAMES
from ecgkit.training.training_config import class_alpha, get_training_config, make_schedule


@pytest.fixture(scope="module")
def model():
    return create_enhanced_resnet50(input_shape=(64, 64, 3), num_classes=5, weights=None)


class TestSchedule:
    def test_warmup_then_cosine_to_zero(self):
        s = make_schedule(learning_rate=1e-3, epochs=4, steps_per_epoch=10, warmup_epochs=1.0)
        lr = [float(s(step)) for step in range(41)]
        assert lr[0] == pytest.approx(1e-5)
        assert lr[10] == pytest.approx(1e-3)
        assert all(a < b for a, b in zip(lr[:10], lr[1:11]))  # rising during warm-up
        assert all(a >= b for a, b in zip(lr[10:40], lr[11:41]))  # then decaying
        assert lr[25] == pytest.approx(5e-4, rel=1e-4)  # half-way through the cosine
        assert lr[40] == pytest.approx(0.0, abs=1e-9)

    def test_without_warmup(self):
        s = make_schedule(learning_rate=2e-4, epochs=1, steps_per_epoch=5, warmup_epochs=0)
        assert float(s(0)) == pytest.approx(2e-4)

    @pytest.mark.parametrize("kwargs", [dict(learning_rate=0), dict(epochs=0),
                                        dict(steps_per_epoch=0), dict(warmup_epochs=-1)])
    def test_invalid(self, kwargs):
        with pytest.raises(ValueError, match="Received"):
            make_schedule(**kwargs)


class TestClassAlpha:
    def test_inverse_frequency_normalised(self):
        alpha = class_alpha([100, 10, 50, 1, 20], 5)
        inverse = 1 / np.array([100, 10, 50, 1, 20])
        np.testing.assert_allclose(alpha, inverse / inverse.sum())
        assert sum(alpha) == pytest.approx(1.0)

    def test_zero_counts_get_the_largest_weight(self):
        alpha = class_alpha({"N": 900, "S": 50, "V": 40, "F": 0, "Q": 10}, 5)
        assert np.all(np.isfinite(alpha)) and sum(alpha) == pytest.approx(1.0)
        assert alpha[3] == pytest.approx(max(alpha)) and alpha[3] == pytest.approx(alpha[4])

    def test_dict_by_name_follows_class_order(self):
        by_name = class_alpha({"Q": 4, "F": 3, "V": 2, "S": 1, "N": 5}, 5)
        assert by_name == pytest.approx(class_alpha([5, 1, 2, 3, 4], 5))

    @pytest.mark.parametrize("counts,match", [([1, 2], "5 entries"), ([0] * 5, "> 0"),
                                              ([1, -1, 1, 1, 1], ">= 0"),
                                              ({"X": 1}, "keys")])
    def test_invalid(self, counts, match):
        with pytest.raises(ValueError, match=match):
            class_alpha(counts, 5)


class TestTrainingConfig:
    def test_contents(self, model):
        cfg = get_training_config(model, class_counts=[50, 5, 10, 1, 8], label_smoothing=0.1)
        assert set(cfg) == {"optimizer", "loss", "metrics", "schedule"}
        assert isinstance(cfg["optimizer"], keras.optimizers.AdamW)
        assert cfg["optimizer"].weight_decay == pytest.approx(1e-4)
        assert isinstance(cfg["schedule"], keras.optimizers.schedules.CosineDecay)
        assert cfg["schedule"].warmup_target == pytest.approx(3e-4)
        assert cfg["schedule"].warmup_steps == 100
        loss = cfg["loss"]
        assert isinstance(loss, keras.losses.CategoricalFocalCrossentropy)
        assert loss.gamma == 2.0 and loss.label_smoothing == 0.1
        assert loss.alpha == pytest.approx(class_alpha([50, 5, 10, 1, 8], 5))
        assert [m.name for m in cfg["metrics"]] == list(METRIC_NAMES)

    def test_bias_and_batch_norm_are_not_decayed(self, model):
        opt = get_training_config(model)["optimizer"]
        by_path = {w.path: w for w in model.trainable_weights}
        assert not opt._use_weight_decay(by_path["conv1_conv/bias"])
        assert not opt._use_weight_decay(by_path["conv1_bn/gamma"])
        assert opt._use_weight_decay(by_path["conv1_conv/kernel"])

    def test_alpha_weights_the_focal_loss(self, model):
        y = np.eye(5, dtype="float32")[[3, 3]]
        p = np.full((2, 5), 0.2, "float32")
        plain = get_training_config(model)["loss"](y, p)
        weighted = get_training_config(model, class_counts=[1, 1, 1, 1, 1])["loss"](y, p)
        # uniform counts -> alpha 0.2 instead of the default 0.25
        assert float(weighted) == pytest.approx(float(plain) * 0.2 / 0.25, rel=1e-5)

    @pytest.mark.parametrize("kwargs", [dict(weight_decay=-1), dict(focal_gamma=-0.5),
                                        dict(label_smoothing=1.0), dict(epochs=0)])
    def test_invalid(self, model, kwargs):
        with pytest.raises(ValueError, match="Received"):
            get_training_config(model, **kwargs)

    def test_documented_snippet_fits(self, model):
        rng = np.random.default_rng(0)
        X_train = rng.integers(0, 256, size=(4, 64, 64, 3)).astype("uint8")
        y_train = np.eye(5, dtype="float32")[[0, 1, 2, 3]]
        X_val, y_val = X_train[:2], y_train[:2]

        training_config = get_training_config(model)
        model.compile(optimizer=training_config['optimizer'], loss=training_config['loss'],
                      metrics=training_config['metrics'])
        history = model.fit(X_train, y_train, validation_data=(X_val, y_val), epochs=1,
                            batch_size=2, verbose=0)

        logs = history.history
        for name in METRIC_NAMES:
            assert name in logs and f"val_{name}" in logs
        assert np.isfinite(logs["loss"][0]) and 0.0 <= logs["val_macro_f1"][0] <= 1.0
        assert int(training_config["optimizer"].iterations) == 2

    def test_compiled_model_round_trips(self, model, tmp_path):
        from ecgkit.evaluation.predict import load_model

        if model.optimizer is None or not model.optimizer.built:
            pytest.skip("needs the fitted model of test_documented_snippet_fits")
        path = tmp_path / "fitted.keras"
        model.save(path)
        loaded = load_model(path, compile=True)
        assert isinstance(loaded.optimizer, keras.optimizers.AdamW)
        assert isinstance(loaded.optimizer._learning_rate,
                          keras.optimizers.schedules.CosineDecay)
        assert isinstance(loaded.loss, keras.losses.CategoricalFocalCrossentropy)
        x = np.random.default_rng(1).integers(0, 256, size=(1, 64, 64, 3)).astype("float32")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                                   keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-7)
