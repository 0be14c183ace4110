"""Fault injection in the simulated fleet, the PoE power hook, the manifest and inventory."""

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from infoscreen_sim.manifest import MANIFEST_FORMAT

pytestmark = pytest.mark.integration
WAIT = 30
FAULTS = {"f-never": ["never_returns"], "f-cycle": ["needs_power_cycle"], "f-helper": ["helper_fails"],
          "f-slow": ["slow_boot"], "f-drops": ["drops_acks"], "f-crash": ["crash_loop"]}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fleet_broker):
    fleet = fleet_broker.fleet(tmp_path_factory.mktemp("fault-fleet"), ["f-ok", *FAULTS], faults=FAULTS,
                               poe={"f-cycle": {"switch": "sim-switch", "group": 1, "port": 5}},
                               groups=[("canary", 1), ("wave1", 3), ("wave2", None)])
    yield fleet
    fleet.stop()


def reboot(ctl, fleet, name):
    return ctl.send(fleet.clients[name].client_uuid, "reboot_host")


def test_never_returns_stays_down_even_after_power_cycle(fleet, ctl):
    client = fleet.clients["f-never"]
    cmd = reboot(ctl, fleet, "f-never")
    assert ctl.wait_statuses(cmd["command_id"], ["execution_started"], WAIT)
    time.sleep(2.5)
    fleet.power_cycle("f-never")
    time.sleep(2.0)
    assert client.state == "dead"
    assert ctl.statuses(cmd["command_id"]) == ["accepted", "execution_started"]


def test_needs_power_cycle_comes_back_only_after_the_poe_hook(fleet, ctl):
    client = fleet.clients["f-cycle"]
    boots = client.boots
    cmd = reboot(ctl, fleet, "f-cycle")
    assert ctl.wait_statuses(cmd["command_id"], ["execution_started"], WAIT)
    time.sleep(2.5)
    assert client.state == "hung"
    assert ctl.terminal(cmd["command_id"]) is None
    # What the simulated PoE switch reports when the port goes off and on again.
    assert fleet.handle_power_event({"event": "power_off", "group": 1, "port": 5}) == "f-cycle"
    assert fleet.handle_power_event({"event": "power_on", "group": 1, "port": 5, "off_for_s": 5}) == "f-cycle"
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term["status"] == "completed"
    assert client.boots == boots + 1


def test_helper_fails_gives_helper_failed_and_no_reboot(fleet, ctl):
    client = fleet.clients["f-helper"]
    boots = client.boots
    cmd = reboot(ctl, fleet, "f-helper")
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert (term["status"], term["error_code"]) == ("failed", "helper_failed")
    assert ctl.statuses(cmd["command_id"]) == ["accepted", "execution_started", "failed"]
    assert client.boots == boots


def test_slow_boot_exceeds_the_scaled_cold_boot_ceiling(fleet, ctl):
    cmd = reboot(ctl, fleet, "f-slow")
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term["status"] == "completed"
    took = ctl.first_ack_time(cmd["command_id"], "completed") - ctl.first_ack_time(cmd["command_id"],
                                                                                   "execution_started")
    assert took > 150 * fleet.time_scale, f"slow boot took only {took:.2f} s"


def test_drops_acks_reboots_silently(fleet, ctl):
    client = fleet.clients["f-drops"]
    boots, boot_id = client.boots, client.boot_id
    cmd = reboot(ctl, fleet, "f-drops")
    assert ctl.wait_boot_change(client.client_uuid, boot_id, WAIT), "heartbeats never showed the new boot id"
    time.sleep(1.0)
    assert ctl.ack_records(cmd["command_id"]) == []
    assert client.boots == boots + 1


def test_crash_loop_restarts_the_agent_again_and_again(fleet):
    client = fleet.clients["f-crash"]
    starts = client.agent_starts
    deadline = time.monotonic() + 3 * fleet.crash_after_s + 5
    while client.agent_starts < starts + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.agent_starts >= starts + 2
    assert any("crash_loop" in event for _t, event in client.events)


def test_manifest_and_inventory(fleet):
    manifest = json.loads(Path(fleet.manifest_path).read_text())
    assert manifest["format"] == MANIFEST_FORMAT
    assert manifest["status"] == "ready"
    assert set(manifest["broker"]) >= {"host", "port", "tls", "ca_cert"}
    assert manifest["controller"]["username"] == "infoscreen-controller"
    entry = next(c for c in manifest["clients"] if c["name"] == "f-slow")
    assert entry["faults"] == ["slow_boot"]
    assert entry["username"] == entry["client_uuid"]
    assert set(entry) >= {"name", "client_uuid", "username", "password", "faults", "root", "state_dir",
                          "config_path", "boot_id_path", "agent_command"}
    for path in (fleet.manifest_path, fleet.inventory_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    out = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(fleet.inventory_path),
                          "--list"], capture_output=True, text=True, check=True, timeout=60).stdout
    inv = json.loads(out)
    assert sorted(inv["infoscreen_clients"]["children"]) == ["canary", "wave1", "wave2"]
    assert inv["canary"]["hosts"] == ["f-ok"]
    assert len(inv["wave1"]["hosts"]) == 3
    hv = inv["_meta"]["hostvars"]["f-cycle"]
    assert hv["client_uuid"] == fleet.clients["f-cycle"].client_uuid
    assert hv["ansible_connection"] == "local"
    assert hv["infoscreen_poe_port"] == 5
    assert hv["infoscreen_mqtt_password"] == next(c["password"] for c in manifest["clients"] if c["name"] == "f-cycle")
