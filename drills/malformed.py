"""Malformed input: thousands of random and mutated payloads at real agents over MQTT.

Payloads come from payload_fuzz (seeded; any candidate that could be a valid, current
command for the target is replaced, so no execution is ever legitimate). They are published
as the controller account, QoS 1, alternating the canonical and the transitional command
topic. The broker queues at most 100 messages per client, so they go in batches of 80, each
followed by a sentinel (a command with an unsupported action): its failed ack proves the
agent has worked through the batch before the next one is sent.

Crashes: agent processes that died (the fleet restarts them; a restart not caused by a
simulated boot is a crash). Executions: helper invocations in the agent log, simulated
boots, power requests. At the end each agent must still execute one valid command.

Issue 13 adds three parts:
- wrong-shape state files: for each case in ``STATE_CASES`` a fourth agent gets the file
  written into its state dir and is killed; the restarted agent must not crash again, must
  report the file in health (``agent_state.state_problems``) and must complete a valid probe;
- the flood: ``bench/agent_flood.py`` (one agent, distinct valid commands, default lockout):
  executions inside the lockout window, the longest heartbeat gap, RSS after the flood;
- the in-process mode (drills/handler_drill.py): the real handler and store without MQTT.
"""

import importlib.util
import json
import signal
import time
from collections import Counter
from pathlib import Path

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from infoscreen_sim.controller import SimController

from . import handler_drill, payload_fuzz
from .kit import agent_log, crashes, running_fleet, wait_until
from .report import Goal, Row

NAME = "malformed input"
BATCH = 80  # below mosquitto's per-client queue (mqtt_broker_max_queued_messages: 100)
SENTINEL_TIMEOUT_S = 60


_CID = "0f0e0d0c-0b0a-4908-8706-050403020100"
_PENDING = {"command_id": _CID, "action": "reboot_host", "boot_id": "b", "invoked_at": 1.0, "deadline_at": 2.0,
            "phase": "invoking", "terminal": None}
STATE_CASES = {
    "commands.json": [1, 2, 3],
    "commands.meta.json": {"format": 2, "trusted_since": "x", "horizon": 0, "executions": []},
    "commands.journal": "garbage\n",
    "pending.json": dict(_PENDING, action="format_disk"),
}
STATE_CASES_EXTRA = {  # several files per restart, full size only
    "pending.json": dict(_PENDING, deadline_at="soon", terminal="completed"),
    "commands.json": {_CID: {"action": "reboot_host", "seen_at": "yesterday", "status": "completed"}},
}


