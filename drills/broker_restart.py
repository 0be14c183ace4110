"""Broker restart in the middle of a reboot wave: acks lost (goal 0).

A wave of reboot_host (the real wave driver, one persistent MQTT v5 session) goes to real
agents whose simulated boot takes 5 s. Once every command is execution_started, mosquitto
is restarted on the same port: SIGTERM (a service restart; it saves its sessions) and, in a
second round, SIGKILL (a crash; only what autosave had written survives); in a third round
it is stopped for 8 s, longer than the clients' reboot, so they come back to no broker. An ack is lost
when the agent decided an outcome (its own state file says completed/failed) but the
controller's result for that command is not that outcome.
"""

import threading
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave
from infoscreen_agent.store import read_entries

from .kit import hosts, mqtt_params, running_fleet, wait_until
from .report import Goal, Row

NAME = "broker restart"
BOOT = "fixed:250"  # x 0.02 time scale = 5 s down per reboot: the restart lands inside it
OUTAGE_S = 8.0
ROUNDS = (("SIGTERM", False), ("SIGKILL", True), (f"stopped {OUTAGE_S:g} s", "outage"))


def agent_outcome(fleet, name, command_id):
    """What the agent itself recorded for a command (its dedupe store), or None."""
    entry = read_entries(str(fleet.clients[name].root / "state")).get(command_id)
    return entry.get("status") if entry else None


def one_round(ctx, fleet, ledger_path, kill):
    boots = {n: s["boots"] for n, s in fleet.status().items()}
    outcome = {}
    # No lockout or cooldown here: this drill is about acks, and it reboots each client twice.
    options = WaveOptions("reboot_host", timeout_s=120, progress_interval_s=10, lockout_limit=100, cooldown_s=0)

    def drive():
        with Ledger(str(ledger_path)) as ledger:
            outcome["wave"] = run_wave(hosts(fleet), options, ledger, mqtt_params(fleet.manifest),
                                       progress=lambda line: ctx.say("    " + line))

    thread = threading.Thread(target=drive, name="drill-wave")
    thread.start()

    def all_started():
        with Ledger(str(ledger_path)) as ledger:
            rows = ledger.commands(since_s=600, with_transitions=False, limit=10000)
        return sum(1 for r in rows if r["state"] == "execution_started") >= len(fleet.clients)

    started = wait_until(all_started, 60, 0.05)
    restart_at = time.monotonic()
    if kill == "outage":  # down longer than a boot: clients come back to no broker at all
        fleet.broker.stop()
        time.sleep(OUTAGE_S)
        fleet.broker.start()
    else:
        fleet.broker.restart(kill=kill)
    ctx.say(f"    broker back after {time.monotonic() - restart_at:.2f} s with {'all' if started else 'NOT all'} "
            "commands execution_started")
    thread.join(180)
    if thread.is_alive() or "wave" not in outcome:
        raise RuntimeError("the wave did not finish within 180 s of the broker restart")
    wave = outcome["wave"]
    # Give agents that decided an outcome just before the wave's end a moment to persist it.
    time.sleep(1.0)
    lost, decided, completed = 0, 0, 0
    details = []
    for name, result in wave.results.items():
        agent_said = agent_outcome(fleet, name, result["command_id"])
        if agent_said in ("completed", "failed"):
            decided += 1
            if result["state"] != agent_said:
                lost += 1
                details.append(f"{name}: agent {agent_said}, controller {result['state']}")
        completed += result["state"] == "completed"
    rebooted = sum(1 for n, s in fleet.status().items() if s["boots"] == boots[n] + 1)
    return {"lost": lost, "decided": decided, "completed": completed, "rebooted": rebooted, "started": bool(started),
            "reconnects": wave.stats["reconnects"], "wall_s": wave.timing.get("wall_s"), "details": details[:10]}


def run(ctx):
    clients = ctx.pick(4, 12)
    rows = []
    with running_fleet(ctx, "broker-restart", clients, boot_time=BOOT, agent_options={"agent.lockout_max": 0}) as fleet:
        for label, kill in ROUNDS:
            ctx.say(f"  round {label}: wave of {clients} reboot_host, broker restarted mid-wave")
            ledger_path = ctx.dir("broker-restart") / f"ledger-{label.split()[0]}.sqlite3"
            result = one_round(ctx, fleet, ledger_path, kill)
            note = (f"{result['decided']} outcomes decided by agents, {result['completed']}/{clients} completed at the "
                    f"controller, {result['rebooted']} rebooted once, controller reconnects {result['reconnects']}, "
                    f"wave {result['wall_s']} s")
            if result["details"]:
                note += "; lost: " + "; ".join(result["details"])
            rows.append(Row(NAME, f"acks lost, broker {label} mid-wave ({clients} clients)", result["lost"],
                            goal=Goal("==", 0), note=note, extra=result))
            rows.append(Row(NAME, f"commands completed after broker {label}", result["completed"],
                            goal=Goal(">=", clients), note="every client rebooted and said so"))
    return rows
