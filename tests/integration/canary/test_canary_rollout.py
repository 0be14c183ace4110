"""Acceptance of issue 6: playbooks/canary.yml against the simulated fleet (real mosquitto
rendered by the broker role, real agents with simulated power), through ansible-playbook
with the rollout_report callback. Issue 14: on the roles path only - every fleet first gets
agent release A from the pi_agent role, canary.yml installs B with the role and rolls back
through the role's rollback entry point; the fleet boots whatever the role made current."""

import shutil
from pathlib import Path

import pytest
from canary_helpers import (
    ARTIFACTS,
    FLEET,
    NEW,
    OLD,
    VERSION_A,
    VERSION_B,
    agent_ini,
    chromium,
    current,
    heartbeat_releases,
    next_heartbeats,
)

pytestmark = [pytest.mark.integration]


def uuids(fleet, group=None):
    return {c.client_uuid: name for name, c in fleet.clients.items()
            if group is None or c.spec["group"] == group}


def agents(ctl, fleet, names):
    """(release label, agent version) of each named client's next heartbeat."""
    wanted = {fleet.clients[n].client_uuid: n for n in names}
    return {wanted[u]: (body.get("release"), body["agent_version"])
            for u, body in next_heartbeats(ctl, wanted, timeout=30).items()}


@pytest.fixture(scope="module")
def clean_fleet(tmp_path_factory, release_cache):
    from infoscreen_sim.demo_canary import canary_env, install_release
    from infoscreen_sim.fleet import Fleet

    workdir = tmp_path_factory.mktemp("canary-clean")
    fleet = Fleet(workdir, clients=7, groups=[("canary", 1), ("wave1", 2), ("wave2", None)], **FLEET).start()
    try:
        install_release(fleet, VERSION_A, OLD, canary_env(fleet, workdir / "install.sqlite3", workdir),
                        extra_vars=release_cache)
    except BaseException:
        fleet.stop()
        raise
    yield fleet
    fleet.stop()


def test_check_mode_sends_nothing_and_changes_no_client(clean_fleet, run_canary, command_spy, fleet_controller):
    spy = command_spy(clean_fleet)
    ctl = fleet_controller(clean_fleet)
    configs = {name: agent_ini(clean_fleet, name) for name in clean_fleet.clients}
    boots = {name: s["boots"] for name, s in clean_fleet.status().items()}

    run = run_canary(clean_fleet, "--check")

    assert run.returncode == 0, run.output
    assert "CHECK MODE" in run.output
    assert "would apply release 1.1.0+settings2+ssd2" in run.output
    assert spy.commands == []
    assert {name: agent_ini(clean_fleet, name) for name in clean_fleet.clients} == configs
    assert {name: s["boots"] for name, s in clean_fleet.status().items()} == boots
    assert set(heartbeat_releases(ctl, uuids(clean_fleet)).values()) == {OLD}
    assert {row["state"] for row in run.report["hosts"]} == {"not_sent"}
    # Waves as batch sizes of the target group instead of groups: 7 clients -> 2, 3, 2.
    batches = run_canary(clean_fleet, "--check", "-e", '{"canary_waves": ["30%", "3", "100%"]}')
    assert batches.returncode == 0, batches.output
    assert [w["hosts"] for w in batches.report["waves"]] == [2, 3, 2]
    assert "wave 2 (batch 2 (3)): 3 client(s)" in batches.output
    assert spy.commands == []
    assert {name: agent_ini(clean_fleet, name) for name in clean_fleet.clients} == configs


def test_no_faults_every_wave_completes_and_runs_the_new_release(clean_fleet, run_canary, fleet_controller):
    ctl = fleet_controller(clean_fleet)

    run = run_canary(clean_fleet)

    assert run.returncode == 0, run.output
    assert "all 3 wave(s) passed the gate" in run.output
    rows = run.hosts()
    assert set(rows) == set(clean_fleet.clients)
    assert {row["state"] for row in rows.values()} == {"completed"}, rows
    assert [w["gate"]["decision"] for w in run.report["waves"]] == ["continue"] * 3
    assert [w["hosts"] for w in run.report["waves"]] == [1, 2, 4]
    # Every client runs agent B under the new label: the role switched current, the drill
    # rebooted the client onto it (install reboot + drill = 3 boots).
    wanted = dict.fromkeys(clean_fleet.clients, (NEW["label"], VERSION_B))
    assert agents(ctl, clean_fleet, clean_fleet.clients) == wanted
    assert all(current(clean_fleet, n) == f"releases/{VERSION_B}" for n in clean_fleet.clients)
    assert all(s["boots"] == 3 for s in clean_fleet.status().values())
    assert "heartbeat_interval_s = 3" in agent_ini(clean_fleet, "client-007")
    assert "reconnect" in run.output and "p95" in run.output


