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

    @pytest.mark.parametrize("name", ["smoke", "cpu", "gpu"])
    def test_shipped_profiles_use_known_names(self, name):
        values = params.load_profile(name)
        assert values, f"params/{name}.yaml is empty"
        assert set(values) <= set(params.PARAMS)


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
    from ecgkit.splits import RECORD_CLASS_COUNTS, inter_patient_split

    records = params.record_list(params.load_profile("smoke")["RECORDS"])
    assert records and len(records) <= 16  # small: the point of the smoke profile
    split = inter_patient_split(records)  # the default split, as the smoke run uses it

    def classes(names):
        return {c for i, c in enumerate(CLASSES) if sum(RECORD_CLASS_COUNTS[r][i] for r in names)}

    for side in ("train", "val", "test"):
        assert {"N", "S", "V", "F"} <= classes(split[side]), side
    assert "Q" in classes(split["train"]) and "Q" in classes(split["test"])
