"""The privileged helper: exactly one verb, mapped to one fixed systemctl call.

The helper is run for real with a root-owned test config whose SYSTEMCTL is a recording
script, so no test ever reaches the machine's systemctl.
"""

import os
import pathlib
import subprocess

import pytest

HELPER = pathlib.Path(__file__).resolve().parents[3] / "agent" / "helper" / "infoscreen-helper"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the helper trusts only root-owned files; run as root")


@pytest.fixture
def helper_env(tmp_path):
    record = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {record}\nexit "${{FAKE_RC:-0}}"\n')
    fake.chmod(0o755)
    conf = tmp_path / "helper.conf"
    conf.write_text(f"# test\nAPP_UNIT=kiosk-app.service\nSYSTEMCTL={fake}\n")
    conf.chmod(0o644)
    return {"conf": conf, "record": record, "fake": fake, "tmp": tmp_path}


def run(env, *args, extra_env=None):
    environ = {"PATH": "/usr/bin:/bin", "INFOSCREEN_HELPER_CONF": str(env["conf"]), **(extra_env or {})}
    return subprocess.run([str(HELPER), *args], capture_output=True, text=True, env=environ, check=False)


def calls(env):
    return env["record"].read_text().splitlines() if env["record"].exists() else []


def assert_refused(env, verb, *words):
    """Exit 3 (unsafe configuration), a message with every word, and systemctl never called."""
    result = run(env, verb)
    assert result.returncode == 3
    for word in words:
        assert word in result.stderr
    assert calls(env) == []


@pytest.mark.parametrize(("verb", "expected"), [
    ("reboot", "reboot"),
    ("shutdown", "poweroff"),
    ("restart-app", "restart -- kiosk-app.service"),
])
def test_each_verb_runs_one_fixed_systemctl_call(helper_env, verb, expected):
    result = run(helper_env, verb)
    assert result.returncode == 0, result.stderr
    assert calls(helper_env) == [expected]


def test_systemctl_failure_is_passed_on(helper_env):
    result = run(helper_env, "restart-app", extra_env={"FAKE_RC": "5"})
    assert result.returncode == 5
    assert calls(helper_env) == ["restart -- kiosk-app.service"]


@pytest.mark.parametrize("args", [
    [],
    ["reboot", "now"],
    ["reboot-now"],
    ["REBOOT"],
    ["--help"],
    ["restart-app; id"],
    [""],
])
def test_anything_else_is_refused_with_usage(helper_env, args):
    result = run(helper_env, *args)
    assert result.returncode == 2
    assert "usage: infoscreen-helper reboot|shutdown|restart-app" in result.stderr
    assert calls(helper_env) == []


@pytest.mark.parametrize("unit", ["", "kiosk", "-x.service", "a b.service", "$(id).service", "../evil.service",
                                  "kiosk.socket"])
def test_bad_app_unit_is_refused(helper_env, unit):
    helper_env["conf"].write_text(f"APP_UNIT={unit}\nSYSTEMCTL={helper_env['fake']}\n")
    assert_refused(helper_env, "restart-app", "APP_UNIT")


def test_config_writable_by_others_is_refused(helper_env):
    helper_env["conf"].chmod(0o664)
    assert_refused(helper_env, "reboot", "writable by group or others", "chmod go-w")


def test_config_not_owned_by_root_is_refused(helper_env):
    os.chown(helper_env["conf"], 65534, 65534)
    assert_refused(helper_env, "shutdown", "not owned by root")


def test_systemctl_writable_by_others_is_refused(helper_env):
    helper_env["fake"].chmod(0o777)
    assert_refused(helper_env, "reboot", "systemctl command")


def test_relative_systemctl_is_refused(helper_env):
    helper_env["conf"].write_text("APP_UNIT=kiosk-app.service\nSYSTEMCTL=systemctl\n")
    result = run(helper_env, "reboot")
    assert result.returncode == 3
    assert "absolute path" in result.stderr


def test_config_is_read_as_data_not_executed(helper_env):
    marker = helper_env["tmp"] / "pwned"
    helper_env["conf"].write_text(f"touch {marker}\nAPP_UNIT=kiosk-app.service\nSYSTEMCTL={helper_env['fake']}\n")
    assert run(helper_env, "restart-app").returncode == 0
    assert not marker.exists()


def test_last_assignment_wins(helper_env):
    helper_env["conf"].write_text(f"APP_UNIT=old.service\nSYSTEMCTL={helper_env['fake']}\nAPP_UNIT = new.service \n")
    assert run(helper_env, "restart-app").returncode == 0
    assert calls(helper_env) == ["restart -- new.service"]
