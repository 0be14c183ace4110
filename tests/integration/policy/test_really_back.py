"""Issue 18 item 2, "really back", with real agents (simulated machines) and a real mosquitto.

A client whose agent comes back with a new boot id but whose signage app crashes right after
the boot (harness fault ``app_crashes_after_boot``, sim/infoscreen_sim/app_faults.py) is not
completed: it ends failed/app_not_stable and counts against the gate. Through canary.yml it
fails the 10-client canary (1 of 10 = 10 % > 5 %) and triggers the rollback (canary.yml with
the pi_agent role, as tests/integration/canary/ runs it).

The window is short (2 s of the client's uptime; agents report health every second), passed
as an option like the other thresholds the harness gives in the simulated fleet's seconds.
"""

import json
import subprocess
import time
from pathlib import Path

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave
from infoscreen_sim.demo_canary import canary_command, canary_env, install_release

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
OLD = "1.0.0+settings1+ssd1"
VERSION_A, VERSION_B = "1.0.0+reallya", "1.1.0+reallyb"
NEW = {"label": "1.1.0+settings2+ssd2", "agent_version": "1.1.0", "ssd_profile_version": 2,
       "settings": {"pi_agent_heartbeat_interval_s": 3, "pi_agent_build_version": VERSION_B}}
FLEET = {"time_scale": 0.02, "boot_time": "uniform:20:60",
         "agent_options": {"agent.heartbeat_interval_s": 1, "agent.health_interval_s": 1, "agent.release": OLD}}
WINDOW_S = 2.0


def mqtt_params(fleet):
    return {"mqtt_host": fleet.manifest["broker"]["host"], "mqtt_port": fleet.manifest["broker"]["port"],
            "mqtt_username": fleet.manifest["controller"]["username"],
            "mqtt_password": fleet.manifest["controller"]["password"], "mqtt_tls": False, "mqtt_ca_cert": None,
            "mqtt_keepalive": 5}


def test_app_crashing_after_the_reboot_is_not_completed(fleet_factory, ledger_path):
    fleet = fleet_factory(3, shared_broker=True, faults={"client-002": ["app_crashes_after_boot"]}, **FLEET)
    hosts = [(name, fleet.clients[name].client_uuid) for name in sorted(fleet.clients)]
    with Ledger(str(ledger_path)) as ledger:
        wave = run_wave(hosts, WaveOptions("reboot_host", timeout_s=60, stability_s=WINDOW_S,
                                           stability_timeout_s=20, progress_interval_s=1), ledger,
                        mqtt_params(fleet))
        row = ledger.command(wave.results["client-002"]["command_id"])
    bad = wave.results["client-002"]
    assert (bad["state"], bad["ok"], bad["error_code"]) == ("failed", False, "app_not_stable"), bad
    assert bad["stability"]["verdict"] == "crashed", bad
    assert bad["reconnect_s"] is not None  # its agent did come back ...
    assert fleet.status()["client-002"]["boots"] == 2  # ... on a new boot
    assert bad["stability"]["boot_id"] == fleet.status()["client-002"]["boot_id"]
    assert [t["state"] for t in bad["transitions"]][-2:] == ["stabilizing", "failed"]
    assert (row["state"], row["error_code"]) == ("failed", "app_not_stable")
    for name in ("client-001", "client-003"):
        good = wave.results[name]
        assert (good["state"], good["ok"]) == ("completed", True), good
        assert good["stability"]["verdict"] == "stable" and good["stability"]["running_s"] >= WINDOW_S, good
    assert (wave.counts["failed"], wave.counts["ok"]) == (1, 2)


def test_canary_client_whose_app_crashes_after_its_reboot_fails_the_canary_and_rolls_back(
        fleet_factory, tmp_path, tmp_path_factory):
    fleet = fleet_factory(10, shared_broker=True, groups=[("canary", None)],
                          faults={"client-004": ["app_crashes_after_boot"]}, **FLEET)
    # canary.yml applies and rolls back with the pi_agent role: release A first, as on a Pi
    # (tests/integration/canary/conftest.py does the same; one release cache for both installs).
    cache = {"pi_agent_release_cache_dir": str(tmp_path_factory.mktemp("release-cache"))}
    install_release(fleet, VERSION_A, OLD, canary_env(fleet, tmp_path / "install-ledger.sqlite3", tmp_path),
                    extra_vars=cache)
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    env = canary_env(fleet, tmp_path / "ledger.sqlite3", report_dir,
                     extra={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    # One wave of ten (1 crash = 10 % > 5 %); no confirm drill: it would only add a reboot.
    extra = {"canary_stability_s": WINDOW_S, "canary_waves": ["canary"], "canary_record_listen_s": 5,
             "canary_confirm_rollback": False,
             "infoscreen_bulk_confirm": len(fleet.clients), **cache}  # the bulk guard (docs/policy.md)
    cmd = canary_command(fleet, NEW, "-e", json.dumps(extra), drill_timeout_s=60)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    print(f"canary.yml took {time.monotonic() - started:.1f} s")
    assert (report_dir / "canary-report.json").exists(), output[-4000:]
    report = json.loads((report_dir / "canary-report.json").read_text())
    rows = {row["host"]: row for row in report["hosts"]}

    assert proc.returncode != 0, output
    assert "CANARY ROLLED BACK: wave 1 (canary) failed the gate" in output
    assert "10.0 % > 5 %" in output
    bad = rows["client-004"]
    assert (bad["state"], bad["error_code"]) == ("failed", "app_not_stable"), bad
    assert bad["reconnect_s"] is not None and fleet.status()["client-004"]["boots"] >= 2  # the agent came back
    assert {rows[n]["state"] for n in fleet.clients if n != "client-004"} == {"completed"}
    assert all(f"release = {OLD}" in c.role_config_path.read_text() for c in fleet.clients.values())
    html = (report_dir / "canary-report.html").read_text()
    assert "ROLLED BACK at wave 1 (canary)" in html and "app_not_stable" in html
    # the stability phase is on the timeline: a band per client, the crashed one marked
    assert "data-host='client-004' data-state='failed' data-stability='crashed'" in html
    assert html.count("class='phase-stabilizing'") == 10
