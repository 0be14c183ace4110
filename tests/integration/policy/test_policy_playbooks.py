"""Acceptance of issue 18 items 1 and 4 through the real reboot.yml: ansible-playbook, the
wave_plan and lifecycle_wave plugins, real agents (simulated power) and a real mosquitto
(a module fleet of 4 clients, group healthy, on the session broker of tests/fixtures/fleet.py;
each test has its own ledger).

Maintenance windows are judged on a fixed clock (infoscreen_wave_window_now, the documented
drill/test option: the wave judges its windows as if it started then), so nothing sleeps.
"""

import datetime
import json

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from fixtures.controller import uuid_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NIGHT = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "02:00", "end": "05:00",
          "tz": "Europe/Berlin"}]
PAIR = ("client-001", "client-002")


@pytest.fixture(scope="module")
def policy_fleet(fleet_broker, tmp_path_factory):
    fleet = fleet_broker.fleet(tmp_path_factory.mktemp("policy-fleet"), 4, groups=[("healthy", None)])
    yield fleet
    fleet.stop()


def by_host(report):
    return {row["host"]: row for row in report["hosts"]}


def windows_inventory(tmp_path):
    """A second inventory source: the windows as group vars of the fleet's group healthy."""
    path = tmp_path / "windows-inventory.json"
    path.write_text(json.dumps({"all": {"children": {"infoscreen_clients": {"children": {
        "healthy": {"vars": {"infoscreen_maintenance_windows": NIGHT}}}}}}}))
    return str(path)


def test_wave_runs_inside_its_window_and_is_blocked_outside_with_the_next_opening(
        policy_fleet, run_playbook, ledger_path, command_spy, tmp_path):
    spy = command_spy(policy_fleet)
    inventory = windows_inventory(tmp_path)
    rc, output, report = run_playbook(policy_fleet, "reboot.yml", "-i", inventory, "-l", ",".join(PAIR),
                                      "-e", "infoscreen_wave_window_now=2026-07-15T03:00:00+02:00",
                                      ledger=ledger_path)
    assert rc == 0, output
    rows = by_host(report)
    assert [rows[name]["state"] for name in PAIR] == ["completed", "completed"], rows
    assert "judged at 2026-07-15T01:00:0" in output  # the wave says it is not the controller clock
    sent = {name: len(spy.for_client(uuid_of(policy_fleet, name))) for name in PAIR}
    assert sent == {"client-001": 1, "client-002": 1}

    rc, output, report = run_playbook(policy_fleet, "reboot.yml", "-i", inventory, "-l", ",".join(PAIR),
                                      "-e", "infoscreen_wave_window_now=2026-07-15T06:00:00+02:00",
                                      ledger=ledger_path)
    assert rc == 2, output  # nothing executed: the gate stops, a wave that sent nothing is never a pass
    rows = by_host(report)
    next_two = datetime.datetime.fromisoformat("2026-07-16T02:00:00+02:00").timestamp()
    for name in PAIR:
        assert rows[name]["state"] == "blocked", rows[name]
        assert rows[name]["error_code"] == "outside_maintenance_window"
        assert rows[name]["eligible_at"] == "2026-07-16T00:00:00.000Z"
        assert len(spy.for_client(uuid_of(policy_fleet, name))) == 1  # never published
    assert "outside its maintenance windows" in output
    with Ledger(str(ledger_path)) as ledger:
        for name in PAIR:
            (blocked,) = ledger.commands(host=name, state="blocked")
            assert blocked["error_code"] == "outside_maintenance_window"
            assert blocked["eligible_at_epoch"] == pytest.approx(next_two)
            assert blocked["transitions"][-1]["state"] == "blocked"
            assert not any(t["state"] == "published" for t in blocked["transitions"])


def test_a_bad_window_is_refused_before_anything_is_sent(policy_fleet, run_playbook, ledger_path, command_spy):
    spy = command_spy(policy_fleet)
    bad = json.dumps({"infoscreen_maintenance_windows": [{"start": "02:00", "end": "05:00", "tz": "Europe/Berlinn"}]})
    rc, output, _report = run_playbook(policy_fleet, "reboot.yml", "-l", "client-003", "-e", bad,
                                       ledger=ledger_path)
    assert rc != 0, output
    assert "host client-003: infoscreen_maintenance_windows item 1: tz 'Europe/Berlinn' is not a known time zone" \
        in output
    assert "Nothing was changed" in output
    assert spy.commands == []
    assert not ledger_path.exists() or Ledger(str(ledger_path)).commands() == []


def test_bulk_guard_refuses_a_run_without_limit_unless_confirmed_with_its_exact_count(
        policy_fleet, run_playbook, ledger_path, command_spy):
    """reboot.yml on a whole group (4 hosts, no --limit) with a guard of 3 hosts: refused
    without the confirmation and with a stale one (3), before anything is sent; check mode
    shows the count; with the right count (4) it runs."""
    spy = command_spy(policy_fleet)
    guard = ("-e", "infoscreen_target=healthy", "-e", "infoscreen_bulk_max_hosts=3", "-e", "infoscreen_wave_size=4")
    boots = {name: state["boots"] for name, state in policy_fleet.status().items()}

    rc, output, _report = run_playbook(policy_fleet, "reboot.yml", *guard, ledger=ledger_path)
    assert rc != 0, output
    assert "this run targets 4 host(s) without --limit" in output
    assert "-e infoscreen_bulk_confirm=4" in output
    rc, output, _report = run_playbook(policy_fleet, "reboot.yml", *guard, "-e", "infoscreen_bulk_confirm=3",
                                       ledger=ledger_path)
    assert rc != 0, output
    assert "infoscreen_bulk_confirm=3 but this run targets 4 host(s)" in output
    assert spy.commands == []
    assert not ledger_path.exists() or Ledger(str(ledger_path)).commands() == []
    assert {name: state["boots"] for name, state in policy_fleet.status().items()} == boots

    rc, output, _report = run_playbook(policy_fleet, "reboot.yml", "--check", *guard, ledger=ledger_path)
    assert rc == 0, output
    assert "confirm with -e infoscreen_bulk_confirm=4" in output and "check mode: not refused" in output
    assert spy.commands == []

    rc, output, report = run_playbook(policy_fleet, "reboot.yml", *guard, "-e", "infoscreen_bulk_confirm=4",
                                      ledger=ledger_path)
    assert rc == 0, output
    assert "confirmed (infoscreen_bulk_confirm=4)" in output
    assert sorted(row["host"] for row in report["hosts"] if row["state"] == "completed") == [
        "client-001", "client-002", "client-003", "client-004"]
