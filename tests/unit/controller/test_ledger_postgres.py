"""The PostgreSQL ledger (issue 17) against a real throwaway cluster (tests/fixtures/postgres.py):
credentials never echoed, credentials from the libpq environment and a pgpass file, a shared
ledger from any working directory, a lost server handled like a busy SQLite file (deferred
transitions, bounded wait, nothing reserved without the server), reconnects, and concurrent
wave reservations that neither deadlock nor slip under the limit."""

import multiprocessing
import os
import threading
import time

import psycopg
import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import (
    Ledger,
    LedgerBusy,
    LedgerError,
    LedgerUnavailable,
)

CLIENT = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
NOW = 1_800_000_000.0


def test_the_password_is_never_in_a_message_or_the_path(pg_cluster, pg_ledger_url):
    wrong = pg_ledger_url.replace(pg_cluster.password, "Wr0ngSecret-4711")
    with Ledger(wrong, wait_s=0.5) as opened:
        assert "Wr0ngSecret-4711" not in opened.path and "***" in opened.path
        with pytest.raises(LedgerError) as caught:
            opened.reserve(CLIENT, "reboot_host", now=NOW)
    message = str(caught.value)
    assert "Wr0ngSecret-4711" not in message and "credentials" in message and "***" in message
    gone = f"postgresql://ledger:{pg_cluster.password}@127.0.0.1:1/nothing"
    with Ledger(gone, wait_s=0.5) as opened, pytest.raises(LedgerUnavailable) as caught:
        opened.commands()
    assert pg_cluster.password not in str(caught.value) and "bounded wait" in str(caught.value)


