"""Issue 18 item 3, deferral while busy, with real agents (simulated machines) and mosquitto.

Two clients hold (the hold file the signage app or a technician sets, written here with the
agent's own ``infoscreen-agent hold``). One hold is released while the wave waits: that
client executes and completes. The other is never released: its agent gives up after
hold_max_wait_s and the command ends failed/busy naming the hold. The wave shows both as
held and does not time the held clients out on the plain timeout.
"""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLEET = {"time_scale": 0.02, "boot_time": "uniform:20:60",
         "agent_options": {"agent.heartbeat_interval_s": 1, "agent.health_interval_s": 2,
                           "agent.hold_max_wait_s": 8, "agent.lockout_max": 0}}


def mqtt_params(fleet):
    return {"mqtt_host": fleet.manifest["broker"]["host"], "mqtt_port": fleet.manifest["broker"]["port"],
            "mqtt_username": fleet.manifest["controller"]["username"],
            "mqtt_password": fleet.manifest["controller"]["password"], "mqtt_tls": False, "mqtt_ca_cert": None,
            "mqtt_keepalive": 5}


def agent_cli(client, *args):
    """The agent's own hold command, on the client's config (as a technician would run it)."""
    return subprocess.run([sys.executable, "-m", "infoscreen_agent", "--config", str(client.config_path), *args],
                          capture_output=True, text=True, timeout=30, check=True,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[3] / "agent"),
                               "PATH": "/usr/bin:/bin"})


def test_held_client_executes_after_the_release_and_one_never_released_fails_busy(fleet_factory, ledger_path):
    fleet = fleet_factory(3, shared_broker=True, **FLEET)
    released, kept, free = (fleet.clients[n] for n in ("client-001", "client-002", "client-003"))
    agent_cli(released, "hold", "--owner", "signage-app", "--reason", "live announcement")
    agent_cli(kept, "hold", "--owner", "tech-anna", "--reason", "replacing the HDMI cable")
    hold_file = Path(released.root) / "run" / "hold.json"
    assert hold_file.exists()

    def release_later():
        time.sleep(3.0)
        agent_cli(released, "release", "--owner", "signage-app")

    thread = threading.Thread(target=release_later)
    thread.start()
    hosts = [(name, fleet.clients[name].client_uuid) for name in sorted(fleet.clients)]
    # The plain timeout (5 s) is shorter than the hold: a held client must not be judged on it.
    with Ledger(str(ledger_path)) as ledger:
        wave = run_wave(hosts, WaveOptions("reboot_host", validity_s=60, timeout_s=5, stability_s=0,
                                           progress_interval_s=1), ledger, mqtt_params(fleet))
    thread.join()

    first = wave.results["client-001"]
    assert (first["state"], first["ok"]) == ("completed", True), first
    states = [t["state"] for t in first["transitions"]]
    assert states.index("accepted") < states.index("held") < states.index("execution_started"), states
    assert first["hold"]["owner"] == "signage-app" and first["held_s"] >= 2.0, first
    assert fleet.status()["client-001"]["boots"] == 2

    second = wave.results["client-002"]
    assert (second["state"], second["error_code"]) == ("failed", "busy"), second
    assert "held by tech-anna" in second["error_message"] and "replacing the HDMI cable" in second["error_message"]
    assert "held" in [t["state"] for t in second["transitions"]]
    assert fleet.status()["client-002"]["boots"] == 1  # never rebooted

    assert wave.results["client-003"]["state"] == "completed"
    assert wave.results["client-003"]["hold"] is None
