"""Fleet watch end to end: real mosquitto (broker role files), real agents (simulated fleet), real
snmpsim switch, real ansible-rulebook running extensions/eda/rulebooks/fleet_watch.yml with the
infoscreen.fleet.fleet_watch source, and the real recover.yml it starts. One rulebook run (the
JVM start costs seconds) serves five clients at once:

client-001 reboot tier, app crashes once          -> back to running through the rulebook (restart_app)
client-002 reboot tier, app crashes again 1.5 s    -> with two restarts already in the ledger's window: at
           after every restart                        most one more (the lockout's 3), then an alert with the
                                                      time it is eligible; one recover run at a time for it
client-003 poe tier, hangs (silent)               -> reboot_host sent and failed, then the PoE cycle
client-004 reboot tier, hangs (silent)            -> reboot_host sent and failed, "hands on site" alert
client-005 group kiosk, auto-recovery off, crashes -> the event appears, nothing is sent
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from fixtures.switch import ROOT, poe_module_env
from integration.recover.ladder_run import hang

pytestmark = pytest.mark.integration

POE_PORT = 7
TUNABLES = {
    "infoscreen_recover_cooldown_s": 1, "infoscreen_recover_listen_s": 4, "infoscreen_recover_max_heartbeat_age_s": 6,
    "infoscreen_recover_restart_app_timeout_s": 8, "infoscreen_recover_reboot_timeout_s": 5,
    "infoscreen_recover_reconnect_timeout_s": 40, "infoscreen_recover_poe_off_time_s": 1,
    "infoscreen_recover_poe_verify_timeout_s": 5, "infoscreen_recover_poe_poll_interval_s": 0.2,
    "infoscreen_recover_connect_timeout_s": 5,
}


class CrashLoop(threading.Thread):
    """The signage app of one client crashes again `delay` s after every (re)start."""

    def __init__(self, path, delay=1.5):
        super().__init__(daemon=True)
        self.path, self.delay, self.stop = path, delay, threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            if self.path.read_text().strip() == "running" and not self.stop.wait(self.delay):
                self.path.write_text("crashed\n")


def watch_inventory(fleet, tmp_path):
    inventory = json.loads(fleet.inventory_path.read_text().split("\n", 1)[1])  # after the comment line
    inventory["all"]["vars"].update(TUNABLES, infoscreen_ledger=str(tmp_path / "ledger.sqlite3"),
                                    infoscreen_poe_intent_dir=str(tmp_path / "intent"))
    groups = inventory["all"]["children"]["infoscreen_clients"]["children"]
    groups["kiosk"]["vars"] = {"infoscreen_fleet_watch_auto_recover": False}
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps(inventory))
    return path


def start_rulebook(fleet, switch, inventory, tmp_path):
    variables = tmp_path / "watch-vars.yml"
    variables.write_text(json.dumps({
        "infoscreen_fleet_watch_inventory": str(inventory), "infoscreen_fleet_watch_silent_after_s": 6,
        "infoscreen_fleet_watch_retry_after_s": 15, "infoscreen_fleet_watch_run_hold_s": 60,
        "infoscreen_fleet_watch_alert_dir": str(tmp_path / "alerts")}))
    (tmp_path / "alerts").mkdir()
    env = dict(poe_module_env(), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               INFOSCREEN_MQTT_USERNAME=fleet.manifest["controller"]["username"],
               INFOSCREEN_MQTT_PASSWORD=fleet.manifest["controller"]["password"],
               INFOSCREEN_SNMP_COMMUNITY=switch.community, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1")
    log = tmp_path / "rulebook.log"
    handle = log.open("w")
    # -vv: ansible-rulebook logs when a run takes and releases the per-host lock
    proc = subprocess.Popen(["ansible-rulebook", "-i", str(inventory), "-r", "infoscreen.fleet.fleet_watch",
                             "--vars", str(variables), "-vv", "--shutdown-delay", "5"],
                            cwd=tmp_path, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def alerts(tmp_path):
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "alerts").glob("*.json"))]


def test_fleet_watch_rulebook(fleet_factory, sim_switch, command_spy, tmp_path):
    fleet = fleet_factory(clients=5, shared_broker=True, groups=[("lobby", 4), ("kiosk", None)],
                          poe={"client-003": {"switch": sim_switch.address, "group": 1, "port": POE_PORT}},
                          faults={"client-003": ["needs_power_cycle"], "client-004": ["needs_power_cycle"]},
                          # one machine, one clock: without the 30 s skew tolerance a reboot_host the hung
                          # client missed cannot run after the PoE cycle brought it back (the test's
                          # ladder is seconds long; recover.yml's real one outlasts the tolerance)
                          agent_options={"agent.heartbeat_interval_s": 1, "agent.health_interval_s": 1,
                                         "agent.clock_skew_s": 2})
    sim_switch.on_power_event(fleet.handle_power_event)
    spy = command_spy(fleet)
    uuid_of = {name: client.client_uuid for name, client in fleet.clients.items()}
    boot_before = {name: fleet.status()[name]["boot_id"] for name in fleet.clients}
    inventory = watch_inventory(fleet, tmp_path)
    with Ledger(str(tmp_path / "ledger.sqlite3")) as db:  # client-002 crash-looped before: two restarts
        for minutes_ago in (5, 3):
            row, _unused = db.reserve(uuid_of["client-002"], "restart_app", now=time.time() - 60 * minutes_ago)
            db.record_transition(row["command_id"], "completed", at=time.time() - 60 * minutes_ago + 5)
    launched = time.monotonic()
    proc, log = start_rulebook(fleet, sim_switch, inventory, tmp_path)
    loop = CrashLoop(fleet.clients["client-002"].app_state_path)
    try:
        deadline = time.monotonic() + 60
        while "fleet_watch: connected" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        started = time.monotonic()
        for name in ("client-001", "client-002", "client-005"):
            fleet.clients[name].app_state_path.write_text("crashed\n")
        loop.start()
        hang(fleet, "client-003")
        hang(fleet, "client-004")

        def done(output):
            return (fleet.clients["client-001"].app_state_path.read_text().strip() == "running"
                    and re.search(r"ALERT \(hands on site\): app_crashed on client-002 .*safety lockout", output)
                    and fleet.status()["client-003"]["state"] == "running"
                    and {a["host"] for a in alerts(tmp_path)} >= {"client-004"}
                    and "ALERT (hands on site): app_crashed on client-005" in output)

        deadline = time.monotonic() + 150
        while not done(log.read_text()):
            assert proc.poll() is None, log.read_text()[-5000:]
            assert time.monotonic() < deadline, log.read_text()[-8000:]
            time.sleep(0.5)
        print(f"every scenario reached its end {time.monotonic() - started:.1f} s after the faults "
              f"(rulebook ready {started - launched:.1f} s after its start)")
    finally:
        loop.stop.set()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the rulebook and the playbook runs it started
            proc.wait()
        print(f"rulebook stopped {time.monotonic() - launched:.1f} s after its start")
    output = log.read_text()
    with Ledger(str(tmp_path / "ledger.sqlite3")) as db:
        def commands(name):
            return sorted(db.commands(client_uuid=uuid_of[name], with_transitions=False), key=lambda c: c["issued_at"])

        # client-001: back to running through the rulebook alone; the ledger says what and why
        (restart,) = commands("client-001")
        assert (restart["action"], restart["state"]) == ("restart_app", "completed")
        assert restart["reason"].startswith("fleet watch: app_crashed at ")
        # ...started by the crash's first event, not by a reminder (no event is lost on the way in)
        assert re.search(r"fleet watch: app_crashed on client-001 \(\S+\): recover.yml from restart_app", output)
        assert "QueueFull" not in output and "Exception in callback" not in output

        # client-002: the lockout bounds it; one recover run at a time for it
        looped = [c for c in commands("client-002") if c["state"] != "blocked"]
        assert 3 <= len(looped) <= 3, looped  # the two earlier ones and at most one more
        lock_lines = re.findall(r"(Acquired|Released) lock: client-002 ", output)
        assert lock_lines and lock_lines == ["Acquired", "Released"] * (len(lock_lines) // 2) + (
            ["Acquired"] if len(lock_lines) % 2 else []), lock_lines
        eligible = re.search(r"ALERT \(hands on site\): app_crashed on client-002 .*allowed at (\S+)", output)
        assert eligible, output[-4000:]
        runs = lock_lines.count("Acquired")
        assert runs <= 2, runs  # one that restarted it, at most one that the lockout stopped

        # client-003 (poe tier, silent): from reboot_host, sent and failed, then the PoE cycle
        steps = [(c["action"], c["state"]) for c in commands("client-003")]
        assert steps[0][0] == "reboot_host" and steps[0][1] in ("expired", "timed_out"), steps
        assert ("poe_cycle", "completed") in steps and not any(a == "restart_app" for a, _s in steps), steps
        assert [e["event"] for e in sim_switch.events() if e["port"] == POE_PORT][:2] == ["power_off", "power_on"]
        assert fleet.status()["client-003"]["boot_id"] != boot_before["client-003"]

        # client-004 (reboot tier, silent): reboot_host failed, never power-cycled, "hands on site"
        steps = [(c["action"], c["state"]) for c in commands("client-004")]
        assert steps and all(a == "reboot_host" for a, _s in steps), steps
        (alert, *_more) = [a for a in alerts(tmp_path) if a["host"] == "client-004"]
        assert alert["alert"] == "hands_on_site" and "hands on site" in alert["reason"]
        assert alert["client_uuid"] == uuid_of["client-004"]

        # client-005 (auto-recovery off): the event appeared, nothing was sent or recorded
        assert commands("client-005") == []
    assert spy.for_client(uuid_of["client-005"]) == []
    assert "auto-recovery is off" in output
    assert fleet.manifest["controller"]["password"] not in output
