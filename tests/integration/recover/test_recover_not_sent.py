"""recover.yml never escalates on a step that was not sent (issue 12, item 2).

Real broker, real agents (simulated fleet), real snmpsim switch, real ansible-playbook. A ladder
step counts as "tried and did not help" only when its command was published and its outcome
(or a timeout after publication) is known; a broker outage or a ledger error stops the ladder
for the hosts it hits: their PoE port is never switched, the report file and the console say
why, and the play exits non-zero.
"""

import contextlib
import sqlite3
import threading
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from integration.recover.ladder_run import hang, run_recover_playbook

pytestmark = pytest.mark.integration

PORT = 7


def poe_fleet(fleet_factory, sim_switch):
    """client-001: poe tier on port PORT, hung until its power is cycled."""
    fleet = fleet_factory(clients=1, poe={"client-001": {"switch": sim_switch.address, "group": 1, "port": PORT}},
                          groups=[("lobby", None)], faults={"client-001": ["needs_power_cycle"]})
    sim_switch.on_power_event(fleet.handle_power_event)
    hang(fleet, "client-001")
    return fleet


def assert_port_never_switched(sim_switch):
    assert sim_switch.events() == [], "the PoE port was switched"
    assert sim_switch.port_state(PORT)["admin_enabled"] is True


def test_broker_unreachable_from_the_start_stops_before_any_step(fleet_factory, sim_switch, tmp_path):
    """Broker down before the play: no health, so nothing is judged or sent; the report file says
    the broker could not be reached, the port is never switched, the play fails."""
    fleet = poe_fleet(fleet_factory, sim_switch)
    fleet.broker.stop()
    rc, out, rows = run_recover_playbook(fleet, sim_switch, tmp_path)
    assert rc == 2, out  # the hosts the ladder stopped for fail the play
    assert rows is not None, "no report file written:\n" + out
    row = rows["client-001"]
    print(f"rc {rc}; report reason: {row['reason']}")
    assert row["state"] == "failed" and row["steps"] == [], row
    assert "broker" in row["reason"] and "nothing was sent" in row["reason"], row
    assert "client-001 (poe tier) not recovered" in out
    assert_port_never_switched(sim_switch)


def published(ledger_path, action):
    """Whether the ledger shows a command for ``action`` that the broker acknowledged (read-only)."""
    if not ledger_path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True, timeout=1)) as db:
            rows = db.execute("SELECT state FROM commands WHERE action = ?", (action,)).fetchall()
    except sqlite3.Error:  # not created yet, or busy: ask again
        return False
    return any(state in ("published", "accepted", "execution_started", "expired", "timed_out") for (state,) in rows)


def test_broker_stopped_mid_wave_never_power_cycles(fleet_factory, sim_switch, tmp_path):
    """The broker stops during the restart_app wave, once the command was published: restart_app
    counts as tried (published, no answer by its deadline), but reboot_host cannot be sent, so the
    ladder stops there - no PoE cycle, no poe_cycle row in the ledger, exit 2, and the report names
    the unreachable broker as the reason."""
    fleet = poe_fleet(fleet_factory, sim_switch)
    ledger = tmp_path / "ledger.sqlite3"
    stopped = threading.Event()

    def stop_broker_once_published():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not published(ledger, "restart_app"):
            time.sleep(0.05)
        fleet.broker.stop()
        stopped.set()

    def watch(line):
        if "TASK [Send the step to the hosts still pending - restart_app]" in line:
            threading.Thread(target=stop_broker_once_published, daemon=True).start()

    rc, out, rows = run_recover_playbook(fleet, sim_switch, tmp_path, on_line=watch)
    assert stopped.is_set(), "the ladder never reached restart_app:\n" + out
    assert rc == 2, out  # the hosts the ladder stopped for fail the play
    assert rows is not None, "no report file written:\n" + out
    row = rows["client-001"]
    print(f"rc {rc}; report reason: {row['reason']}")
    assert [(s["step"], s["tried"]) for s in row["steps"]] == [("restart_app", True), ("reboot_host", False)], row
    assert row["steps"][0]["state"] in ("expired", "timed_out"), row
    assert row["state"] == "failed" and row["recovered_by"] is None, row
    assert "reboot_host" in row["reason"] and "not sent" in row["reason"] and "broker" in row["reason"], row
    assert "no PoE cycle" in row["reason"], row
    assert "client-001 (poe tier) not recovered" in out
    assert_port_never_switched(sim_switch)
    with Ledger(str(ledger)) as db:
        assert "poe_cycle" not in [c["action"] for c in db.commands()]


def test_ledger_error_stops_the_ladder(fleet_factory, sim_switch, tmp_path):
    """The ledger cannot be opened (not a database): no step can be reserved, so none is sent and
    none is escalated; the report names the ledger error, the port is never switched."""
    fleet = poe_fleet(fleet_factory, sim_switch)
    broken = tmp_path / "broken-ledger.sqlite3"
    broken.write_bytes(b"this is not an SQLite database, it is a text file\n" * 100)
    rc, out, rows = run_recover_playbook(fleet, sim_switch, tmp_path, extra_vars={"infoscreen_ledger": str(broken)})
    assert rc == 2, out  # the hosts the ladder stopped for fail the play
    assert rows is not None, "no report file written:\n" + out
    row = rows["client-001"]
    print(f"rc {rc}; report reason: {row['reason']}")
    assert row["state"] == "failed" and row["recovered_by"] is None, row
    assert [s["step"] for s in row["steps"]] == ["restart_app"], row
    assert "ledger" in row["reason"] and "no PoE cycle" in row["reason"], row
    assert_port_never_switched(sim_switch)
