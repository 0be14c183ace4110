"""The malformed-input drill's in-process mode: the agent's real message handler, no MQTT.

One real ``Agent`` (real ``StateStore`` on disk in a scratch dir, the real ``sim`` power
backend writing power requests, default lockout 3 per 15 min, default dedupe store of 2,000
entries) is driven directly: ``handle_command`` for each payload (as the handler thread
does), then what the main thread does (execute queued commands, PUBACKs, timers). The broker
is replaced by a stand-in that PUBACKs every publish at once.

Payloads: ``payloads`` random and mutated payloads from payload_fuzz (none could be a valid
current command), with one fresh valid command every ``VALID_EVERY`` payloads, some marked
retained; then ``duplicates`` re-deliveries of payloads already handled (valid ones
included, command_id case flipped at random, some retained).

Counted: exceptions escaping the handler or the main-thread steps (goal 0); executions
beyond the rules (goal 0): a payload could_execute() refuses, a retained delivery, a
command_id run twice, or more than lockout_max runs in the lockout window.

    python -m drills.handler_drill --payloads 1000000 --duplicates 100000
"""

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

from . import payload_fuzz

VALID_EVERY = 997
CHUNK = 5000
OWN = "5dca32b5-e6da-4f2e-b990-61f4d2cfb54c"
OTHER = "ebe041bd-1ce9-4b5c-b760-6854193d8720"


class _Info:
    def __init__(self, mid):
        self.mid = mid
        self.rc = 0

    def wait_for_publish(self, timeout=None):
        return True


class InstantBroker:
    """Stands in for paho: every publish is PUBACKed at once; keeps only counts."""

    def __init__(self):
        self.agent = None
        self.acks = 0
        self.watch = set()  # command_ids whose failed codes are kept
        self.codes = {}  # command_id -> error codes of its failed acks
        self._mids = itertools.count(1)

    def publish(self, topic, payload, qos=0, retain=False):
        info = _Info(next(self._mids))
        if "/ack" in topic:
            self.acks += 1
            if topic.endswith("/commands/ack") and self.watch:
                ack = json.loads(payload)
                if ack["command_id"].lower() in self.watch and ack["error_code"]:
                    self.codes.setdefault(ack["command_id"].lower(), set()).add(ack["error_code"])
        if self.agent is not None and qos:
            self.agent._on_publish(self, None, info.mid)
        return info

    def subscribe(self, topic, qos=0):
        return (0, 1)

    def is_connected(self):
        return True


def _config(workdir):
    from infoscreen_agent.config import load  # noqa: PLC0415

    run = Path(workdir) / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "boot_id").write_text("drill-boot\n")
    ini = Path(workdir) / "agent.ini"
    ini.write_text(f"[mqtt]\nhost = 127.0.0.1\nusername = {OWN}\npassword = drill\n"
                   f"[agent]\nclient_uuid = {OWN}\nstate_dir = {Path(workdir) / 'state'}\n"
                   f"boot_id_path = {run / 'boot_id'}\n")
    (run / "app_state").write_text("running\n")
    return load(str(ini))


def _main_steps(agent):
    while True:
        agent._check_pending()
        if agent._work.empty():
            return
        kind, item = agent._work.get()
        if kind == "command":
            agent._queued -= 1
            agent._execute(item)
        elif kind == "puback":
            agent._handle_puback(item)
        elif kind == "health":
            agent.publish_health()


