"""The shared workbook parameters: names, types and profiles."""

import pytest

from ecgkit import params


class TestValidate:
    def test_unknown_name_is_an_error_with_a_suggestion(self):
        with pytest.raises(params.ParamError, match=r"unknown parameter 'EPOCH'.*EPOCHS"):
            params.validate({"EPOCH": 3})

    def test_wrong_type_names_the_parameter(self):
        with pytest.raises(params.ParamError, match="IMAGE_SIZE must be int"):
            params.validate({"IMAGE_SIZE": "224"})

    def test_bool_is_not_an_int(self):
        with pytest.raises(params.ParamError, match="EPOCHS must be int"):
            params.validate({"EPOCHS": True})

    def test_int_widens_to_float(self):
        assert params.validate({"LEARNING_RATE": 1}) == {"LEARNING_RATE": 1.0}
        assert isinstance(params.validate({"LEARNING_RATE": 1})["LEARNING_RATE"], float)

    def test_resolve_merges_with_defaults(self):
        values = params.resolve({"EPOCHS": 2})
        assert values["EPOCHS"] == 2
        assert values["IMAGE_SIZE"] == params.PARAMS["IMAGE_SIZE"].default
        assert set(values) == set(params.PARAMS)


class TestProfiles:
    def test_profile_file_is_validated(self, tmp_path):
        bad = tmp_path / "bad.yaml"
        bad.write_text("EPOCHS: 1\nBACTH_SIZE: 8\n")
        with pytest.raises(params.ParamError, match=r"bad.yaml: unknown parameter 'BACTH_SIZE'"):
            params.load_profile(bad)

    def test_profile_must_be_a_mapping(self, tmp_path):
        bad = tmp_path / "list.yaml"
        bad.write_text("- 1\n- 2\n")
        with pytest.raises(params.ParamError, match="mapping"):
            params.load_profile(bad)

    def test_missing_profile(self, tmp_path):
        with pytest.raises(params.ParamError, match="not found"):
            params.load_profile(tmp_path / "nope.yaml")

    @pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", "demo"])
    def test_shipped_profiles_use_known_names(self, name):
        values = params.load_profile(name)
        assert values, f"params/{name}.yaml is empty"
        assert set(values) <= set(params.PARAMS)

    @pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", "demo"])
    def test_profile_sets_the_image_size_its_help_names(self, name):
        size = params.load_profile(name)["IMAGE_SIZE"]  # explicit in every profile
        assert f"{name} {size}" in params.PARAMS["IMAGE_SIZE"].help


class TestRanges:
    @pytest.mark.parametrize("name,value,allowed", [
        ("BATCH_SIZE", -4, ">= 1"), ("EPOCHS", 0, ">= 1"), ("LEARNING_RATE", -1.0, "> 0"),
        ("IMAGE_SIZE", 16, "in [32, 1024]"), ("IMAGE_SIZE", 100000, "in [32, 1024]"),
        ("STEPS_PER_EPOCH", -3, ">= 0"), ("DROPOUT", 1.5, "in [0, 1)"),
        ("VAL_FRACTION", 1.5, "in [0, 1)"), ("VAL_FRACTION", 1.0, "in [0, 1)"),
        ("LEARNING_RATE", float("inf"), "> 0"), ("DROPOUT", float("nan"), "in [0, 1)"),
        ("SEED", -1, "in [0, 4294967295]"), ("AUGMENT_STRENGTH", 4.0, "in [0, 3]"),
        ("CLASS_BALANCE", "balanced", "one of 'alpha'"), ("MIXED_PRECISION", "yes", "one of"),
    ])
    def test_out_of_range_names_source_parameter_value_and_range(self, name, value, allowed):
        with pytest.raises(params.ParamError) as err:
            params.validate({name: value}, source="my.yaml")
        msg = str(err.value)
        assert msg.startswith(f"my.yaml: parameter {name} must be {allowed}")
        assert f"got {value!r}" in msg

    @pytest.mark.parametrize("name,value", [("VAL_FRACTION", 0.0), ("DROPOUT", 0.0),
                                            ("IMAGE_SIZE", 32), ("IMAGE_SIZE", 1024),
                                            ("STEPS_PER_EPOCH", 0), ("AUGMENT_STRENGTH", 3)])
    def test_edges_inside_the_range_pass(self, name, value):
        assert params.validate({name: value})[name] == value

    def test_help_fits_a_papermill_comment(self):
        # notebooks carry the help as the comment of a one-'=' line (ecgkit.workbook.runner)
        assert [name for name, p in params.PARAMS.items() if "=" in p.help] == []

    def test_defaults_are_in_range(self):
        assert params.validate(params.defaults()) == params.defaults()

    def test_image_size_minimum_is_what_the_model_accepts(self):
        # ecgkit.model.backbone.MIN_INPUT_SIZE (what the factory checks) is this constant too
        from ecgkit.contract import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE

        assert (MIN_IMAGE_SIZE, MAX_IMAGE_SIZE) == (32, 1024)
        assert params.describe_range("IMAGE_SIZE") == "in [32, 1024]"

    def test_choices_match_the_code_that_uses_them(self):
        from ecgkit.data.splits import SPLIT_PROTOCOLS
        from ecgkit.training.balance import CLASS_BALANCE_CHOICES

        assert params.PARAMS["SPLIT"].choices == SPLIT_PROTOCOLS
        assert params.PARAMS["CLASS_BALANCE"].choices == CLASS_BALANCE_CHOICES

    def test_papermill_path_checks_ranges(self, tmp_path):
        from ecgkit.workbook.runner import run_parameters

        with pytest.raises(params.ParamError, match=r"--set: parameter EPOCHS must be >= 1"):
            run_parameters("smoke", tmp_path, {"EPOCHS": 0})

    def test_yaml_syntax_error_names_file_and_line(self, tmp_path):
        bad = tmp_path / "broken.yaml"
        bad.write_text("EPOCHS: 1\nBATCH_SIZE: [8\nSEED: 1\n")
        with pytest.raises(params.ParamError) as err:
            params.load_profile(bad)
        assert str(err.value).startswith(f"{bad}:3: not valid YAML")


