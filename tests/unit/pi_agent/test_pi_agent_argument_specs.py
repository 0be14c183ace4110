"""meta/argument_specs.yml of pi_agent says exactly what defaults/main.yml holds."""

import pathlib

import pytest
import yaml

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "pi_agent"
DEFAULTS = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
SPECS = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]


def test_entry_points_exist_as_task_files():
    assert set(SPECS) == {"main", "upgrade", "rollback"}
    for entry in SPECS:
        assert (ROLE / "tasks" / f"{entry}.yml").is_file()


@pytest.mark.parametrize("entry", ["main", "upgrade", "rollback"])
def test_spec_options_equal_defaults(entry):
    options = SPECS[entry]["options"]
    assert set(options) == set(DEFAULTS)
    for name, value in DEFAULTS.items():
        assert options[name]["default"] == value, name
        assert options[name]["description"], name


def test_every_variable_has_the_role_prefix():
    assert all(name.startswith("pi_agent_") for name in DEFAULTS)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_spec_type_matches_default(name):
    kinds = {"bool": bool, "int": int, "str": str, "list": list}
    assert isinstance(DEFAULTS[name], kinds[SPECS["main"]["options"][name]["type"]])
