"""Acceptance of issue 5 through the real playbooks: ansible-playbook + lifecycle plugins +
rollout_report callback, against real agents (simulated power) and a real mosquitto.

All tests share one module fleet (see tests/fixtures/controller.py); each test has its own
ledger, so the controller's lockout starts empty unless the test fills it.
"""

import sqlite3
import threading
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from fixtures.controller import uuid_of
from infoscreen_sim.broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def by_host(report):
    return {row["host"]: row for row in report["hosts"]}


def test_all_healthy_wave_completes_with_reconnect_times(controller_fleet, run_playbook, ledger_path):
    rc, output, report = run_playbook(controller_fleet, "reboot.yml", "-l", "healthy",
                                      "-e", "infoscreen_wave_size=4", ledger=ledger_path)
    assert rc == 0, output
    rows = by_host(report)
    assert set(rows) == {"client-001", "client-002", "client-003", "client-004"}
    for row in rows.values():
        assert row["state"] == "completed", row
        assert row["ok"] is True
        assert 0 < row["reconnect_s"] < 90
        assert row["reconnect_verdict"] == "ok"
        assert row["wave"] == 1
    assert report["waves"][0]["gate"]["decision"] == "continue"
    assert "ROLLOUT REPORT" in output
    assert "completed" in output
    # Every transition is in the ledger, each state once although acks came on both topics.
    with Ledger(str(ledger_path)) as ledger:
        for name in rows:
            (command,) = ledger.commands(host=name)
            states = [t["state"] for t in command["transitions"]]
            assert states == ["queued", "published", "accepted", "execution_started", "completed"], states
            assert command["client_uuid"] == uuid_of(controller_fleet, name)
    assert all(controller_fleet.status()[name]["boots"] >= 2 for name in rows)


def test_faulted_clients_fail_with_their_error_codes_and_the_gate_stops(controller_fleet, run_playbook,
                                                                        ledger_path, command_spy):
    spy = command_spy(controller_fleet)
    rc, output, report = run_playbook(
        controller_fleet, "reboot.yml", "-e", "infoscreen_target=faulty:healthy", "-e", "infoscreen_wave_size=3",
        "-e", "infoscreen_wave_timeout_s=20", ledger=ledger_path)  # roomy: loaded CI machines
    assert rc == 2, output
    rows = by_host(report)
    assert rows["client-005"]["state"] == "failed"
    assert rows["client-005"]["error_code"] == "helper_failed"
    assert rows["client-006"]["state"] == "timed_out"
    assert rows["client-006"]["error_code"] == "timeout"
    assert rows["client-001"]["state"] == "completed"
    for name in ("client-002", "client-003", "client-004"):
        assert rows[name]["state"] == "not_run"
        assert spy.for_client(uuid_of(controller_fleet, name)) == []
    assert [w["number"] for w in report["waves"]] == [1]
    gate = report["waves"][0]["gate"]
    assert (gate["decision"], gate["executed"], gate["failed"], gate["timed_out"]) == ("stop", 3, 1, 1)
    assert report["gate_stopped"] is True
    with Ledger(str(ledger_path)) as ledger:
        assert {c["host"] for c in ledger.commands()} == {"client-005", "client-006", "client-001"}


def test_gate_lets_the_next_wave_run_below_the_threshold(controller_fleet, run_playbook, ledger_path):
    rc, output, report = run_playbook(
        controller_fleet, "restart_app.yml", "-e", "infoscreen_target=client-005:client-001:client-002:client-003",
        "-e", "infoscreen_wave_size=3", "-e", "infoscreen_wave_gate_threshold_pct=50", ledger=ledger_path)
    assert rc == 2, output  # client-005 failed: the run says so, but the gate let wave 2 run
    rows = by_host(report)
    assert rows["client-005"]["state"] == "failed"
    assert rows["client-005"]["error_code"] == "helper_failed"
    assert [rows[n]["state"] for n in ("client-001", "client-002", "client-003")] == ["completed"] * 3
    assert rows["client-003"]["wave"] == 2
    assert [w["gate"]["decision"] for w in report["waves"]] == ["continue", "continue"]
    assert report["waves"][0]["gate"]["ratio_pct"] == pytest.approx(33.333, abs=0.01)


def _fill_lockout(ledger_path, client_uuid, ages):
    now = time.time()
    with Ledger(str(ledger_path)) as ledger:
        for age in ages:
            row, _unused = ledger.reserve(client_uuid, "reboot_host", host="client-002", now=now - age,
                                          expires_at=now - age + 240)
            ledger.record_transition(row["command_id"], "completed", at=now - age + 20)
    return now


