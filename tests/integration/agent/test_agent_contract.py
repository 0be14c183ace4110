"""The agent's side of contract v1, against the real broker (mqtt_broker role) and real agents.

One simulated fleet for the module; every test uses its own clients, so the client-side
lockout (3 reboot-class commands per 15 min) never interferes.
"""

import datetime
import json
import subprocess
import sys
import time

import pytest
from infoscreen_agent.contract import make_command, utcnow, validate
from infoscreen_agent.store import read_entries
from infoscreen_sim.controller import SimController

pytestmark = pytest.mark.integration
NAMES = [f"c{i}" for i in range(1, 9)]
WAIT = 30


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fleet_broker):
    fleet = fleet_broker.fleet(tmp_path_factory.mktemp("contract-fleet"), NAMES, faults={"c4": ["app_crashed"]})
    yield fleet
    fleet.stop()


def uuid_of(fleet, name):
    return fleet.clients[name].client_uuid


def dedupe_entries(fleet, name):
    return read_entries(str(fleet.clients[name].root / "state"))


def test_reboot_host_completes_with_new_boot_id_and_is_not_rerun_after_reboot(fleet, ctl):
    client = fleet.clients["c1"]
    boot_before, boots_before = client.boot_id, client.boots
    cmd = ctl.send(client.client_uuid, "reboot_host")
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term is not None and term["status"] == "completed", ctl.statuses(cmd["command_id"])
    assert ctl.statuses(cmd["command_id"]) == ["accepted", "execution_started", "completed"]
    assert client.boots == boots_before + 1
    assert ctl.wait_boot_change(client.client_uuid, boot_before, WAIT)
    assert ctl.boot_ids[client.client_uuid] == client.boot_id != boot_before
    # The same command_id again, after the reboot: re-announced, not executed.
    ctl.publish_raw(client.client_uuid, cmd)
    assert ctl.wait_for(lambda: ctl.statuses(cmd["command_id"]).count("completed") >= 2, WAIT)
    time.sleep(1.5)  # a re-execution would show as a power request within the supervisor's tick
    assert client.boots == boots_before + 1
    assert "failed" not in ctl.statuses(cmd["command_id"])


def test_same_command_twice_at_once_executes_once(fleet, ctl):
    client = fleet.clients["c2"]
    boots_before = client.boots
    cmd = make_command(client.client_uuid, "reboot_host")
    ctl.publish_raw(client.client_uuid, cmd)
    ctl.publish_raw(client.client_uuid, cmd, transitional=True)
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term["status"] == "completed"
    time.sleep(1.5)
    assert client.boots == boots_before + 1  # executed once: one power request, one boot
    # The second copy is answered by re-announcing whatever ack was latest when it arrived
    # (accepted or execution_started, depending on timing), so statuses may repeat but never
    # go backwards and never report a failure.
    statuses = ctl.statuses(cmd["command_id"])
    assert list(dict.fromkeys(statuses)) == ["accepted", "execution_started", "completed"], statuses
    assert "failed" not in statuses
    assert dedupe_entries(fleet, "c2")[cmd["command_id"]]["status"] == "completed"


def test_shutdown_host_completes_and_stays_down_until_power_on(fleet, ctl):
    client = fleet.clients["c3"]
    boots_before = client.boots
    cmd = ctl.send(client.client_uuid, "shutdown_host")
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term["status"] == "completed"
    assert ctl.statuses(cmd["command_id"]) == ["accepted", "execution_started", "completed"]
    time.sleep(1.5)
    assert client.state == "off"
    assert client.boots == boots_before
    fleet.power_on("c3")
    fleet.wait_ready(WAIT, names=["c3"])
    assert client.boots == boots_before + 1
    assert dedupe_entries(fleet, "c3")[cmd["command_id"]]["status"] == "completed"


def test_restart_app_completes_when_the_app_runs_again(fleet, ctl):
    uuid = uuid_of(fleet, "c4")
    health = ctl.wait_for(lambda: ctl.health.get(uuid), WAIT)
    assert health["app_state"] == "crashed"
    cmd = ctl.send(uuid, "restart_app")
    term = ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]
    assert term["status"] == "completed"
    assert ctl.statuses(cmd["command_id"]) == ["accepted", "execution_started", "completed"]
    assert (fleet.clients["c4"].app_state_path.read_text().strip()) == "running"


def _bad_commands(fleet, uuid):
    now = utcnow()
    expired = make_command(uuid, "reboot_host", issued_at=now - datetime.timedelta(minutes=10))
    wrong = make_command(uuid_of(fleet, "c8"), "reboot_host")
    version = dict(make_command(uuid, "reboot_host"), schema_version="2.0")
    action = dict(make_command(uuid, "reboot_host"), action="format_disk")
    extra = dict(make_command(uuid, "reboot_host"), priority="high")
    return {"expired": expired, "wrong_client": wrong, "unsupported_schema_version": version,
            "unsupported_action": action, "invalid_payload": extra}


