"""The broker role's files on a real mosquitto: authentication and the per-client ACL matrix.

mosquitto denies silently (a denied subscribe is still granted, a denied publish still gets
PUBACK), so a denial is asserted by its unique token never arriving anywhere, after a
barrier message proved that everything sent before it has been delivered.
"""

import uuid

import pytest
from broker_probe import Probe, connect_reason

pytestmark = pytest.mark.integration


def own_read(u):
    return [f"infoscreen/{u}/commands", f"infoscreen/{u}/command"]


def own_write(u):
    return [f"infoscreen/{u}/{s}" for s in ("commands/ack", "command/ack", "heartbeat", "health",
                                            "service_failed", "logs")]


@pytest.fixture
def parties(shared_broker, shared_broker_clients):
    controller = Probe(shared_broker, shared_broker.controller_username, shared_broker.controller_password)
    clients = {c["client_uuid"]: Probe(shared_broker, c["client_uuid"], c["password"]) for c in shared_broker_clients}
    yield controller, clients
    controller.close()
    for probe in clients.values():
        probe.close()


def test_controller_and_every_client_authenticate(shared_broker, shared_broker_clients):
    assert connect_reason(shared_broker, shared_broker.controller_username, shared_broker.controller_password) == \
        "Success"
    for c in shared_broker_clients:
        assert connect_reason(shared_broker, c["client_uuid"], c["password"]) == "Success"


def test_anonymous_wrong_password_and_borrowed_password_are_refused(shared_broker, shared_broker_clients):
    first, second = shared_broker_clients[0], shared_broker_clients[1]
    assert connect_reason(shared_broker, None, None) == "Not authorized"
    assert connect_reason(shared_broker, shared_broker.controller_username, "wrong") == "Not authorized"
    assert connect_reason(shared_broker, first["client_uuid"], second["password"]) == "Not authorized"
    assert connect_reason(shared_broker, "someone-else", first["password"]) == "Not authorized"


def test_each_client_reads_its_own_two_command_topics_and_nothing_else(parties):
    controller, clients = parties
    run = uuid.uuid4().hex[:8]
    everything = [t for u in clients for t in own_read(u) + own_write(u)]
    for probe in clients.values():
        probe.subscribe(*everything, "infoscreen/#", "#")
    expected = {}
    for u in clients:
        expected[u] = {f"{run}:{topic}" for topic in own_read(u)}
        for topic in own_read(u):
            controller.publish(topic, f"{run}:{topic}")
        for topic in own_write(u):  # the controller may write there; no client may read it
            controller.publish(topic, f"{run}:{topic}")
    for u, probe in clients.items():  # barrier: sent last, on the client's own command topic
        controller.publish(own_read(u)[0], f"{run}:barrier")
        assert probe.wait_for(f"{run}:barrier"), f"client {u} never got its barrier command"
    for u, probe in clients.items():
        got = {p for p in probe.payloads() if p.startswith(run) and p != f"{run}:barrier"}
        assert got == expected[u], f"client {u} read {sorted(got - expected[u])} / missed {sorted(expected[u] - got)}"


def test_each_client_writes_only_its_own_ack_heartbeat_health_service_failed_logs(parties):
    controller, clients = parties
    run = uuid.uuid4().hex[:8]
    controller.subscribe("infoscreen/#")
    allowed, denied = set(), set()
    for me, probe in clients.items():
        for topic in own_write(me):
            probe.publish(topic, f"{run}:{me}:{topic}")
            allowed.add(f"{run}:{me}:{topic}")
        for topic in own_read(me):  # a client must not inject commands, not even its own
            probe.publish(topic, f"{run}:{me}:{topic}")
            denied.add(f"{run}:{me}:{topic}")
        for other in clients:
            if other != me:
                for topic in own_read(other) + own_write(other):
                    probe.publish(topic, f"{run}:{me}:{topic}")
                    denied.add(f"{run}:{me}:{topic}")
        probe.publish(own_write(me)[2], f"{run}:{me}:barrier")
    for me in clients:
        assert controller.wait_for(f"{run}:{me}:barrier"), f"controller never got {me}'s barrier"
    got = {p for p in controller.payloads() if p.startswith(run) and not p.endswith(":barrier")}
    assert got == allowed, f"missing allowed: {sorted(allowed - got)}; delivered denied: {sorted(got & denied)}"
    assert len(allowed) == 6 * len(clients) and len(denied) == 8 * len(clients) ** 2 - 6 * len(clients)
