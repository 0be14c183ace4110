"""Fixtures on the roles path: ``roles_fleet`` brings up a simulated fleet and installs agent
release A (label OLD) on every client with the pi_agent role (playbooks/agent.yml), as on a Pi;
``run_canary`` runs playbooks/canary.yml on it (real mosquitto, real agents) with the
rollout_report callback writing JSON and HTML. Every release a test builds goes into one
release cache per test worker, so a virtualenv is built once per worker, not per test."""

import json
import subprocess
import time
from pathlib import Path

import pytest
from canary_helpers import NEW, OLD, VERSION_A
from infoscreen_sim.demo_canary import canary_command, canary_env, install_release


class CanaryRun:
    def __init__(self, returncode, output, report, html_path):
        self.returncode = returncode
        self.output = output
        self.report = report
        self.html_path = html_path

    def hosts(self):
        return {row["host"]: row for row in self.report["hosts"]}


@pytest.fixture(scope="session")
def release_cache(tmp_path_factory):
    """pi_agent_release_cache_dir shared by this worker's tests (one virtualenv per release)."""
    return {"pi_agent_release_cache_dir": str(tmp_path_factory.mktemp("release-cache"))}


@pytest.fixture
def roles_fleet(fleet_factory, release_cache, tmp_path):
    """``make(clients, **fleet options)``: a started fleet whose clients run release A (label
    OLD) installed by the pi_agent role and booted from its current pointer."""

    def make(clients, **kwargs):
        fleet = fleet_factory(clients, **kwargs)
        env = canary_env(fleet, tmp_path / "install-ledger.sqlite3", tmp_path)
        install_release(fleet, VERSION_A, OLD, env, extra_vars=release_cache)
        return fleet

    return make


@pytest.fixture
def run_canary(tmp_path, release_cache):
    # The drill timeout only matters on an overloaded machine: simulated boots take ~1 s, but a
    # reboot that misses it would count as timed_out and fire the gate in a 2-client wave.
    def run(fleet, *args, release=None, time_scale=1.0, drill_timeout_s=150, timeout=600):
        report_dir = tmp_path / f"report-{time.monotonic_ns()}"
        report_dir.mkdir()
        env = canary_env(fleet, tmp_path / "ledger.sqlite3", report_dir,
                         extra={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
        cmd = canary_command(fleet, release or NEW, *args, time_scale=time_scale, drill_timeout_s=drill_timeout_s,
                             extra_vars=run.extra_vars)
        repo = Path(__file__).resolve().parents[3]
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        json_path = report_dir / "canary-report.json"
        report = json.loads(json_path.read_text()) if json_path.exists() else None
        return CanaryRun(proc.returncode, proc.stdout + proc.stderr, report, report_dir / "canary-report.html")

    # The agents heartbeat every few seconds: the record step need not wait for a Pi's 30 s.
    run.extra_vars = {"canary_record_listen_s": 15, **release_cache}
    return run