def test_fourth_reboot_in_15_min_is_blocked_never_published_then_allowed(controller_fleet, run_playbook,
                                                                         ledger_path, command_spy):
    target = uuid_of(controller_fleet, "client-002")
    now = _fill_lockout(ledger_path, target, ages=(600, 300, 60))
    spy = command_spy(controller_fleet)
    rc, output, report = run_playbook(controller_fleet, "reboot.yml", "-l", "client-002,client-003",
                                      ledger=ledger_path)
    assert rc == 2, output
    rows = by_host(report)
    assert rows["client-002"]["state"] == "blocked"
    assert rows["client-002"]["error_code"] == "lockout"
    eligible = rows["client-002"]["eligible_at"]
    assert eligible is not None
    assert "eligible at" in output
    assert rows["client-003"]["state"] == "completed"
    assert spy.for_client(target) == []  # never published
    assert len(spy.for_client(uuid_of(controller_fleet, "client-003"))) == 1  # the spy does see commands
    with Ledger(str(ledger_path)) as ledger:
        (blocked,) = ledger.commands(client_uuid=target, state="blocked")
        assert blocked["eligible_at_epoch"] == pytest.approx(now - 600 + 900, abs=0.01)
        assert [t["state"] for t in blocked["transitions"]] == ["blocked"]

    # Move the three earlier commands out of the 15 min window (ledger timestamps, no sleep).
    with sqlite3.connect(ledger_path) as db:
        db.execute("UPDATE commands SET issued_at = issued_at - 900, finished_at = finished_at - 900 "
                   "WHERE client_uuid = ? AND state = 'completed'", (target,))
    rc, output, report = run_playbook(controller_fleet, "reboot.yml", "-l", "client-002", ledger=ledger_path)
    assert rc == 0, output
    assert by_host(report)["client-002"]["state"] == "completed"
    assert len(spy.for_client(target)) == 1


def test_host_without_client_uuid_fails_by_name_and_others_proceed(controller_fleet, run_playbook, ledger_path,
                                                                   tmp_path):
    extra = tmp_path / "extra-inventory.yml"
    extra.write_text("all:\n  children:\n    infoscreen_clients:\n      hosts:\n        ghost-01:\n"
                     "          ansible_connection: local\n")
    rc, output, report = run_playbook(controller_fleet, "reboot.yml", "-i", str(extra), "-l", "client-004,ghost-01",
                                      ledger=ledger_path)
    assert rc == 2, output
    rows = by_host(report)
    assert rows["client-004"]["state"] == "completed"
    assert rows["ghost-01"]["state"] == "failed"
    assert rows["ghost-01"]["error_code"] == "invalid_inventory"
    assert "host ghost-01: client_uuid is not set" in rows["ghost-01"]["error_message"]
    assert "ghost-01" in output and "client_uuid" in output


def test_check_mode_sends_nothing_and_says_what_it_would_send(controller_fleet, run_playbook, ledger_path,
                                                              command_spy):
    spy = command_spy(controller_fleet)
    boots = controller_fleet.status()["client-003"]["boots"]
    rc, output, report = run_playbook(controller_fleet, "shutdown.yml", "--check", "-l", "client-003", "-v",
                                      ledger=ledger_path)
    assert rc == 0, output
    assert by_host(report)["client-003"]["state"] == "not_sent"
    assert "would send shutdown_host" in output
    assert f"infoscreen/{uuid_of(controller_fleet, 'client-003')}/commands" in output
    time.sleep(0.5)
    assert spy.commands == []
    with Ledger(str(ledger_path)) as ledger:
        assert ledger.commands() == []
    assert controller_fleet.status()["client-003"]["boots"] == boots


def test_ledger_query_playbook_answers_what_happened_to_a_client(controller_fleet, run_playbook, ledger_path):
    rc, output, _report = run_playbook(controller_fleet, "restart_app.yml", "-l", "client-001", ledger=ledger_path)
    assert rc == 0, output
    rc, output, _report = run_playbook(controller_fleet, "ledger_query.yml", "-e", "infoscreen_query_host=client-001",
                                       "-e", "infoscreen_query_since=1h", ledger=ledger_path)
    assert rc == 0, output
    assert "client-001 restart_app completed" in output
    assert "queued > published > accepted > execution_started > completed" in output
    assert "1 command(s) matched" in output