def test_bad_commands_are_refused_with_specific_codes_and_nothing_runs(fleet, ctl):
    client = fleet.clients["c5"]
    boots_before = client.boots
    bad = _bad_commands(fleet, client.client_uuid)
    ctl.publish_raw(client.client_uuid, b'{"command_id": "7f1b6c1e-0c51-4a47-9d0e-1d3c3f6b2a10", "action": ')
    ctl.publish_raw(client.client_uuid, b"\x00\xff not json")
    for cmd in bad.values():
        ctl.publish_raw(client.client_uuid, cmd)
    # The agent keeps serving: a valid command after the bad ones completes.
    good = ctl.send(client.client_uuid, "restart_app")
    assert ctl.wait_terminal([good["command_id"]], WAIT)[good["command_id"]]["status"] == "completed"
    for code, cmd in bad.items():
        term = ctl.terminal(cmd["command_id"])
        assert term is not None, f"no ack for the {code} command"
        assert (term["status"], term["error_code"]) == ("failed", code)
        assert ctl.statuses(cmd["command_id"]) == ["failed"]
    # Malformed JSON has no readable command_id: no ack at all for it.
    known = {c["command_id"] for c in bad.values()} | {good["command_id"]}
    seen = {body["command_id"] for _t, topic, _a, body in ctl.acks if client.client_uuid in topic}
    assert seen == known
    assert client.boots == boots_before
    executed = [cid for cid, e in dedupe_entries(fleet, "c5").items() if e["executed_at"]]
    assert executed == [good["command_id"]]


def test_acks_on_both_topics_schema_valid_and_transitional_command_topic_works(fleet, ctl):
    uuid = uuid_of(fleet, "c6")
    cmd = ctl.send(uuid, "restart_app", transitional=True)
    assert ctl.wait_for(lambda: ctl.statuses(cmd["command_id"], transitional=True)[-1:] == ["completed"], WAIT)
    canonical = ctl.statuses(cmd["command_id"], transitional=False)
    alias = ctl.statuses(cmd["command_id"], transitional=True)
    assert canonical == alias == ["accepted", "execution_started", "completed"]
    for _t, _topic, _alias, body in ctl.ack_records(cmd["command_id"]):
        validate("ack", body)


def test_heartbeat_and_health_are_schema_valid(fleet, ctl):
    uuid = uuid_of(fleet, "c6")
    health = ctl.wait_for(lambda: ctl.health.get(uuid), WAIT)
    validate("health", health)
    assert health["boot_id"] == fleet.clients["c6"].boot_id
    assert health["release"] == "1.0.0+sim"
    assert health["broker_connection"]["reconnect_count"] == 0
    beats = ctl.wait_for(lambda: [m for m in ctl.messages if m[1].endswith(f"{uuid}/heartbeat")], WAIT)
    body = json.loads(beats[-1][2])
    validate("heartbeat", body)
    assert body["agent_version"] == health["agent_version"]


def test_notify_service_failed_publishes_retained_report(fleet):
    client = fleet.clients["c6"]
    result = subprocess.run([sys.executable, "-m", "infoscreen_agent", "--config", str(client.config_path),
                             "notify-service-failed", "infoscreen-app.service"], capture_output=True, text=True,
                            check=False,
                            timeout=30, env={"MONITOR_SERVICE_RESULT": "exit-code", "MONITOR_EXIT_CODE": "exited",
                                             "MONITOR_EXIT_STATUS": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    # A controller that subscribes afterwards still gets it: it is retained.
    late = SimController(fleet.manifest)
    try:
        msgs = late.wait_for(lambda: [m for m in late.messages if m[1].endswith("/service_failed")], WAIT)
    finally:
        late.close()
    body = json.loads(msgs[0][2])
    validate("service_failed", body)
    assert body["unit"] == "infoscreen-app.service"
    assert body["service_result"] == "exit-code"
    assert body["boot_id"] == client.boot_id
    assert client.client_uuid in msgs[0][1]


def test_a_client_cannot_read_or_ack_for_another_client(fleet, ctl):
    host, port = fleet.manifest["broker"]["host"], fleet.manifest["broker"]["port"]
    c7 = next(c for c in fleet.manifest["clients"] if c["name"] == "c7")
    c8 = next(c for c in fleet.manifest["clients"] if c["name"] == "c8")
    # c7's own credentials, in a client that subscribes to everything of c8's it can name.
    spy = SimController({"broker": {"host": host, "port": port},
                         "controller": {"username": c7["username"], "password": c7["password"]}},
                        client_id=c7["client_uuid"], clean_session=True)  # the only id c7's account may use
    try:
        for topic in ("commands", "command", "#"):
            spy.client.subscribe(f"infoscreen/{c8['client_uuid']}/{topic}", qos=1)
        time.sleep(0.3)
        cmd = ctl.send(c8["client_uuid"], "restart_app")
        forged = make_command(c8["client_uuid"], "reboot_host")
        forged_ack = {"command_id": forged["command_id"], "status": "completed", "error_code": None,
                      "error_message": None}
        for topic, body in (("commands/ack", forged_ack), ("command/ack", forged_ack), ("commands", forged)):
            spy.client.publish(f"infoscreen/{c8['client_uuid']}/{topic}", json.dumps(body), qos=1).wait_for_publish(5)
        assert ctl.wait_terminal([cmd["command_id"]], WAIT)[cmd["command_id"]]["status"] == "completed"
        time.sleep(1.0)
        assert spy.acks == [] and spy.messages == [], "c7 read c8's topics"
        assert ctl.ack_records(forged["command_id"]) == [], "c7's forged ack for c8 was delivered"
        assert forged["command_id"] not in dedupe_entries(fleet, "c8"), "c7 injected a command into c8"
    finally:
        spy.close()
