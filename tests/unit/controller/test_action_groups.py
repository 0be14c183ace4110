"""The broker connection is set once per play: the ``mqtt`` action group (meta/runtime.yml) holds
exactly the plugins that take the MQTT options, one ``module_defaults`` block for
``group/infoscreen.fleet.mqtt`` reaches every one of them through a real ansible-playbook, and
the product playbooks set the connection that way instead of pasting the options into tasks."""

import importlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import MQTT_OPTION_NAMES

REPO = Path(__file__).resolve().parents[3]
BASE = "ansible_collections.infoscreen.fleet.plugins"
GROUP = "group/infoscreen.fleet.mqtt"
# What a play passes to the group; the other MQTT options keep their plugin defaults.
PLAY_OPTIONS = {"mqtt_host", "mqtt_port", "mqtt_ca_cert", "mqtt_username", "mqtt_password"}
CLIENT_UUID = "3f2a3c1e-8d8b-4a8e-9a3b-1c2d3e4f5a6b"


def runtime_group():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    return set((runtime.get("action_groups") or {}).get("mqtt") or [])


def mqtt_actions():
    names = set()
    for path in sorted((REPO / "plugins" / "action").glob("*.py")):
        spec = getattr(importlib.import_module(f"{BASE}.action.{path.stem}"), "ARGUMENT_SPEC", {})
        if set(MQTT_OPTION_NAMES) <= set(spec):
            names.add(path.stem)
    return names


def test_mqtt_group_is_exactly_the_plugins_that_take_the_mqtt_options():
    """A plugin that talks MQTT but is missing from the group would silently ignore the play's
    broker settings and connect to 127.0.0.1; a group member without the options would fail."""
    assert mqtt_actions() == {"fleet_status", "lifecycle_wave", "recover_health", "service_failed_ack"}
    assert runtime_group() == mqtt_actions()


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_one_module_defaults_block_reaches_every_mqtt_plugin(tmp_path):
    """Through a real ansible-playbook: the port and account set once in the play's
    module_defaults are what lifecycle_wave (check mode: reports its broker) and recover_health
    (no broker there: its error names the address it tried) use; no task repeats them."""
    assert runtime_group() == {"fleet_status", "lifecycle_wave", "recover_health", "service_failed_ack"}, \
        "add the new group member below"
    port = _closed_port()
    collections = tmp_path / "collections" / "ansible_collections" / "infoscreen"
    collections.mkdir(parents=True)
    (collections / "fleet").symlink_to(REPO)
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Every MQTT plugin takes its connection from one block",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {GROUP: {"mqtt_host": "127.0.0.1", "mqtt_port": port, "mqtt_username": "probe-account",
                                    "mqtt_ca_cert": "{{ no_such_var | default(omit) }}"}},
        "tasks": [
            {"name": "Wave", "infoscreen.fleet.lifecycle_wave": {"command": "reboot_host", "hosts": ["localhost"]},
             "check_mode": True, "register": "wave"},
            {"name": "Health", "infoscreen.fleet.recover_health": {"hosts": ["localhost"], "connect_timeout_s": 1,
                                                                   "listen_s": 1},
             "register": "health", "ignore_errors": True},
            {"name": "Status", "infoscreen.fleet.fleet_status": {"hosts": ["localhost"], "connect_timeout_s": 1,
                                                                 "listen_s": 1},
             "register": "status", "ignore_errors": True},
            {"name": "Ack", "infoscreen.fleet.service_failed_ack": {"hosts": ["localhost"], "reason": "probe",
                                                                    "connect_timeout_s": 1},
             "register": "ack", "ignore_errors": True},
            {"name": "Show", "ansible.builtin.copy": {"dest": str(tmp_path / "out.json"),
                                                      "content": "{{ {'wave': wave, 'health': health, "
                                                                 "'status': status, 'ack': ack} | to_json }}"}},
        ],
    }]))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("INFOSCREEN_", "ANSIBLE_"))}
    env.update({"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"), "ANSIBLE_NOCOLOR": "1",
                "INFOSCREEN_LEDGER": str(tmp_path / "ledger.sqlite3"),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"client_uuid={CLIENT_UUID}",
           "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["wave"]["broker"]["port"] == port
    assert out["wave"]["broker"]["username"] == "probe-account"
    assert out["health"]["failed"] is True
    assert f"127.0.0.1:{port}" in out["health"]["msg"]
    for name in ("status", "ack"):
        assert out[name]["failed"] is True and f"127.0.0.1:{port}" in out[name]["msg"], out[name]


def _task_files(play, seen):
    """Task files a play imports, followed through import_tasks/include_tasks (templated names
    such as "{{ 'wave.yml' if ... else 'wave_summary.yml' }}" count every name they mention)."""
    text = yaml.safe_dump(play)
    for name in re.findall(r"([a-z_]+\.yml)", text):
        path = REPO / "playbooks" / "tasks" / name
        if path.exists() and path not in seen:
            seen.add(path)
            for block in yaml.safe_load(path.read_text()) or []:
                _task_files(block, seen)
    return seen


def _tasks(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _tasks(value)
    elif isinstance(node, list):
        for item in node:
            yield from _tasks(item)


def _uses_mqtt(node):
    return any(f"infoscreen.fleet.{name}" in task for task in _tasks(node) for name in runtime_group())


PLAYBOOKS = ["reboot.yml", "shutdown.yml", "restart_app.yml", "recover.yml", "canary.yml", "fleet_status.yml",
             "ack_service_failed.yml"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbooks_set_the_broker_once_per_play(playbook):
    """Each play that runs an MQTT plugin sets the five connection options in one module_defaults
    block for the group; no task of it (its task files included) passes an mqtt_* option itself."""
    plays = yaml.safe_load((REPO / "playbooks" / playbook).read_text())
    checked = 0
    for play in plays:
        files = _task_files(play, set())
        contents = [play] + [yaml.safe_load(path.read_text()) for path in sorted(files)]
        if not any(_uses_mqtt(content) for content in contents):
            continue
        checked += 1
        defaults = (play.get("module_defaults") or {}).get(GROUP) or {}
        assert set(defaults) == PLAY_OPTIONS, (playbook, play["name"])
        for content in contents:
            for task in _tasks(content):
                for name in runtime_group():
                    args = task.get(f"infoscreen.fleet.{name}")
                    if isinstance(args, dict):
                        assert not set(args) & set(MQTT_OPTION_NAMES), (playbook, task.get("name"))
    assert checked, f"{playbook}: no play runs an MQTT plugin"
