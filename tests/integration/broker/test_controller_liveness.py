"""What the controller takes as proof of life (issue 13, items 6 and 8), on the real broker.

- A heartbeat or health left retained on the broker is history, not a live client: the
  recover health read (snapshot and wait_reconnect) and the wave's boot-id tracking ignore
  retained messages (the contract never retains them; only service_failed is retained).
- Two real agents sharing one identity (a cloned SD card: same client_uuid and password)
  publish heartbeats that alternate between two boot ids. The wave flags the client
  ``identity_conflict`` and never counts it as a reboot completion; the recover health read
  shows it as ``identity_conflict`` and does not offer it for recovery (acting on a doubtful
  identity could hit the wrong screen).
"""

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_health import HealthWatcher
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave
from fixtures.fleet import _options
from infoscreen_sim.fleet import Fleet

pytestmark = pytest.mark.integration


def _params(broker):
    return {"mqtt_host": broker.host, "mqtt_port": broker.port, "mqtt_username": broker.controller_username,
            "mqtt_password": broker.controller_password, "mqtt_tls": False, "mqtt_ca_cert": None,
            "mqtt_keepalive": 5}


def _controller_publish(broker, items):
    """Publish [(topic, payload, retain)] with the controller account, QoS 1, and wait for PUBACKs."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"plant-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(broker.controller_username, broker.controller_password)
    client.connect(broker.host, broker.port, keepalive=10)
    client.loop_start()
    try:
        for topic, payload, retain in items:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def _real_beats(fleet, ctl, name):
    """The latest real heartbeat and health payloads (bytes) the named agent published."""
    client_uuid = fleet.clients[name].client_uuid
    found = {}
    for kind in ("heartbeat", "health"):
        topic = f"infoscreen/{client_uuid}/{kind}"
        got = ctl.wait_for(lambda t=topic: [p for _m, tp, p in ctl.messages if tp == t], 20)
        assert got, f"no {kind} from {name}"
        found[kind] = bytes(got[-1])
    return found


@pytest.fixture
def retained_cleanup(fleet_broker):
    planted = []
    yield planted
    _controller_publish(fleet_broker.broker, [(topic, b"", True) for topic in planted])


def test_retained_heartbeat_and_health_are_not_a_live_client(fleet_factory, fleet_controller, fleet_broker,
                                                             retained_cleanup):
    """A client whose agent is gone but whose real heartbeat/health were left retained is
    silent for the snapshot (needs recovery) and has not come back for wait_reconnect."""
    fleet = fleet_factory(1, shared_broker=True)
    name = next(iter(fleet.clients))
    client_uuid = fleet.clients[name].client_uuid
    beats = _real_beats(fleet, fleet_controller(fleet), name)
    fleet.stop()
    topics = [f"infoscreen/{client_uuid}/{kind}" for kind in beats]
    retained_cleanup.extend(topics)
    _controller_publish(fleet_broker.broker, [(f"infoscreen/{client_uuid}/{kind}", body, True)
                                              for kind, body in beats.items()])
    with HealthWatcher(_params(fleet_broker.broker), {name: client_uuid}) as watcher:
        seen, _listened = watcher.snapshot(3.0, 90.0)
        came = watcher.wait_new_boot({name: str(uuid.uuid4())}, 2.0)
    assert seen[name]["needs_recovery"], seen[name]
    assert not seen[name]["seen"], seen[name]
    assert not came[name]["reconnected"], came[name]


def test_retained_heartbeat_does_not_set_the_boot_id_before_a_reboot(fleet_factory, fleet_controller, fleet_broker,
                                                                     ledger_path, retained_cleanup):
    """A stale heartbeat retained on the client's topic (another boot id) is not taken as the
    boot id the client had before the reboot; the wave still completes with a real change."""
    fleet = fleet_factory(1, shared_broker=True, agent_options={"agent.lockout_max": 0})
    name = next(iter(fleet.clients))
    client = fleet.clients[name]
    real_before = client.boot_id
    stale = str(uuid.uuid4())
    body = json.loads(_real_beats(fleet, fleet_controller(fleet), name)["heartbeat"])
    body["boot_id"] = stale
    topic = f"infoscreen/{client.client_uuid}/heartbeat"
    retained_cleanup.append(topic)
    _controller_publish(fleet_broker.broker, [(topic, json.dumps(body), True)])
    with Ledger(str(ledger_path)) as ledger:
        wave = run_wave([(name, client.client_uuid)], WaveOptions("reboot_host", timeout_s=60), ledger,
                        _params(fleet_broker.broker))
    result = wave.results[name]
    assert result["state"] == "completed", result
    assert result["boot_id_before"] != stale, result
    assert result["boot_id_before"] in (None, real_before), result


@pytest.fixture
def clones(tmp_path_factory, fleet_broker):
    """Two real agents with one identity (same client_uuid and password), each in its own
    one-client fleet on the session broker, heartbeating every 0.5 s."""
    account = fleet_broker.take(1)[0]
    options = _options({"agent_options": {"agent.heartbeat_interval_s": 0.5, "agent.health_interval_s": 30,
                                          "agent.lockout_max": 0, "mqtt.reconnect_max_s": 2}})
    fleets = []
    try:
        for name in ("clone-a", "clone-b"):
            # pylint reports repeated-keyword agent_options here: it merges both dicts that
            # fixtures.fleet._options builds into one and counts the key twice (a false positive).
            fleets.append(Fleet(tmp_path_factory.mktemp(name),  # pylint: disable=repeated-keyword
                                clients=[name], broker=fleet_broker.broker,
                                accounts=[account], **options).start(wait=False))
        yield account, fleets
    finally:
        for fleet in fleets:
            fleet.stop()


def test_cloned_identity_is_flagged_and_never_a_reboot_completion(clones, fleet_broker, ledger_path):
    """While the agent that took the reboot is held before going down, the other clone keeps
    heartbeating with its own boot id: the wave ends ``failed`` with ``identity_conflict`` and
    not ``completed``, even after the reboot is let through; the health read flags it too."""
    account, fleets = clones
    (fleet_a, fleet_b) = fleets
    fleet_a.hold("clone-a")
    fleet_b.hold("clone-b")
    time.sleep(3.0)  # both clones up and kicking each other off
    outcome = {}

    def drive():
        with Ledger(str(ledger_path)) as ledger:
            outcome["wave"] = run_wave([("screen", account["client_uuid"])],
                                       WaveOptions("reboot_host", timeout_s=40), ledger, _params(fleet_broker.broker))

    thread = threading.Thread(target=drive)
    thread.start()
    time.sleep(8.0)
    fleet_a.release("clone-a")
    fleet_b.release("clone-b")
    thread.join(60)
    assert not thread.is_alive()
    result = outcome["wave"].results["screen"]
    assert result["state"] != "completed", result
    assert result["error_code"] == "identity_conflict", result
    assert not result["ok"]
    with HealthWatcher(_params(fleet_broker.broker), {"screen": account["client_uuid"]}) as watcher:
        time.sleep(4.0)  # the read listens from its connection on; a snapshot may end at the first health
        seen, _listened = watcher.snapshot(6.0, 90.0)
    assert seen["screen"]["identity_conflict"], seen["screen"]
    assert any(r.startswith("identity_conflict") for r in seen["screen"]["reasons"]), seen["screen"]
    assert not seen["screen"]["needs_recovery"], seen["screen"]