def run_in_process(payloads, duplicates, seed=9, workdir=None, say=print):
    """Drive the real handler; return the figures (see the module docstring)."""
    import logging  # noqa: PLC0415

    from infoscreen_agent.agent import Agent  # noqa: PLC0415
    from infoscreen_sim.sim_power import SimPowerBackend  # noqa: PLC0415

    logging.getLogger("infoscreen_agent").setLevel(logging.CRITICAL)  # a million warnings say nothing
    own_dir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="handler-drill-"))
    config = _config(workdir)
    run_dir = Path(workdir) / "run"
    backend = SimPowerBackend(run_dir / "power-request.json", run_dir / "app_state", config.boot_id_path)
    runs = []  # (monotonic, wall, command_id, retained)
    real_invoke = backend.invoke
    current = {"retained": False}

    def counting_invoke(action, command_id):
        runs.append((time.monotonic(), time.time(), command_id.lower(), current["retained"]))
        real_invoke(action, command_id)
        if action != "restart_app":  # the sim supervisor would reboot; here the request is only counted
            os.unlink(backend.request_path)

    backend.invoke = counting_invoke
    broker = InstantBroker()
    agent = Agent(config, client=broker, backend=backend)
    broker.agent = agent
    rng = payload_fuzz.new_rng(seed)
    escaped, escaped_example = 0, None
    allowed = set()  # command_ids that may run (valid, current, not retained)
    handled = []  # a sample of what was handled, for the duplicate deliveries
    results = {}
    started = time.monotonic()

    def deliver(body, retained):
        nonlocal escaped, escaped_example
        current["retained"] = retained
        try:
            outcome = agent.handle_command(body, retained=retained)
            results[outcome] = results.get(outcome, 0) + 1
            _main_steps(agent)
        except Exception:  # the drill's whole point: count, never stop
            escaped += 1
            escaped_example = escaped_example or traceback.format_exc(limit=3)
        current["retained"] = False

    sent = 0
    while sent < payloads:
        now = contract.utcnow()
        batch, _replaced = payload_fuzz.generate(rng, OWN, OTHER, min(CHUNK, payloads - sent), now=now)
        for index, (_kind, body) in enumerate(batch):
            if (sent + index) % VALID_EVERY == 0:
                cmd = payload_fuzz.valid_command(rng, OWN, contract.utcnow())
                # restart_app completes at once here (no supervisor to reboot the sim client),
                # so the lockout, not "busy", is what limits the executions.
                cmd["action"] = "restart_app"
                retained = rng.random() < 0.2
                if not retained:
                    allowed.add(cmd["command_id"].lower())
                    broker.watch.add(cmd["command_id"].lower())
                deliver(json.dumps(cmd).encode(), retained)
            deliver(body, rng.random() < 0.05)
            if len(handled) < 50000:
                handled.append(body)
            elif rng.random() < 0.01:
                handled[rng.randrange(50000)] = body
        sent += len(batch)
        agent.store.flush()
        if sent % 100000 < CHUNK:
            say(f"    in-process: {sent:,} payloads, {time.monotonic() - started:.0f} s")
    for _duplicate in range(duplicates):
        body = rng.choice(handled)
        if rng.random() < 0.3:
            try:
                cmd = json.loads(body)
                if isinstance(cmd, dict) and isinstance(cmd.get("command_id"), str):
                    cmd["command_id"] = cmd["command_id"].upper()
                    body = json.dumps(cmd).encode()
            except (ValueError, RecursionError, UnicodeDecodeError):
                pass
        deliver(body, rng.random() < 0.1)
    seconds = time.monotonic() - started
    agent.store.close()
    ids = [cid for _m, _w, cid, _r in runs]
    twice = len(ids) - len(set(ids))
    not_allowed = sum(1 for cid in ids if cid not in allowed)
    retained_runs = sum(1 for *_x, retained in runs if retained)
    window = config.lockout_window_s
    walls = sorted(w for _m, w, _c, _r in runs)
    worst_window = max((sum(1 for v in walls if w <= v < w + window) for w in walls), default=0)
    beyond = twice + not_allowed + retained_runs + max(0, worst_window - config.lockout_max)
    # A fresh, valid, unique command is never "forgotten": state_lost for one is a false refusal.
    wrongly_lost = sum(1 for codes in broker.codes.values() if "state_lost" in codes)
    figures = {"payloads": payloads, "valid_sent": len(allowed), "duplicates": duplicates, "seconds": round(seconds, 1),
               "rate_per_s": round((payloads + duplicates) / max(seconds, 0.001)), "exceptions": escaped,
               "executions": len(runs), "beyond_rules": beyond, "valid_refused_state_lost": wrongly_lost,
               "twice": twice, "not_allowed": not_allowed,
               "retained_runs": retained_runs, "max_in_window": worst_window, "lockout_max": config.lockout_max,
               "store_entries": len(agent.store), "outcomes": results, "exception_example": escaped_example,
               "state_bytes": sum(p.stat().st_size for p in (workdir / "state").iterdir())}
    if own_dir:
        import shutil  # noqa: PLC0415

        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def rows(figures):
    from .report import Goal, Row  # noqa: PLC0415

    name = "malformed input"
    note = (f"{figures['payloads']:,} payloads + {figures['duplicates']:,} duplicate deliveries in "
            f"{figures['seconds']:.0f} s ({figures['rate_per_s']:,}/s) through the real handler and store, sim "
            f"backend, no MQTT; {figures['valid_sent']} valid commands mixed in, {figures['executions']} executed "
            f"(lockout {figures['lockout_max']}/15 min); outcomes {figures['outcomes']}; store "
            f"{figures['store_entries']} entries, {figures['state_bytes']:,} bytes on disk")
    return [
        Row(name, f"in-process: exceptions escaping the handler ({figures['payloads']:,} + "
                  f"{figures['duplicates']:,} duplicates)", figures["exceptions"], goal=Goal("==", 0), note=note),
        Row(name, "in-process: executions beyond the rules (lockout, dedupe, retained, invalid)",
            figures["beyond_rules"], goal=Goal("==", 0),
            note=f"run twice {figures['twice']}, not allowed {figures['not_allowed']}, retained "
                 f"{figures['retained_runs']}, most in one lockout window {figures['max_in_window']}"),
        Row(name, "in-process: fresh valid commands wrongly refused as state_lost",
            figures["valid_refused_state_lost"], goal=Goal("==", 0),
            note="the dedupe horizon must not move ahead of new commands (refused future-dated ones are capped)"),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=1_000_000)
    parser.add_argument("--duplicates", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args(argv)
    figures = run_in_process(args.payloads, args.duplicates, args.seed)
    print(json.dumps(figures, indent=1))
    ok = figures["exceptions"] == 0 and figures["beyond_rules"] == 0 and figures["valid_refused_state_lost"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
