"""The fleet manifest (JSON) and the matching Ansible inventory (YAML).

Both hold passwords, so both are written 0600. The manifest is the one file other tools
read to reach a simulated fleet; its format is documented in docs/simulated-fleet.md.
"""

import json
import os

MANIFEST_FORMAT = "infoscreen-fleet-manifest/1"
CLIENTS_GROUP = "infoscreen_clients"
# Where a simulated client keeps its files, relative to its root. The fleet and the pi_agent
# role's variables for the fleet (pi_agent_vars) both take them from here.
CLIENT_PATHS = {
    "config": "etc/agent.ini",
    # The pi_agent role's agent.ini (its default pi_agent_config_dir), layered over "config".
    "role_config": "etc/infoscreen-agent/agent.ini",
    # What the pi_agent role installs (its default pi_agent_install_dir): the launcher a Pi's
    # unit starts through the current pointer; the fleet boots it once it exists.
    "installed_agent": "opt/infoscreen-agent/current/venv/bin/infoscreen-agent",
    "state_dir": "state",
    "boot_id": "run/boot_id",
    "power_request": "run/power-request.json",
    "app_state": "run/app_state",
    "log": "log/agent.log",
}


def write_private(path, text):
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_manifest(path):
    with open(path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} is not a fleet manifest ({MANIFEST_FORMAT})")
    return manifest


def pi_agent_vars(manifest):
    """The pi_agent role's files-only mode for these clients (docs/agent-role.md).

    With them, playbooks/agent.yml and canary.yml install releases and render agent.ini
    under each client's root, as on a Pi; nothing in them is about the simulation. The fleet
    boots the release ``current`` names and layers the rendered config over its own (same
    state dir and boot id path, so the dedupe store stays; the machine's power and app
    state and the injected faults are the harness runner's, never the role's).
    """
    agent = manifest.get("agent") or {}
    found = {
        "pi_agent_system_integration": False,
        "pi_agent_become": False,
        "pi_agent_target_root": "{{ infoscreen_sim_root }}",
        "pi_agent_mqtt_host": "{{ infoscreen_mqtt_host }}",
        "pi_agent_mqtt_port": "{{ infoscreen_mqtt_port }}",
        "pi_agent_state_dir": "/" + CLIENT_PATHS["state_dir"],
        "pi_agent_boot_id_path": "/" + CLIENT_PATHS["boot_id"],
        # the client's own local hold file (config_writer.py writes the same path), not /run's
        "pi_agent_hold_path": "/run/hold.json",
        "pi_agent_release_cache_dir": os.path.join(manifest["workdir"], "release-cache"),
    }
    if manifest["broker"].get("ca_cert"):
        found["pi_agent_mqtt_tls_ca"] = manifest["broker"]["ca_cert"]
    for key in ("heartbeat_interval_s", "health_interval_s"):
        if key in agent:  # the role renders whole seconds
            found[f"pi_agent_{key}"] = max(1, round(agent[key]))
    return found


def inventory(manifest, python_interpreter):
    """Group infoscreen_clients with one child group per wave (canary, wave1, ...)."""
    children = {}
    for client in manifest["clients"]:
        hostvars = {
            "client_uuid": client["client_uuid"],
            "infoscreen_mqtt_password": client["password"],
            "infoscreen_sim_root": client["root"],
        }
        if client.get("poe"):
            hostvars.update(infoscreen_recovery_tier="poe", infoscreen_poe_switch=client["poe"]["switch"],
                            infoscreen_poe_group=client["poe"]["group"], infoscreen_poe_port=client["poe"]["port"])
        children.setdefault(client["group"], {"hosts": {}})["hosts"][client["name"]] = hostvars
    return {
        "all": {
            "vars": {
                **pi_agent_vars(manifest),
                "infoscreen_fleet_manifest": manifest["manifest_path"],
                "infoscreen_mqtt_host": manifest["broker"]["host"],
                "infoscreen_mqtt_port": manifest["broker"]["port"],
                # "Really back" window of lifecycle_wave (issue 18; product default 45 s): off for the
                # simulated fleet, whose tests pass their own short window when they judge it
                # (tests/integration/policy/), so the other tests keep their timing.
                "infoscreen_stability_s": 0,
            },
            "children": {
                CLIENTS_GROUP: {
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": python_interpreter},
                    "children": children,
                }
            },
        }
    }


def write(manifest, manifest_path, inventory_path, python_interpreter):
    # JSON is YAML: the inventory needs no YAML library and keeps its exact types.
    write_private(manifest_path, json.dumps(manifest, indent=1) + "\n")
    write_private(inventory_path, "# Simulated fleet inventory (generated; holds passwords)\n"
                  + json.dumps(inventory(manifest, python_interpreter), indent=1) + "\n")
