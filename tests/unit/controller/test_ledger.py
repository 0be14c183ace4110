"""The ledger: lockout across plays, overrides, retries, queries, two writers at once;
faults (issue 12): database errors as LedgerError, bounded wait for a locked ledger, deferred
transitions, the sweep of what interrupted controllers left open, check mode writing nothing.

Tests marked ``BOTH`` run on SQLite and on PostgreSQL (a database of the session's throwaway
cluster, tests/fixtures/postgres.py); the lock-holder tests are SQLite's own (PostgreSQL's
faults: test_ledger_postgres.py)."""

import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import (
    SWEEP_GRACE_S,
    Ledger,
    LedgerBusy,
    LedgerError,
    default_path,
    scratch_path,
)

CLIENT = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
NOW = 1_800_000_000.0


@pytest.fixture
def ledger(request, ledger_path):
    """The ledger of tests/fixtures/controller.py, or with ``BOTH`` a PostgreSQL one too."""
    spec = str(ledger_path)
    if getattr(request, "param", "sqlite") == "postgresql":
        spec = request.getfixturevalue("pg_ledger_url")
    with Ledger(spec) as opened:
        yield opened


BOTH = pytest.mark.parametrize("ledger", ["sqlite", "postgresql"], indirect=True)


def spec_of(ledger):
    """What another process opens to reach the same ledger (the URL with its password)."""
    return ledger._url or ledger.path


def _reboot(ledger, at, client=CLIENT, **kwargs):
    row, decision = ledger.reserve(client, "reboot_host", host="lobby-01", now=at, expires_at=at + 240, **kwargs)
    if row["state"] == "queued":
        ledger.record_transition(row["command_id"], "completed", at=at + 30)
    return row, decision


@BOTH
def test_fourth_reboot_class_command_in_15_min_is_blocked_then_allowed(ledger):
    for offset in (0, 100, 200):
        row, _unused = _reboot(ledger, NOW + offset)
        assert row["state"] == "queued"
    row, decision = ledger.reserve(CLIENT, "restart_app", now=NOW + 300)  # restart_app counts too
    assert row["state"] == "blocked"
    assert row["error_code"] == "lockout"
    assert row["eligible_at_epoch"] == NOW + 900
    assert decision.eligible_at == NOW + 900
    row, _unused = ledger.reserve(CLIENT, "poe_cycle", now=NOW + 900.5)
    assert row["state"] == "queued"


@BOTH
def test_blocked_commands_do_not_count_and_other_clients_are_independent(ledger):
    for offset in (0, 1, 2):
        _reboot(ledger, NOW + offset)
    for offset in (3, 4, 5):
        assert ledger.reserve(CLIENT, "reboot_host", now=NOW + offset)[0]["state"] == "blocked"
    assert ledger.reserve(OTHER, "reboot_host", now=NOW + 6)[0]["state"] == "queued"
    # Only the three real ones count: once the first leaves the window, one is allowed.
    assert ledger.reserve(CLIENT, "reboot_host", now=NOW + 900.5)[0]["state"] == "queued"


@BOTH
def test_override_lets_it_through_and_is_logged(ledger):
    for offset in (0, 1, 2):
        _reboot(ledger, NOW + offset)
    row, decision = ledger.reserve(CLIENT, "reboot_host", now=NOW + 10, override_reason="screen frozen, CHG-42")
    assert not decision.allowed
    assert row["state"] == "queued"
    assert row["overridden"] is True
    assert row["override_reason"] == "screen frozen, CHG-42"
    overrides = ledger.overrides(CLIENT)
    assert [(o["command_id"], o["code"], o["reason"]) for o in overrides] == [
        (row["command_id"], "lockout", "screen frozen, CHG-42")]
    assert "overridden" in ledger.command(row["command_id"], with_transitions=True)["transitions"][0]["detail"]
    with pytest.raises(LedgerError, match="non-empty reason"):
        ledger.reserve(CLIENT, "reboot_host", now=NOW + 11, override_reason="  ")


