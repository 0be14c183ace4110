"""Issue 13 against the real broker (mqtt_broker role) and real agents: a flood cannot
defeat the lockout or silence the client, a retained command cannot loop a client whose
state is lost at every boot, and a cloned identity is reported by the agent."""

import configparser
import json
import re
import subprocess
import sys
import time

import pytest
from infoscreen_agent.contract import command_topic, make_command
from infoscreen_sim.controller import SimController

pytestmark = pytest.mark.integration
WAIT = 60
_EXECUTING = re.compile(r"executing \w+ for command ([0-9a-f-]{36})")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fleet_broker):
    # A small dedupe store, so a modest flood evicts far more entries than the lockout allows.
    fleet = fleet_broker.fleet(tmp_path_factory.mktemp("hardening-fleet"), ["h1", "h2", "h3"],
                               faults={"h2": ["loses_state"]},
                               agent_options={"agent.dedupe_max_entries": 20, "mqtt.reconnect_max_s": 2})
    yield fleet
    fleet.stop()


@pytest.fixture
def ctl(fleet):
    controller = SimController(fleet.manifest)
    yield controller
    controller.close()


def executions(client, ids):
    text = client.log_path.read_text(errors="replace")
    return [cid for cid in _EXECUTING.findall(text) if cid in ids]


def test_flood_of_distinct_commands_cannot_defeat_the_lockout(fleet, ctl):
    """8 bursts of 25 valid commands against a 20-entry store: exactly lockout_max (3) run, the
    session stays up. Each burst starts once the previous one is answered and the client is idle
    again, so only the lockout (not "busy") can refuse its first command."""
    client = fleet.clients["h1"]
    pid = fleet.status()["h1"]["pid"]
    ids = []
    for _burst in range(8):
        burst = []
        for _ in range(25):
            cmd = make_command(client.client_uuid, "restart_app")
            ctl.publish_raw(client.client_uuid, cmd)
            burst.append(cmd["command_id"])
        ids += burst
        assert ctl.wait_for(lambda b=burst: all(ctl.terminal(cid) for cid in b), WAIT), "a burst got no answer"
        time.sleep(0.5)  # the restart's completed ack is PUBACKed: the client is idle
    assert len(executions(client, set(ids))) == 3
    codes = {ctl.terminal(cid)["error_code"] for cid in ids}
    assert "lockout" in codes
    assert fleet.status()["h1"]["pid"] == pid  # same process: no crash, no restart
    assert "disconnected from broker" not in client.log_path.read_text(errors="replace")


def test_retained_reboot_does_not_loop_a_client_that_loses_its_state_every_boot(fleet, ctl):
    """A retained reboot_host reaches the client live once (runs once); after the reboot, with the
    state dir wiped, the retained copy is refused (failed/retained) instead of rebooting again.
    (The outcome of the reboot itself is lost with the state: no completed ack can be sent.)"""
    client = fleet.clients["h2"]
    boots = client.boots
    cmd = make_command(client.client_uuid, "reboot_host", validity_s=900)
    topic = command_topic(client.client_uuid)
    ctl.client.publish(topic, json.dumps(cmd), qos=1, retain=True).wait_for_publish(10)
    try:
        assert ctl.wait_for(lambda: "execution_started" in ctl.statuses(cmd["command_id"]), WAIT)
        assert ctl.wait_for(lambda: any(body.get("error_code") == "retained"
                                        for _t, _topic, _alias, body in ctl.ack_records(cmd["command_id"])), WAIT)
        time.sleep(2.0)  # a second reboot would show as a boot within the supervisor's ticks
        assert client.boots == boots + 1
        assert len(executions(client, {cmd["command_id"]})) == 1
    finally:
        ctl.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)


def test_republished_reboot_after_state_loss_is_state_lost(fleet, ctl):
    """A reboot runs, the client's state dir is lost at the boot, the controller publishes the same
    command again: failed/state_lost, no second reboot."""
    client = fleet.clients["h2"]
    boots, boot_before = client.boots, client.boot_id
    cmd = ctl.send(client.client_uuid, "reboot_host")
    assert ctl.wait_for(lambda: "execution_started" in ctl.statuses(cmd["command_id"]), WAIT)
    assert ctl.wait_boot_change(client.client_uuid, boot_before, WAIT)
    ctl.publish_raw(client.client_uuid, cmd)
    assert ctl.wait_for(lambda: any(body.get("error_code") == "state_lost"
                                    for _t, _topic, _alias, body in ctl.ack_records(cmd["command_id"])), WAIT)
    time.sleep(2.0)
    assert client.boots == boots + 1
    assert len(executions(client, {cmd["command_id"]})) == 1


def _clone_config(client, tmp_path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([client.config_path] + ([client.role_config_path] if client.role_config_path.exists() else []))
    (tmp_path / "clone").mkdir()
    (tmp_path / "clone" / "boot_id").write_text("clone-boot\n")
    parser["agent"]["state_dir"] = str(tmp_path / "clone" / "state")
    parser["agent"]["boot_id_path"] = str(tmp_path / "clone" / "boot_id")
    parser["sim"]["request_path"] = str(tmp_path / "clone" / "power-request.json")
    parser["sim"]["app_state_path"] = str(tmp_path / "clone" / "app_state")
    path = tmp_path / "clone" / "agent.ini"
    with open(path, "w", encoding="utf-8") as handle:
        parser.write(handle)
    path.chmod(0o600)
    return path


def test_cloned_identity_is_reported_in_health(fleet, ctl, tmp_path):
    """A second Pi with the same uuid and password (one SD image): the agent reports the take-overs."""
    client = fleet.clients["h3"]
    config = _clone_config(client, tmp_path)
    with open(tmp_path / "clone" / "agent.log", "w", encoding="utf-8") as log:
        clone = subprocess.Popen([sys.executable, "-m", "infoscreen_agent", "--config", str(config), "run"],
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def flagged():
            health = ctl.health.get(client.client_uuid) or {}
            return (health.get("agent_state") or {}).get("identity_conflict_suspected")

        assert ctl.wait_for(flagged, WAIT), ctl.health.get(client.client_uuid)
        logs = client.log_path.read_text(errors="replace") + (tmp_path / "clone" / "agent.log").read_text()
        assert "another client is probably connecting with client id" in logs
    finally:
        clone.terminate()
        clone.wait(timeout=10)