def test_credentials_from_the_environment_and_a_pgpass_file(pg_cluster, pg_ledger_url, monkeypatch, tmp_path):
    dbname = pg_ledger_url.rsplit("/", 1)[1]
    bare = f"postgresql://ledger@127.0.0.1:{pg_cluster.port}/{dbname}"
    monkeypatch.setenv("PGPASSWORD", pg_cluster.password)
    with Ledger(bare) as opened:
        opened.reserve(CLIENT, "reboot_host", now=NOW)
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_cluster.port}:*:ledger:{pg_cluster.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with Ledger(bare) as opened:
        assert len(opened.commands(client_uuid=CLIENT)) == 1


def test_a_url_ledger_is_shared_from_any_working_directory_and_creates_no_local_file(pg_ledger_url, tmp_path,
                                                                                     monkeypatch):
    """The schema-v2 code took a URL for a path and silently kept a private SQLite file under
    the working directory: each controller (each AWX job) counted only its own commands."""
    seen = []
    for name in ("controller-a", "controller-b"):
        workdir = tmp_path / name
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        monkeypatch.setenv("INFOSCREEN_LEDGER", pg_ledger_url)
        with Ledger() as opened:
            assert opened.backend == "postgresql"
            seen.append(opened.reserve(CLIENT, "reboot_host", now=NOW + len(seen), expires_at=NOW + 240)[0]["state"])
        assert list(workdir.iterdir()) == []
    assert seen == ["queued", "blocked"]  # the second controller sees the first one's command in flight


def test_a_dropped_connection_is_made_again_within_the_bounded_wait(pg_ledger_url):
    with Ledger(pg_ledger_url) as opened:
        opened.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240)
        pid = opened._db.conn.info.backend_pid
        with psycopg.connect(pg_ledger_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert len(opened.commands(client_uuid=CLIENT)) == 1  # a read reconnects
        pid = opened._db.conn.info.backend_pid
        with psycopg.connect(pg_ledger_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        row, decision = opened.reserve(OTHER, "reboot_host", now=NOW)  # so does a reservation
        assert row["state"] == "queued" and decision.allowed


@pytest.fixture
def cluster(pg_cluster):
    """The session's cluster, for a test that stops it: running again afterwards."""
    yield pg_cluster
    if not pg_cluster.running():
        pg_cluster.start()


def test_server_stopped_mid_wave_defers_transitions_then_writes_them_in_order(cluster):
    """Like a busy SQLite ledger: a running wave's transitions are kept while the server is
    gone (without stalling the ack tracking), a new reservation fails after the bounded wait
    (nothing reserved, so nothing may be sent), and finish_wave writes them once it is back."""
    url = cluster.url(cluster.create_database())
    opened = Ledger(url, wait_s=20)
    row, _unused = opened.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240, wave_id="w")
    opened.start_wave("w", "r", "reboot_host", now=NOW)
    cluster.stop()
    started = time.monotonic()
    assert opened.record_transitions([(row["command_id"], "published", NOW + 1, None, {})],
                                     defer_when_busy=True) is False
    assert opened.record_transitions([(row["command_id"], "accepted", NOW + 2, None, {})],
                                     defer_when_busy=True) is False
    assert time.monotonic() - started < 5.0
    short = Ledger(url, wait_s=0.5)
    with pytest.raises(LedgerUnavailable):
        short.reserve(OTHER, "reboot_host", now=NOW)
    threading.Timer(1.0, cluster.start).start()
    opened.record_transitions([(row["command_id"], "completed", NOW + 3, None, {"reconnect_s": 2.0})],
                              defer_when_busy=True)
    opened.finish_wave("w", {"h": {"client_uuid": CLIENT, "command_id": row["command_id"]}}, {"counts": {}})
    found = opened.command(row["command_id"], with_transitions=True)
    assert [t["state"] for t in found["transitions"]] == ["queued", "published", "accepted", "completed"]
    assert found["state"] == "completed" and opened.wave("w")["finished_at"]
    assert opened.commands(client_uuid=OTHER) == []  # the refused reservation left nothing
    opened.close()


def test_server_gone_beyond_the_bounded_wait_fails_finish_wave_clearly(cluster):
    url = cluster.url(cluster.create_database())
    opened = Ledger(url, wait_s=1.0)
    row, _unused = opened.reserve(CLIENT, "reboot_host", now=NOW, expires_at=NOW + 240, wave_id="w")
    opened.start_wave("w", "r", "reboot_host", now=NOW)
    cluster.stop()
    opened.record_transitions([(row["command_id"], "published", NOW + 1, None, {})], defer_when_busy=True)
    with pytest.raises(LedgerBusy, match="1 state transition") as caught:
        opened.finish_wave("w", {}, {"counts": {}})
    assert isinstance(caught.value, LedgerUnavailable) and cluster.password not in str(caught.value)


def _wave_reserve(url, clients, start, queue, prefetch):
    """One controller reserving a whole wave in one batch (as wave_driver._prepare does)."""
    allowed = []
    try:
        with Ledger(url) as opened:
            start.wait()
            for round_no in range(5):
                with opened.batch():
                    if prefetch:
                        opened.prefetch_lockout(clients)
                    for client in clients:
                        row, _unused = opened.reserve(client, "reboot_host", now=time.time(), expires_at=None,
                                                      wave_id=f"{os.getpid()}-{round_no}")
                        allowed.append((client, row["state"]))
        queue.put(allowed)
    except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
        queue.put(repr(exc))


@pytest.mark.parametrize("prefetch", [False, True], ids=["per-host", "prefetched"])
def test_concurrent_wave_reservations_on_overlapping_clients_neither_deadlock_nor_slip(pg_ledger_url, prefetch):
    clients = [f"00000000-0000-4000-8000-{i:012d}" for i in range(8)]
    with Ledger(pg_ledger_url) as first:
        first.migrate()
    ctx = multiprocessing.get_context("fork")
    start, queue = ctx.Event(), ctx.Queue()
    orders = [clients, list(reversed(clients)), clients[3:] + clients[:3]]  # opposite lock orders
    workers = [ctx.Process(target=_wave_reserve, args=(pg_ledger_url, order, start, queue, prefetch))
               for order in orders]
    for worker in workers:
        worker.start()
    start.set()
    results = [queue.get(timeout=60) for _unused in workers]
    for worker in workers:
        worker.join(10)
    assert all(isinstance(r, list) for r in results), results
    queued = [client for result in results for client, state in result if state == "queued"]
    assert sorted(queued) == sorted(clients * 3)  # exactly the limit (3) per client, across 3 controllers