@BOTH
def test_a_prefetched_batch_applies_the_lockout_within_itself_and_to_the_history(ledger):
    """prefetch_lockout (a wave's one read for all its hosts) sees the history and the batch's
    own reservations: the same limit, cooldown and in-flight answers as reserving one by one."""
    row, _unused = ledger.reserve(OTHER, "reboot_host", now=NOW - 100, expires_at=NOW - 10)
    ledger.record_transition(row["command_id"], "failed", at=NOW - 20)
    with ledger.batch():
        ledger.prefetch_lockout([CLIENT, OTHER], now=NOW)
        states = [ledger.reserve(CLIENT, "reboot_host", now=NOW + i, expires_at=None)[0]["state"] for i in range(4)]
        other, decision = ledger.reserve(OTHER, "reboot_host", now=NOW)
        flight, flight_decision = ledger.reserve("11111111-2222-4333-8444-555555555555", "reboot_host", now=NOW,
                                                 expires_at=NOW + 240)
    assert states == ["queued", "queued", "queued", "blocked"]
    assert (other["state"], decision.code) == ("blocked", "cooldown")
    assert flight["state"] == "queued" and flight_decision.allowed
    assert ledger.reserve("11111111-2222-4333-8444-555555555555", "reboot_host", now=NOW + 1)[1].code == "in_flight"
    assert ledger.prefetch_lockout([CLIENT]) is None  # outside a batch: nothing


@BOTH
def test_cooldown_after_failed_command(ledger):
    row, _unused = ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240)
    ledger.record_transition(row["command_id"], "timed_out", at=NOW + 180)
    blocked, decision = ledger.reserve(CLIENT, "reboot_host", now=NOW + 200)
    assert blocked["state"] == "blocked"
    assert decision.code == "cooldown"
    assert decision.eligible_at == NOW + 240
    assert ledger.reserve(CLIENT, "reboot_host", now=NOW + 241)[0]["state"] == "queued"


@BOTH
def test_in_flight_command_blocks_a_second_play(ledger):
    ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240)
    row, decision = ledger.reserve(CLIENT, "shutdown_host", now=NOW + 5)
    assert (row["state"], decision.code, decision.eligible_at) == ("blocked", "in_flight", NOW + 240)


@BOTH
def test_transitions_and_queries(ledger):
    row, _unused = ledger.reserve(CLIENT, "reboot_host", host="lobby-01", now=NOW, expires_at=NOW + 240, wave_id="w1")
    ledger.record_transitions([
        (row["command_id"], "published", NOW + 0.1, None, {}),
        (row["command_id"], "accepted", NOW + 0.2, None, {}),
        (row["command_id"], "execution_started", NOW + 0.3, None, {}),
        (row["command_id"], "completed", NOW + 40, None, {"reconnect_s": 39.7}),
    ])
    ledger.reserve(OTHER, "restart_app", host="lobby-02", now=NOW - 7200, expires_at=NOW - 6960)
    found = ledger.commands(host="lobby-01", now=NOW + 60)
    assert len(found) == 1
    entry = found[0]
    assert entry["state"] == "completed"
    assert entry["reconnect_s"] == 39.7
    assert entry["finished_at_epoch"] == NOW + 40
    assert [t["state"] for t in entry["transitions"]] == ["queued", "published", "accepted", "execution_started",
                                                          "completed"]
    assert entry["transitions"][0]["at"].endswith("Z")
    assert [c["client_uuid"] for c in ledger.commands(since_s=3600, now=NOW + 60)] == [CLIENT]
    assert len(ledger.commands(now=NOW + 60)) == 2
    assert ledger.commands(wave_id="w1", now=NOW)[0]["command_id"] == row["command_id"]
    with pytest.raises(LedgerError, match="unknown ledger command fields"):
        ledger.record_transition(row["command_id"], None, bogus=1)


@BOTH
def test_retry_finds_the_same_command_within_validity(ledger):
    row, _unused = ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240, request_key="task:abc")
    assert ledger.find_reusable("task:abc", CLIENT, "reboot_host", now=NOW + 100)["command_id"] == row["command_id"]
    assert ledger.find_reusable("task:abc", CLIENT, "reboot_host", now=NOW + 241) is None
    assert ledger.find_reusable("task:other", CLIENT, "reboot_host", now=NOW + 100) is None
    assert ledger.find_reusable("task:abc", OTHER, "reboot_host", now=NOW + 100) is None


@BOTH
def test_record_step_for_poe(ledger):
    command_id = ledger.record_step(CLIENT, "poe_cycle", "execution_started", host="lobby-01", at=NOW,
                                    detail="port off")
    ledger.record_transition(command_id, "completed", at=NOW + 12)
    entry = ledger.command(command_id, with_transitions=True)
    assert entry["action"] == "poe_cycle"
    assert [t["state"] for t in entry["transitions"]] == ["queued", "execution_started", "completed"]


