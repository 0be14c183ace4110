"""Fixture run_canary: playbooks/canary.yml on a simulated fleet (real mosquitto, real agents)
with the rollout_report callback writing JSON and HTML."""

import json
import subprocess
import time
from pathlib import Path

import pytest
from canary_helpers import NEW
from infoscreen_sim.demo_canary import canary_command, canary_env


class CanaryRun:
    def __init__(self, returncode, output, report, html_path):
        self.returncode = returncode
        self.output = output
        self.report = report
        self.html_path = html_path

    def hosts(self):
        return {row["host"]: row for row in self.report["hosts"]}


@pytest.fixture
def run_canary(tmp_path):
    # The drill timeout only matters on an overloaded machine: simulated boots take ~1 s, but a
    # reboot that misses it would count as timed_out and fire the gate in a 2-client wave.
    def run(fleet, *args, release=None, time_scale=1.0, drill_timeout_s=150, timeout=600):
        report_dir = tmp_path / f"report-{time.monotonic_ns()}"
        report_dir.mkdir()
        env = canary_env(fleet, tmp_path / "ledger.sqlite3", report_dir,
                         extra={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
        cmd = canary_command(fleet, release or NEW, *args, time_scale=time_scale, drill_timeout_s=drill_timeout_s)
        repo = Path(__file__).resolve().parents[3]
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        json_path = report_dir / "canary-report.json"
        report = json.loads(json_path.read_text()) if json_path.exists() else None
        return CanaryRun(proc.returncode, proc.stdout + proc.stderr, report, report_dir / "canary-report.html")

    return run
