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
