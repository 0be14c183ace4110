"""Constants and readers shared by the canary acceptance tests."""

import json
import time
from pathlib import Path

OLD = "1.0.0+settings1+ssd1"
NEW = {"label": "1.1.0+settings2+ssd2", "agent_version": "1.1.0", "ssd_profile_version": 2,
       "settings": {"pi_agent_heartbeat_interval_s": 3}}
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
    return (Path(fleet.clients[name].root) / "etc" / "agent.ini").read_text()


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