@BOTH
def test_waves_are_numbered_per_rollout(ledger):
    assert ledger.start_wave("a", "rollout-1", "reboot_host", now=NOW) == 1
    assert ledger.start_wave("b", "rollout-1", "reboot_host", now=NOW) == 2
    assert ledger.start_wave("c", "rollout-2", "reboot_host", now=NOW) == 1
    ledger.finish_wave("b", {"h1": {"client_uuid": CLIENT, "command_id": None, "state": "blocked"}}, {"counts": {}})
    assert ledger.wave_host_result("b", "h1")["state"] == "blocked"
    assert ledger.wave_host_result("b", "h2") is None
    ledger.set_gate("b", {"decision": "stop"})
    assert ledger.wave("b")["gate"] == {"decision": "stop"}


def test_file_is_private_and_path_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "l.sqlite3"
    monkeypatch.setenv("INFOSCREEN_LEDGER", str(path))
    assert default_path() == str(path)
    with Ledger() as opened:
        assert opened.path == str(path)
        assert not path.exists()  # created on the first write only
        opened.reserve(CLIENT, "reboot_host", now=NOW)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    monkeypatch.delenv("INFOSCREEN_LEDGER")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path() == str(tmp_path / "state" / "infoscreen-fleet" / "ledger.sqlite3")


def test_unwritable_path_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="INFOSCREEN_LEDGER"):
        Ledger(str(blocker / "ledger.sqlite3")).reserve(CLIENT, "reboot_host")


def _reserve_many(path, start, count, queue):
    allowed = 0
    with Ledger(path) as opened:
        start.wait()
        for _unused in range(count):
            row, _decision = opened.reserve(CLIENT, "reboot_host", now=time.time(), expires_at=None)
            allowed += row["state"] == "queued"
    queue.put(allowed)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_plays_at_once_cannot_both_slip_under_the_limit(ledger_path, backend, request):
    spec = str(ledger_path) if backend == "sqlite" else request.getfixturevalue("pg_ledger_url")
    with Ledger(spec) as first:
        first.migrate()
    ctx = multiprocessing.get_context("fork")
    start, queue = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_reserve_many, args=(spec, start, 10, queue)) for _unused in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(30)
    assert sum(queue.get(timeout=5) for _unused in workers) == 3
    with Ledger(spec) as opened:
        states = [c["state"] for c in opened.commands(client_uuid=CLIENT, limit=100, with_transitions=False)]
    assert states.count("queued") == 3
    assert states.count("blocked") == 37


# -- faults (issue 12, item 4) --------------------------------------------------------------

HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@pytest.fixture
def write_lock(ledger_path):
    """A second process holding the ledger's write lock until the test ends (or release())."""
    procs = []

    def hold():
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ledger_path)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "locked"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        if proc.poll() is None:
            proc.communicate("\n", timeout=10)


def release(proc):
    proc.communicate("\n", timeout=10)


def test_locked_ledger_beyond_the_bounded_wait_is_a_ledger_error_naming_the_file(ledger, ledger_path, write_lock):
    """Another process holds the write lock: a write waits the bounded wait (monotonic), then
    fails with LedgerBusy naming the file, the setting for the wait, and what to do."""
    ledger.reserve(CLIENT, "reboot_host", now=NOW)  # creates the file
    write_lock()
    short = Ledger(str(ledger_path), wait_s=0.3)
    started = time.monotonic()
    with pytest.raises(LedgerBusy) as caught:
        short.reserve(OTHER, "reboot_host", now=NOW)
    assert time.monotonic() - started >= 0.3
    message = str(caught.value)
    assert str(ledger_path) in message and "INFOSCREEN_LEDGER_WAIT_S" in message and "another process" in message
    assert "database is locked" not in message
    assert short.commands(client_uuid=CLIENT)  # reads still work while it is locked


def test_lock_released_within_the_bounded_wait_is_waited_out(ledger, ledger_path, write_lock):
    """A lock held for less than the bounded wait only delays the write."""
    ledger.reserve(CLIENT, "reboot_host", now=NOW)
    proc = write_lock()
    waiting = Ledger(str(ledger_path), wait_s=30)
    timer = threading.Timer(0.5, release, args=(proc,))
    timer.start()
    row, _unused = waiting.reserve(OTHER, "reboot_host", now=NOW)  # blocks until the lock is released
    timer.join()
    assert row["state"] == "queued"


