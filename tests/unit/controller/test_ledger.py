"""The SQLite ledger: lockout across plays, overrides, retries, queries, two writers at once."""

import multiprocessing
import os
import stat
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger, LedgerError, default_path

CLIENT = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
NOW = 1_800_000_000.0


def _reboot(ledger, at, client=CLIENT, **kwargs):
    row, decision = ledger.reserve(client, "reboot_host", host="lobby-01", now=at, expires_at=at + 240, **kwargs)
    if row["state"] == "queued":
        ledger.record_transition(row["command_id"], "completed", at=at + 30)
    return row, decision


def test_fourth_reboot_class_command_in_15_min_is_blocked_then_allowed(ledger):
    for offset in (0, 100, 200):
        row, _ = _reboot(ledger, NOW + offset)
        assert row["state"] == "queued"
    row, decision = ledger.reserve(CLIENT, "restart_app", now=NOW + 300)  # restart_app counts too
    assert row["state"] == "blocked"
    assert row["error_code"] == "lockout"
    assert row["eligible_at_epoch"] == NOW + 900
    assert decision.eligible_at == NOW + 900
    row, _ = ledger.reserve(CLIENT, "poe_cycle", now=NOW + 900.5)
    assert row["state"] == "queued"


def test_blocked_commands_do_not_count_and_other_clients_are_independent(ledger):
    for offset in (0, 1, 2):
        _reboot(ledger, NOW + offset)
    for offset in (3, 4, 5):
        assert ledger.reserve(CLIENT, "reboot_host", now=NOW + offset)[0]["state"] == "blocked"
    assert ledger.reserve(OTHER, "reboot_host", now=NOW + 6)[0]["state"] == "queued"
    # Only the three real ones count: once the first leaves the window, one is allowed.
    assert ledger.reserve(CLIENT, "reboot_host", now=NOW + 900.5)[0]["state"] == "queued"


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


def test_cooldown_after_failed_command(ledger):
    row, _ = ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240)
    ledger.record_transition(row["command_id"], "timed_out", at=NOW + 180)
    blocked, decision = ledger.reserve(CLIENT, "reboot_host", now=NOW + 200)
    assert blocked["state"] == "blocked"
    assert decision.code == "cooldown"
    assert decision.eligible_at == NOW + 240
    assert ledger.reserve(CLIENT, "reboot_host", now=NOW + 241)[0]["state"] == "queued"


def test_in_flight_command_blocks_a_second_play(ledger):
    ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240)
    row, decision = ledger.reserve(CLIENT, "shutdown_host", now=NOW + 5)
    assert (row["state"], decision.code, decision.eligible_at) == ("blocked", "in_flight", NOW + 240)


def test_transitions_and_queries(ledger):
    row, _ = ledger.reserve(CLIENT, "reboot_host", host="lobby-01", now=NOW, expires_at=NOW + 240, wave_id="w1")
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


def test_retry_finds_the_same_command_within_validity(ledger):
    row, _ = ledger.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240, request_key="task:abc")
    assert ledger.find_reusable("task:abc", CLIENT, "reboot_host", now=NOW + 100)["command_id"] == row["command_id"]
    assert ledger.find_reusable("task:abc", CLIENT, "reboot_host", now=NOW + 241) is None
    assert ledger.find_reusable("task:other", CLIENT, "reboot_host", now=NOW + 100) is None
    assert ledger.find_reusable("task:abc", OTHER, "reboot_host", now=NOW + 100) is None


def test_record_step_for_poe(ledger):
    command_id = ledger.record_step(CLIENT, "poe_cycle", "execution_started", host="lobby-01", at=NOW,
                                    detail="port off")
    ledger.record_transition(command_id, "completed", at=NOW + 12)
    entry = ledger.command(command_id, with_transitions=True)
    assert entry["action"] == "poe_cycle"
    assert [t["state"] for t in entry["transitions"]] == ["queued", "execution_started", "completed"]


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
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    monkeypatch.delenv("INFOSCREEN_LEDGER")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path() == str(tmp_path / "state" / "infoscreen-fleet" / "ledger.sqlite3")


def test_unwritable_path_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="INFOSCREEN_LEDGER"):
        Ledger(str(blocker / "ledger.sqlite3"))


def _reserve_many(path, start, count, queue):
    allowed = 0
    with Ledger(path) as opened:
        start.wait()
        for _ in range(count):
            row, _decision = opened.reserve(CLIENT, "reboot_host", now=time.time(), expires_at=None)
            allowed += row["state"] == "queued"
    queue.put(allowed)


def test_two_plays_at_once_cannot_both_slip_under_the_limit(ledger_path):
    Ledger(str(ledger_path)).close()
    ctx = multiprocessing.get_context("fork")
    start, queue = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_reserve_many, args=(str(ledger_path), start, 10, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(30)
    assert sum(queue.get(timeout=5) for _ in workers) == 3
    with Ledger(str(ledger_path)) as opened:
        states = [c["state"] for c in opened.commands(client_uuid=CLIENT, limit=100, with_transitions=False)]
    assert states.count("queued") == 3
    assert states.count("blocked") == 37
