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

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.module_utils.wave_driver import WaveOptions, WaveRun
from fixtures.broker import make_clients
from infoscreen_sim.broker import LocalBroker
from infoscreen_sim.fleet import Fleet
from tcp_gate import TcpGate

pytestmark = pytest.mark.integration

QUEUE_LIMIT = 100
FLOOD = 3 * QUEUE_LIMIT


@pytest.fixture
def flood_setup(tmp_path):
    accounts = make_clients(3, prefix="flood")
    broker = LocalBroker(tmp_path / "broker", accounts,
                         extra_vars={"mqtt_broker_max_queued_messages": QUEUE_LIMIT}).start()
    fleet = None
    gate = None
    try:
        fleet = Fleet(tmp_path / "fleet", clients=["victim-1", "victim-2"], broker=broker, accounts=accounts[:2],
                      time_scale=0.02, boot_time="fixed:200",
                      agent_options={"agent.heartbeat_interval_s": 2, "agent.health_interval_s": 5,
                                     "agent.lockout_max": 0, "mqtt.reconnect_max_s": 2}).start()
        gate = TcpGate(broker.host, broker.port)
        yield broker, fleet, gate, accounts[2]
    finally:
        if gate is not None:
            gate.stop()
        if fleet is not None:
            fleet.stop()
        broker.stop()


def _flood(broker, account, count):
    """``count`` schema-valid acks for made-up commands on the flooder's own ack topic."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=account["client_uuid"])
    client.username_pw_set(account["client_uuid"], account["password"])
    client.connect(broker.host, broker.port, keepalive=10)
    client.loop_start()
    try:
        topic = contract.ack_topic(account["client_uuid"])
        infos = [client.publish(topic, json.dumps(contract.make_ack(str(uuid.uuid4()), "accepted")), qos=1)
                 for _ in range(count)]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_ack_flood_while_the_controller_is_offline_loses_no_outcome(flood_setup, ledger_path):
    """Both victims end ``completed`` although their completed acks were crowded out of the
    controller's queue by another client's flood: the wave asked again after reconnecting."""
    broker, fleet, gate, flooder = flood_setup
    names = sorted(fleet.clients)
    boots = {name: status["boots"] for name, status in fleet.status().items()}
    params = {"mqtt_host": gate.host, "mqtt_port": gate.port, "mqtt_username": broker.controller_username,
              "mqtt_password": broker.controller_password, "mqtt_tls": False, "mqtt_ca_cert": None,
              "mqtt_keepalive": 5}
    wave = WaveRun([(n, fleet.clients[n].client_uuid) for n in names],
                   WaveOptions("reboot_host", timeout_s=40, reannounce_s=120, progress_interval_s=1), None, params)

    def drive():
        with Ledger(str(ledger_path)) as ledger:  # sqlite: used in the thread that opened it
            wave.ledger = ledger
            wave.run()

    thread = threading.Thread(target=drive)
    thread.start()
    try:
        _wait(lambda: len(wave.trackers) == 2 and all(t.state == "execution_started"
                                                      for t in list(wave.trackers.values())),
              20, "both reboots started")
        gate.close()  # the controller goes offline; its session stays on the broker
        _flood(broker, flooder, FLOOD)
        _wait(lambda: all(s["boots"] > boots[n] and s["healthy"] for n, s in fleet.status().items()),
              30, "both victims back from the reboot")
        time.sleep(0.5)  # their completed acks are at the broker (sent before their health)
    finally:
        gate.open()
        thread.join(60)
    assert not thread.is_alive()
    for name in names:
        result = wave.results[name]
        assert result["state"] == "completed", result
        assert result["republished"] >= 1, result  # asked again after the reconnect
