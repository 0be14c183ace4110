"""roles/ssd_timeouts: argument_specs equal to defaults, and the README documents every variable and rule."""

import pathlib

import yaml
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_rules

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "ssd_timeouts"


def _load(relative):
    return yaml.safe_load((ROLE / relative).read_text())


def test_argument_specs_equal_defaults():
    defaults = _load("defaults/main.yml")
    options = _load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    for name, spec in options.items():
        assert spec["default"] == defaults[name], name


def test_rollback_entry_point_options_are_defaults_too():
    defaults = _load("defaults/main.yml")
    options = _load("meta/argument_specs.yml")["argument_specs"]["rollback"]["options"]
    for name, spec in options.items():
        assert spec["default"] == defaults[name], name


def test_every_variable_is_prefixed_and_documented_in_the_readme():
    readme = (ROLE / "README.md").read_text()
    for name in _load("defaults/main.yml"):
        assert name.startswith("ssd_timeouts_")
        assert f"`{name}`" in readme, name


def test_baseline_defaults_fit_the_reconnect_budget():
    defaults = _load("defaults/main.yml")
    assert ssd_rules.scsi_timeout_fits(defaults["ssd_timeouts_scsi_timeout_s"],
                                       defaults["ssd_timeouts_reconnect_baseline_s"])
    assert ssd_rules.stop_timeout_fits(defaults["ssd_timeouts_default_timeout_stop_s"],
                                       defaults["ssd_timeouts_default_timeout_abort_s"],
                                       defaults["ssd_timeouts_reconnect_baseline_s"])
    assert defaults["ssd_timeouts_runtime_watchdog_s"] <= defaults["ssd_timeouts_watchdog_max_s"]
    assert defaults["ssd_timeouts_reboot_watchdog_s"] <= defaults["ssd_timeouts_watchdog_max_s"]
    assert defaults["ssd_timeouts_eeprom_write"] is False
    assert defaults["ssd_timeouts_usb_max_current_apply"] is False
    assert defaults["ssd_timeouts_uas_quirk_allow_list"] == []


def test_readme_rule_table_names_every_rule_function():
    readme = (ROLE / "README.md").read_text()
    for function in ("uas_quirk", "usb_current", "bootloader", "reconnect"):
        assert f"`ssd_rules.{function}`" in readme, function
