"""Fault scenario: one client floods its own ack topic while the controller's wave is offline.

Used by ``tests/integration/broker/test_broker_flood.py`` (small) and the ACL drill (at the
broker's default limits). The broker is the real mosquitto rendered by the mqtt_broker role,
the victims are real agents, the controller is the real wave driver (in this process) behind
a ``TcpGate`` so it alone can be taken offline:

1. a ``reboot_host`` wave to every victim; once all are ``execution_started`` the gate cuts the
   controller off (its persistent session stays on the broker and keeps queueing acks);
2. the flooder (a client account without an agent) publishes ``flood`` schema-valid acks for
   made-up commands on its own ack topic, more than the session's ``max_queued_messages``;
3. the victims reboot and send ``completed`` while the controller is away: the broker drops
   what does not fit in the full queue;
4. the gate opens; the wave reconnects and must still end every victim ``completed``.
"""

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, WaveRun

from .fleet import Fleet
from .tcp_gate import TcpGate


def flood_acks(broker, account, count):
    """``count`` schema-valid acks for made-up commands on the account's own ack topic (QoS 1)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=account["client_uuid"])
    client.username_pw_set(account["client_uuid"], account["password"])
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        topic = contract.ack_topic(account["client_uuid"])
        infos = [client.publish(topic, json.dumps(contract.make_ack(str(uuid.uuid4()), "accepted")), qos=1)
                 for _unused in range(count)]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def run_ack_flood(workdir, broker, victim_accounts, flooder, flood, *, ledger_path, timeout_s=60.0,
                  reannounce_s=300.0):
    """Run the scenario on a started LocalBroker. Returns {"results", "stats", "flood_s"}.

    ``reannounce_s`` (the periodic re-announce) defaults above the deadline, so only the
    re-announce after the reconnect can recover what the flood crowded out.
    """
    names = [f"victim-{i + 1:02d}" for i in range(len(victim_accounts))]
    fleet = Fleet(workdir, clients=names, broker=broker, accounts=victim_accounts, time_scale=0.02,
                  boot_time="fixed:200", agent_options={"agent.heartbeat_interval_s": 2,
                                                        "agent.health_interval_s": 5, "agent.lockout_max": 0,
                                                        "mqtt.reconnect_max_s": 2}).start()
    gate = TcpGate(broker.host, broker.port)
    try:
        boots = {name: status["boots"] for name, status in fleet.status().items()}
        params = {"mqtt_host": gate.host, "mqtt_port": gate.port, "mqtt_username": broker.controller_username,
                  "mqtt_password": broker.controller_password, "mqtt_tls": False, "mqtt_ca_cert": None,
                  "mqtt_keepalive": 5}
        wave = WaveRun([(n, fleet.clients[n].client_uuid) for n in names],
                       WaveOptions("reboot_host", timeout_s=timeout_s, reannounce_s=reannounce_s,
                                   progress_interval_s=1), None, params)

        def drive():
            with Ledger(str(ledger_path)) as ledger:  # sqlite: used in the thread that opened it
                wave.ledger = ledger
                wave.run()

        thread = threading.Thread(target=drive, daemon=True)
        thread.start()
        flood_s = None
        try:
            _wait(lambda: len(wave.trackers) == len(names) and all(
                t.state == "execution_started" for t in list(wave.trackers.values())), 30, "every reboot started")
            gate.close()
            started = time.monotonic()
            flood_acks(broker, flooder, flood)
            flood_s = time.monotonic() - started
            _wait(lambda: all(s["boots"] > boots[n] and s["healthy"] for n, s in fleet.status().items()),
                  60, "every victim back from its reboot")
            time.sleep(0.5)  # their completed acks are at the broker (sent before their health)
        finally:
            gate.open()
            thread.join(timeout_s + 30)
        if thread.is_alive():
            raise TimeoutError("the wave did not end")
        return {"results": wave.results, "stats": dict(wave.stats), "flood_s": flood_s}
    finally:
        gate.stop()
        fleet.stop()
