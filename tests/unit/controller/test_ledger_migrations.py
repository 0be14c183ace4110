"""Versioned ledger migrations (issue 17): a ledger written by the schema-v2 code is upgraded in
place with its history intact; migrations apply once, ahead (ledger_migrate.yml) or on the first
write; PostgreSQL databases carry the same versions, also with several controllers at once."""

import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import psycopg
from ansible_collections.infoscreen.fleet.plugins.module_utils import ledger_pg
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import SCHEMA_VERSION, Ledger

# Built by the schema-v2 code (commit 47b839a) with tests/integration/ledger/data/make_ledger_schema_v2.py.
V2_FILE = Path(__file__).resolve().parents[2] / "integration" / "ledger" / "data" / "ledger-schema-v2.sqlite3"
NOW = 1_800_000_000.0
A = "0f8fad5b-d9cb-469f-a165-70867728950e"
B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def _dump(path):
    """Every row of the tables a v2 ledger has, for a before/after comparison."""
    with sqlite3.connect(path) as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608 - fixed names
                for table in ("commands", "transitions", "overrides", "waves", "wave_hosts")}


def test_a_schema_v2_ledger_is_upgraded_in_place_with_its_history_intact(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    shutil.copy(V2_FILE, path)
    before = _dump(path)
    assert sum(len(rows) for rows in before.values()) > 20
    with Ledger(str(path)) as opened:
        assert opened.schema_version() == 2
        # The history still drives the lockout: 3 reboots + 1 overridden (failed) in the window.
        row, decision = opened.reserve(A, "reboot_host", host="lobby-01", now=NOW, expires_at=NOW + 240)
        assert (row["state"], decision.code) == ("blocked", "lockout")
        assert opened.schema_version() == SCHEMA_VERSION == 3
        history = opened.migrations()
        old = opened.commands(client_uuid=A, now=NOW, limit=10)
        wave = opened.wave("w1")
        overrides = opened.overrides(A)
    after = _dump(path)
    for table, rows in before.items():
        kept = [r for r in after[table] if table != "commands" or r[0] != row["command_id"]]
        if table == "transitions":
            kept = kept[:len(rows)]
        assert kept == rows, table
    assert [h["version"] for h in history] == [1, 2, 3]
    assert "present before" in history[0]["description"] and "present before" in history[1]["description"]
    assert "present before" not in history[2]["description"]
    assert [c["state"] for c in old].count("completed") == 3
    assert [t["state"] for t in old[-1]["transitions"]] == ["queued", "published", "accepted", "completed"]
    assert wave["summary"] == {"counts": {"completed": 1}} and wave["owner"]
    assert [o["reason"] for o in overrides] == ["operator said so"]
    with sqlite3.connect(path) as db:
        indexes = {r[1] for r in db.execute("PRAGMA index_list(commands)")}
        assert "commands_lockout" in indexes
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)


def test_migrate_ahead_applies_once_and_a_new_file_starts_at_the_current_version(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    shutil.copy(V2_FILE, path)
    with Ledger(str(path)) as opened:
        report = opened.migrate()
        assert (report["from_version"], report["to_version"], report["applied"]) == (2, 3, [3])
        assert opened.migrate()["applied"] == []
    fresh = tmp_path / "new.sqlite3"
    with Ledger(str(fresh)) as opened:
        assert opened.schema_version() == 0 and not fresh.exists()
        assert opened.migrate()["applied"] == [1, 2, 3]
        assert all("present before" not in h["description"] for h in opened.migrations())


def _pg_migrate(url, start, queue):
    start.wait()
    try:
        with Ledger(url) as opened:
            opened.reserve(A, "restart_app", now=NOW, check_lockout=False)
        queue.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
        queue.put(repr(exc))


def test_postgresql_migrations_once_with_several_controllers_at_once(pg_ledger_url):
    ctx = multiprocessing.get_context("fork")
    start, queue = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_pg_migrate, args=(pg_ledger_url, start, queue)) for _unused in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(30)
    assert [queue.get(timeout=5) for _unused in workers] == ["ok"] * 4
    with Ledger(pg_ledger_url) as opened:
        assert [h["version"] for h in opened.migrations()] == [1, 2, 3]
        assert len(opened.commands(client_uuid=A)) == 4


def test_a_postgresql_ledger_at_version_2_is_upgraded_with_its_rows(pg_ledger_url):
    db = ledger_pg.PgConnection(pg_ledger_url, 5)
    ledger_pg.migrate_pg(db, 2, 5000)
    db.raw("INSERT INTO commands (command_id, client_uuid, action, state, issued_at) VALUES "
           "('c1', %s, 'reboot_host', 'completed', %s)", (B, NOW))
    db.close()
    with Ledger(pg_ledger_url) as opened:
        assert opened.schema_version() == 2
        assert opened.migrate()["applied"] == [3]
        assert opened.command("c1")["state"] == "completed"
    with psycopg.connect(pg_ledger_url) as conn:
        assert conn.execute("SELECT indexname FROM pg_indexes WHERE indexname = 'commands_lockout'").fetchone()
