"""The shared fixtures other areas build on: sim_fleet, fleet_controller, fleet_factory."""

import pytest

pytestmark = pytest.mark.integration


def test_sim_fleet_groups_and_a_command_round_trip(sim_fleet, fleet_controller):
    assert {g: len(names) for g, names in sim_fleet.manifest["groups"].items()} == {"canary": 1, "wave1": 2,
                                                                                    "wave2": 3}
    ctl = fleet_controller(sim_fleet)
    client = sim_fleet.manifest["clients"][0]
    cmd = ctl.send(client["client_uuid"], "restart_app")
    assert ctl.wait_terminal([cmd["command_id"]], 30)[cmd["command_id"]]["status"] == "completed"


def test_fleet_factory_on_the_shared_broker_gets_fresh_accounts(fleet_factory, sim_fleet):
    fleet = fleet_factory(2, shared_broker=True)
    assert fleet.broker is sim_fleet.broker
    mine = {c["client_uuid"] for c in fleet.manifest["clients"]}
    theirs = {c["client_uuid"] for c in sim_fleet.manifest["clients"]}
    assert len(mine) == 2
    assert not mine & theirs
