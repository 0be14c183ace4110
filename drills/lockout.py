"""Lockout: reboot-class commands beyond 3 per 15 min that reach a client (goal 0).

Controller layer: six rounds, each two waves at once (two plays sharing one ledger, as two
ansible-playbook runs would), alternating restart_app and reboot_host, all through the real
wave driver against real agents. Before the rounds one client gets a PoE cycle recorded in
the ledger (poe_cycle counts toward the same limit), so it may receive only 2 commands.
"Reaching a client" is counted at the client: every command_id in the agent's own store
(it records every command it receives, also rejected ones) and, independently, by a
subscriber on all command topics. Everything happens inside one 15-minute window.

Client layer (defence in depth, when a command bypasses the controller's ledger, e.g. a
second controller with its own ledger): six restart_app commands published straight to one
client; executions beyond 3 (the agent's own lockout, [agent] lockout_max) - goal 0.
"""

import threading
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave
from fixtures.controller import CommandSpy
from infoscreen_agent.store import read_entries
from infoscreen_sim.controller import SimController

from .kit import agent_log, hosts, mqtt_params, running_fleet
from .report import Goal, Row

NAME = "lockout"
LIMIT = 3
ROUNDS = 6


def received_ids(fleet, name):
    return set(read_entries(str(fleet.clients[name].root / "state")))


def run(ctx):
    clients = ctx.pick(3, 6)
    work = ctx.dir("lockout")
    ledger_path = work / "ledger.sqlite3"
    with running_fleet(ctx, "lockout", clients + 1, boot_time="fixed:50") as fleet:
        names = sorted(fleet.clients)
        bypass, names = names[-1], names[:-1]
        poe_client = names[0]
        started = time.monotonic()
        spy = CommandSpy(fleet.manifest)
        try:
            with Ledger(str(ledger_path)) as ledger:
                row, _decision = ledger.reserve(fleet.clients[poe_client].client_uuid, "poe_cycle", host=poe_client,
                                                reason="drill: PoE cycle counts toward the lockout")
                ledger.record_transition(row["command_id"], "completed")
            blocked, sent = 0, 0
            for number in range(ROUNDS):
                action = ("restart_app", "reboot_host")[number % 2]
                waves = []

                def play(action, waves):
                    with Ledger(str(ledger_path)) as ledger:
                        waves.append(run_wave(hosts(fleet, names), WaveOptions(action, timeout_s=60), ledger,
                                              mqtt_params(fleet.manifest)))

                threads = [threading.Thread(target=play, args=(action, waves)) for _unused in range(2)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(120)
                for wave in waves:
                    blocked += sum(r["state"] == "blocked" for r in wave.results.values())
                    sent += wave.stats["published"]
                ctx.say(f"    round {number + 1} ({action} x2 plays): published so far {sent}, blocked {blocked}")
            time.sleep(1.0)
            reached = {n: received_ids(fleet, n) for n in names}
            spied = {n: {c["command_id"] for c in spy.for_client(fleet.clients[n].client_uuid)} for n in names}
        finally:
            spy.close()
        allowed = {n: LIMIT - (1 if n == poe_client else 0) for n in names}
        beyond = sum(max(0, len(reached[n]) - allowed[n]) for n in names)
        beyond_spy = sum(max(0, len(spied[n]) - allowed[n]) for n in names)
        # Client layer: straight to the agent, no ledger in the way.
        with SimController(fleet.manifest) as controller:
            bypass_uuid = fleet.clients[bypass].client_uuid
            for _unused in range(2 * LIMIT):
                cmd = controller.send(bypass_uuid, "restart_app")
                controller.wait_terminal([cmd["command_id"]], 30)
        bypass_runs = sum(agent_log(fleet, bypass).executions.values())
        window_s = time.monotonic() - started
    attempts = ROUNDS * 2 * len(names)
    note = (f"{attempts} command attempts ({ROUNDS} rounds x 2 concurrent plays x {len(names)} clients, one client "
            f"with a PoE cycle already in the ledger) in {window_s:.0f} s (< 15 min); published {sent}, blocked "
            f"{blocked}; commands that reached each client (agent store): "
            f"{', '.join(str(len(reached[n])) for n in names)}; seen on the wire: "
            f"{', '.join(str(len(spied[n])) for n in names)}")
    return [
        Row(NAME, "reboot-class commands beyond 3 per 15 min that reached a client (controller)", beyond,
            goal=Goal("==", 0), note=note),
        Row(NAME, "same, counted on the wire (subscriber on every command topic)", beyond_spy, goal=Goal("==", 0)),
        Row(NAME, "commands that reached clients (evidence the limit was reached, not avoided)",
            sum(len(v) for v in reached.values()), goal=Goal(">=", sum(allowed.values()))),
        Row(NAME, "executions beyond 3 per 15 min when the ledger is bypassed (agent's own lockout)",
            max(0, bypass_runs - LIMIT), goal=Goal("==", 0),
            note=f"{2 * LIMIT} restart_app published straight to one agent: it ran {bypass_runs}"),
    ]
