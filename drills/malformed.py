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
"""

import time
from collections import Counter

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from infoscreen_sim.controller import SimController

from . import payload_fuzz
from .kit import agent_log, crashes, running_fleet, wait_until
from .report import Goal, Row

NAME = "malformed input"
BATCH = 80  # below mosquitto's per-client queue (mqtt_broker_max_queued_messages: 100)
SENTINEL_TIMEOUT_S = 60


def sentinel(client_uuid):
    cmd = contract.make_command(client_uuid, "restart_app")
    cmd["action"] = "drill_sentinel"
    return cmd


def run(ctx):
    total = ctx.pick(2000, 10000)
    targets = 2
    rng = payload_fuzz.new_rng(ctx.seed)
    with running_fleet(ctx, "malformed", targets + 1, boot_time="fixed:50") as fleet:
        names = sorted(fleet.clients)
        bystander, targets = names[-1], names[:targets]
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
        after = fleet.status()
        logs = {n: agent_log(fleet, n) for n in names}
        executions = sum(sum(log.executions.values()) for log in logs.values())
        probe_runs = sum(alive.values())  # each successful probe is one legitimate execution
        wrong_runs = executions - probe_runs
        boots = sum(after[n]["boots"] - before[n]["boots"] for n in names)
        crashed = crashes(before, after)
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
    ]