class TestRecordList:
    def test_parses_names_once(self):
        assert params.record_list("100, 107,232 ") == ["100", "107", "232"]
        assert params.record_list("208") == ["208"]
        assert params.record_list(208) == ["208"]  # papermill / YAML pass one record unquoted

    def test_empty_means_every_record(self):
        assert params.record_list("") is None and params.record_list("  ") is None
        assert params.record_list(None) is None
        assert params.PARAMS["RECORDS"].default == ""

    @pytest.mark.parametrize("bad,match", [("100,,107", "empty name"),
                                           ("100, 107, 100", "100 given twice"),
                                           (["100"], "comma-separated string")])
    def test_bad_lists(self, bad, match):
        with pytest.raises(params.ParamError, match=match):
            params.record_list(bad)

    def test_one_unquoted_record_in_a_profile(self, tmp_path):
        p = tmp_path / "one.yaml"
        p.write_text("RECORDS: 100\n")
        assert params.load_profile(p) == {"RECORDS": "100"}
        with pytest.raises(params.ParamError, match="RECORDS must be str"):
            params.validate({"RECORDS": ["100", "107"]})


def test_smoke_records_keep_every_class_on_every_side():
    from ecgkit.contract import CLASSES
    from ecgkit.data.splits import RECORD_CLASS_COUNTS, inter_patient_split

    profile = params.load_profile("smoke")
    records = params.record_list(profile["RECORDS"])
    assert records and len(records) <= 16  # small: the point of the smoke profile
    strict = profile["SPLIT"] == "inter-patient-strict"
    split = inter_patient_split(records, strict=strict)  # the split the smoke run uses

    def classes(names):
        return {c for i, c in enumerate(CLASSES) if sum(RECORD_CLASS_COUNTS[r][i] for r in names)}

    for side in ("train", "val", "test"):
        assert {"N", "S", "V", "F"} <= classes(split[side]), side
    if not strict:
        assert "Q" in classes(split["train"]) and "Q" in classes(split["test"])


def test_weights_none_is_python_none():
    assert params.weights_arg("none") is None and params.weights_arg("") is None
    assert params.weights_arg("imagenet") == "imagenet"
    assert params.weights_arg("w.weights.h5") == "w.weights.h5"


def test_floats_as_users_write_them():
    """3e-4 (YAML 1.1 reads it as a string) is a float in --set and in profiles."""
    from ecgkit.params import ParamError, parse_assignments, validate

    assert parse_assignments(["LEARNING_RATE=3e-4"]) == {"LEARNING_RATE": 3e-4}
    assert validate({"LEARNING_RATE": "1e-3"}) == {"LEARNING_RATE": 1e-3}
    with pytest.raises(ParamError, match="LEARNING_RATE must be float"):
        validate({"LEARNING_RATE": "fast"})
    with pytest.raises(ParamError, match="LEARNING_RATE must be > 0"):
        validate({"LEARNING_RATE": "nan"})
