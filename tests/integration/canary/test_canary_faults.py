"""Issue 12: canary.yml under faults never passes on what was not sent.

Real mosquitto (broker role files), real agents (simulated power), real ansible-playbook with
the rollout_report callback; every fleet runs agent release A from the pi_agent role first
and canary.yml applies and rolls back with the roles (issue 14). Each test states the
behaviour it pins down.
"""

import os
import time

import pytest
from canary_helpers import FLEET, NEW, OLD, VERSION_A, agent_ini, current
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


def test_broker_unreachable_from_the_start_is_a_stop_not_a_pass(roles_fleet, run_canary, tmp_path):
    """Nothing sent is never a pass: with the broker unreachable the canary's running release
    cannot be recorded (no heartbeat can be read), so the run stops before the roles apply
    anything - no client's current pointer or config changes, no wave is reported as passed,
    the rollout stays open with nothing recorded, and the run exits non-zero. (On the roles
    path the record step reads the wave's heartbeats before any apply; with the removed
    simulated apply mode it was the drill that found the broker gone.)"""
    import json

    fleet = roles_fleet(3, shared_broker=True, groups=GROUPS, **FLEET)

    run = run_canary(fleet, "-e", f"infoscreen_mqtt_port={free_port()}", "-e", "canary_connect_timeout_s=3")

    assert run.returncode not in (0, None), run.output
    assert "passed the gate" not in run.output
    assert "TASK [infoscreen.fleet.pi_agent" not in run.output  # the role never ran: nothing applied
    for name in fleet.clients:
        assert current(fleet, name) == f"releases/{VERSION_A}", name
        assert f"release = {OLD}" in agent_ini(fleet, name), name
    (state_file,) = (tmp_path / "rollouts").glob("*.json")
    state = json.loads(state_file.read_text())
    assert state["status"] == "running" and state["clients"] == {}, state


def test_every_canary_client_blocked_by_the_lockout_is_a_stop(roles_fleet, run_canary, command_spy, tmp_path):
    """A canary whose every client is blocked by the safety lockout executed nothing: STOP,
    rollback, later waves untouched, non-zero exit (not 'all waves passed')."""
    from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger

    fleet = roles_fleet(3, shared_broker=True, groups=GROUPS, **FLEET)
    spy = command_spy(fleet)
    canary_uuid = fleet.clients["client-001"].client_uuid
    now = time.time()
    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:  # run_canary's ledger
        for age in (600, 300, 120):
            row, _unused = ledger.reserve(canary_uuid, "reboot_host", host="client-001", now=now - age,
                                          expires_at=now - age + 240)
            ledger.record_transition(row["command_id"], "completed", at=now - age + 20)

    run = run_canary(fleet)

    assert_stopped_at_the_canary(run, fleet, spy)
    assert run.hosts()["client-001"]["state"] == "blocked"
    assert spy.for_client(canary_uuid) == []
    assert NEW["label"] not in agent_ini(fleet, "client-001")


def test_limit_without_localhost_plans_the_waves_from_the_limited_hosts(roles_fleet, run_canary, command_spy):
    """A --limit without localhost still runs the checks and the plan: the waves are the
    limited members of each group (wave2 left out entirely is skipped and named), and only
    the limited clients get the release."""
    fleet = roles_fleet(4, shared_broker=True, groups=[("canary", 1), ("wave1", 2), ("wave2", None)], **FLEET)
    spy = command_spy(fleet)

    run = run_canary(fleet, "-l", "client-001,client-003")

    assert run.returncode == 0, run.output
    assert "not in --limit, skipped: wave2" in " ".join(run.output.split())
    assert [w["hosts"] for w in run.report["waves"]] == [1, 1]
    rows = run.hosts()
    assert {name: rows[name]["state"] for name in rows} == {"client-001": "completed", "client-003": "completed"}
    for name in ("client-002", "client-004"):
        assert f"release = {OLD}" in agent_ini(fleet, name)
        assert spy.for_client(fleet.clients[name].client_uuid) == []
    assert NEW["label"] in agent_ini(fleet, "client-003")


