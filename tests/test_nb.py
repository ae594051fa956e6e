"""ecgkit.workbook.nb.check_block: a learner's block is compared with the library's by its
outputs."""

import pytest

from ecgkit.workbook import nb


def _reference(x, filters, name):
    import keras

    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _same_math_other_names(x, filters, name):
    import keras

    y = keras.layers.Conv2D(filters, (3, 3), padding="same", name=f"{name}_c")(x)
    y = keras.layers.BatchNormalization(name=f"{name}_b")(y)
    return keras.layers.ReLU(name=f"{name}_r")(y)


def _missing_activation(x, filters, name):
    import keras

    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    return keras.layers.BatchNormalization(name=f"{name}_bn")(x)


def _wrong_kernel(x, filters, name):
    import keras

    x = keras.layers.Conv2D(filters, (1, 9), padding="same", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


class TestCheckBlock:
    def test_same_math_passes_on_outputs(self):
        r = nb.check_block(_same_math_other_names, _reference, (8, 8, 4), filters=6)
        assert r["same_shape"] and r["same_params"] and r["same_output"] is True
        assert r["max_abs_diff"] < 1e-5

    def test_same_shape_and_size_but_other_math_fails(self):
        # Right output shape and parameter count: only the outputs can tell.
        r = nb.compare_blocks(_missing_activation, _reference, (8, 8, 4), filters=6)
        assert r["same_shape"] and r["same_params"] and r["same_output"] is False
        with pytest.raises(AssertionError, match="outputs differ"):
            nb.check_block(_missing_activation, _reference, (8, 8, 4), filters=6)

    def test_weights_of_other_shapes_are_reported(self):
        r = nb.compare_blocks(_wrong_kernel, _reference, (8, 8, 4), filters=6)
        assert r["same_output"] is None
        with pytest.raises(AssertionError, match="parameters|cannot be compared"):
            nb.check_block(_wrong_kernel, _reference, (8, 8, 4), filters=6)


class TestCaptioned:
    def test_a_table_shows_its_caption_and_rounds(self):
        import pandas as pd

        t = pd.DataFrame({"macro_f1": [0.123456]}, index=["network"])
        styled = nb.captioned(t, "N/S/V/F, DS2 records")
        html = styled.to_html()
        assert "<caption>N/S/V/F, DS2 records</caption>" in html and "0.123" in html
        assert "0.123456" not in html
        assert styled.data is t  # the table itself is unchanged
