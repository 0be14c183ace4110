"""How much the ledger's sweep costs every wave start, and how a busy ledger behaves.

Fills a scratch ledger with N finished commands (plus a few stale ones an interrupted
controller left open) and prints, measured in this run:
- the time of one sweep (it runs inside every wave's start_wave transaction and every
  ledger query), and of an empty sweep after it;
- the time a deferred transition write takes while another connection holds the write lock
  (the wave loop must not stall) and the time the bounded wait takes to give up.

    python bench/ledger_sweep_bench.py [--commands 200000] [--wait 1.0]
"""

import argparse
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / ".cache" / "collections"))

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger, LedgerBusy  # noqa: E402


def fill(path, count, now):
    with Ledger(str(path)) as ledger:
        ledger.start_wave("seed", "seed", "reboot_host", now=now)  # creates the schema
    with sqlite3.connect(path) as db:
        rows = []
        for i in range(count):
            issued = now - 86400 * 30 + i
            rows.append((str(uuid.uuid4()), str(uuid.uuid4()), f"h{i % 1000}", "reboot_host", "completed",
                         issued, issued + 240, issued + 60, issued + 240))
        for i in range(10):  # left open by an interrupted controller
            rows.append((str(uuid.uuid4()), str(uuid.uuid4()), f"stale{i}", "reboot_host", "execution_started",
                         now - 7200, now - 6960, None, now - 6960))
        db.executemany("INSERT INTO commands (command_id, client_uuid, host, action, state, issued_at, expires_at, "
                       "finished_at, deadline_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200000)
    parser.add_argument("--wait", type=float, default=1.0, help="bounded wait for the busy part (s)")
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite3"
        started = time.perf_counter()
        fill(path, args.commands, now)
        print(f"filled {args.commands} commands in {time.perf_counter() - started:.2f} s "
              f"({path.stat().st_size / 1e6:.1f} MB)")
        with Ledger(str(path)) as ledger:
            started = time.perf_counter()
            swept = ledger.sweep(now=now)
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = ledger.sweep(now=now)
            second = time.perf_counter() - started
        print(f"sweep with 10 stale rows: {first * 1000:.1f} ms ({swept}); empty sweep: {second * 1000:.1f} ms "
              f"({again})")

        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with Ledger(str(path), wait_s=args.wait) as ledger:
            command_id = ledger.commands(limit=1, with_transitions=False)[0]["command_id"]
            started = time.perf_counter()
            deferred = ledger.record_transitions([(command_id, None, None, None, {"reason": "x"})],
                                                 defer_when_busy=True)
            defer_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            try:
                ledger.flush_deferred()
                gave_up = None
            except LedgerBusy:
                gave_up = time.perf_counter() - started
        holder.execute("ROLLBACK")
        print(f"while locked: a deferring write returned after {defer_ms:.1f} ms (written: {deferred}); "
              f"the bounded wait ({args.wait:g} s) gave up after {gave_up:.2f} s")


if __name__ == "__main__":
    main()
