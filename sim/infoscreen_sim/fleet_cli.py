"""Command line of the simulated fleet: ``python -m infoscreen_sim.fleet up|down|status|power``.

``up`` starts a detached ``supervise`` process (the same options, foreground) and returns
when the fleet is ready; ``down`` stops it and kills by pid whatever it left; ``status``
prints client states from ``status.json``; ``power`` drops a PoE request for the supervisor.
See docs/simulated-fleet.md.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .faults import DEFAULT_SLOW_BOOT_S, FAULTS, FleetSpecError
from .fleet import Fleet
from .manifest import load_manifest

SUPERVISOR_MODULE = "infoscreen_sim.fleet"  # what `up` runs and `down` recognises by command line

# -- command line -----------------------------------------------------------------------------


def _parse_faults(items):
    faults = {}
    for item in items or []:
        name, _sep, listed = item.partition("=")
        if not listed:
            raise FleetSpecError(f"--fault {item!r}: use NAME=FAULT[,FAULT] (faults: {', '.join(FAULTS)})")
        faults.setdefault(name, []).extend(f for f in listed.split(",") if f)
    return faults


def _parse_groups(text):
    groups = []
    for part in text.split(","):
        name, _sep, size = part.partition("=")
        if size in ("", "rest"):
            groups.append((name, None))
        else:
            number = float(size)
            groups.append((name, number if number < 1 else int(number)))
    return groups


def fleet_from_args(args):
    return Fleet(args.workdir, clients=args.clients, groups=_parse_groups(args.groups),
                 faults=_parse_faults(args.fault), boot_time=args.boot_time, time_scale=args.time_scale,
                 slow_boot_s=args.slow_boot_s, seed=args.seed, tls=args.tls, agent_command=args.agent_command,
                 agent_options=dict(kv.split("=", 1) for kv in args.agent_option or []))


def _pid_alive(pid, marker):
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def _cmd_supervise(args):
    fleet = fleet_from_args(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        fleet.start(wait=True)
        print(f"fleet ready: {len(fleet.clients)} clients in {fleet.ready_seconds:.1f} s", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
    return 0


def _cmd_up(args):
    fleet_from_args(args)  # refuse bad options here, before anything is started
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    manifest_path = workdir / "fleet.json"
    if manifest_path.exists() and load_manifest(manifest_path)["status"] != "stopped":
        pid = load_manifest(manifest_path)["supervisor_pid"]
        if _pid_alive(pid, SUPERVISOR_MODULE):
            print(f"a fleet is already running in {workdir} (supervisor pid {pid}); run `down` first", file=sys.stderr)
            return 1
    manifest_path.unlink(missing_ok=True)
    # The absolute workdir on the supervisor's command line lets `down` recognise it by pid.
    argv = [sys.executable, "-m", SUPERVISOR_MODULE, "supervise", "--workdir", str(workdir)] + args.raw
    with open(workdir / "supervisor.log", "a", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    (workdir / "supervisor.pid").write_text(f"{proc.pid}\n")
    started = time.monotonic()
    deadline = started + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"fleet supervisor exited rc={proc.returncode}; see {workdir / 'supervisor.log'}", file=sys.stderr)
            return 1
        if manifest_path.exists() and load_manifest(manifest_path)["status"] == "ready":
            manifest = load_manifest(manifest_path)
            print(f"fleet up: {len(manifest['clients'])} clients, broker {manifest['broker']['host']}:"
                  f"{manifest['broker']['port']}, ready in {time.monotonic() - started:.1f} s")
            print(f"manifest:  {manifest_path}\ninventory: {manifest['inventory_path']}")
            return 0
        time.sleep(0.2)
    print(f"fleet not ready after {args.timeout} s; see {workdir / 'supervisor.log'}; run `down`", file=sys.stderr)
    return 1


def _cmd_down(args):
    workdir = Path(args.workdir).resolve()
    pid_file = workdir / "supervisor.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    if pid and _pid_alive(pid, SUPERVISOR_MODULE):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _pid_alive(pid, SUPERVISOR_MODULE) and time.monotonic() < deadline:
            time.sleep(0.1)
    # Anything the supervisor left (it was killed, say): agents and broker named in the last
    # status, each checked to belong to this fleet's folder before it is killed.
    leftovers = []
    status_path = workdir / "status.json"
    if status_path.exists():
        pids = json.loads(status_path.read_text()).get("pids", {})
        for candidate in [pids.get("supervisor"), pids.get("broker"), *pids.get("agents", [])]:
            if candidate and _pid_alive(candidate, str(workdir)):
                os.kill(candidate, signal.SIGKILL)
                leftovers.append(candidate)
    pid_file.unlink(missing_ok=True)
    print(f"fleet down ({workdir}); killed {len(leftovers)} leftover process(es)")
    return 0


def _cmd_status(args):
    workdir = Path(args.workdir).resolve()
    status = json.loads((workdir / "status.json").read_text())
    counts = {}
    for name, entry in sorted(status["clients"].items()):
        counts[entry["state"]] = counts.get(entry["state"], 0) + 1
        if args.verbose:
            print(f"{name:12} {entry['state']:12} boots={entry['boots']} starts={entry['agent_starts']} "
                  f"healthy={entry['healthy']} faults={','.join(entry['faults']) or '-'}")
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), f"(as of {time.ctime(status['at'])})")
    return 0


def _cmd_power(args):
    control = Path(args.workdir).resolve() / "control"
    control.mkdir(exist_ok=True)
    (control / f"{args.name}.power").write_text(args.verb + "\n")
    return 0


def _add_fleet_options(parser):
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--groups", default="canary=1,wave1=0.3,wave2=rest",
                        help="child groups of infoscreen_clients: NAME=COUNT|SHARE|rest,... (default %(default)s)")
    parser.add_argument("--fault", action="append", metavar="NAME=FAULT[,FAULT]",
                        help=f"inject faults into a client; faults: {', '.join(FAULTS)}")
    parser.add_argument("--boot-time", default="uniform:20:60", help="fixed:S | uniform:LO:HI | normal:MEAN:SD")
    parser.add_argument("--time-scale", type=float, default=0.05, help="multiplies every simulated duration")
    parser.add_argument("--slow-boot-s", type=float, default=DEFAULT_SLOW_BOOT_S)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--agent-command", help="runs the agent (default: this python -m infoscreen_agent)")
    parser.add_argument("--agent-option", action="append", metavar="SECTION.KEY=VALUE",
                        help="agent.ini override, e.g. agent.heartbeat_interval_s=5")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m infoscreen_sim.fleet", description=__doc__.partition("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, helptext in (("up", "start a fleet in the background"), ("supervise", "run a fleet in the foreground")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--workdir", required=True)
        _add_fleet_options(p)
        if name == "up":
            p.add_argument("--timeout", type=float, default=300)
    for name, helptext in (("down", "stop the fleet, leave no process"), ("status", "print client states")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--workdir", required=True)
        if name == "status":
            p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("power", help="power a client on/off/cycle (the PoE hook)")
    p.add_argument("--workdir", required=True)
    p.add_argument("name")
    p.add_argument("verb", choices=("on", "off", "cycle"))
    args = parser.parse_args(argv)
    if args.cmd == "up":  # hand the fleet options, not --timeout/--workdir, to `supervise`
        raw, skip = [], False
        for item in argv[1:]:
            if skip:
                skip = False
                continue
            if item in ("--timeout", "--workdir"):
                skip = True
                continue
            if not item.startswith(("--timeout=", "--workdir=")):
                raw.append(item)
        args.raw = raw
    try:
        return {"up": _cmd_up, "supervise": _cmd_supervise, "down": _cmd_down, "status": _cmd_status,
                "power": _cmd_power}[args.cmd](args)
    except FleetSpecError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
