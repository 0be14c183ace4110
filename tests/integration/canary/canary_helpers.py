"""Constants and readers shared by the canary acceptance tests."""

import json
import os
import time
from pathlib import Path

OLD = "1.0.0+settings1+ssd1"
# The agent releases behind the labels: A is what every test fleet runs before the rollout
# (installed with the pi_agent role, roles_fleet), B what canary.yml applies with the role.
VERSION_A = "1.0.0+canarya"
VERSION_B = "1.1.0+canaryb"
NEW = {"label": "1.1.0+settings2+ssd2", "agent_version": "1.1.0", "ssd_profile_version": 2,
       "settings": {"pi_agent_heartbeat_interval_s": 3, "pi_agent_build_version": VERSION_B}}
FLEET = {"time_scale": 0.02, "boot_time": "uniform:20:60",
         "agent_options": {"agent.heartbeat_interval_s": 2, "agent.health_interval_s": 5, "agent.release": OLD}}


def next_heartbeats(ctl, uuids, timeout=20.0):
    """Each client's first heartbeat published from now on: {client_uuid: body}."""
    since = time.monotonic()
    found = {}

    def fresh():
        for mono, topic, payload in list(ctl.messages):
            parts = topic.split("/")
            if mono <= since or parts[-1] != "heartbeat" or parts[1] not in uuids or parts[1] in found:
                continue
            found[parts[1]] = json.loads(payload)
        return len(found) == len(uuids)

    ctl.wait_for(fresh, timeout)
    missing = set(uuids) - set(found)
    assert not missing, f"no heartbeat within {timeout} s from {sorted(missing)}"
    return found


def heartbeat_releases(ctl, uuids, timeout=20.0):
    """The release label of each client's first heartbeat published from now on."""
    return {client_uuid: body.get("release") for client_uuid, body in next_heartbeats(ctl, uuids, timeout).items()}


def agent_ini(fleet, name):
    """The config the pi_agent role rendered into the client's root (release label, settings)."""
    return fleet.clients[name].role_config_path.read_text()


def current(fleet, name):
    """The release the role's current pointer names in the client's root."""
    return os.readlink(Path(fleet.clients[name].root) / "opt/infoscreen-agent/current")


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"


def chromium(html_path, profile_dir, *, screenshot=None, size="1280,1400", timeout=120):
    """Load a local file in headless Chromium (Debian package, no network); return the DOM it built."""
    import subprocess

    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile_dir}", f"--window-size={size}"]
    url = Path(html_path).resolve().as_uri()
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout, check=True)
    if screenshot is not None:
        subprocess.run(base + [f"--screenshot={screenshot}", url], capture_output=True, text=True,
                       timeout=timeout, check=True)
    return dom.stdout
