"""Duplicate deliveries: every way a command can arrive twice, and the executions it caused.

Per client, against real agents (their own lockout off, so it cannot hide a second run):
1. both topics: the real wave driver publishes reboot_host on the canonical topic and the
   transitional alias (``transitional_topic``), so the agent receives it twice;
2. replay after reboot: once the client is back with a new boot id, the very same payload
   is published again, three times on each topic;
3. QoS 1 redelivery by the broker: after a restart_app wave completed, the agent is frozen
   (SIGSTOP), the same command is published on both topics (the broker hands it to the
   frozen agent's socket and waits for a PUBACK that never comes), the frozen agent is
   killed and the fleet restarts it; the broker then redelivers the unacknowledged copies
   to the persistent session (DUP flag set).
Executions are counted from the agent's log ("executing ... for command ID"); a double
execution is any run of a command_id beyond its first. Deliveries of duplicates are counted
the same way ("duplicate command ID: re-announcing"), so the drill proves the duplicates
really arrived instead of assuming it.
"""

import os
import signal
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave
from infoscreen_sim.controller import SimController

from .kit import agent_log, hosts, mqtt_params, running_fleet, wait_until
from .report import Goal, Row

NAME = "duplicate deliveries"
REPLAYS_PER_TOPIC = 3


def _wave(fleet, ledger_path, action, transitional):
    options = WaveOptions(action, timeout_s=90, transitional_topic=transitional, lockout_limit=100, cooldown_s=0)
    with Ledger(str(ledger_path)) as ledger:
        wave = run_wave(hosts(fleet), options, ledger, mqtt_params(fleet.manifest))
        payloads = {c["host"]: c["payload"] for c in ledger.commands(wave_id=wave.wave_id, limit=10000,
                                                                     with_transitions=False)}
    return wave, payloads


def _publish_both(controller, client_uuid, payload, times):
    for _unused in range(times):
        controller.publish_raw(client_uuid, payload)
        controller.publish_raw(client_uuid, payload, transitional=True)


def _freeze_publish_kill(ctx, fleet, controller, name, payload):
    """Leave two QoS 1 copies unacknowledged in the agent's session, then crash the agent."""
    client = fleet.clients[name]
    pid = client.proc.pid
    starts = fleet.status()[name]["agent_starts"]
    os.kill(pid, signal.SIGSTOP)
    try:
        _publish_both(controller, client.client_uuid, payload, 1)
        time.sleep(0.5)  # the broker writes both copies to the frozen agent's socket
    finally:
        os.kill(pid, signal.SIGKILL)  # also ends a stopped process
    restarted = wait_until(lambda: fleet.status()[name]["agent_starts"] > starts
                           and fleet.status()[name]["healthy"], 60, 0.1)
    if not restarted:
        ctx.say(f"    {name}: agent not back within 60 s after the kill")
    return bool(restarted)


def run(ctx):
    clients = ctx.pick(3, 8)
    work = ctx.dir("duplicates")
    with running_fleet(ctx, "duplicates", clients, boot_time="fixed:100",
                       agent_options={"agent.lockout_max": 0}) as fleet:
        boots = {n: s["boots"] for n, s in fleet.status().items()}
        names = sorted(fleet.clients)
        ctx.say(f"  1. reboot_host wave on both command topics ({clients} clients)")
        reboot_wave, reboot_payloads = _wave(fleet, work / "ledger-reboot.sqlite3", "reboot_host", True)
        rebooted_ok = sum(r["state"] == "completed" for r in reboot_wave.results.values())
        with SimController(fleet.manifest) as controller:
            ctx.say(f"  2. replaying each reboot command {REPLAYS_PER_TOPIC}x per topic after the reboot")
            for name in names:
                _publish_both(controller, fleet.clients[name].client_uuid, reboot_payloads[name], REPLAYS_PER_TOPIC)
            expected_replays = 2 * REPLAYS_PER_TOPIC

            def replays_seen():
                return all(agent_log(fleet, n).duplicates.get(reboot_payloads[n]["command_id"], 0)
                           >= 1 + expected_replays for n in names)

            wait_until(replays_seen, 30, 0.2)
            ctx.say("  3. restart_app wave, then broker redelivery of unacknowledged copies to a crashed agent")
            app_wave, app_payloads = _wave(fleet, work / "ledger-app.sqlite3", "restart_app", False)
            restarted = sum(_freeze_publish_kill(ctx, fleet, controller, name, app_payloads[name]) for name in names)

            def redeliveries_seen():
                return all(agent_log(fleet, n).duplicates.get(app_payloads[n]["command_id"], 0) >= 1 for n in names)

            wait_until(redeliveries_seen, 30, 0.2)
        time.sleep(1.0)  # a second execution, if any, would show up in the log by now
        status = fleet.status()
        double, dup_reboot, dup_app, extra_boots = 0, 0, 0, 0
        for name in names:
            log = agent_log(fleet, name)
            double += sum(max(0, count - 1) for count in log.executions.values())
            dup_reboot += log.duplicates.get(reboot_payloads[name]["command_id"], 0)
            dup_app += log.duplicates.get(app_payloads[name]["command_id"], 0)
            extra_boots += max(0, status[name]["boots"] - boots[name] - 1)
        app_ok = sum(r["state"] == "completed" for r in app_wave.results.values())
    note = (f"reboot wave {rebooted_ok}/{clients} completed, restart_app wave {app_ok}/{clients}; duplicate copies "
            f"that reached agents: reboot command {dup_reboot} (both topics + {2 * REPLAYS_PER_TOPIC} replays each), "
            f"restart_app command {dup_app} (broker redelivery after SIGSTOP+SIGKILL, {restarted}/{clients} agents "
            f"restarted); reboots beyond one per client: {extra_boots}")
    return [
        Row(NAME, f"double executions ({clients} clients, both topics, replays after reboot, QoS 1 redelivery)",
            double, goal=Goal("==", 0), note=note),
        Row(NAME, "extra reboots (boot count beyond one per client)", extra_boots, goal=Goal("==", 0)),
        Row(NAME, "duplicate copies delivered to agents (evidence the duplicates arrived)", dup_reboot + dup_app,
            goal=Goal(">=", clients * (1 + 2 * REPLAYS_PER_TOPIC) + clients),
            note="at least: 1 alias copy + replays per reboot command, 1 redelivered copy per restart_app command"),
    ]
