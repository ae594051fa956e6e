"""Macro-averaged classification metrics from a running confusion matrix.

Introduced in: notebooks/20_training.ipynb

Keras' stock ``Precision`` and ``Recall`` on one-hot labels treat every (sample, class) cell as
one binary decision: that is a *micro* average, dominated by the majority class N. With MIT-BIH's
imbalance (about 90 % N beats), a model that never predicts S or F still scores high there.
These metrics instead accumulate a ``num_classes x num_classes`` confusion matrix of
``argmax`` predictions over the epoch and report the unweighted mean over classes:

* ``macro_precision``: positive predictive value (+P) per class,
* ``macro_recall``: sensitivity (Se) per class,
* ``macro_f1``: per-class F1 ``2 TP / (2 TP + FP + FN)``, then averaged (not the F1 of the
  averaged precision and recall),
* ``macro_specificity``: ``TN / (TN + FP)`` per class.

Classes without support. The average runs over the classes that occur in the true labels seen
so far (support > 0). A per-class value whose denominator is zero (e.g. precision of a class
never predicted) counts as 0. This matches scikit-learn's
``precision_score(y_true, y_pred, labels=<classes present in y_true>, average="macro",
zero_division=0)`` (likewise recall and F1); the tests check it. Before any update, or when no
class has support, the result is 0.

Labels may be one-hot (``(batch, num_classes)``, as ``ecgkit.signal_dataset`` yields) or integer
class indices (``(batch,)`` or ``(batch, 1)``). ``sample_weight`` weights each sample's count.
"""

from __future__ import annotations

import keras
from keras import ops

METRIC_NAMES = ("accuracy", "macro_precision", "macro_recall", "macro_f1",
                "macro_specificity", "auc")
"""Names of the metrics :func:`classification_metrics` returns, in order."""


class ConfusionMatrixMetric(keras.metrics.Metric):
    """Base class: accumulates a confusion matrix (rows: true class, columns: predicted class).

    Subclasses define :meth:`per_class`, a vector of per-class values from the matrix.

    Args:
        num_classes: Number of classes (>= 2).
        name: Metric name.
        dtype: Dtype of the result.
    """

    def __init__(self, num_classes, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(
                f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes}"
            )
        self.num_classes = int(num_classes)
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="float32",
            name="confusion",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        predicted = ops.argmax(y_pred, axis=-1)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == self.num_classes:
            actual = ops.argmax(y_true, axis=-1)
        else:
            actual = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        actual = ops.reshape(actual, (-1,))
        predicted = ops.reshape(predicted, (-1,))
        true_hot = ops.one_hot(actual, self.num_classes, dtype="float32")
        pred_hot = ops.one_hot(predicted, self.num_classes, dtype="float32")
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
            true_hot = true_hot * weight
        self.confusion.assign_add(ops.matmul(ops.transpose(true_hot), pred_hot))

    def reset_state(self):
        self.confusion.assign(ops.zeros(self.confusion.shape, dtype=self.confusion.dtype))

    def counts(self):
        """Per-class ``(tp, fp, fn, tn, support)`` vectors from the accumulated matrix."""
        cm = ops.convert_to_tensor(self.confusion)
        tp = ops.diagonal(cm)
        support = ops.sum(cm, axis=1)
        predicted = ops.sum(cm, axis=0)
        fp = predicted - tp
        fn = support - tp
        tn = ops.sum(cm) - tp - fp - fn
        return tp, fp, fn, tn, support

    def per_class(self, tp, fp, fn, tn):
        raise NotImplementedError

    def result(self):
        tp, fp, fn, tn, support = self.counts()
        values = self.per_class(tp, fp, fn, tn)
        present = ops.cast(support > 0, "float32")
        n_present = ops.sum(present)
        macro = ops.divide_no_nan(ops.sum(values * present), n_present)
        return ops.cast(macro, self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="ecgkit")
class MacroPrecision(ConfusionMatrixMetric):
    """Macro-averaged precision (+P) over classes with support; see the module docstring."""

    def __init__(self, num_classes, name="macro_precision", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def per_class(self, tp, fp, fn, tn):
        return ops.divide_no_nan(tp, tp + fp)


@keras.saving.register_keras_serializable(package="ecgkit")
class MacroRecall(ConfusionMatrixMetric):
    """Macro-averaged recall (sensitivity, Se) over classes with support."""

    def __init__(self, num_classes, name="macro_recall", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def per_class(self, tp, fp, fn, tn):
        return ops.divide_no_nan(tp, tp + fn)


@keras.saving.register_keras_serializable(package="ecgkit")
class MacroF1(ConfusionMatrixMetric):
    """Macro-averaged F1 (mean of per-class F1) over classes with support."""

    def __init__(self, num_classes, name="macro_f1", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def per_class(self, tp, fp, fn, tn):
        return ops.divide_no_nan(2.0 * tp, 2.0 * tp + fp + fn)


@keras.saving.register_keras_serializable(package="ecgkit")
class MacroSpecificity(ConfusionMatrixMetric):
    """Macro-averaged specificity ``TN / (TN + FP)`` over classes with support."""

    def __init__(self, num_classes, name="macro_specificity", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def per_class(self, tp, fp, fn, tn):
        return ops.divide_no_nan(tn, tn + fp)


def classification_metrics(num_classes):
    """Accuracy, the four macro metrics and one-vs-rest macro AUC, named as in METRIC_NAMES.

    ``auc`` is ``keras.metrics.AUC(multi_label=True)``: ROC AUC per class (one-vs-rest),
    averaged over all ``num_classes`` labels. It needs one-hot labels.

    Args:
        num_classes: Number of classes (>= 2).

    Returns:
        A list of fresh ``keras.metrics.Metric`` objects.
    """
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        MacroPrecision(num_classes),
        MacroRecall(num_classes),
        MacroF1(num_classes),
        MacroSpecificity(num_classes),
        keras.metrics.AUC(multi_label=True, num_labels=num_classes, name="auc"),
    ]
