"""Flood benchmark: one real agent receives thousands of distinct, valid commands.

What it shows (issue 13): the cost of a flood for the client - agent CPU, RSS before and
after, bytes the agent wrote to disk, the longest gap between heartbeats the controller
saw, broker disconnects of the agent, and how many commands the agent executed inside one
lockout window (the client lockout allows ``lockout_max``, default 3 per 15 min).

Set-up: real mosquitto rendered by the mqtt_broker role and one real agent process in the
simulated fleet (sim power backend). Every command is a current, valid ``restart_app`` for
that client with its own command_id, published QoS 1 as the controller account, paced only
by the broker's PUBACKs; the flood takes far less than the lockout window, so every
execution counts against one window.

    python bench/agent_flood.py                    # 5,000 commands
    python bench/agent_flood.py --commands 500 --json out.json
    python bench/agent_flood.py --agent-root /tmp/old-agent   # measure another copy of the agent

``--agent-root DIR`` runs the agent from DIR/infoscreen_agent (with its contract package
inside, as the wheel ships it): used to measure the code before a change.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _sub in ("sim", ".cache/collections", "tests"):
    sys.path.insert(0, str(REPO / _sub))

from infoscreen_agent.contract import heartbeat_topic, make_command  # noqa: E402
from infoscreen_sim.controller import SimController  # noqa: E402
from infoscreen_sim.fleet import Fleet  # noqa: E402

_EXECUTING = re.compile(r"executing (\w+) for command ([0-9a-fA-F-]{36})")


def proc_figures(pid):
    """CPU seconds (user+system), RSS in MB and bytes written to storage by process ``pid``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    written = 0
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("write_bytes:"):
                    written = int(line.split()[1])
    except OSError:
        pass
    return {"cpu_s": cpu, "rss_mb": rss_kb / 1024, "write_bytes": written}


def heartbeat_gaps(messages, topic, start, end):
    times = [t for t, top, _payload in messages if top == topic and start <= t <= end]
    marks = [start] + times + [end]
    return max(b - a for a, b in zip(marks, marks[1:]))


def run(commands, workdir, *, agent_root=None, heartbeat_s=2.0, settle_s=5.0, say=print):
    agent_command = None
    if agent_root:
        agent_command = ["env", f"PYTHONPATH={agent_root}", sys.executable, "-m", "infoscreen_agent"]
    options = {"agent.heartbeat_interval_s": heartbeat_s, "agent.health_interval_s": 30,
               "mqtt.reconnect_max_s": 2}
    fleet = Fleet(Path(workdir) / "fleet", clients=1, boot_time="fixed:5", time_scale=0.02, seed=13,
                  agent_command=agent_command, agent_options=options)
    fleet.start(wait=True, timeout=120)
    try:
        name = sorted(fleet.clients)[0]
        client = fleet.clients[name]
        uuid = client.client_uuid
        pid = fleet.status()[name]["pid"]
        with SimController(fleet.manifest) as controller:
            time.sleep(settle_s)
            before = proc_figures(pid)
            started = time.monotonic()
            ids = []
            for _unused in range(commands):
                cmd = make_command(uuid, "restart_app")
                controller.publish_raw(uuid, cmd)
                ids.append(cmd["command_id"])
            published = time.monotonic()
            say(f"  {commands} commands published in {published - started:.1f} s; waiting for their acks")
            last = ids[-1]
            controller.wait_for(lambda: controller.terminal(last), max(120.0, commands * 0.2))
            answered_at = time.monotonic()
            answered = sum(1 for cid in ids if controller.terminal(cid))
            after = proc_figures(pid)
            time.sleep(settle_s)
            settled = proc_figures(pid)
            gap = heartbeat_gaps(controller.messages, heartbeat_topic(uuid), started, answered_at)
            health = controller.health.get(uuid, {})
        log = Path(client.log_path).read_text(errors="replace")
        flood_ids = set(ids)
        executions = sum(1 for _a, cid in _EXECUTING.findall(log) if cid in flood_ids)
        still_alive = fleet.status()[name]["pid"] == pid
    finally:
        fleet.stop()
    return {
        "commands": commands,
        "answered": answered,
        "flood_seconds": round(answered_at - started, 1),
        "agent_cpu_s": round(after["cpu_s"] - before["cpu_s"], 2),
        "rss_mb_before": round(before["rss_mb"], 1),
        "rss_mb_after": round(after["rss_mb"], 1),
        "rss_mb_settled": round(settled["rss_mb"], 1),
        "bytes_written": after["write_bytes"] - before["write_bytes"],
        "longest_heartbeat_gap_s": round(gap, 1),
        "heartbeat_interval_s": heartbeat_s,
        "broker_disconnects": log.count("disconnected from broker"),
        "reconnect_count_in_health": health.get("broker_connection", {}).get("reconnect_count"),
        "executions_in_lockout_window": executions,
        "lockout_max": 3,
        "same_agent_process": still_alive,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--heartbeat-s", type=float, default=2.0)
    parser.add_argument("--agent-root", help="run the agent package found in this directory instead")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.commands < 1:
        parser.error("--commands must be at least 1")
    with tempfile.TemporaryDirectory(prefix="agent-flood-") as workdir:
        os.chmod(workdir, 0o700)
        figures = run(args.commands, workdir, agent_root=args.agent_root, heartbeat_s=args.heartbeat_s)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