def test_first_write_waits_out_a_lock_on_a_new_file_instead_of_failing(ledger_path, write_lock):
    """Several plays creating the ledger at once: switching a fresh file to WAL needs the lock
    another creator holds for a moment. That is waited out like any write (CI saw "database is
    locked" from the journal-mode switch, outside the bounded wait)."""
    proc = write_lock()  # a plain (rollback-journal) file, write-locked by another process
    waiting = Ledger(str(ledger_path), wait_s=30)
    timer = threading.Timer(0.5, release, args=(proc,))
    timer.start()
    row, _unused = waiting.reserve(CLIENT, "reboot_host", now=NOW)
    timer.join()
    assert row["state"] == "queued"


def test_deferred_transitions_wait_for_the_lock_and_are_written_in_order(ledger, ledger_path, write_lock):
    """A running wave's transitions (defer_when_busy) do not block while another process holds
    the lock; they are kept in order and written once it is free; finish_wave waits for them."""
    row, _unused = ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240, wave_id="w")
    ledger.start_wave("w", "r", "reboot_host", now=NOW)
    proc = write_lock()
    started = time.monotonic()
    assert ledger.record_transitions([(row["command_id"], "published", NOW + 1, None, {})],
                                     defer_when_busy=True) is False
    assert ledger.record_transitions([(row["command_id"], "accepted", NOW + 2, None, {})],
                                     defer_when_busy=True) is False
    assert time.monotonic() - started < 2.0  # did not wait for the lock
    release(proc)
    ledger.record_transitions([(row["command_id"], "completed", NOW + 3, None, {})], defer_when_busy=True)
    ledger.finish_wave("w", {}, {"counts": {}})
    states = [t["state"] for t in ledger.command(row["command_id"], with_transitions=True)["transitions"]]
    assert states == ["queued", "published", "accepted", "completed"]


def test_deferred_transitions_past_the_bounded_wait_fail_finish_wave_clearly(ledger_path, write_lock):
    """If the lock is still held when the wave ends, finish_wave gives up after the bounded wait
    with a LedgerBusy that says how many transitions are not recorded."""
    opened = Ledger(str(ledger_path), wait_s=0.5)
    row, _unused = opened.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240, wave_id="w")
    opened.start_wave("w", "r", "reboot_host", now=NOW)
    write_lock()
    opened.record_transitions([(row["command_id"], "published", NOW + 1, None, {})], defer_when_busy=True)
    with pytest.raises(LedgerBusy, match="1 state transition"):
        opened.finish_wave("w", {}, {"counts": {}})


def test_a_file_that_is_not_a_database_is_a_ledger_error_with_advice(tmp_path):
    """A stray or damaged file at the ledger path: LedgerError naming it and saying to move it aside."""
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError) as caught:
        Ledger(str(path)).commands()
    assert str(path) in str(caught.value) and "move it aside" in str(caught.value)
    assert not isinstance(caught.value, sqlite3.Error)


def test_bad_wait_setting_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("INFOSCREEN_LEDGER_WAIT_S", "soon")
    with pytest.raises(LedgerError, match="INFOSCREEN_LEDGER_WAIT_S"):
        Ledger(str(tmp_path / "l.sqlite3"))


@BOTH
def test_sweep_makes_stale_commands_terminal_and_leaves_live_ones_alone(ledger):
    """Past deadline + grace: never accepted -> expired; accepted or started -> timed_out with
    controller_interrupted. A command before its deadline, or a terminal one, is untouched."""
    rows = {}
    for name, state in (("queued", "queued"), ("published", "published"), ("started", "execution_started"),
                        ("accepted", "accepted"), ("live", "execution_started"), ("done", "completed")):
        row, _unused = ledger.reserve(CLIENT if name != "live" else OTHER, "restart_app", host=name, now=NOW,
                                      expires_at=NOW + 240, deadline_at=NOW + (3600 if name == "live" else 240),
                                      check_lockout=False)
        if state != "queued":
            ledger.record_transition(row["command_id"], state, at=NOW + 1)
        rows[name] = row["command_id"]
    assert ledger.sweep(now=NOW + 240 + SWEEP_GRACE_S - 1) == {"commands": 0, "waves": 0}
    assert ledger.sweep(now=NOW + 240 + SWEEP_GRACE_S + 1)["commands"] == 4
    found = {name: ledger.command(command_id, with_transitions=True) for name, command_id in rows.items()}
    assert [(found[n]["state"], found[n]["error_code"]) for n in ("queued", "published")] == [
        ("expired", "expired")] * 2
    assert [(found[n]["state"], found[n]["error_code"]) for n in ("started", "accepted")] == [
        ("timed_out", "controller_interrupted")] * 2
    assert found["live"]["state"] == "execution_started"
    assert found["done"]["state"] == "completed"
    assert found["started"]["transitions"][-1]["detail"].startswith("controller interrupted")
    assert found["started"]["finished_at_epoch"] == NOW + 240  # its deadline: the cooldown counts from there
    assert found["started"]["transitions"][-1]["at_epoch"] == NOW + 240 + SWEEP_GRACE_S + 1


