"""ansible-playbook with a bad client inventory fails before rendering, naming the host."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
pytestmark = pytest.mark.integration


def _run_local_playbook(tmp_path, hosts, extra=None):
    inventory = {"all": {"children": {"infoscreen_clients": {"hosts": hosts}}}}
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    variables = {"mqtt_broker_local_dir": str(tmp_path / "broker"), "mqtt_broker_listener_port": 18999,
                 "mqtt_broker_controller_password": "ctl-secret-value", **(extra or {})}
    (tmp_path / "vars.yml").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(pathlib.Path(sys.executable).with_name("ansible-playbook")), "-i", str(tmp_path / "inventory.yml"),
         "-e", f"@{tmp_path / 'vars.yml'}", "-e", f"ansible_python_interpreter={sys.executable}",
         str(ROOT / "playbooks" / "broker_local.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )


def test_bad_inventory_fails_early_naming_every_bad_host(tmp_path):
    # One run with every kind of bad client: the check reports all of them at once, so an
    # operator fixes the inventory in one pass (each message alone is unit-tested).
    hosts = {
        "pi-good": {"client_uuid": A, "infoscreen_mqtt_password": "pw-good"},
        "pi-nouuid": {"infoscreen_mqtt_password": "pw-nouuid"},
        "pi-bad": {"client_uuid": "1234-not-a-uuid", "infoscreen_mqtt_password": "pw-bad"},
        "pi-second": {"client_uuid": A, "infoscreen_mqtt_password": "pw-second"},
        "pi-nopw": {"client_uuid": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"},
    }
    result = _run_local_playbook(tmp_path, hosts)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "mqtt_broker inventory problems (4)" in output
    for expected in [
        "host pi-nouuid: client_uuid is not set",
        "host pi-bad: client_uuid '1234-not-a-uuid' is not a lower-case 8-4-4-4-12 UUID",
        f"host pi-second: client_uuid {A} is already used by host pi-good",
        "host pi-nopw: infoscreen_mqtt_password is not set",
    ]:
        assert expected in output
    assert "pi-good:" not in output
    assert "Check every client's client_uuid and password" in output
    # Early: nothing was rendered, and no password reached the output.
    assert not (tmp_path / "broker").exists()
    passwords = [h["infoscreen_mqtt_password"] for h in hosts.values() if "infoscreen_mqtt_password" in h]
    for secret in ["ctl-secret-value", *passwords]:
        assert secret not in output


def test_missing_clients_group_is_refused(tmp_path):
    result = _run_local_playbook(tmp_path, {}, extra={"mqtt_broker_clients_group": "infoscreen_clinets"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "group 'infoscreen_clinets' (mqtt_broker_clients_group) is not in the inventory" in output
    assert not (tmp_path / "broker").exists()