def test_failing_client_in_the_canary_rolls_back_through_the_role_and_stops(roles_fleet, run_canary, command_spy,
                                                                            fleet_controller, tmp_path):
    fleet = roles_fleet(6, groups=[("canary", 4), ("wave1", 1), ("wave2", None)],
                        faults={"client-004": ["helper_fails"]}, **FLEET)
    spy = command_spy(fleet)
    ctl = fleet_controller(fleet)
    later = {c.client_uuid: name for name, c in fleet.clients.items() if c.spec["group"] != "canary"}

    run = run_canary(fleet)

    assert run.returncode != 0, run.output
    assert "CANARY ROLLED BACK: wave 1 (canary) failed the gate" in run.output
    assert "25.0 % > 5 %" in run.output
    assert "Remaining waves not touched: wave1, wave2" in run.output
    # Every client runs agent A under the old label again (the role's rollback switched current
    # back and rendered the recorded label; the confirm drill rebooted onto it); the later
    # waves never saw a command.
    canary = uuids(fleet, "canary")
    assert agents(ctl, fleet, fleet.clients) == dict.fromkeys(fleet.clients, (OLD, VERSION_A))
    assert all(current(fleet, n) == f"releases/{VERSION_A}" for n in fleet.clients)
    for client_uuid, name in later.items():
        assert spy.for_client(client_uuid) == [], name
    assert all(fleet.status()[name]["boots"] == 2 for name in later.values())  # boot + install reboot
    # Install reboot + drill + confirm drill: the three good clients rebooted three times, the
    # failing one only for the install (its reboot helper fails).
    status = fleet.status()
    assert [status[n]["boots"] for n in canary.values() if n != "client-004"] == [4] * 3
    assert status["client-004"]["boots"] == 2
    assert len(spy.for_client(fleet.clients["client-004"].client_uuid)) == 1  # confirm drill blocked by cooldown
    assert all(f"release = {OLD}" in agent_ini(fleet, n) for n in fleet.clients)
    # Release B's virtualenv stays installed for the next attempt (only current moved back).
    assert (Path(fleet.clients["client-001"].root) / "opt/infoscreen-agent/releases" / VERSION_B).exists()
    rows = run.hosts()
    assert {rows[name]["state"] for name in later.values()} == {"not_run"}
    assert run.report["gate_stopped"] is True
    assert_html_report_in_chromium(run, tmp_path)


def assert_html_report_in_chromium(run, tmp_path):
    """The HTML report as a browser renders it: the waves and the failed client are shown."""
    assert "<link" not in run.html_path.read_text() and "<script" not in run.html_path.read_text()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(run.html_path, ARTIFACTS / "canary-report-rollback.html")
    shot = ARTIFACTS / "canary-report-rollback.png"
    shot.unlink(missing_ok=True)
    dom = chromium(run.html_path, tmp_path / "chromium-profile", screenshot=shot)
    assert "ROLLED BACK at wave 1 (canary)" in dom
    assert '<table id="waves">' in dom and "<td>canary</td>" in dom
    failed_rows = list(dom.split('<tr class="failed-client">')[1:])
    assert any(row.startswith("<td>client-004</td>") and "helper_failed" in row for row in failed_rows), dom
    assert 'data-host="client-004" data-state="failed"' in dom
    assert 'class="limit-baseline"' in dom and 'class="limit-ceiling"' in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_one_failing_client_within_the_threshold_does_not_stop_the_rollout(roles_fleet, run_canary,
                                                                           fleet_controller):
    # 1 failure in a 4-client wave against a 30 % threshold (the gate maths of 1 in 40 against
    # 5 %, on a fleet the roles path installs in seconds): 25 % is within it, the rollout goes on.
    fleet = roles_fleet(7, groups=[("canary", 2), ("wave1", 4), ("wave2", None)],
                        faults={"client-004": ["helper_fails"]}, **FLEET)
    ctl = fleet_controller(fleet)

    run = run_canary(fleet, "-e", "canary_threshold_pct=30")

    assert run.returncode == 0, run.output
    waves = run.report["waves"]
    assert [w["hosts"] for w in waves] == [2, 4, 1]
    assert waves[1]["gate"]["decision"] == "continue"
    assert waves[1]["gate"]["ratio_pct"] == 25.0
    assert waves[1]["failed"] + waves[1]["timed_out"] == 1, waves[1]
    rows = run.hosts()
    assert rows["client-004"]["state"] == "failed", rows["client-004"]
    assert rows["client-004"]["error_code"] == "helper_failed"
    assert rows["client-007"]["state"] == "completed"  # wave2 ran after the 25 % wave
    releases = heartbeat_releases(ctl, uuids(fleet))
    # The failing client never rebooted, so its agent still runs the release it started with
    # (the role made B current on it; it boots B at its next reboot).
    assert {name: r for name, r in ((uuids(fleet)[u], r) for u, r in releases.items()) if r != NEW["label"]} == {
        "client-004": OLD}
