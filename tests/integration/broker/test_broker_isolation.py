"""One client account cannot hurt another through the broker (issue 13, item 5).

Real mosquitto with the files the mqtt_broker role renders. A client's MQTT client id is
bound to its account (docs/broker.md, "Client ids"): another client account that presents
that id is refused at CONNECT, so it can neither kick the owner off nor take over, consume
or destroy the owner's persistent session and the QoS 1 command queued in it. The
controller account keeps free client ids (one per wave / health read).
"""

import json
import subprocess
import sys
import time

import pytest
from broker_probe import Probe, connect_reason

pytestmark = pytest.mark.integration


def _command_topic(client):
    return f"infoscreen/{client['client_uuid']}/commands"


def test_a_client_presenting_another_clients_id_is_refused(shared_broker, shared_broker_clients):
    """A client account connecting with another client's id (or any id not its own) gets
    "Not authorized"; with its own id it connects, and the controller may use any id."""
    victim, attacker = shared_broker_clients[0], shared_broker_clients[1]
    assert connect_reason(shared_broker, attacker["client_uuid"], attacker["password"],
                          client_id=victim["client_uuid"]) == "Not authorized"
    assert connect_reason(shared_broker, attacker["client_uuid"], attacker["password"],
                          client_id="anything-else") == "Not authorized"
    assert connect_reason(shared_broker, attacker["client_uuid"], attacker["password"],
                          client_id=attacker["client_uuid"]) == "Success"
    assert connect_reason(shared_broker, shared_broker.controller_username, shared_broker.controller_password,
                          client_id="infoscreen-ctl-any-id") == "Success"


def test_another_account_cannot_consume_or_destroy_a_queued_command(shared_broker, shared_broker_clients):
    """The owner's persistent session holds a QoS 1 command while it is offline; another client
    account trying to resume (clean_session false) or wipe (clean_session true) that session
    with the owner's id is refused, and the owner still gets the command when it returns."""
    victim, attacker = shared_broker_clients[0], shared_broker_clients[2]
    topic = _command_topic(victim)
    session = dict(client_id=victim["client_uuid"], clean_session=False)
    owner = Probe(shared_broker, victim["client_uuid"], victim["password"], **session)
    owner.subscribe(topic)
    owner.close()
    controller = Probe(shared_broker, shared_broker.controller_username, shared_broker.controller_password)
    token = f"queued-{time.monotonic_ns()}"
    controller.publish(topic, token)
    controller.close()
    for clean in (False, True):
        assert connect_reason(shared_broker, attacker["client_uuid"], attacker["password"],
                              client_id=victim["client_uuid"], clean_session=clean) == "Not authorized"
    back = Probe(shared_broker, victim["client_uuid"], victim["password"], **session)
    try:
        assert back.wait_for(token), "the command queued for the offline owner was consumed or destroyed"
    finally:
        back.close()


def test_another_account_cannot_kick_a_real_agent_off(fleet_broker, fleet_factory, fleet_controller):
    """A running agent stays connected while another client account keeps presenting its id:
    its health reports no reconnect, and a command sent afterwards completes."""
    fleet = fleet_factory(1, shared_broker=True)
    attacker = fleet_broker.take(1)[0]
    agent = fleet.manifest["clients"][0]
    ctl = fleet_controller(fleet)
    reasons = []
    for _unused in range(5):
        reasons.append(connect_reason(fleet_broker.broker, attacker["client_uuid"], attacker["password"],
                                      client_id=agent["client_uuid"], clean_session=True))
        time.sleep(0.2)
    assert set(reasons) == {"Not authorized"}, reasons
    # The first health message sent after the attempts says how often the agent reconnected.
    since = time.monotonic()
    topic = f"infoscreen/{agent['client_uuid']}/health"
    later = ctl.wait_for(lambda: [p for t, tp, p in ctl.messages if tp == topic and t > since], 20)
    assert later, "no health from the agent after the attempts"
    health = json.loads(later[0])
    cmd = ctl.send(agent["client_uuid"], "restart_app")
    terminal = ctl.wait_terminal([cmd["command_id"]], 30)[cmd["command_id"]]
    assert terminal["status"] == "completed", terminal
    assert health["broker_connection"]["reconnect_count"] == 0, health["broker_connection"]


def test_notify_service_failed_keeps_the_command_queued_for_its_agent(shared_broker, shared_broker_clients,
                                                                      tmp_path):
    """The real ``infoscreen-agent notify-service-failed`` shares the agent's client id (the only
    one its account may use): it publishes its report, and a QoS 1 command queued for the
    offline agent is neither consumed nor destroyed - the owner still gets it afterwards."""
    me = shared_broker_clients[2]
    topic = _command_topic(me)
    session = dict(client_id=me["client_uuid"], clean_session=False)
    owner = Probe(shared_broker, me["client_uuid"], me["password"], **session)
    owner.subscribe(topic)
    owner.close()
    controller = Probe(shared_broker, shared_broker.controller_username, shared_broker.controller_password)
    controller.subscribe(f"infoscreen/{me['client_uuid']}/service_failed")
    token = f"queued-{time.monotonic_ns()}"
    controller.publish(topic, token)
    boot_id = tmp_path / "boot_id"
    boot_id.write_text("3f1c1b2e-5a4d-4c3b-9e2f-1a2b3c4d5e6f\n")
    config = tmp_path / "agent.ini"
    config.write_text(f"[mqtt]\nhost = {shared_broker.host}\nport = {shared_broker.port}\n"
                      f"username = {me['client_uuid']}\npassword = {me['password']}\n\n"
                      f"[agent]\nclient_uuid = {me['client_uuid']}\nstate_dir = {tmp_path / 'state'}\n"
                      f"power_backend = sim\nboot_id_path = {boot_id}\n\n"
                      f"[sim]\nrequest_path = {tmp_path / 'power-request.json'}\n")
    config.chmod(0o600)
    try:
        result = subprocess.run([sys.executable, "-m", "infoscreen_agent", "--config", str(config),
                                 "notify-service-failed", "infoscreen-app.service"], capture_output=True,
                                text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stderr
        assert controller.wait_for_topic(f"infoscreen/{me['client_uuid']}/service_failed")
        back = Probe(shared_broker, me["client_uuid"], me["password"], **session)
        try:
            assert back.wait_for(token), "the notifier consumed or destroyed the agent's queued command"
        finally:
            back.close()
    finally:
        controller.publish(f"infoscreen/{me['client_uuid']}/service_failed", "")  # clear the retained report
        controller.close()
