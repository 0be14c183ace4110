"""The README main command: a simulated fleet, playbooks/canary.yml on it, the fleet down.

Brings up 6 simulated Pis by default (real mosquitto rendered by the mqtt_broker role, real
agents) in groups canary / wave1 / wave2, rolls release 1.1.0 out with
``ansible-playbook playbooks/canary.yml`` (per wave: record, apply, reboot drill, gate),
writes the rollout report (console table, JSON, HTML) and brings everything down.

    python -m infoscreen_sim.demo_canary [--clients 6] [--canary 2] [--wave1 2] [--faults]
                                         [--report-dir DIR]

It installs release 1.0.0 on every client with ``playbooks/agent.yml`` first (the pi_agent
role in files-only mode on each client's root: own virtualenv, config, ``current``
pointer), reboots them onto it (the fleet boots what ``current`` names, as a Pi's unit
does), then canary.yml applies release 1.1.0 with the same role and, when the gate fires,
rolls back through the role's rollback entry point. There is no other apply path.

``--faults`` injects a failing client into the canary group (helper_fails: its reboot
helper fails), so the gate fires, the canary is rolled back and the playbook exits 2.
Each run uses its own ledger in the fleet folder, so repeated runs never trip the lockout.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .fleet import Fleet

REPO = Path(__file__).resolve().parents[2]
RELEASE = {"label": "1.1.0+settings2+ssd2", "agent_version": "1.1.0", "ssd_profile_version": 2,
           "settings": {"pi_agent_heartbeat_interval_s": 3}}
OLD_RELEASE = "1.0.0+settings1+ssd1"
FIRST_AGENT_VERSION = "1.0.0"


def canary_env(fleet, ledger, report_dir, extra=None):
    """Environment for ansible-playbook on a simulated fleet with the rollout report enabled."""
    env = dict(os.environ)
    report_dir = Path(report_dir)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "infoscreen.fleet.rollout_report",
        "INFOSCREEN_LEDGER": str(ledger),
        "INFOSCREEN_MQTT_USERNAME": fleet.manifest["controller"]["username"],
        "INFOSCREEN_MQTT_PASSWORD": fleet.manifest["controller"]["password"],
        "INFOSCREEN_ROLLOUT_JSON": str(report_dir / "canary-report.json"),
        "INFOSCREEN_ROLLOUT_HTML": str(report_dir / "canary-report.html"),
        "INFOSCREEN_ROLLOUT_TABLE": env.get("INFOSCREEN_ROLLOUT_TABLE", "false"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    env.update(extra or {})
    return env


# A real Pi's reconnect baseline and ceiling (playbooks/vars/canary_defaults.yml). canary.yml
# never scales them: the harness passes them in the simulated fleet's own seconds.
PI_RECONNECT_BASELINE_S = 90
PI_RECONNECT_CEILING_S = 150


def canary_command(fleet, release, *args, time_scale=1.0, drill_timeout_s=None, extra_vars=None):
    """ansible-playbook canary.yml on ``fleet``; ``time_scale`` = real seconds per simulated Pi second.

    The time scale only turns a Pi's reconnect baseline and ceiling into the fleet's seconds
    (what the harness reports against); canary.yml itself has no notion of it."""
    extra = {"canary_release": release, **(extra_vars or {})}
    if time_scale != 1.0:
        extra["canary_reconnect_baseline_s"] = round(PI_RECONNECT_BASELINE_S * time_scale, 3)
        extra["canary_reconnect_ceiling_s"] = round(PI_RECONNECT_CEILING_S * time_scale, 3)
    if drill_timeout_s:
        extra["canary_drill_timeout_s"] = drill_timeout_s
    return ["ansible-playbook", "-i", str(fleet.inventory_path), str(REPO / "playbooks" / "canary.yml"),
            "-e", json.dumps(extra), *args]


def install_release(fleet, version, label, env, *, extra_vars=None, timeout=600):
    """``playbooks/agent.yml`` (the pi_agent role's full install) of agent ``version`` with
    release label ``label`` on every client, then a power cycle of each: like a Pi after its
    first install, the client then boots what the role made ``current``. Returns the output."""
    extra = {"pi_agent_build_version": version, "pi_agent_release_label": label, **(extra_vars or {})}
    proc = subprocess.run(["ansible-playbook", "-i", str(fleet.inventory_path), str(REPO / "playbooks" / "agent.yml"),
                           "-e", json.dumps(extra)],
                          cwd=REPO, env=env, check=False, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"playbooks/agent.yml failed (exit {proc.returncode}):\n"
                           + (proc.stdout[-6000:] + proc.stderr[-2000:]))
    for name in fleet.clients:
        fleet.power_cycle(name)
    fleet.wait_ready(timeout=300)
    return proc.stdout


def install_first_release(fleet, workdir):
    """Release 1.0.0 (this checkout) on every client with the pi_agent role, then a reboot onto it."""
    print(f"== ansible-playbook playbooks/agent.yml: release {FIRST_AGENT_VERSION} ({OLD_RELEASE}) on every client "
          "(pi_agent role on each client's root)", flush=True)
    started = time.monotonic()
    env = canary_env(fleet, Path(workdir) / "ledger.sqlite3", workdir)
    try:
        install_release(fleet, FIRST_AGENT_VERSION, OLD_RELEASE, env)
    except RuntimeError as exc:
        print(exc, flush=True)
        raise SystemExit("playbooks/agent.yml failed; see the output above") from exc
    print(f"   installed and rebooted in {time.monotonic() - started:.1f} s", flush=True)


def run(args, workdir):
    started = time.monotonic()
    faults = {"client-002": ["helper_fails"]} if args.faults else {}
    groups = [("canary", args.canary), ("wave1", args.wave1), ("wave2", None)]
    print(f"== bringing up {args.clients} simulated clients: canary {args.canary}, wave1 {args.wave1}, wave2 the rest"
          + (f"; fault injected: {faults}" if faults else ""), flush=True)
    report_dir = Path(args.report_dir or workdir).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    with Fleet(Path(workdir) / "fleet", clients=args.clients, groups=groups, faults=faults,
               time_scale=args.time_scale, boot_time="uniform:20:60",
               agent_options={"agent.heartbeat_interval_s": 2, "agent.health_interval_s": 5,
                              "agent.release": OLD_RELEASE}) as fleet:
        print(f"   fleet ready in {fleet.ready_seconds:.1f} s; inventory {fleet.inventory_path}", flush=True)
        install_first_release(fleet, workdir)
        settings = {**RELEASE["settings"], "pi_agent_build_version": RELEASE["agent_version"]}
        release = dict(RELEASE, settings=settings)
        # The agents heartbeat every 2 s: the record step need not wait for a Pi's 30 s.
        cmd = canary_command(fleet, release, time_scale=args.time_scale, drill_timeout_s=60,
                             extra_vars={"canary_record_listen_s": 10})
        print(f"== ansible-playbook playbooks/canary.yml: release {OLD_RELEASE} -> {RELEASE['label']}", flush=True)
        play_started = time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, env=canary_env(fleet, Path(workdir) / "ledger.sqlite3", report_dir),
                              check=False)
        play_s = time.monotonic() - play_started
        print("== bringing the fleet down", flush=True)
    total_s = time.monotonic() - started
    print(f"== canary.yml exit code {proc.returncode} after {play_s:.1f} s; whole demo {total_s:.1f} s", flush=True)
    print(f"   report: {report_dir / 'canary-report.html'} (and canary-report.json)")
    if args.faults:
        print("   (a non-zero exit code is EXPECTED here: the injected fault makes the gate fire and the "
              "canary is rolled back)" if proc.returncode else "   UNEXPECTED: the gate did not fire")
    return proc.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m infoscreen_sim.demo_canary",
                                     description=__doc__.partition("\n")[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--canary", type=int, default=2, help="clients in the canary group (default %(default)s)")
    parser.add_argument("--wave1", type=int, default=2, help="clients in wave1; wave2 gets the rest")
    parser.add_argument("--time-scale", type=float, default=0.2,
                        help="real seconds per simulated Pi second (default %(default)s)")
    parser.add_argument("--faults", action="store_true", help="inject a failing canary client (the gate fires)")
    parser.add_argument("--report-dir", help="where the HTML/JSON report goes (default: the scratch folder)")
    parser.add_argument("--workdir", help="scratch folder (default: a new temporary one, removed at the end)")
    args = parser.parse_args(argv)
    if args.clients < args.canary + args.wave1 + 1:
        parser.error("--clients must leave at least one client for wave2")
    if args.workdir:
        return run(args, args.workdir)
    with tempfile.TemporaryDirectory(prefix="infoscreen-canary-") as workdir:
        return run(args, workdir)


if __name__ == "__main__":
    sys.exit(main())
