"""Every role's meta/argument_specs.yml (entry point main) equals its defaults/main.yml."""

import pathlib

import pytest
import yaml

ROLES = sorted(p for p in (pathlib.Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_argument_specs_match_defaults(role):
    defaults_path = role / "defaults" / "main.yml"
    specs_path = role / "meta" / "argument_specs.yml"
    assert defaults_path.is_file(), f"{role.name}: defaults/main.yml is missing"
    assert specs_path.is_file(), f"{role.name}: meta/argument_specs.yml is missing"
    defaults = yaml.safe_load(defaults_path.read_text()) or {}
    options = yaml.safe_load(specs_path.read_text())["argument_specs"]["main"].get("options") or {}

    assert sorted(set(defaults) - set(options)) == [], f"{role.name}: defaults without an argument spec"
    assert sorted(set(options) - set(defaults)) == [], f"{role.name}: argument specs without a default"
    mismatched = {
        name: (options[name].get("default"), value)
        for name, value in defaults.items()
        if options[name].get("default") != value
    }
    assert mismatched == {}, f"{role.name}: spec default != defaults/main.yml value (spec, defaults)"
    private = [name for name in options if name.startswith("_")]
    assert private == [], f"{role.name}: private variables must not be role arguments"
    unprefixed = [name for name in options if not name.startswith(f"{role.name}_")]
    assert unprefixed == [], f"{role.name}: variables must start with '{role.name}_'"
