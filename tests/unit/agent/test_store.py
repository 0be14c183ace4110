import json
import os
import stat

from infoscreen_agent.store import StateStore, atomic_write_json


def test_dedupe_survives_a_new_process(tmp_path):
    store = StateStore(str(tmp_path), retention_s=3600, max_entries=100)
    store.record("a", "reboot_host", "accepted")
    store.record("a", "reboot_host", "completed")
    again = StateStore(str(tmp_path), retention_s=3600, max_entries=100)
    assert "a" in again
    assert again.get("a")["status"] == "completed"


def test_old_entries_age_out_and_size_is_bounded(tmp_path):
    clock = [1000.0]
    store = StateStore(str(tmp_path), retention_s=100, max_entries=10, clock=lambda: clock[0])
    store.record("old", "reboot_host", "completed")
    clock[0] += 101
    store.record("new", "reboot_host", "completed")
    assert "old" not in store
    assert "new" in store
    for i in range(25):
        clock[0] += 1
        store.record(f"c{i}", "restart_app", "failed", "busy", "x")
    assert len(store) == 10
    assert "c24" in store
    assert "c14" not in store


def test_lockout_counts_only_executions_in_window(tmp_path):
    clock = [1000.0]
    store = StateStore(str(tmp_path), retention_s=10**6, max_entries=100, clock=lambda: clock[0])
    store.record("a", "reboot_host", "execution_started", executed=True)
    store.record("b", "reboot_host", "failed", "expired", "x")
    clock[0] += 500
    store.record("c", "reboot_host", "execution_started", executed=True)
    assert store.executions_since(0) == 2
    assert store.executions_since(1200) == 1


def test_pending_round_trip(tmp_path):
    store = StateStore(str(tmp_path), retention_s=100, max_entries=10)
    assert store.pending() is None
    record = {"command_id": "5dca32b5-e6da-4f2e-b990-61f4d2cfb54c", "action": "reboot_host", "boot_id": "b1",
              "invoked_at": 1.0, "deadline_at": 2.0, "phase": "invoking", "terminal": None}
    store.set_pending(record)
    assert StateStore(str(tmp_path), 100, 10).pending() == record
    store.clear_pending()
    assert store.pending() is None


def test_atomic_write_leaves_no_temp_and_is_private(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(str(target), {"k": 1})
    assert json.loads(target.read_text()) == {"k": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


def test_corrupt_file_is_set_aside(tmp_path):
    (tmp_path / "commands.json").write_text("{torn")
    store = StateStore(str(tmp_path), retention_s=100, max_entries=10)
    assert len(store) == 0
    assert any(p.name.startswith("commands.json.corrupt-") for p in tmp_path.iterdir())


def test_store_of_agent_1x_is_trusted_and_keeps_its_executions(tmp_path):
    """Upgrade: a 1.x commands.json (no meta file) is read as is: its executions count for the
    lockout, its entries are duplicates, and nothing older is refused as state_lost."""
    import time as _time  # noqa: PLC0415

    now = _time.time()
    legacy = {"AA": {"action": "reboot_host", "seen_at": now - 60, "status": "completed", "error_code": None,
                     "error_message": None, "executed_at": now - 60}}
    (tmp_path / "commands.json").write_text(json.dumps(legacy))
    store = StateStore(str(tmp_path), retention_s=3600, max_entries=100)
    assert "aa" in store and "AA" in store
    assert store.executions_since(now - 900) == 1
    assert store.trusted_since == 0.0
    assert not store.forgotten(now - 3600)
    assert (tmp_path / "commands.meta.json").exists()


def test_clean_close_leaves_a_snapshot_an_older_agent_reads(tmp_path):
    """After close() commands.json holds every entry in the 1.x shape ({command_id: entry})."""
    store = StateStore(str(tmp_path), retention_s=3600, max_entries=100)
    store.record("a", "reboot_host", "accepted")
    store.record("b", "restart_app", "failed", "busy", "x", durable=False)
    store.close()
    snapshot = json.loads((tmp_path / "commands.json").read_text())
    assert set(snapshot) == {"a", "b"} and snapshot["b"]["status"] == "failed"
    assert (tmp_path / "commands.journal").read_text() == ""
