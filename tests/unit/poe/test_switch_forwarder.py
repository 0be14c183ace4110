"""The out-of-process power hook: switch events become the fleet supervisor's control files."""

import json

from infoscreen_sim.switch import fleet_control_forwarder


def test_power_events_become_control_files_for_the_fed_client(tmp_path):
    manifest = tmp_path / "fleet.json"
    manifest.write_text(json.dumps({"workdir": str(tmp_path), "clients": [
        {"name": "client-001", "poe": {"switch": "127.0.0.1:1161", "group": 1, "port": 3}},
        {"name": "client-002", "poe": None},
    ]}))
    forward = fleet_control_forwarder(manifest)
    forward({"event": "power_off", "group": 1, "port": 3})
    assert (tmp_path / "control" / "client-001.power").read_text() == "off\n"
    forward({"event": "power_on", "group": 1, "port": 3})
    assert (tmp_path / "control" / "client-001.power").read_text() == "on\n"
    forward({"event": "power_off", "group": 2, "port": 3})  # no client on that port
    assert sorted(p.name for p in (tmp_path / "control").iterdir()) == ["client-001.power"]
