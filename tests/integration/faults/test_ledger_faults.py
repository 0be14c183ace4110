"""The ledger tells the truth under faults (issue 12, item 4), through the real reboot.yml and
ledger_query.yml (ansible-playbook), real agents (simulated power) and a real mosquitto.

- a second process holding the ledger's write lock (BEGIN IMMEDIATE) mid-wave, for less and
  for longer than the bounded wait;
- the whole controller SIGKILLed mid-wave, then ledger_query.yml and a new wave sweep the
  rows it left open;
- check mode creates no ledger file.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from integration.faults.playbook_run import fleet_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Boots take 5 s (250 Pi seconds scaled by 0.02): long enough to lock the ledger between the
# execution_started and the completed ack.
SLOW_BOOT = {"boot_time": "fixed:250"}

LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute("BEGIN IMMEDIATE")
print(time.time(), flush=True)
sys.stdin.readline()
print(time.time(), flush=True)
db.execute("COMMIT")
"""


class LockHolder:
    """A second process holding the ledger's write lock until release()."""

    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.locked_at = float(self.proc.stdout.readline())
        self.released_at = None

    def release(self):
        if self.released_at is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.released_at = float(self.proc.stdout.readline())
            self.proc.wait(10)
        return self.released_at


def read_states(path):
    """Current command states, read-only (works while another process holds the write lock)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return [row[0] for row in db.execute("SELECT state FROM commands")]
    except sqlite3.Error:
        return []


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class AckSpy:
    """Controller-account subscriber to the canonical ack topic: command ids by ack status."""

    def __init__(self, fleet):
        self.seen = {"accepted": set(), "execution_started": set(), "completed": set(), "failed": set()}
        self._ready = threading.Event()
        controller = fleet.manifest["controller"]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ack-spy-{time.monotonic_ns()}")
        self.client.username_pw_set(controller["username"], controller["password"])
        self.client.on_connect = lambda c, *_: c.subscribe("infoscreen/+/commands/ack", 1)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(fleet.manifest["broker"]["host"], fleet.manifest["broker"]["port"])
        self.client.loop_start()
        assert self._ready.wait(10), "ack spy could not subscribe"

    def _on_message(self, _client, _userdata, message):
        ack = json.loads(message.payload)
        self.seen[ack["status"]].add(ack["command_id"])

    def count(self, status):
        return len(self.seen[status])

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def slow_fleet(fleet_factory):
    return fleet_factory(clients=2, shared_broker=True, **SLOW_BOOT)


def by_host(report):
    return {row["host"]: row for row in report["hosts"]}


def test_ledger_locked_briefly_mid_wave_is_waited_out_and_acks_are_tracked(slow_fleet, tmp_path):
    """A second process holds the ledger's write lock from the moment both clients started their
    reboot until both completed acks have arrived (shorter than the bounded wait): the wave
    waits it out, keeps tracking the acks meanwhile (their transition times lie inside the
    locked period, not at the time of the later write), records every transition and passes."""
    ledger = tmp_path / "ledger.sqlite3"
    spy = AckSpy(slow_fleet)
    try:
        run = fleet_run(slow_fleet, "reboot.yml", tmp_path, "-e", "infoscreen_wave_size=2", ledger=ledger)
        wait_for(lambda: spy.count("execution_started") == 2 or not run.running(), 60, "both reboots started")
        holder = LockHolder(ledger)
        try:
            wait_for(lambda: spy.count("completed") == 2, 60, "both completed acks")
            time.sleep(0.5)  # the controller has received them too, while the ledger is still locked
        finally:
            released_at = holder.release()
        rc, output, report = run.wait()
    finally:
        spy.close()
    assert rc == 0, output
    assert {row["state"] for row in by_host(report).values()} == {"completed"}, report["hosts"]
    with Ledger(str(ledger)) as opened:
        commands = opened.commands()
    assert {c["command_id"] for c in commands} == spy.seen["completed"]
    for command in commands:
        assert [t["state"] for t in command["transitions"]] == [
            "queued", "published", "accepted", "execution_started", "completed"]
        completed_at = command["transitions"][-1]["at_epoch"]
        assert holder.locked_at < completed_at < released_at, (holder.locked_at, completed_at, released_at)


def test_ledger_locked_beyond_the_bounded_wait_fails_clearly_and_reports_what_was_published(slow_fleet, tmp_path):
    """A second process holds the ledger's write lock from the moment both clients started their
    reboot and does not let go: once the bounded wait (INFOSCREEN_LEDGER_WAIT_S, 2 s here) is
    over, the task fails with a message naming the ledger file and what to do (no traceback,
    no bare "database is locked"), and the report still has every published command's outcome
    (both clients rebooted and completed)."""
    ledger = tmp_path / "ledger.sqlite3"
    spy = AckSpy(slow_fleet)
    try:
        run = fleet_run(slow_fleet, "reboot.yml", tmp_path, "-e", "infoscreen_wave_size=2", ledger=ledger,
                        extra_env={"INFOSCREEN_LEDGER_WAIT_S": "2"})
        wait_for(lambda: spy.count("execution_started") == 2 or not run.running(), 60, "both reboots started")
        holder = LockHolder(ledger)
        try:
            rc, output, report = run.wait(timeout=120)
        finally:
            holder.release()
    finally:
        spy.close()
    assert rc != 0, output
    assert "Traceback" not in output
    assert str(ledger) in output
    assert "another process" in output and "INFOSCREEN_LEDGER_WAIT_S" in output, output
    assert report is not None, output
    rows = by_host(report)
    assert set(rows) == {"client-001", "client-002"}
    assert {row["state"] for row in rows.values()} == {"completed"}, rows
    assert all(row["command_id"] for row in rows.values())


def shift_ledger_back(path, seconds):
    """Move every stored time of the ledger ``seconds`` into the past: "an hour later"."""
    with sqlite3.connect(path) as db:
        for table, columns in (("commands", ("issued_at", "expires_at", "finished_at", "deadline_at")),
                               ("transitions", ("at",)), ("waves", ("started_at", "finished_at"))):
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column in present:
                    db.execute(f"UPDATE {table} SET {column} = {column} - ? WHERE {column} IS NOT NULL",  # noqa: S608
                               (seconds,))


def open_waves(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM waves WHERE finished_at IS NULL").fetchone()[0]


def test_sigkill_mid_wave_then_ledger_query_and_the_next_wave_sweep_the_stale_rows(fleet_factory, tmp_path):
    """The whole controller (ansible-playbook and its workers) is SIGKILLed mid-wave: client-001's
    reboot is in flight (it never comes back), client-002 is powered off (its command is
    published, never accepted). Both rows stay open, and so does the wave. Once they are past
    their deadline, ledger_query.yml sweeps them - client-001 to timed_out with error code
    controller_interrupted, client-002 to expired - and closes the wave with a reason. A run
    killed while it was still connecting (broker down) leaves an empty open wave: the next wave
    closes it. Check mode sweeps nothing (it writes nothing)."""
    fleet = fleet_factory(clients=2, shared_broker=True, faults={"client-001": ["never_returns"]})
    fleet.power_off("client-002")
    ledger = tmp_path / "ledger.sqlite3"
    run = fleet_run(fleet, "reboot.yml", tmp_path, "-e", "infoscreen_wave_size=2", ledger=ledger)
    wait_for(lambda: sorted(read_states(ledger)) == ["execution_started", "published"] or not run.running(), 60,
             "client-001 execution_started and client-002 published")
    assert run.running(), run.output
    run.kill()
    assert sorted(read_states(ledger)) == ["execution_started", "published"]
    assert open_waves(ledger) == 1
    shift_ledger_back(ledger, 3600)

    rc, output, _report = fleet_run(fleet, "ledger_query.yml", tmp_path, ledger=ledger).wait()
    assert rc == 0, output
    assert "client-001 reboot_host timed_out controller_interrupted" in output, output
    assert "client-002 reboot_host expired expired" in output, output
    with Ledger(str(ledger)) as opened:
        commands = {c["host"]: c for c in opened.commands()}
        wave = opened.wave(commands["client-001"]["wave_id"])
    assert commands["client-001"]["state"] == "timed_out"
    assert commands["client-001"]["error_code"] == "controller_interrupted"
    assert commands["client-002"]["state"] == "expired"
    for command in commands.values():
        assert "interrupted" in command["transitions"][-1]["detail"]
    assert wave["finished_at"] is not None and "interrupted" in wave["summary"]["closed"], wave
    assert open_waves(ledger) == 0

    fleet.broker.stop()
    try:
        run = fleet_run(fleet, "reboot.yml", tmp_path, "-l", "client-001", ledger=ledger)
        wait_for(lambda: open_waves(ledger) == 1 or not run.running(), 60, "the second wave")
        assert run.running(), run.output
        run.kill()
    finally:
        fleet.broker.start()
    shift_ledger_back(ledger, 3600)
    rc, output, _report = fleet_run(fleet, "reboot.yml", tmp_path, "--check", "-l", "client-001",
                                    ledger=ledger).wait()
    assert rc == 0, output
    assert open_waves(ledger) == 1, "check mode must not write to the ledger, not even the sweep"
    fleet_run(fleet, "restart_app.yml", tmp_path, "-l", "client-001", "-e", "infoscreen_wave_timeout_s=2",
              ledger=ledger).wait()
    assert open_waves(ledger) == 0


def test_ctrl_c_mid_wave_leaves_rows_that_the_next_query_sweeps(fleet_factory, tmp_path):
    """Ctrl-C (SIGINT to ansible-playbook, as a terminal sends it) while client-001's reboot is in
    flight: Ansible stops its worker at once (SIGTERM, no cleanup), so the command stays
    execution_started and the wave open - as after SIGKILL - and is not swept before its
    deadline (it may still run); past it, ledger_query.yml sweeps it and closes the wave."""
    fleet = fleet_factory(clients=1, shared_broker=True, faults={"client-001": ["never_returns"]})
    ledger = tmp_path / "ledger.sqlite3"
    run = fleet_run(fleet, "reboot.yml", tmp_path, ledger=ledger)
    wait_for(lambda: read_states(ledger) == ["execution_started"] or not run.running(), 60, "execution_started")
    assert run.running(), run.output
    os.kill(run.proc.pid, signal.SIGINT)
    rc, output, _report = run.wait(timeout=60)
    assert rc != 0, output
    rc, output, _report = fleet_run(fleet, "ledger_query.yml", tmp_path, ledger=ledger).wait()
    assert "client-001 reboot_host execution_started" in output, output  # before its deadline: left alone
    shift_ledger_back(ledger, 3600)
    rc, output, _report = fleet_run(fleet, "ledger_query.yml", tmp_path, ledger=ledger).wait()
    assert rc == 0, output
    assert "client-001 reboot_host timed_out controller_interrupted" in output, output
    assert open_waves(ledger) == 0


def test_check_mode_creates_no_ledger_file(fleet_factory, tmp_path):
    """reboot.yml --check on a controller without a ledger yet: it says what it would send, and
    no ledger file (nor its folder) is created - check mode writes nothing to the ledger."""
    fleet = fleet_factory(clients=1, shared_broker=True)
    ledger = tmp_path / "state" / "ledger.sqlite3"
    rc, output, report = fleet_run(fleet, "reboot.yml", tmp_path, "--check", ledger=ledger).wait()
    assert rc == 0, output
    assert by_host(report)["client-001"]["state"] == "not_sent"
    assert not ledger.exists() and not ledger.parent.exists()
    assert not list(tmp_path.glob("state*"))