def _load_flood_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "agent_flood.py"
    spec = importlib.util.spec_from_file_location("agent_flood", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wrong_shape_state(ctx, fleet, controller, name):
    """Write each wrong-shaped state file, kill the agent, and check the restarted one serves."""
    client = fleet.clients[name]
    # This client's own lockout is off (layered config), so every probe may run.
    client.role_config_path.parent.mkdir(parents=True, exist_ok=True)
    client.role_config_path.write_text("[agent]\nlockout_max = 0\n")
    cases = list(STATE_CASES.items()) + (list(STATE_CASES_EXTRA.items()) if not ctx.quick else [])
    reported, served, pid = 0, 0, fleet.status()[name]["pid"]
    for file_name, content in cases:
        text = content if isinstance(content, str) else json.dumps(content)
        (client.state_dir / file_name).write_text(text)
        fleet.signal_agent(name, signal.SIGKILL)
        wait_until(lambda p=pid: fleet.status()[name]["pid"] not in (None, p), 30)
        pid = fleet.status()[name]["pid"]
        controller.health.pop(client.client_uuid, None)
        health = wait_until(lambda: controller.health.get(client.client_uuid), 30) or {}
        problems = (health.get("agent_state") or {}).get("state_problems") or []
        reported += any(file_name in p for p in problems)
        probe = controller.send(client.client_uuid, "restart_app")
        done = controller.wait_terminal([probe["command_id"]], 30)[probe["command_id"]]
        served += bool(done and done["status"] == "completed")
    return len(cases), reported, served


def sentinel(client_uuid):
    cmd = contract.make_command(client_uuid, "restart_app")
    cmd["action"] = "drill_sentinel"
    return cmd


def run(ctx):
    total = ctx.pick(2000, 10000)
    targets = 2
    rng = payload_fuzz.new_rng(ctx.seed)
    with running_fleet(ctx, "malformed", targets + 2, boot_time="fixed:50") as fleet:
        names = sorted(fleet.clients)
        bystander, shape, targets = names[-1], names[-2], names[:targets]
        uuid_of = {n: fleet.clients[n].client_uuid for n in names}
        plan = {}
        replaced = 0
        for name in targets:
            plan[name], dropped = payload_fuzz.generate(rng, uuid_of[name], uuid_of[bystander], total // len(targets))
            replaced += dropped
        before = fleet.status()
        sent, unanswered, kinds = 0, 0, set()
        started = time.monotonic()
        with SimController(fleet.manifest) as controller:
            for offset in range(0, max(len(p) for p in plan.values()), BATCH):
                marks = {}
                for name in targets:
                    for index, (kind, body) in enumerate(plan[name][offset:offset + BATCH]):
                        controller.publish_raw(uuid_of[name], body, transitional=bool(index % 2))
                        kinds.add(kind.split(":")[0] if not kind.startswith("mutated") else kind.split("+")[0])
                        sent += 1
                    marks[name] = sentinel(uuid_of[name])
                    controller.publish_raw(uuid_of[name], marks[name])
                for name, mark in marks.items():
                    if not controller.wait_for(lambda m=mark: controller.terminal(m["command_id"]), SENTINEL_TIMEOUT_S):
                        unanswered += 1
                        ctx.say(f"    {name}: no ack for the sentinel after {sent} payloads")
                if offset and offset % 1000 < BATCH:
                    ctx.say(f"    {sent} payloads sent, {time.monotonic() - started:.0f} s")
            seconds = time.monotonic() - started
            alive = {}
            for name in targets:
                probe = controller.send(uuid_of[name], "restart_app")
                done = controller.wait_terminal([probe["command_id"]], 60)[probe["command_id"]]
                alive[name] = bool(done and done["status"] == "completed")
            before_shape = fleet.status()[shape]
            cases, reported, served = wrong_shape_state(ctx, fleet, controller, shape)
            after_shape = fleet.status()[shape]
        after = fleet.status()
        logs = {n: agent_log(fleet, n) for n in names}
        executions = sum(sum(log.executions.values()) for n, log in logs.items() if n != shape)
        probe_runs = sum(alive.values())  # each successful probe is one legitimate execution
        wrong_runs = executions - probe_runs
        boots = sum(after[n]["boots"] - before[n]["boots"] for n in names if n != shape)
        crashed = crashes({n: before[n] for n in names if n != shape}, {n: after[n] for n in names if n != shape})
        # The shape client's agent was killed once per case on purpose; any start beyond is a crash.
        shape_crashes = max(0, after_shape["agent_starts"] - before_shape["agent_starts"] - cases)
        handled = sum(log.dropped + sum(log.rejections.values()) + sum(log.duplicates.values())
                      for log in logs.values())
        handler_errors = sum(log.handler_errors for log in logs.values())
        still_up = wait_until(lambda: all(fleet.status()[n]["healthy"] for n in names), 10)
    rejections = sum((logs[n].rejections for n in targets), Counter())
    note = (f"{sent} payloads + {sent // BATCH + 1} sentinels to {len(targets)} agents in {seconds:.0f} s "
            f"({sent / max(seconds, 0.001):.0f}/s), both command topics; {replaced} generated candidates replaced "
            f"because they could have been valid; agents logged {handled} drops/rejections (by code: "
            f"{dict(rejections.most_common(6))}); {handler_errors} handler exceptions caught; "
            f"unanswered sentinels {unanswered}; valid probe afterwards completed on {probe_runs}/{len(targets)}; "
            f"all agents healthy at the end: {bool(still_up)}")
    return [
        Row(NAME, f"agent crashes ({sent:,} random/mutated payloads over MQTT)", crashed, goal=Goal("==", 0),
            note=note, extra={"kinds": sorted(kinds)}),
        Row(NAME, "executions caused by malformed payloads", wrong_runs + boots, goal=Goal("==", 0),
            note=f"helper runs beyond the {probe_runs} valid probes: {wrong_runs}; simulated boots: {boots}"),
        Row(NAME, "payloads sent", sent, goal=Goal(">=", ctx.pick(2000, 10000))),
        Row(NAME, "agents still executing a valid command afterwards", probe_runs, goal=Goal(">=", len(targets))),
        Row(NAME, f"wrong-shape state files: agent crashes after the restart ({cases} cases)", shape_crashes,
            goal=Goal("==", 0), note=f"files: {', '.join(sorted({f for f, _c in STATE_CASES.items()}))}; "
                                     f"reported in health {reported}/{cases}"),
        Row(NAME, "wrong-shape state files: restarted agent completed a valid probe", served, goal=Goal(">=", cases)),
        Row(NAME, "wrong-shape state files: reported in health (agent_state.state_problems)", reported,
            goal=Goal(">=", cases)),
    ] + flood_rows(ctx) + handler_drill.rows(handler_drill.run_in_process(
        ctx.pick(20000, 200000), ctx.pick(2000, 20000), ctx.seed, workdir=ctx.dir("malformed-in-process"),
        say=ctx.say))


def flood_rows(ctx):
    """bench/agent_flood.py at drill size: the lockout and the heartbeats under a flood."""
    bench = _load_flood_bench()
    commands = ctx.pick(1000, 5000)
    figures = bench.run(commands, ctx.dir("malformed-flood"), say=ctx.say)
    note = (f"{commands:,} distinct valid restart_app commands at one agent in {figures['flood_seconds']} s; agent CPU "
            f"{figures['agent_cpu_s']} s, RSS {figures['rss_mb_before']} -> {figures['rss_mb_after']} MB, "
            f"{figures['bytes_written']:,} bytes written, broker disconnects {figures['broker_disconnects']}")
    return [
        Row(NAME, f"flood: executions in one lockout window ({commands:,} commands, limit 3)",
            figures["executions_in_lockout_window"], goal=Goal("<=", 3), note=note),
        Row(NAME, f"flood: longest heartbeat gap (interval {figures['heartbeat_interval_s']:g} s)",
            figures["longest_heartbeat_gap_s"], unit="s", goal=Goal("<=", 3 * figures["heartbeat_interval_s"])),
        Row(NAME, "flood: agent RSS after the flood", figures["rss_mb_after"], unit="MB", goal=Goal("<=", 35)),
    ]