def _popen_canary(fleet, ledger, report_dir, extra_vars, *args):
    import subprocess
    from pathlib import Path

    from infoscreen_sim.demo_canary import canary_command, canary_env

    env = canary_env(fleet, ledger, report_dir, extra={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    cmd = canary_command(fleet, NEW, *args, time_scale=1.0, drill_timeout_s=60,
                         extra_vars=extra_vars)
    return subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[3], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_interrupted_rollout_resumes_and_rolls_back_to_the_pre_rollout_release(roles_fleet, run_canary,
                                                                               command_spy, tmp_path, sig):
    """Ctrl-C or SIGKILL of ansible-playbook mid-wave, then re-runs: a new rollout is refused
    while the interrupted one is open (naming its id), the same rollout id resumes it, and its
    rollback returns the canary to the release it ran BEFORE the rollout - not to the new
    release the interrupted run had already applied."""
    import json
    import signal

    from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger

    fleet = roles_fleet(3, shared_broker=True, groups=GROUPS, **dict(FLEET, boot_time="uniform:400:400"))
    spy = command_spy(fleet)
    canary_uuid = fleet.clients["client-001"].client_uuid
    ledger = tmp_path / "ledger.sqlite3"  # run_canary's ledger
    rollout_id = "canary-drill-interrupted"
    proc = _popen_canary(fleet, ledger, tmp_path, run_canary.extra_vars, "-e", f"canary_rollout_id={rollout_id}")
    try:
        deadline = time.monotonic() + 120
        while not spy.for_client(canary_uuid) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert spy.for_client(canary_uuid), "the canary drill never started"
        assert NEW["label"] in agent_ini(fleet, "client-001")  # applied before the drill
        if sig == "SIGKILL":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        output = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, output
    state = json.loads((tmp_path / "rollouts" / f"{rollout_id}.json").read_text())
    assert state["status"] == "running"
    assert state["clients"]["client-001"]["recorded"]["label"] == OLD
    fleet.wait_ready(timeout=60)

    # A new rollout (fresh id) is refused while that one is open; nothing is touched.
    sent = len(spy.commands)
    refused = run_canary(fleet)
    assert refused.returncode != 0, refused.output
    text = " ".join(refused.output.split())
    assert f"rollout {rollout_id} (release {NEW['label']}) did not finish" in text, text[-3000:]
    assert f"-e canary_rollout_id={rollout_id}" in text
    assert "PLAY [Roll the release out wave by wave]" not in refused.output
    assert len(spy.commands) == sent

    # Resume with the same id; the canary is now locked out (drill blocked -> nothing executed
    # -> STOP), so the resumed run rolls it back: to OLD, the release recorded before the rollout.
    now = time.time()
    with Ledger(str(ledger)) as db:
        for age in (300, 120):
            row, _unused = db.reserve(canary_uuid, "reboot_host", host="client-001", now=now - age,
                                      expires_at=now - age + 240)
            db.record_transition(row["command_id"], "completed", at=now - age + 20)
    resumed = run_canary(fleet, "-e", f"canary_rollout_id={rollout_id}")
    assert resumed.returncode != 0, resumed.output
    assert "RESUMING an interrupted run" in " ".join(resumed.output.split())
    assert "CANARY ROLLED BACK: wave 1 (canary)" in resumed.output
    assert f"release = {OLD}" in agent_ini(fleet, "client-001")
    for name in later_clients(fleet):
        assert f"release = {OLD}" in agent_ini(fleet, name)
        assert spy.for_client(fleet.clients[name].client_uuid) == []
    state = json.loads((tmp_path / "rollouts" / f"{rollout_id}.json").read_text())
    assert state["status"] == "rolled_back" and state["runs"] == 2
    # A finished rollout id is not run again.
    again = run_canary(fleet, "-e", f"canary_rollout_id={rollout_id}")
    assert again.returncode != 0 and "already finished: rolled_back" in " ".join(again.output.split())


def test_an_ansible_unreachable_client_counts_against_its_wave(roles_fleet, run_canary, command_spy, tmp_path):
    """A client Ansible cannot reach while applying drops out of the play: it never vanishes
    from its wave - it is 'unreachable' in the drill's results, counts as a failure (1 of 2 =
    50 % > 5 %: STOP, rollback), and the later wave is not touched."""
    from infoscreen_sim.broker import free_port as closed_port

    fleet = roles_fleet(4, shared_broker=True, groups=[("canary", 1), ("wave1", 2), ("wave2", None)], **FLEET)
    spy = command_spy(fleet)
    extra = tmp_path / "unreachable.yml"
    extra.write_text("all:\n  hosts:\n    client-003:\n      ansible_connection: ssh\n      ansible_host: 127.0.0.1\n"
                     f"      ansible_port: {closed_port()}\n      ansible_timeout: 3\n")

    run = run_canary(fleet, "-i", str(extra))

    assert run.returncode not in (0, None), run.output
    waves = run.report["waves"]
    judged = [w for w in waves if w["gate"]]  # the drills (a confirm drill is not judged)
    assert [w["gate"]["decision"] for w in judged] == ["continue", "stop"], waves
    drill = judged[1]
    assert drill["gate"]["unreachable"] == 1 and drill["gate"]["executed"] == 1, drill["gate"]
    rows = run.hosts()
    assert rows["client-003"]["state"] == "unreachable", rows["client-003"]
    assert rows["client-004"]["state"] == "not_run"
    assert spy.for_client(fleet.clients["client-004"].client_uuid) == []
    assert f"release = {OLD}" in agent_ini(fleet, "client-004")
    assert "CANARY ROLLED BACK: wave 2 (wave1)" in run.output


def test_broker_stopped_mid_drill_is_a_stop(roles_fleet, run_canary, command_spy):
    """The broker dies while the canary drill runs: the drill never gets its terminal ack
    (timed_out), the gate says STOP, the canary is rolled back, the later waves are never
    touched and the run exits non-zero (the HTML report does not say PASSED)."""
    import threading

    fleet = roles_fleet(3, groups=GROUPS, **FLEET)  # its own broker: this test stops it
    spy = command_spy(fleet)
    done = {}
    thread = threading.Thread(target=lambda: done.update(run=run_canary(
        fleet, "-e", "canary_connect_timeout_s=3", drill_timeout_s=10)))
    thread.start()
    deadline = time.monotonic() + 120
    while not spy.commands and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)
    assert spy.commands, "the canary drill never published"
    fleet.broker.stop()
    thread.join(300)
    run = done["run"]
    assert run.returncode not in (0, None), run.output
    gate = run.report["waves"][0]["gate"]
    assert gate["decision"] == "stop", gate
    assert "CANARY ROLLED BACK: wave 1 (canary)" in run.output
    assert f"release = {OLD}" in agent_ini(fleet, "client-001")
    rows = run.hosts()
    for name in later_clients(fleet):
        assert rows[name]["state"] == "not_run", rows[name]
        assert f"release = {OLD}" in agent_ini(fleet, name)
    assert {topic.split("/")[1] for topic, _unused in spy.commands} == {fleet.clients["client-001"].client_uuid}
    assert "PASSED" not in run.html_path.read_text()