def assert_first_wave_stopped(rc, output, report, stopped_hosts, untouched):
    """One wave, judged STOP with the reason in the console and JSON; later hosts not_run."""
    assert rc == 2, output
    rows = by_host(report)
    assert [w["number"] for w in report["waves"]] == [1], report["waves"]
    gate = report["waves"][0]["gate"]
    assert gate["decision"] == "stop", gate
    assert report["gate_stopped"] is True
    assert "gate STOP" in output and "remaining waves stopped" in output
    for name in stopped_hosts:
        assert rows[name]["wave"] == 1, rows[name]
    for name in untouched:
        assert rows[name]["state"] == "not_run", rows[name]
    return gate


@pytest.mark.parametrize("per_host", ["true", "false"])
def test_broker_unreachable_from_the_start_is_a_stop(controller_fleet, run_playbook, ledger_path, command_spy,
                                                     per_host):
    """Nothing sent is never a pass: a wave that could not reach the broker executed nothing,
    its gate says STOP (executed 0 < min_executed 1), no later wave runs, and the run exits 2
    with or without the per-host outcome task."""
    spy = command_spy(controller_fleet)
    rc, output, report = run_playbook(
        controller_fleet, "reboot.yml", "-l", "healthy", "-e", "infoscreen_wave_size=2",
        "-e", f"infoscreen_mqtt_port={free_port()}", "-e", "infoscreen_wave_connect_timeout_s=3",
        "-e", f"infoscreen_wave_per_host_outcome={per_host}",
        ledger=ledger_path)
    gate = assert_first_wave_stopped(rc, output, report, ["client-001", "client-002"], ["client-003", "client-004"])
    assert gate["executed"] == 0 and "nothing executed" in gate["reason"], gate
    rows = by_host(report)
    assert {rows[n]["error_code"] for n in ("client-001", "client-002")} == {"broker_unreachable"}
    assert spy.commands == []


@pytest.mark.parametrize("per_host", ["true", "false"])
def test_broker_stopped_mid_wave_is_a_stop(controller_fleet, run_playbook, ledger_path, command_spy, per_host):
    """The broker dies while wave 1 runs: its commands never reach a terminal ack, the gate
    says STOP, wave 2 is never sent, and the run exits 2 with or without the per-host outcome."""
    spy = command_spy(controller_fleet)
    done = {}
    thread = threading.Thread(target=lambda: done.update(out=run_playbook(
        controller_fleet, "reboot.yml", "-l", "healthy", "-e", "infoscreen_wave_size=2",
        "-e", "infoscreen_wave_timeout_s=8", "-e", f"infoscreen_wave_per_host_outcome={per_host}",
        ledger=ledger_path)))
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not spy.commands and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.01)
        assert spy.commands, "wave 1 never published a command"
        controller_fleet.broker.stop()
        thread.join(300)
    finally:
        controller_fleet.broker.start()
        controller_fleet.wait_ready(timeout=120, names=["client-001", "client-002", "client-003", "client-004"])
    rc, output, report = done["out"]
    assert_first_wave_stopped(rc, output, report, ["client-001", "client-002"], ["client-003", "client-004"])
    sent = {topic.split("/")[1] for topic, _unused in spy.commands}
    assert sent <= {uuid_of(controller_fleet, n) for n in ("client-001", "client-002")}, sent


@pytest.mark.parametrize("case", [
    (["-e", "infoscreen_wave_size=0"], "wave size (item 1) '0' is out of range: a wave needs at least 1 host"),
    (["-e", "infoscreen_wave_gate_threshold_pct=500"], "threshold_pct must be a number between 0 and 100"),
    (["-e", "infoscreen_wave_size=2", "-e", "infoscreen_wave_gate_min_executed=3"],
     "min_executed 3 is larger than the first wave"),
    (["-e", "infoscreen_target=healthy:nosuch"], "nosuch is not a group or host of the inventory"),
])
def test_bad_options_are_refused_before_any_client_is_touched(controller_fleet, run_playbook, ledger_path,
                                                              command_spy, case):
    """Every wave option is checked in the first play, before a command exists: the run fails
    naming the option, nothing is published and the ledger holds no command."""
    extra, words = case
    spy = command_spy(controller_fleet)
    rc, output, _report = run_playbook(controller_fleet, "reboot.yml", "-l", "healthy", *extra, ledger=ledger_path)
    assert rc != 0, output
    assert words in " ".join(output.split()), output[-3000:]
    assert "Nothing was changed" in output
    assert "PLAY [Reboot signage clients in waves]" not in output
    time.sleep(0.3)
    assert spy.commands == []
    if ledger_path.exists():
        with Ledger(str(ledger_path)) as ledger:
            assert ledger.commands() == []
