"""Run the real recover.yml (ansible-playbook) against a simulated fleet and switch, and let a
test act at a named point of the run (for example: stop the broker when a task starts)."""

import json
import subprocess
import sys
import time

from fixtures.switch import ROOT, poe_module_env

FAST_LADDER = {
    "infoscreen_recover_cooldown_s": 1, "infoscreen_recover_listen_s": 8,
    "infoscreen_recover_max_heartbeat_age_s": 8,
    "infoscreen_recover_restart_app_timeout_s": 8, "infoscreen_recover_reboot_timeout_s": 6,
    "infoscreen_recover_reconnect_timeout_s": 60, "infoscreen_recover_poe_off_time_s": 1,
    "infoscreen_recover_poe_verify_timeout_s": 5, "infoscreen_recover_poe_poll_interval_s": 0.2,
    # a stopped broker refuses at once; 5 s still leaves a loaded machine time to connect
    "infoscreen_recover_connect_timeout_s": 5,
}


def hang(fleet, name, timeout=15):
    """The client reboots by itself and, with needs_power_cycle, hangs (as its agent's sim backend would)."""
    fleet.clients[name].request_path.write_text(json.dumps({"verb": "reboot"}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fleet.status()[name]["state"] == "hung":
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} did not hang: {fleet.status()[name]}")


def run_recover_playbook(fleet, switch, tmp_path, *, extra_vars=None, extra_inventory=None, on_line=None,
                         options=(), timeout=300):
    """ansible-playbook recover.yml; returns (returncode, output, report rows by host or None).

    ``on_line(line)`` is called with every output line as it is printed, in this process,
    while the playbook runs: the hook for fault injection at a known point of the ladder.
    """
    report = tmp_path / f"recover-report-{time.monotonic_ns()}.json"
    variables = dict(FAST_LADDER, infoscreen_ledger=str(tmp_path / "ledger.sqlite3"),
                     infoscreen_recover_report_file=str(report),
                     infoscreen_poe_intent_dir=str(tmp_path / "intent"))
    variables.update(extra_vars or {})
    inventories = ["-i", str(fleet.inventory_path)]
    if extra_inventory:
        path = tmp_path / f"recover-inventory-{time.monotonic_ns()}.yml"
        path.write_text(json.dumps({"all": {"hosts": extra_inventory}}))
        inventories += ["-i", str(path)]
    env = dict(poe_module_env(), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               INFOSCREEN_MQTT_USERNAME=fleet.manifest["controller"]["username"],
               INFOSCREEN_MQTT_PASSWORD=fleet.manifest["controller"]["password"],
               INFOSCREEN_SNMP_COMMUNITY=switch.community, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        ["ansible-playbook", *inventories, "-e", json.dumps(variables), *options,
         str(ROOT / "playbooks" / "recover.yml")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines)
    rows = {r["host"]: r for r in json.loads(report.read_text())} if report.exists() else None
    return proc.returncode, output, rows


def step_states(row):
    return [(s["step"], s["state"]) for s in row["steps"]]
