"""The lockout holds across controllers (issue 17, acceptance): two controller processes, each
in its own working directory, share one ledger (PostgreSQL, and SQLite for a pair sharing a
file) and drive overlapping hosts concurrently for many rounds against real agents (simulated
power, real mosquitto). Counted at the agents: no client executes more reboot-class commands
than the limit in any window, and no command executes twice. A PostgreSQL server stopped
mid-wave and started again: the wave's report is truthful and the ledger consistent.

The agents' own lockout is off (agent.lockout_max 0): the shared ledger is what is tested.
The lockout window is short (6 s, limit 2) so that it rolls during the test and the
reservations keep racing, round after round.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave
from integration.ledger.agent_store import executed_commands

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
LIMIT, WINDOW_S, ROUNDS = 2, 6.0, 5
FAST_BOOT = {"boot_time": "fixed:25", "agent_options": {"agent.lockout_max": 0, "mqtt.reconnect_max_s": 2}}


def mqtt_params(fleet):
    return {"mqtt_host": fleet.manifest["broker"]["host"], "mqtt_port": fleet.manifest["broker"]["port"],
            "mqtt_username": fleet.manifest["controller"]["username"],
            "mqtt_password": fleet.manifest["controller"]["password"], "mqtt_tls": False, "mqtt_ca_cert": None,
            "mqtt_keepalive": 5}


def start_controller(tmp_path, name, spec, fleet, names):
    workdir = tmp_path / name
    workdir.mkdir()
    config = {"hosts": [(n, fleet.clients[n].client_uuid) for n in names], "rounds": ROUNDS, "limit": LIMIT,
              "window_s": WINDOW_S, "timeout_s": 30, "mqtt": mqtt_params(fleet), "pause_s": 0.3}
    env = dict(os.environ, INFOSCREEN_LEDGER=spec,
               PYTHONPATH=os.pathsep.join([str(REPO / ".cache" / "collections"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, str(Path(__file__).with_name("controller_proc.py")), json.dumps(config)],
                            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_pair(tmp_path, spec, fleet):
    names = sorted(fleet.clients)  # client-001..004: A drives 1-3, B drives 2-4 (2 and 3 overlap)
    boots_before = {name: status["boots"] for name, status in fleet.status().items()}
    procs = [start_controller(tmp_path, "ctl-a", spec, fleet, names[:3]),
             start_controller(tmp_path, "ctl-b", spec, fleet, names[1:])]
    rounds = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        rounds.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    time.sleep(1.5)  # the last boots settle in the fleet's status
    boots = {name: status["boots"] - boots_before[name] for name, status in fleet.status().items()}
    return names, rounds, boots


def assert_lockout_held(fleet, names, rounds, boots, spec):
    completed_by_ctl = [sum(s == "completed" for r in ctl for s in r["states"].values()) for ctl in rounds]
    assert [r["error"] for ctl in rounds for r in ctl if r["error"]] == []
    assert all(count > 0 for count in completed_by_ctl), rounds  # both controllers got reboots through
    with Ledger(spec) as ledger:
        for name in names:
            client = fleet.clients[name]
            executed = executed_commands(client.state_dir)
            issued = sorted(entry["issued_at"] for entry in executed.values())
            # At the agent: never more than LIMIT executions issued within any WINDOW_S.
            for i in range(len(issued) - LIMIT):
                assert issued[i + LIMIT] - issued[i] >= WINDOW_S, (name, issued)
            # No double execution: one boot per executed command id, and each id executed once.
            assert boots[name] == len(executed), (name, boots[name], len(executed))
            queued = [c for c in ledger.commands(client_uuid=client.client_uuid, limit=1000, with_transitions=False)
                      if c["state"] != "blocked"]
            assert sorted(c["command_id"] for c in queued) == sorted(executed)
            assert [c["state"] for c in queued if c["state"] != "completed"] == [], (name, rounds)
    overlapping = names[1:3]
    assert all(boots[n] >= 1 for n in overlapping), boots
    # The overlap really raced: each overlapping host was asked for by both, more often than allowed.
    asked = {n: sum(n in r["states"] for ctl in rounds for r in ctl) for n in overlapping}
    assert all(count == 2 * ROUNDS for count in asked.values()), asked


@pytest.fixture
def pair_fleet(fleet_factory):
    return fleet_factory(clients=4, shared_broker=True, **FAST_BOOT)


def test_two_controllers_share_a_postgresql_ledger_and_the_lockout_holds(pair_fleet, pg_ledger_url, tmp_path):
    names, rounds, boots = run_pair(tmp_path, pg_ledger_url, pair_fleet)
    assert_lockout_held(pair_fleet, names, rounds, boots, pg_ledger_url)
    for name in ("ctl-a", "ctl-b"):
        assert list((tmp_path / name).iterdir()) == []  # nothing kept locally: the ledger is shared


def test_two_controllers_share_a_sqlite_file_and_the_lockout_holds(pair_fleet, tmp_path):
    spec = str(tmp_path / "shared" / "ledger.sqlite3")
    names, rounds, boots = run_pair(tmp_path, spec, pair_fleet)
    assert_lockout_held(pair_fleet, names, rounds, boots, spec)


def test_postgresql_stopped_mid_wave_then_started_the_report_is_truthful(fleet_factory, pg_cluster, tmp_path):
    """The server goes away while the clients reboot (execution_started recorded) and comes back
    within the bounded wait: the acks were tracked meanwhile, the report says completed, and
    the ledger holds every transition in order and no open command or wave."""
    fleet = fleet_factory(clients=3, shared_broker=True, boot_time="fixed:150",
                          agent_options={"agent.lockout_max": 0, "mqtt.reconnect_max_s": 2})
    url = pg_cluster.url(pg_cluster.create_database())
    hosts = [(n, fleet.clients[n].client_uuid) for n in sorted(fleet.clients)]
    outcome = {}

    def drive():
        with Ledger(url, wait_s=30) as ledger:
            outcome["wave"] = run_wave(hosts, WaveOptions("reboot_host", timeout_s=60, progress_interval_s=60,
                                                          track_health=False), ledger, mqtt_params(fleet))

    thread = threading.Thread(target=drive)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        with Ledger(url) as reader:
            while time.monotonic() < deadline:
                started = [c for c in reader.commands(with_transitions=False) if c["state"] == "execution_started"]
                if len(started) == 3:
                    break
                time.sleep(0.1)
        assert len(started) == 3
        pg_cluster.stop()
        stopped_at, stopped_wall = time.monotonic(), time.time()
        time.sleep(4.0)  # the clients come back (3 s boots) and ack while the server is gone
        pg_cluster.start()
        thread.join(90)
    finally:
        if not pg_cluster.running():
            pg_cluster.start()
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at >= 4.0
    wave = outcome["wave"]
    assert {h: r["state"] for h, r in wave.results.items()} == {h: "completed" for h, _u in hosts}
    assert all(r["executed"] for r in wave.results.values())
    with Ledger(url) as ledger:
        for host, _uuid in hosts:
            command = ledger.commands(host=host)[0]
            assert command["state"] == "completed"
            states = [t["state"] for t in command["transitions"]]
            assert states[0] == "queued" and states[-1] == "completed" and "execution_started" in states
            assert states.count("completed") == 1
            # Acked while the server was gone: tracked then, written once it was back.
            assert command["transitions"][-1]["at_epoch"] > stopped_wall
        assert [c for c in ledger.commands(limit=100, with_transitions=False)
                if c["state"] not in ("completed", "blocked")] == []
        stored = ledger.wave(wave.wave_id)
        counts = stored["summary"]["counts"]
        assert stored["finished_at"] and counts["states"] == {"completed": 3} and counts["executed"] == 3
