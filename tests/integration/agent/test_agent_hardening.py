"""Issue 13 against the real broker (mqtt_broker role) and real agents: a flood cannot
defeat the lockout or silence the client, a retained command cannot loop a client whose
state is lost at every boot, and a cloned identity is reported by the agent."""

import configparser
import json
import re
import signal
import subprocess
import sys
import time

import pytest
from infoscreen_agent.contract import command_topic, make_command

pytestmark = pytest.mark.integration
WAIT = 60
_EXECUTING = re.compile(r"executing \w+ for command ([0-9a-f-]{36})")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fleet_broker):
    # A small dedupe store, so a modest flood evicts far more entries than the lockout allows.
    fleet = fleet_broker.fleet(tmp_path_factory.mktemp("hardening-fleet"), ["h1", "h2", "h3", "h4", "h5"],
                               faults={"h2": ["loses_state"]},
                               agent_options={"agent.dedupe_max_entries": 20, "mqtt.reconnect_max_s": 2})
    yield fleet
    fleet.stop()


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
        for _unused in range(25):
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


def test_input_limits_on_a_real_agent(fleet, ctl):
    """Year-9999 expires_at: failed/invalid_payload; same command_id with another action:
    failed/command_id_reused; the same id in upper case: a duplicate, not a second run."""
    client = fleet.clients["h4"]
    far = make_command(client.client_uuid, "reboot_host")
    far["expires_at"] = "9999-12-31T23:59:59.999Z"
    ctl.publish_raw(client.client_uuid, far)
    assert ctl.wait_for(lambda: ctl.terminal(far["command_id"]), WAIT)
    assert ctl.terminal(far["command_id"])["error_code"] == "invalid_payload"
    cmd = ctl.send(client.client_uuid, "restart_app")
    assert ctl.wait_for(lambda: "completed" in ctl.statuses(cmd["command_id"]), WAIT)
    ctl.publish_raw(client.client_uuid, dict(cmd, action="shutdown_host"))
    assert ctl.wait_for(lambda: any(b.get("error_code") == "command_id_reused"
                                    for _t, _topic, _alias, b in ctl.ack_records(cmd["command_id"])), WAIT)
    upper = dict(cmd, command_id=cmd["command_id"].upper())
    ctl.publish_raw(client.client_uuid, upper)
    assert ctl.wait_for(lambda: ctl.ack_records(upper["command_id"]), WAIT)
    assert [b["status"] for _t, _topic, _alias, b in ctl.ack_records(upper["command_id"])][0] == "completed"
    time.sleep(1.0)
    assert len(executions(client, {cmd["command_id"]})) == 1
    assert client.boots == 1  # the shutdown_host under the reused id never ran


def test_unwritable_state_dir_answers_failed_and_health_says_so(fleet, ctl):
    """The agent restarted with a state dir it cannot create: it runs, says can_record false in
    health, and answers a command failed/state_unwritable without running it."""
    client = fleet.clients["h5"]
    blocker = client.root / "blocker"
    blocker.write_text("")
    client.role_config_path.parent.mkdir(parents=True, exist_ok=True)
    client.role_config_path.write_text(f"[agent]\nstate_dir = {blocker / 'state'}\n")
    try:
        pid = fleet.status()["h5"]["pid"]
        fleet.signal_agent("h5", signal.SIGKILL)
        assert ctl.wait_for(lambda: fleet.status()["h5"]["pid"] not in (None, pid), WAIT)
        ctl.health.pop(client.client_uuid, None)

        def cannot_record():
            state = (ctl.health.get(client.client_uuid) or {}).get("agent_state") or {}
            return state.get("can_record") is False

        assert ctl.wait_for(cannot_record, WAIT), ctl.health.get(client.client_uuid)
        cmd = ctl.send(client.client_uuid, "restart_app")
        assert ctl.wait_for(lambda: ctl.terminal(cmd["command_id"]), WAIT)
        assert ctl.terminal(cmd["command_id"])["error_code"] == "state_unwritable"
        assert executions(client, {cmd["command_id"]}) == []
    finally:
        client.role_config_path.unlink(missing_ok=True)