@BOTH
def test_sweep_closes_waves_whose_controller_is_gone_but_not_live_ones(ledger):
    """An open wave whose commands are all terminal is closed with a reason once its controller
    process is gone; a wave of a live process stays open."""
    ctx = multiprocessing.get_context("fork")

    def start_in_child(wave_id):
        with Ledger(spec_of(ledger)) as child:
            child.start_wave(wave_id, "r", "reboot_host", now=NOW)

    child = ctx.Process(target=start_in_child, args=("dead",))
    child.start()
    child.join(10)
    assert ledger.sweep(now=NOW + 5)["waves"] == 1
    assert "process ended" in ledger.wave("dead")["summary"]["closed"]
    ledger.start_wave("alive", "r", "reboot_host", now=NOW)
    assert ledger.sweep(now=NOW + 5)["waves"] == 0
    assert ledger.wave("alive")["finished_at"] is None


@BOTH
def test_start_wave_sweeps(ledger):
    row, _unused = ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240)
    ledger.record_transition(row["command_id"], "published", at=NOW + 1)
    ledger.start_wave("w2", "r", "reboot_host", now=NOW + 7200)
    assert ledger.command(row["command_id"])["state"] == "expired"


def test_check_mode_wave_writes_nothing_to_the_ledger(tmp_path):
    """A check-mode wave (start, finish, gate, reads) creates no ledger file; its data lives in
    the scratch file, where the gate and outcome readers find it by wave id."""
    path = tmp_path / "state" / "ledger.sqlite3"
    with Ledger(str(path)) as opened:
        assert opened.lockout_decision(CLIENT).allowed
        assert opened.start_wave("cw", "r", "reboot_host", check_mode=True) == 1
        opened.finish_wave("cw", {"h": {"client_uuid": CLIENT, "state": "not_sent"}}, {"counts": {"hosts": 1}})
        opened.set_gate("cw", {"decision": "continue"})
        assert opened.sweep() == {"commands": 0, "waves": 0}
    with Ledger(str(path)) as reader:  # another task (a new process) finds it by wave id
        assert reader.wave("cw")["check_mode"] is True
        assert reader.wave_host_result("cw", "h")["state"] == "not_sent"
        assert reader.commands() == []
    assert not path.exists() and not path.parent.exists()
    assert os.path.exists(scratch_path(str(path)))


def test_schema_v1_file_gets_the_new_columns_on_first_write(ledger_path):
    with sqlite3.connect(ledger_path) as db:
        db.execute("CREATE TABLE commands (command_id TEXT PRIMARY KEY, client_uuid TEXT NOT NULL, host TEXT, "
                   "action TEXT NOT NULL, state TEXT NOT NULL, request_key TEXT, wave_id TEXT, issued_at REAL NOT "
                   "NULL, expires_at REAL, finished_at REAL, requested_by INTEGER, reason TEXT, error_code TEXT, "
                   "error_message TEXT, reconnect_s REAL, boot_id_before TEXT, boot_id_after TEXT, eligible_at REAL, "
                   "override_reason TEXT, payload TEXT)")
        db.execute("CREATE TABLE waves (wave_id TEXT PRIMARY KEY, rollout_id TEXT, number INTEGER, action TEXT, "
                   "check_mode INTEGER NOT NULL DEFAULT 0, started_at REAL, finished_at REAL, summary TEXT, gate TEXT)")
    with Ledger(str(ledger_path)) as opened:
        opened.start_wave("w", "r", "reboot_host", now=NOW)
        row, _unused = opened.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 10, wave_id="w")
        assert opened.command(row["command_id"])["deadline_at"] == NOW + 10
