"""The wave driver itself (real plugin code, real agents, real mosquitto): a broker restart in
the middle of a wave, acks duplicated on both ack topics, and retry safety.

Boots take 4 s here (fixed 200 Pi-seconds x 0.02) so the broker can be restarted while the
clients are down.
"""

import threading
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def slow_fleet(tmp_path_factory):
    from infoscreen_sim.fleet import Fleet

    fleet = Fleet(tmp_path_factory.mktemp("slow-fleet"), clients=3, time_scale=0.02, boot_time="fixed:200",
                  agent_options={"agent.heartbeat_interval_s": 2, "agent.health_interval_s": 5,
                                 "agent.lockout_max": 0, "mqtt.reconnect_max_s": 2}).start()
    yield fleet
    fleet.stop()


def mqtt_params(fleet):
    return {"mqtt_host": fleet.manifest["broker"]["host"], "mqtt_port": fleet.manifest["broker"]["port"],
            "mqtt_username": fleet.manifest["controller"]["username"],
            "mqtt_password": fleet.manifest["controller"]["password"], "mqtt_tls": False, "mqtt_ca_cert": None,
            "mqtt_keepalive": 5}


def hosts(fleet, names=None):
    return [(name, fleet.clients[name].client_uuid) for name in (names or sorted(fleet.clients))]


def states(result):
    return [t["state"] for t in result["transitions"]]


def test_broker_restart_mid_wave_loses_no_ack(slow_fleet, ledger_path):
    boots_before = {name: s["boots"] for name, s in slow_fleet.status().items()}
    outcome = {}

    def drive():
        with Ledger(str(ledger_path)) as ledger:
            outcome["wave"] = run_wave(hosts(slow_fleet), WaveOptions("reboot_host", timeout_s=60,
                                                                      progress_interval_s=1), ledger,
                                       mqtt_params(slow_fleet))

    thread = threading.Thread(target=drive)
    thread.start()
    deadline = time.monotonic() + 30
    with Ledger(str(ledger_path)) as ledger:
        while time.monotonic() < deadline:
            started = [c for c in ledger.commands(with_transitions=False) if c["state"] == "execution_started"]
            if len(started) == 3:
                break
            time.sleep(0.05)
    assert len(started) == 3, "the wave never got all clients to execution_started"
    slow_fleet.broker.restart()  # SIGTERM: mosquitto saves its sessions, comes back on the same port
    thread.join(90)
    assert not thread.is_alive()
    wave = outcome["wave"]
    assert wave.stats["reconnects"] >= 1, wave.stats
    for result in wave.results.values():
        assert result["state"] == "completed", result
        assert states(result) == ["queued", "published", "accepted", "execution_started", "completed"]
        assert result["reconnect_s"] >= 3.5  # the 4 s simulated boot, measured across the restart
    assert all(s["boots"] == boots_before[name] + 1 for name, s in slow_fleet.status().items())


def test_acks_on_both_topics_are_counted_once(slow_fleet, ledger_path):
    with Ledger(str(ledger_path)) as ledger:
        wave = run_wave(hosts(slow_fleet), WaveOptions("restart_app"), ledger, mqtt_params(slow_fleet))
    # The agent publishes accepted, execution_started and completed on both ack topics; the
    # wave ends at the last terminal ack, so the very last alias copies may not be read.
    assert wave.stats["invalid_acks"] == 0
    assert wave.stats["acks"] == 3 * 3 + wave.stats["duplicate_acks"]
    for result in wave.results.values():
        assert result["state"] == "completed"
        assert result["duplicate_acks"] >= 2  # accepted and execution_started came twice
        assert states(result) == ["queued", "published", "accepted", "execution_started", "completed"]


def test_retry_reuses_the_command_and_does_not_reboot_twice(slow_fleet, ledger_path):
    name = "client-002"
    boots = slow_fleet.status()[name]["boots"]
    options = {"request_key": "request:CHG-7", "timeout_s": 1.0}
    with Ledger(str(ledger_path)) as ledger:
        first = run_wave(hosts(slow_fleet, [name]), WaveOptions("reboot_host", **options), ledger,
                         mqtt_params(slow_fleet)).results[name]
        assert first["state"] == "timed_out"  # gave up while the client was still booting
        options["timeout_s"] = 30
        second = run_wave(hosts(slow_fleet, [name]), WaveOptions("reboot_host", **options), ledger,
                          mqtt_params(slow_fleet)).results[name]
        third_wave = run_wave(hosts(slow_fleet, [name]), WaveOptions("reboot_host", **options), ledger,
                              mqtt_params(slow_fleet))
        commands = ledger.commands(client_uuid=slow_fleet.clients[name].client_uuid)
    assert second["command_id"] == first["command_id"]
    assert second["reused"] is True
    assert second["state"] == "completed"
    third = third_wave.results[name]
    assert (third["command_id"], third["state"], third["reused"]) == (first["command_id"], "completed", True)
    assert third_wave.stats["published"] == 0  # already completed: nothing sent
    assert len(commands) == 1  # one command in the ledger, counted once by the lockout
    time.sleep(0.5)
    assert slow_fleet.status()[name]["boots"] == boots + 1  # rebooted exactly once
