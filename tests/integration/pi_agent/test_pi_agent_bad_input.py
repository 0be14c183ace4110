"""Bad input fails early, names host and variable, and leaves current on a complete release.

Runs playbooks/agent.yml for real against scratch roots (files-only mode, local
connection): one play with a good host and hosts that each carry one defect.
"""

import json
import os
import sys

import pytest
from fixtures.pi_agent import run_agent_playbook

pytestmark = pytest.mark.integration

GOOD_PASSWORD = "Good-Secret%;pw-7f3a"  # noqa: S105 - test credential, must never appear in output
RELEASE_A = "1.0.0+bada"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    base = tmp_path_factory.mktemp("pi-agent-bad-input")
    hosts = {
        "good": {"client_uuid": "5d9e1a7c-3b2f-4e8a-9c01-aa00bb11cc22", "infoscreen_mqtt_password": GOOD_PASSWORD},
        "bad-uuid": {"client_uuid": "5D9E1A7C-not-a-uuid", "infoscreen_mqtt_password": "pw-b"},
        "no-password": {"client_uuid": "6e0f2b8d-4c3a-4f9b-8d12-bb11cc22dd33"},
        "ini-breaker": {"client_uuid": "7f1a3c9e-5d4b-4a0c-9e23-cc22dd33ee44", "infoscreen_mqtt_password": "pw ;tail"},
    }
    for name, hostvars in hosts.items():
        hostvars["pi_agent_target_root"] = str(base / "roots" / name)
    inventory = base / "inventory.json"
    inventory.write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "pi_agent_system_integration": False, "pi_agent_become": False,
                 "pi_agent_mqtt_host": "127.0.0.1"},
        "children": {"infoscreen_clients": {"hosts": hosts}},
    }}))
    rc, out, recap = run_agent_playbook(inventory, "-e", f"pi_agent_build_version={RELEASE_A}")
    return {"base": base, "inventory": inventory, "rc": rc, "out": out, "recap": recap}


def current(scratch, host="good"):
    path = scratch["base"] / "roots" / host / "opt/infoscreen-agent/current"
    return os.readlink(path) if path.is_symlink() else None


def test_each_bad_host_fails_alone_naming_host_and_variable(scratch):
    out, recap = scratch["out"], scratch["recap"]
    assert scratch["rc"] != 0
    assert recap["good"]["failed"] == 0, out[-3000:]
    assert {h: recap[h]["failed"] for h in ("bad-uuid", "no-password", "ini-breaker")} == dict.fromkeys(
        ("bad-uuid", "no-password", "ini-breaker"), 1)
    assert "bad-uuid: inventory variable client_uuid=5D9E1A7C-not-a-uuid is not a lower-case UUID" in out
    assert "no-password: inventory variable infoscreen_mqtt_password is missing or empty" in out
    assert "ini-breaker: inventory variable infoscreen_mqtt_password cannot be written" in out


def test_nothing_is_installed_for_bad_hosts(scratch):
    assert current(scratch) == f"releases/{RELEASE_A}"
    for host in ("bad-uuid", "no-password", "ini-breaker"):
        assert not (scratch["base"] / "roots" / host / "opt").exists(), host


def test_passwords_never_reach_the_output(scratch):
    assert GOOD_PASSWORD not in scratch["out"]
    assert "pw ;tail" not in scratch["out"]
    config = scratch["base"] / "roots/good/etc/infoscreen-agent/agent.ini"
    assert f"password = {GOOD_PASSWORD}\n" in config.read_text()
    assert oct(config.stat().st_mode & 0o777) == "0o640"


def test_missing_wheel_fails_naming_the_variable(scratch):
    rc, out, _unused = run_agent_playbook(scratch["inventory"], "--limit", "good", "-e", "pi_agent_action=upgrade",
                                          "-e", "pi_agent_wheel=/nonexistent/infoscreen_agent-9.9.9-py3-none-any.whl")
    assert rc != 0
    assert "good: the release does not exist or is malformed: pi_agent_wheel=/nonexistent/" in out
    assert current(scratch) == f"releases/{RELEASE_A}"


def test_rollback_to_a_missing_release_fails_naming_the_variable(scratch):
    rc, out, _unused = run_agent_playbook(scratch["inventory"], "--limit", "good", "-e", "pi_agent_action=rollback",
                                          "-e", "pi_agent_rollback_release=9.9.9")
    assert rc != 0
    assert "good: pi_agent_rollback_release: release 9.9.9 does not exist" in out
    assert f"present: {RELEASE_A}" in out
    assert current(scratch) == f"releases/{RELEASE_A}"


def test_rollback_without_previous_fails(scratch):
    rc, out, _unused = run_agent_playbook(scratch["inventory"], "--limit", "good", "-e", "pi_agent_action=rollback")
    assert rc != 0
    assert "good: pi_agent_rollback_release is empty and there is no previous release" in out
    assert current(scratch) == f"releases/{RELEASE_A}"


def test_interrupted_install_is_removed_and_never_current(scratch):
    rc, out, _unused = run_agent_playbook(scratch["inventory"], "--limit", "good", "-e", "pi_agent_action=upgrade",
                                          "-e", "pi_agent_build_version=1.0.0+badb",
                                          "-e", '{"pi_agent_pip_extra_args": ["--no-such-pip-option"]}')
    assert rc != 0
    assert "good: installing release 1.0.0+badb" in out
    assert "the current release is unchanged" in out
    assert current(scratch) == f"releases/{RELEASE_A}"
    assert not (scratch["base"] / "roots/good/opt/infoscreen-agent/releases/1.0.0+badb").exists()
