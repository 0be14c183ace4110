"""Issue 12: canary.yml under faults never passes on what was not sent.

Real mosquitto (broker role files), real agents (simulated power), real ansible-playbook with
the rollout_report callback. Each test states the behaviour it pins down.
"""

import time

import pytest
from canary_helpers import FLEET, NEW, OLD, agent_ini
from infoscreen_sim.broker import free_port

pytestmark = [pytest.mark.integration]

GROUPS = [("canary", 1), ("wave1", 1), ("wave2", None)]


def later_clients(fleet):
    return [name for name, c in fleet.clients.items() if c.spec["group"] != "canary"]


def assert_stopped_at_the_canary(run, fleet, spy=None):
    """Wave 1 is a STOP with the reason everywhere; later waves got nothing."""
    assert run.returncode not in (0, None), run.output
    waves = run.report["waves"]
    assert waves[0]["gate"]["decision"] == "stop", waves
    assert "executed 0" in waves[0]["gate"]["reason"] and "min_executed 1" in waves[0]["gate"]["reason"], waves
    assert run.report["gate_stopped"] is True
    assert "gate STOP" in run.output and "nothing executed" in " ".join(run.output.split())
    rows = run.hosts()
    for name in later_clients(fleet):
        assert rows[name]["state"] == "not_run", rows[name]
        assert f"release = {OLD}" in agent_ini(fleet, name), name
        if spy is not None:
            assert spy.for_client(fleet.clients[name].client_uuid) == [], name
    html = run.html_path.read_text()
    assert "PASSED" not in html and "ROLLED BACK at wave 1 (canary)" in html
    assert "nothing executed" in html


def test_broker_unreachable_from_the_start_is_a_stop_not_a_pass(fleet_factory, run_canary):
    """Nothing sent is never a pass: with the broker unreachable the canary drill executes
    nothing, the gate says STOP (executed 0 < min_executed 1), the canary is rolled back, the
    later waves get no release and the run exits non-zero."""
    fleet = fleet_factory(3, shared_broker=True, groups=GROUPS, **FLEET)

    run = run_canary(fleet, "-e", f"infoscreen_mqtt_port={free_port()}")

    assert_stopped_at_the_canary(run, fleet)
    assert run.hosts()["client-001"]["error_code"] == "broker_unreachable"
    assert f"release = {OLD}" in agent_ini(fleet, "client-001")  # the canary was rolled back


def test_every_canary_client_blocked_by_the_lockout_is_a_stop(fleet_factory, run_canary, command_spy, tmp_path):
    """A canary whose every client is blocked by the safety lockout executed nothing: STOP,
    rollback, later waves untouched, non-zero exit (not 'all waves passed')."""
    from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger

    fleet = fleet_factory(3, shared_broker=True, groups=GROUPS, **FLEET)
    spy = command_spy(fleet)
    canary_uuid = fleet.clients["client-001"].client_uuid
    now = time.time()
    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:  # run_canary's ledger
        for age in (600, 300, 120):
            row, _ = ledger.reserve(canary_uuid, "reboot_host", host="client-001", now=now - age,
                                    expires_at=now - age + 240)
            ledger.record_transition(row["command_id"], "completed", at=now - age + 20)

    run = run_canary(fleet)

    assert_stopped_at_the_canary(run, fleet, spy)
    assert run.hosts()["client-001"]["state"] == "blocked"
    assert spy.for_client(canary_uuid) == []
    assert NEW["label"] not in agent_ini(fleet, "client-001")
