"""Crashes and broker outages around a reboot: no lost and no duplicated outcome.

Real broker, real agents; the agent is killed with SIGKILL by pid through the fleet.
"""

import signal
import time

import pytest
from infoscreen_agent.store import read_entries

pytestmark = pytest.mark.integration
WAIT = 30


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fleet_broker):
    fleet = fleet_broker.fleet(tmp_path_factory.mktemp("crash-fleet"), ["k1", "k2", "k3"])
    yield fleet
    fleet.stop()


def wait_until(predicate, timeout=WAIT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def dedupe_status(client, command_id):
    return read_entries(str(client.root / "state")).get(command_id, {}).get("status")


def test_agent_killed_between_execution_started_and_the_reboot(fleet, ctl):
    client = fleet.clients["k1"]
    boots, starts = client.boots, client.agent_starts
    fleet.hold("k1")  # the helper has returned, the host has not gone down yet
    cmd = ctl.send(client.client_uuid, "reboot_host")
    assert ctl.wait_statuses(cmd["command_id"], ["execution_started"], WAIT)
    wait_until(client.request_path.exists, what="the power request")
    fleet.signal_agent("k1", signal.SIGKILL)
    wait_until(lambda: client.agent_starts == starts + 1 and client.state == "running", what="agent restart")
    time.sleep(1.0)  # the restarted agent sees its pending reboot and must not act on it again
    assert client.boots == boots
    fleet.release("k1")
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term["status"] == "completed"
    time.sleep(1.0)
    statuses = ctl.statuses(cmd["command_id"])
    assert statuses.count("execution_started") == 1
    assert statuses.count("completed") == 1
    assert "failed" not in statuses
    assert client.boots == boots + 1


def test_agent_killed_after_boot_before_publishing_completed(fleet, ctl):
    client = fleet.clients["k2"]
    boots = client.boots
    fleet.hold("k2")
    cmd = ctl.send(client.client_uuid, "reboot_host")
    assert ctl.wait_statuses(cmd["command_id"], ["execution_started"], WAIT)
    wait_until(client.request_path.exists, what="the power request")
    fleet.broker.stop()  # the rebooted agent cannot reach anyone, so it cannot say completed yet
    try:
        fleet.release("k2")
        wait_until(lambda: client.boots == boots + 1 and client.state == "running", what="the reboot")
        starts = client.agent_starts
        # The new agent has decided its pending reboot completed (on disk) but, with no broker,
        # has not told anyone: kill it exactly there.
        wait_until(lambda: dedupe_status(client, cmd["command_id"]) == "completed", what="the decided outcome")
        fleet.signal_agent("k2", signal.SIGKILL)
        wait_until(lambda: client.agent_starts == starts + 1, what="agent restart after the kill")
    finally:
        fleet.broker.start()
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term["status"] == "completed"
    time.sleep(1.5)
    statuses = ctl.statuses(cmd["command_id"])
    assert statuses.count("completed") == 1
    assert "failed" not in statuses
    assert client.boots == boots + 1
    assert not (client.root / "state" / "pending.json").exists()


def test_agents_reconnect_after_broker_restart_and_serve_again(fleet, ctl):
    uuid = fleet.clients["k3"].client_uuid
    ctl.wait_for(lambda: ctl.health.get(uuid), WAIT)
    before = ctl.health[uuid]["broker_connection"]["reconnect_count"]
    fleet.broker.restart()
    health = ctl.wait_for(lambda: (ctl.health.get(uuid) or {}).get("broker_connection", {}).get("reconnect_count", 0)
                          > before and ctl.health[uuid], WAIT)
    assert health, "no health with a higher reconnect_count after the broker restart"
    assert health["broker_connection"]["last_disconnect_at"] is not None
    cmd = ctl.send(uuid, "restart_app")  # re-subscribed: commands reach it again
    assert ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]["status"] == "completed"
