"""Acceptance of issue 6: playbooks/canary.yml against the simulated fleet (real mosquitto
rendered by the broker role, real agents with simulated power), through ansible-playbook
with the rollout_report callback."""

import shutil

import pytest
from canary_helpers import ARTIFACTS, FLEET, NEW, OLD, agent_ini, chromium, heartbeat_releases

pytestmark = [pytest.mark.integration]


def uuids(fleet, group=None):
    return {c.client_uuid: name for name, c in fleet.clients.items()
            if group is None or c.spec["group"] == group}


@pytest.fixture(scope="module")
def clean_fleet(tmp_path_factory):
    from infoscreen_sim.fleet import Fleet

    fleet = Fleet(tmp_path_factory.mktemp("canary-clean"), clients=7,
                  groups=[("canary", 1), ("wave1", 2), ("wave2", None)], **FLEET).start()
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
    releases = heartbeat_releases(ctl, uuids(clean_fleet))
    assert set(releases.values()) == {NEW["label"]}, releases
    assert all(s["boots"] == 2 for s in clean_fleet.status().values())
    assert "heartbeat_interval_s = 3" in agent_ini(clean_fleet, "client-007")
    assert "reconnect" in run.output and "p95" in run.output


def test_failing_client_in_a_ten_client_canary_rolls_back_and_stops(fleet_factory, run_canary, command_spy,
                                                                    fleet_controller, tmp_path):
    fleet = fleet_factory(16, groups=[("canary", 10), ("wave1", 3), ("wave2", None)],
                          faults={"client-004": ["helper_fails"]}, **FLEET)
    spy = command_spy(fleet)
    ctl = fleet_controller(fleet)
    later = {c.client_uuid: name for name, c in fleet.clients.items() if c.spec["group"] != "canary"}

    run = run_canary(fleet)

    assert run.returncode != 0, run.output
    assert "CANARY ROLLED BACK: wave 1 (canary) failed the gate" in run.output
    assert "10.0 % > 5 %" in run.output
    assert "Remaining waves not touched: wave1, wave2" in run.output
    # Every canary client reports the old release again; the later waves never saw a command.
    canary = uuids(fleet, "canary")
    assert set(heartbeat_releases(ctl, canary).values()) == {OLD}
    for client_uuid, name in later.items():
        assert spy.for_client(client_uuid) == [], name
    assert set(heartbeat_releases(ctl, later).values()) == {OLD}
    assert all(fleet.status()[name]["boots"] == 1 for name in later.values())
    # Drill + confirm drill: the nine good clients rebooted twice, the failing one never.
    status = fleet.status()
    assert [status[n]["boots"] for n in canary.values() if n != "client-004"] == [3] * 9
    assert len(spy.for_client(fleet.clients["client-004"].client_uuid)) == 1  # confirm drill blocked by cooldown
    assert all(f"release = {OLD}" in agent_ini(fleet, n) for n in fleet.clients)
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


def test_one_failing_client_in_a_forty_client_wave_does_not_stop_the_rollout(fleet_factory, run_canary,
                                                                             fleet_controller):
    fleet = fleet_factory(43, groups=[("canary", 2), ("wave1", 40), ("wave2", None)],
                          faults={"client-010": ["helper_fails"]}, **FLEET)
    ctl = fleet_controller(fleet)

    run = run_canary(fleet)

    assert run.returncode == 0, run.output
    waves = run.report["waves"]
    assert [w["hosts"] for w in waves] == [2, 40, 1]
    assert waves[1]["gate"]["decision"] == "continue"
    assert waves[1]["gate"]["ratio_pct"] == 2.5
    assert waves[1]["failed"] + waves[1]["timed_out"] == 1, waves[1]
    rows = run.hosts()
    assert rows["client-010"]["state"] == "failed", rows["client-010"]
    assert rows["client-010"]["error_code"] == "helper_failed"
    assert rows["client-043"]["state"] == "completed"  # wave2 ran after the 2.5 % wave
    releases = heartbeat_releases(ctl, uuids(fleet))
    # The failing client never rebooted, so its agent still runs the release it started with.
    assert {name: r for name, r in ((uuids(fleet)[u], r) for u, r in releases.items()) if r != NEW["label"]} == {
        "client-010": OLD}
