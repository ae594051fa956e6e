"""Macro metrics against scikit-learn on random predictions."""

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from ecgkit.training.metrics import (
    METRIC_NAMES,
    MacroF1,
    MacroPrecision,
    MacroRecall,
    MacroSpecificity,
    classification_metrics,
)

K = 5


def sklearn_specificity(y_true, y_pred, labels):
    cm = confusion_matrix(y_true, y_pred, labels=list(range(K)))
    values = []
    for c in labels:
        fp = cm[:, c].sum() - cm[c, c]
        tn = cm.sum() - cm[c, :].sum() - cm[:, c].sum() + cm[c, c]
        values.append(tn / (tn + fp) if tn + fp else 0.0)
    return float(np.mean(values))


def expected(y_true, y_pred, sample_weight=None):
    labels = sorted(set(y_true.tolist()))  # classes with support
    kw = dict(labels=labels, average="macro", zero_division=0, sample_weight=sample_weight)
    return {
        "macro_precision": precision_score(y_true, y_pred, **kw),
        "macro_recall": recall_score(y_true, y_pred, **kw),
        "macro_f1": f1_score(y_true, y_pred, **kw),
        "macro_specificity": sklearn_specificity(y_true, y_pred, labels)
        if sample_weight is None else None,
    }


def run(metric, y_true, probs, batches=3, sample_weight=None):
    metric.reset_state()
    for idx in np.array_split(np.arange(len(y_true)), batches):
        sw = None if sample_weight is None else sample_weight[idx]
        metric.update_state(y_true[idx], probs[idx], sample_weight=sw)
    return float(metric.result())


METRICS = [MacroPrecision, MacroRecall, MacroF1, MacroSpecificity]


class TestAgainstSklearn:
    @pytest.mark.parametrize("seed", range(4))
    @pytest.mark.parametrize("absent", [(), (3,), (2, 4)])
    def test_one_hot_labels_over_several_batches(self, seed, absent):
        rng = np.random.default_rng(seed)
        present = [c for c in range(K) if c not in absent]
        y = rng.choice(present, size=97, p=None)
        # predictions biased towards the truth, so values are not all near chance
        logits = rng.normal(size=(97, K)) + 1.5 * np.eye(K)[y]
        probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits.astype("float32")))
        want = expected(y, probs.argmax(1))
        onehot = np.eye(K, dtype="float32")[y]
        for cls in METRICS:
            metric = cls(K)
            got = run(metric, onehot, probs)
            assert got == pytest.approx(want[metric.name], abs=1e-6), metric.name

    def test_sparse_labels_and_sample_weights(self):
        rng = np.random.default_rng(7)
        y = rng.integers(0, K, size=60)
        probs = rng.random(size=(60, K)).astype("float32")
        weights = rng.random(size=60).astype("float32")
        want = expected(y, probs.argmax(1), sample_weight=weights)
        for cls in (MacroPrecision, MacroRecall, MacroF1):
            metric = cls(K)
            assert run(metric, y.reshape(-1, 1), probs, sample_weight=weights) == pytest.approx(
                want[metric.name], abs=1e-5)

    def test_predicted_but_absent_class_counts_only_as_false_positive(self):
        y = np.array([0, 0, 1, 1])
        pred = np.array([0, 4, 1, 4])  # class 4 is predicted but never true
        probs = np.eye(K, dtype="float32")[pred]
        p = MacroPrecision(K)
        assert run(p, y, probs, batches=1) == pytest.approx(1.0)  # averaged over {0, 1} only
        r = MacroRecall(K)
        assert run(r, y, probs, batches=1) == pytest.approx(0.5)
        assert run(r, y, probs, batches=1) == pytest.approx(
            recall_score(y, pred, labels=[0, 1], average="macro"))

    def test_empty_and_reset(self):
        metric = MacroF1(K)
        assert float(metric.result()) == 0.0
        metric.update_state(np.eye(K)[[1, 2]], np.eye(K)[[1, 2]])
        assert float(metric.result()) == pytest.approx(1.0)
        metric.reset_state()
        assert float(metric.result()) == 0.0

    def test_auc_is_macro_one_vs_rest(self):
        rng = np.random.default_rng(3)
        y = rng.integers(0, K, size=200)
        probs = keras.ops.convert_to_numpy(keras.ops.softmax(
            (rng.normal(size=(200, K)) + np.eye(K)[y]).astype("float32")))
        auc = classification_metrics(K)[-1]
        auc.update_state(np.eye(K, dtype="float32")[y], probs)
        want = roc_auc_score(y, probs, multi_class="ovr", average="macro")
        assert float(auc.result()) == pytest.approx(want, abs=0.01)  # Keras uses thresholds


class TestMetricObjects:
    def test_names_and_order(self):
        assert [m.name for m in classification_metrics(K)] == list(METRIC_NAMES)

    @pytest.mark.parametrize("cls", METRICS)
    def test_config_round_trip(self, cls):
        metric = cls(3, name="custom")
        clone = cls.from_config(metric.get_config())
        assert clone.get_config() == metric.get_config()
        assert clone.num_classes == 3 and clone.name == "custom"
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
            metric))
        assert isinstance(restored, cls)

    def test_invalid_num_classes(self):
        with pytest.raises(ValueError, match="Received: num_classes=1"):
            MacroF1(1)
