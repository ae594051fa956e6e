"""The context branch (ecgkit.model.context_branch): the second input of the model, its dropout of
the image logits, its warm-up, and the factory switches that build it."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ecgkit.model.context_branch import (
    BranchDropout,
    adapt_context,
    context_size,
    has_context,
    has_warm_up,
    image_size_of,
    warm_up,
)


def _branch_model(features=6, join="logits"):
    from ecgkit.model.context_branch import context_branch

    inp = keras.Input((features,), name="context")
    out = context_branch(inp, 5, join)
    if join == "logits":
        out = keras.layers.Activation("softmax")(out)
    return keras.Model(inp, out)


class TestBranchDropout:
    def test_drops_whole_rows_without_rescaling_and_only_in_training(self):
        layer = BranchDropout(0.5, seed=1)
        x = np.ones((2000, 5), np.float32)
        out = np.asarray(layer(x, training=True))
        rows = out.sum(axis=1)
        assert set(np.unique(rows)) == {0.0, 5.0}  # a row is kept whole or dropped whole
        assert 0.4 < (rows == 0).mean() < 0.6
        np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
        assert BranchDropout.from_config(layer.get_config()).rate == 0.5
        with pytest.raises(ValueError, match="rate"):
            BranchDropout(1.0)


class TestRegularisation:
    def test_off_by_default(self):
        assert not any(isinstance(layer, (keras.layers.Dropout, keras.layers.GaussianNoise))
                       for layer in _branch_model().layers)

    def test_noise_and_dropout_act_in_training_only(self):
        from ecgkit.model.context_branch import context_branch

        inp = keras.Input((6,), name="context")
        one = keras.Model(inp, context_branch(inp, 5, noise=0.3, dropout=0.3, experts=False))
        assert one.get_layer("context_dropout_2").rate == 0.3
        model = keras.Model(inp, context_branch(inp, 5, noise=0.3, dropout=0.3))
        assert model.get_layer("context_noise").stddev == 0.3
        assert model.get_layer("context_rhythm_dropout_2").rate == 0.3
        assert model.get_layer("context_shape_dropout_2").rate == 0.3
        x = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                      np.asarray(model(x, training=False)))
        assert not np.allclose(np.asarray(model(x, training=True)),
                               np.asarray(model(x, training=False)))
        for noise, dropout in ((-0.1, 0.3), (0.3, 1.0)):
            with pytest.raises(ValueError, match="Received: noise"):
                context_branch(inp, 5, noise=noise, dropout=dropout)


    def test_logit_drop_drops_whole_rows_of_context_logits_in_training(self):
        from ecgkit.model.context_branch import context_branch

        assert not any(isinstance(layer, BranchDropout) for layer in _branch_model().layers)
        inp = keras.Input((6,), name="context")
        model = keras.Model(inp, context_branch(inp, 5, logit_drop=0.3))
        assert model.get_layer("context_logit_drop").rate == 0.3
        x = np.random.default_rng(0).normal(size=(2000, 6)).astype(np.float32)
        dropped = (np.abs(np.asarray(model(x, training=True))).sum(axis=1) == 0).mean()
        assert 0.25 < dropped < 0.35
        np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(x)))
        assert (np.abs(np.asarray(model(x))).sum(axis=1) > 0).all()


class TestExperts:
    def test_rhythm_and_shape_each_reach_their_own_logits_which_add(self, tmp_path):
        from ecgkit.data.context import N_RHYTHM
        from ecgkit.model.context_branch import Columns, context_branch

        inp = keras.Input((N_RHYTHM + 5,), name="context")
        model = keras.Model(inp, context_branch(inp, 4, experts=True))
        names = {layer.name for layer in model.layers}
        assert {"context_rhythm_logits", "context_shape_logits", "context_logits"} <= names
        assert model.get_layer("context_rhythm_dense_1").input.shape[-1] == N_RHYTHM
        assert model.get_layer("context_shape_dense_1").input.shape[-1] == 5
        x = np.random.default_rng(0).normal(size=(16, N_RHYTHM + 5)).astype(np.float32)
        parts = keras.Model(inp, [model.get_layer(f"context_{p}_logits").output
                                  for p in ("rhythm", "shape")])(x)
        np.testing.assert_allclose(np.asarray(model(x)), np.asarray(parts[0] + parts[1]),
                                   rtol=1e-6)
        path = tmp_path / "experts.keras"
        model.save(path)
        np.testing.assert_allclose(np.asarray(keras.models.load_model(path)(x)),
                                   np.asarray(model(x)), rtol=1e-6)
        layer = Columns(1, 3)
        assert Columns.from_config(layer.get_config()).stop == 3
        assert layer.compute_output_shape((None, 9)) == (None, 2)
        with pytest.raises(ValueError, match="Received: start=3, stop=3"):
            Columns(3, 3)

    def test_the_experts_learn_a_rule_that_needs_both(self):
        from ecgkit.data.context import N_RHYTHM
        from ecgkit.model.context_branch import context_branch

        # class 1: early (rhythm value < -0.5) with a usual shape; class 2: an odd shape
        rng = np.random.default_rng(0)
        x = rng.normal(size=(3000, N_RHYTHM + 4)).astype(np.float32)
        odd = x[:, N_RHYTHM] > 0.8
        y = np.where(odd, 2, np.where(x[:, 0] < -0.5, 1, 0))
        inp = keras.Input((x.shape[1],), name="context")
        model = keras.Model(inp, keras.layers.Activation("softmax")(
            context_branch(inp, 3, experts=True)))
        adapt_context(model, x)
        keras.utils.set_random_seed(0)
        warm_up(model, x, y, steps=400, seed=0)
        assert (np.asarray(model.predict(x, verbose=0)).argmax(axis=1) == y).mean() > 0.85


class TestMembers:
    def test_copies_have_their_own_layers_and_their_logits_are_averaged(self, tmp_path):
        from ecgkit.data.context import N_RHYTHM
        from ecgkit.model.context_branch import (
            context_branch,
            has_experts,
            member_logits,
            n_members,
        )

        inp = keras.Input((N_RHYTHM + 5,), name="context")
        model = keras.Model(inp, context_branch(inp, 4, experts=True, members=3))
        assert n_members(model) == 3 and has_experts(model)
        names = {layer.name for layer in model.layers}
        assert {"context0_rhythm_logits", "context2_shape_logits", "context_logits"} <= names
        assert "context3_logits" not in names
        x = np.random.default_rng(0).normal(size=(16, N_RHYTHM + 5)).astype(np.float32)
        parts = [np.asarray(z) for z in keras.Model(inp, member_logits(model))(x)]
        assert not np.allclose(parts[0], parts[1])  # each copy its own initial weights
        np.testing.assert_allclose(np.asarray(model(x)), np.mean(parts, axis=0), rtol=1e-5,
                                   atol=1e-6)
        path = tmp_path / "members.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert n_members(loaded) == 3
        np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
        one = keras.Model(inp, context_branch(inp, 4, experts=True, members=1))
        assert n_members(one) == 1 and "context_rhythm_logits" in {
            layer.name for layer in one.layers}  # the layer names of models saved before

    @pytest.mark.parametrize("members", [0, -1, 1.5, True])
    def test_bad_member_counts_are_refused(self, members):
        from ecgkit.model.context_branch import context_branch

        with pytest.raises(ValueError, match="members must be an integer >= 1"):
            context_branch(keras.Input((6,), name="context"), 3, members=members)

    def test_warm_up_fits_every_copy_to_the_labels(self):
        from ecgkit.model.context_branch import context_branch, member_logits

        rng = np.random.default_rng(0)
        x = rng.normal(size=(2000, 6)).astype(np.float32)
        y = (x[:, 0] + x[:, 4] > 0).astype(int)
        inp = keras.Input((6,), name="context")
        model = keras.Model(inp, context_branch(inp, 2, experts=True, members=2))
        adapt_context(model, x)
        keras.utils.set_random_seed(0)
        losses = warm_up(model, x, y, steps=300, seed=0)
        assert losses[-1] < 0.5 * losses[0]
        for z in keras.Model(inp, member_logits(model))(x):
            assert (np.asarray(z).argmax(axis=1) == y).mean() > 0.9


    def test_each_copy_learns_from_batches_of_its_own(self):
        from ecgkit.model.context_branch import context_branch, member_logits

        # two copies started from the same weights end apart only if their batches differ
        rng = np.random.default_rng(0)
        x = rng.normal(size=(500, 6)).astype(np.float32)
        y = (x[:, 0] > 0).astype(int)
        inp = keras.Input((6,), name="context")
        model = keras.Model(inp, context_branch(inp, 2, experts=False, members=2))
        adapt_context(model, x)
        for layer in model.layers:
            if layer.name.startswith("context1_"):
                layer.set_weights(model.get_layer("context0_" + layer.name[9:]).get_weights())
        a, b = (np.asarray(z) for z in keras.Model(inp, member_logits(model))(x))
        np.testing.assert_array_equal(a, b)
        warm_up(model, x, y, steps=20, seed=0)
        a, b = (np.asarray(z) for z in keras.Model(inp, member_logits(model))(x))
        assert np.abs(a - b).max() > 1e-3


class TestPriorShift:
    def test_zero_until_set_then_tau_log_frequency_saved_with_the_model(self, tmp_path):
        from ecgkit.model.context_branch import PRIOR_LAYER, set_prior_shift
        from ecgkit.model.factory import create_enhanced_resnet50

        plain = create_enhanced_resnet50((32, 32, 3), 5, None)
        assert set_prior_shift(plain, [0, 1]) is None  # the published model has no shift
        model = create_enhanced_resnet50((32, 32, 3), 5, None, context_features=74)
        x = {"image": np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)),
             "context": np.random.default_rng(1).normal(size=(4, 74))}
        before = model.predict(x, verbose=0)  # traced before the shift is set
        np.testing.assert_array_equal(np.asarray(model.get_layer(PRIOR_LAYER).shift), 0)
        labels = np.repeat([0, 1, 2, 3], [90, 2, 7, 1])
        shift = set_prior_shift(model, labels, tau=0.5, offsets={})
        freq = (np.bincount(labels, minlength=5) + 1) / (labels.size + 5)
        np.testing.assert_allclose(shift, 0.5 * np.log(freq), rtol=1e-6)
        after = model.predict(x, verbose=0)
        expected = before * freq ** 0.5
        np.testing.assert_allclose(after, expected / expected.sum(axis=1, keepdims=True),
                                   rtol=1e-3, atol=1e-6)
        path = tmp_path / "shifted.keras"
        model.save(path)
        np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), after,
                                   rtol=1e-5, atol=1e-7)
        set_prior_shift(model, labels, tau=0.0, offsets={})
        np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-5, atol=1e-7)

    def test_offsets_add_to_their_class_logit_and_default_to_the_chosen_operating_point(self):
        from ecgkit.contract import CLASSES
        from ecgkit.model.context_branch import (
            LOGIT_OFFSETS,
            PRIOR_TAU,
            log_class_frequency,
            set_prior_shift,
        )
        from ecgkit.model.factory import create_enhanced_resnet50

        model = create_enhanced_resnet50((32, 32, 3), 4, None, context_features=74)
        labels = np.repeat([0, 1, 2, 3], [90, 2, 7, 1])
        shift = set_prior_shift(model, labels, tau=0.0, offsets={"S": 0.7, "F": -0.2})
        np.testing.assert_allclose(shift, [0.0, 0.7, 0.0, -0.2], atol=1e-7)
        expected = PRIOR_TAU * log_class_frequency(labels, 4)
        for name, value in LOGIT_OFFSETS.items():
            expected[CLASSES.index(name)] += value
        np.testing.assert_allclose(set_prior_shift(model, labels), expected, rtol=1e-6)
        with pytest.raises(ValueError, match=r"unknown class\(es\) \['Q'\].*'N', 'S', 'V', 'F'"):
            set_prior_shift(model, labels, offsets={"Q": 1.0})  # a 4-class model has no Q


class TestWarmUp:
    def test_the_branch_learns_a_rule_from_context_alone(self):
        """Cheap learning check: class = which of three values is largest (plus a 4th class
        for the rest); a few hundred batches fit it."""
        rng = np.random.default_rng(0)
        x = rng.normal(size=(3000, 6)).astype(np.float32)
        y = np.where(x[:, :3].max(axis=1) > 1.0, x[:, :3].argmax(axis=1), 3)
        model = _branch_model()
        adapt_context(model, x)
        keras.utils.set_random_seed(0)
        losses = warm_up(model, x, y, steps=400, seed=0)
        assert losses[-1] < 0.5 * losses[0]
        pred = np.asarray(model.predict(x, verbose=0)).argmax(axis=1)
        assert (pred == y).mean() > 0.85

    def test_needs_a_logits_branch_and_matching_inputs(self):
        head = _branch_model(join="head")
        assert not has_warm_up(head)
        with pytest.raises(ValueError, match="no 'logits' context branch"):
            warm_up(head, np.zeros((4, 6)), np.zeros(4))
        model = _branch_model()
        with pytest.raises(ValueError, match="must match"):
            warm_up(model, np.zeros((4, 6)), np.zeros(3))
        with pytest.raises(ValueError, match="n >= 2"):
            adapt_context(model, np.zeros((1, 6)))


class TestFactory:
    def test_published_call_has_one_input_and_context_adds_a_second(self):
        from ecgkit.model.factory import create_baseline_resnet50, create_enhanced_resnet50

        plain = create_enhanced_resnet50(input_shape=(32, 32, 3), num_classes=5, weights=None)
        assert not has_context(plain) and len(plain.inputs) == 1 and image_size_of(plain) == 32
        for join in ("logits", "head"):
            m = create_enhanced_resnet50((32, 32, 3), 5, None, context_features=74,
                                         context_join=join)
            assert has_context(m) and context_size(m) == 74 and image_size_of(m) == 32
            assert has_warm_up(m) == (join == "logits")
            p = m.predict({"image": np.zeros((2, 32, 32, 3)), "context": np.zeros((2, 74))},
                          verbose=0)
            np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
        base = create_baseline_resnet50((32, 32, 3), 5, None, context_features=74)
        assert has_context(base) and "image_logit_drop" in {layer.name for layer in base.layers}

    def test_image_weight_is_the_chosen_scale_or_none(self):
        from ecgkit.model.context_branch import DROP_LAYER, image_weight
        from ecgkit.model.factory import create_enhanced_resnet50

        assert image_weight(create_enhanced_resnet50((32, 32, 3), 5, None)) is None
        model = create_enhanced_resnet50((32, 32, 3), 5, None, context_features=74)
        assert image_weight(model) == 1.0
        model.get_layer(DROP_LAYER).scale = 0.0
        assert image_weight(model) == 0.0

    def test_bad_context_arguments(self):
        from ecgkit.model.factory import create_enhanced_resnet50

        with pytest.raises(ValueError, match="context_features"):
            create_enhanced_resnet50((32, 32, 3), 5, None, context_features=-1)
        with pytest.raises(ValueError, match="context_join"):
            create_enhanced_resnet50((32, 32, 3), 5, None, context_features=4,
                                     context_join="sum")
        with pytest.raises(ValueError, match="did you mean 'context_features'"):
            create_enhanced_resnet50((32, 32, 3), 5, None, context_feature=4)
