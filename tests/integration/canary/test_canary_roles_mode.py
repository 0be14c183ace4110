"""canary.yml with canary_apply_mode=roles on the simulated fleet: the pi_agent role installs
the release (its own virtualenv, config with the release's settings and label, `current`
switched), the drill reboots the clients onto it, and a rollback goes back through the
role's rollback entry point. The fleet runs whatever release `current` names and layers the
role's config over its own, so the heartbeat shows what really runs."""

import os
from pathlib import Path

import pytest
from canary_helpers import FLEET, OLD, next_heartbeats
from fixtures.pi_agent import run_agent_playbook

pytestmark = [pytest.mark.integration]

VERSION_A = "1.0.0+rolesa"
VERSION_B = "1.1.0+rolesb"
RELEASE_B = {"label": "1.1.0+settings2", "agent_version": "1.1.0",
             "settings": {"pi_agent_build_version": VERSION_B, "pi_agent_heartbeat_interval_s": 3}}


def current(fleet, name):
    return os.readlink(Path(fleet.clients[name].root) / "opt/infoscreen-agent/current")


def role_config(fleet, name):
    return fleet.clients[name].role_config_path.read_text()


def heartbeats(ctl, fleet, names, timeout=30.0):
    """(release, agent_version) of each named client's next heartbeat."""
    wanted = {fleet.clients[n].client_uuid: n for n in names}
    return {wanted[u]: (body.get("release"), body["agent_version"])
            for u, body in next_heartbeats(ctl, wanted, timeout=timeout).items()}


def test_roles_mode_rolls_back_through_the_role_then_passes_on_a_clean_wave(fleet_factory, run_canary,
                                                                            command_spy, fleet_controller):
    fleet = fleet_factory(4, groups=[("canary", 2), ("wave1", None)], faults={"client-002": ["helper_fails"]},
                          **FLEET)
    names = sorted(fleet.clients)
    canary, wave1 = names[:2], names[2:]
    # Release A with label OLD, installed the way operators do it, then every client rebooted onto it.
    rc, out, _recap = run_agent_playbook(fleet.inventory_path, "-e", f"pi_agent_build_version={VERSION_A}",
                                         "-e", f"pi_agent_release_label={OLD}")
    assert rc == 0, out[-4000:]
    for name in names:
        fleet.power_cycle(name)
    fleet.wait_ready(timeout=60, names=names)
    ctl = fleet_controller(fleet)
    assert set(heartbeats(ctl, fleet, names).values()) == {(OLD, VERSION_A)}
    spy = command_spy(fleet)

    run = run_canary(fleet, "-e", "canary_apply_mode=roles", "-e", '{"canary_waves": ["canary", "wave1"]}',
                     release=RELEASE_B, time_scale=FLEET["time_scale"])

    # 1 of 2 canary drills failed (50 % > 5 %): rolled back with the role, wave1 untouched.
    assert run.returncode != 0, run.output
    assert "CANARY ROLLED BACK: wave 1 (canary) failed the gate" in run.output, run.output[-6000:]
    assert "Remaining waves not touched: wave1" in run.output
    assert all(current(fleet, n) == f"releases/{VERSION_A}" for n in names)
    assert all(f"release = {OLD}" in role_config(fleet, n) for n in names)
    assert heartbeats(ctl, fleet, names) == {n: (OLD, VERSION_A) for n in names}
    for name in wave1:
        assert spy.for_client(fleet.clients[name].client_uuid) == [], name
    status = fleet.status()
    assert status["client-001"]["boots"] == 4  # install reboot + drill + confirm drill
    assert status["client-002"]["boots"] == 2  # its helper fails: never rebooted by the canary
    assert all(status[n]["boots"] == 2 for n in wave1)
    # The release B virtualenv was built once and is kept for the next attempt.
    assert (Path(fleet.clients["client-001"].root) / "opt/infoscreen-agent/releases" / VERSION_B).exists()

    # The same release on the clean wave alone passes and leaves it running B with B's settings.
    run = run_canary(fleet, "-e", "canary_apply_mode=roles", "-e", '{"canary_waves": ["wave1"]}',
                     release=RELEASE_B, time_scale=FLEET["time_scale"])
    assert run.returncode == 0, run.output
    assert all(current(fleet, n) == f"releases/{VERSION_B}" for n in wave1)
    assert heartbeats(ctl, fleet, wave1) == {n: (RELEASE_B["label"], VERSION_B) for n in wave1}
    assert all("heartbeat_interval_s = 3" in role_config(fleet, n) for n in wave1)
    assert all(current(fleet, n) == f"releases/{VERSION_A}" for n in canary)
