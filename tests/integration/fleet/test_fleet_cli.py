"""`python -m infoscreen_sim.fleet up|status|power|down`: one command up, one command down,
no process left behind."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def fleet_cli(*args, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "sim"))
    return subprocess.run([sys.executable, "-m", "infoscreen_sim.fleet", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def test_up_status_power_down_leaves_no_process(tmp_path):
    workdir = tmp_path / "cli-fleet"
    up = fleet_cli("up", "--workdir", str(workdir), "--clients", "3", "--time-scale", "0.02",
                   "--groups", "canary=1,wave1=rest", "--fault", "client-003=app_crashed")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        manifest = json.loads((workdir / "fleet.json").read_text())
        assert manifest["status"] == "ready"
        assert [c["faults"] for c in manifest["clients"]] == [[], [], ["app_crashed"]]
        time.sleep(1.2)  # status.json is rewritten every second
        status = fleet_cli("status", "--workdir", str(workdir), "-v")
        assert status.returncode == 0
        assert "running: 3" in status.stdout
        assert fleet_cli("power", "--workdir", str(workdir), "client-002", "off").returncode == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = json.loads((workdir / "status.json").read_text())["clients"]["client-002"]["state"]
            if state == "powered_off":
                break
            time.sleep(0.2)
        assert state == "powered_off"
        pids = json.loads((workdir / "status.json").read_text())["pids"]
    finally:
        down = fleet_cli("down", "--workdir", str(workdir))
    assert down.returncode == 0, down.stderr
    everything = [pids["supervisor"], pids["broker"], *pids["agents"]]
    assert len(pids["agents"]) == 2
    time.sleep(0.5)
    assert [pid for pid in everything if alive(pid)] == []
    assert json.loads((workdir / "fleet.json").read_text())["status"] == "stopped"
