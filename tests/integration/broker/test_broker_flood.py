"""One client flooding its own ack topic cannot make the controller lose other clients' outcome
(issue 13, item 5), on the real broker (role-rendered) with real agents.

While the controller's wave is offline its persistent session keeps collecting acks, up to
mosquitto's per-session ``max_queued_messages`` shared by every client (here 100, so the
flood is small). A third client account floods its own ack topic past that limit; the
victims' ``completed`` acks, sent while the controller is still away, are dropped by the
broker. The wave must still end ``completed`` for both: on reconnecting it re-announces every
command it still waits for, and the agents answer with their current status. The periodic
re-announce is set later than the wave's deadline, so only the reconnect re-announce can save
the wave here.
"""

import time

import pytest
from broker_probe import Probe
from fixtures.broker import make_clients
from infoscreen_sim.ack_flood import run_ack_flood
from infoscreen_sim.broker import LocalBroker

pytestmark = pytest.mark.integration

QUEUE_LIMIT = 100
FLOOD = 3 * QUEUE_LIMIT


def test_an_ack_flood_while_the_controller_is_offline_loses_no_outcome(tmp_path, ledger_path):
    """Both victims end ``completed`` although their completed acks were crowded out of the
    controller's queue by another client's flood: the wave asked again after reconnecting."""
    accounts = make_clients(3, prefix="flood")
    with LocalBroker(tmp_path / "broker", accounts,
                     extra_vars={"mqtt_broker_max_queued_messages": QUEUE_LIMIT}) as broker:
        outcome = run_ack_flood(tmp_path / "fleet", broker, accounts[:2], accounts[2], FLOOD, ledger_path=ledger_path,
                                timeout_s=40)
    assert outcome["stats"]["foreign_acks"] <= QUEUE_LIMIT + 20  # the queue was full: the flood was cut
    for result in outcome["results"].values():
        assert result["state"] == "completed", result
        assert result["republished"] >= 1, result  # asked again after the reconnect


def test_a_payload_above_message_size_limit_is_dropped(shared_broker, shared_broker_clients):
    """One message cannot add more than mqtt_broker_message_size_limit (16 KiB) to the
    controller's queue: a 20 KB ack from a client is dropped, a 4.3 KB one (the largest the
    contract allows) arrives, and so does a barrier published after both."""
    me = shared_broker_clients[0]
    topic = f"infoscreen/{me['client_uuid']}/commands/ack"
    controller = Probe(shared_broker, shared_broker.controller_username, shared_broker.controller_password)
    client = Probe(shared_broker, me["client_uuid"], me["password"])
    try:
        controller.subscribe(topic)
        big, largest, barrier = "B" * 20_000, "L" * 4_300, f"barrier-{time.monotonic_ns()}"
        for payload in (big, largest, barrier):
            client.publish(topic, payload)
        assert controller.wait_for(barrier)
        assert largest in controller.payloads()
        assert big not in controller.payloads()
    finally:
        client.close()
        controller.close()
