"""The simulated fleet's inventory puts pi_agent in files-only mode with the fleet's own
paths, so a config the role renders (layered over the fleet's) keeps the client working, and
the fleet boots what the role installs. The variables are plain role options: the role has
no simulation knobs (issue 14)."""

from pathlib import Path

import yaml
from infoscreen_sim.fleet import SimClient
from infoscreen_sim.manifest import pi_agent_vars


def manifest(tmp_path, ca_cert=None):
    return {"workdir": str(tmp_path), "broker": {"host": "127.0.0.1", "port": 1883, "ca_cert": ca_cert},
            "agent": {"heartbeat_interval_s": 2.0, "health_interval_s": 0.4}}


def test_role_paths_are_the_fleet_client_paths(tmp_path):
    found = pi_agent_vars(manifest(tmp_path))
    root = tmp_path / "clients" / "client-001"
    client = SimClient(None, {"name": "client-001", "client_uuid": "0b6f1a52-4e4c-4a8e-9d53-1f0d8a6c2b11",
                              "root": str(root), "faults": []})
    assert found["pi_agent_system_integration"] is False
    assert found["pi_agent_target_root"] == "{{ infoscreen_sim_root }}"
    assert root.joinpath(found["pi_agent_boot_id_path"].lstrip("/")) == client.boot_id_path
    assert root.joinpath(found["pi_agent_state_dir"].lstrip("/")) == root / "state"
    # The role's default config path is the file the fleet layers over its own.
    defaults = yaml.safe_load((Path(__file__).resolve().parents[3] / "roles/pi_agent/defaults/main.yml").read_text())
    assert root / defaults["pi_agent_config_dir"].lstrip("/") / "agent.ini" == client.role_config_path
    # What the fleet boots once the role installed a release: the launcher under the role's
    # current pointer (as the role's unit's ExecStart), not a file the role writes for the fleet.
    assert root / defaults["pi_agent_install_dir"].lstrip("/") / "current/venv/bin/infoscreen-agent" == (
        client.installed_agent_path)
    # Every variable the fleet passes is a plain option of the role (no simulation knobs).
    assert set(found) - {"pi_agent_become"} <= set(defaults), set(found) - set(defaults)
    assert not [key for key in found if "sim" in key.split("_") or "backend" in key]
    assert (found["pi_agent_heartbeat_interval_s"], found["pi_agent_health_interval_s"]) == (2, 1)
    assert found["pi_agent_release_cache_dir"] == str(tmp_path / "release-cache")
    assert "pi_agent_mqtt_tls_ca" not in found
    assert pi_agent_vars(manifest(tmp_path, "/ca.pem"))["pi_agent_mqtt_tls_ca"] == "/ca.pem"
