"""Footprint of the simulated fleet: start-up time, RSS/PSS and idle CPU, printed as figures.

    python -m infoscreen_sim.measure --clients 200 --idle 30
    python -m infoscreen_sim.measure --clients 1 --idle 60      # one agent

RSS counts shared pages (the interpreter, paho, jsonschema) once per process, PSS splits
them between the processes that share them; both are printed so neither flatters.
Idle CPU is the utime+stime the processes used during the idle window, as % of one core.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

from .fleet import Fleet

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(clients, idle_s, workdir, heartbeat_s, health_s):
    started = time.monotonic()
    fleet = Fleet(workdir, clients=clients, time_scale=0.05,
                  agent_options={"agent.heartbeat_interval_s": heartbeat_s, "agent.health_interval_s": health_s})
    try:
        fleet.start(wait=True, timeout=max(120.0, clients * 1.5))
        total = time.monotonic() - started
        render = fleet.broker.render_seconds or 0.0
        pids = fleet.pids()
        agents = pids["agents"]
        time.sleep(2.0)  # let start-up work settle before the idle window
        groups = {"agents": agents, "supervisor": [pids["supervisor"]], "broker": [pids["broker"]]}
        cpu_before = {name: sum(_cpu_s(p) for p in group) for name, group in groups.items()}
        t0 = time.monotonic()
        time.sleep(idle_s)
        window = time.monotonic() - t0
        cpu = {name: (sum(_cpu_s(p) for p in group) - cpu_before[name]) / window * 100
               for name, group in groups.items()}
        rss = [_status_kb(p, "VmRSS") for p in agents]
        pss = [_pss_kb(p) for p in agents]
        print(f"clients: {clients} (one agent process each), heartbeat {heartbeat_s} s, health {health_s} s")
        print(f"start-up: {total:.1f} s to all healthy, of which broker render (ansible-playbook) "
              f"{render:.1f} s and agents {total - render:.1f} s")
        print(f"agent RSS: median {statistics.median(rss) / 1024:.1f} MB, max {max(rss) / 1024:.1f} MB, "
              f"sum {sum(rss) / 1024:.0f} MB")
        print(f"agent PSS: median {statistics.median(pss) / 1024:.1f} MB, sum {sum(pss) / 1024:.0f} MB")
        print(f"supervisor RSS {_status_kb(pids['supervisor'], 'VmRSS') / 1024:.1f} MB, "
              f"broker RSS {_status_kb(pids['broker'], 'VmRSS') / 1024:.1f} MB")
        print(f"idle CPU over {window:.0f} s (% of one core): agents {cpu['agents']:.2f} "
              f"(per agent {cpu['agents'] / max(1, len(agents)):.3f}), supervisor {cpu['supervisor']:.2f}, "
              f"broker {cpu['broker']:.2f}")
    finally:
        stop_started = time.monotonic()
        fleet.stop()
        print(f"down: {time.monotonic() - stop_started:.1f} s")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m infoscreen_sim.measure", description=__doc__.partition("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--idle", type=float, default=30.0, help="idle window in seconds")
    parser.add_argument("--heartbeat", type=float, default=30.0)
    parser.add_argument("--health", type=float, default=60.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="infoscreen-measure-") as workdir:
        return measure(args.clients, args.idle, workdir, args.heartbeat, args.health)


if __name__ == "__main__":
    sys.exit(main())
