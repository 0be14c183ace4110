"""What several drills share: the run context, fleet start-up, and counting from agent logs.

Counting from the agents' own logs is deliberate: the agent writes one line per helper
invocation ("executing ACTION for command ID") and one per duplicate it re-announces, to a
log file the simulated fleet keeps across agent restarts and simulated reboots. That is the
client-side truth a drill needs ("how many times did it run?"), independent of what the
controller believes.
"""

import re
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from infoscreen_sim.fleet import Fleet

_EXECUTING = re.compile(r"executing (\w+) for command ([0-9a-fA-F-]{36})")
_DUPLICATE = re.compile(r"duplicate command ([0-9a-fA-F-]{36})")
_REJECTED = re.compile(r"rejected command ([0-9a-fA-F-]{36}): (\w+)")


class Context:
    """Options of one runner invocation and where the drills put their scratch files."""

    def __init__(self, workdir, *, quick=False, seed=9, sizes=None, say=print):
        self.workdir = Path(workdir)
        self.quick = quick
        self.seed = seed
        self.sizes = sizes
        self.say = say

    def pick(self, quick, full):
        return quick if self.quick else full

    def dir(self, name):
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def mqtt_params(manifest, keepalive=5):
    """Controller connection options (the plugins' mqtt_* names) for a fleet manifest."""
    return {"mqtt_host": manifest["broker"]["host"], "mqtt_port": manifest["broker"]["port"],
            "mqtt_username": manifest["controller"]["username"],
            "mqtt_password": manifest["controller"]["password"], "mqtt_tls": False, "mqtt_ca_cert": None,
            "mqtt_keepalive": keepalive}


# Drills run many commands against few clients in minutes: fast simulated boots, frequent
# heartbeats, quick reconnects. The agents' own lockout is set per drill.
FAST_AGENT_OPTIONS = {"agent.heartbeat_interval_s": 2, "agent.health_interval_s": 5, "mqtt.reconnect_max_s": 2}


@contextmanager
def running_fleet(ctx, name, clients, *, agent_options=None, **kwargs):
    """A started simulated fleet of real agents under ctx.workdir/name; always stopped."""
    options = dict(FAST_AGENT_OPTIONS, **(agent_options or {}))
    kwargs.setdefault("time_scale", 0.02)
    kwargs.setdefault("seed", ctx.seed)
    fleet = Fleet(ctx.dir(name) / "fleet", clients=clients, agent_options=options, **kwargs)
    started = time.monotonic()
    fleet.start(wait=True, timeout=max(120.0, 3.0 * clients))
    ctx.say(f"  fleet of {clients} agents ready in {time.monotonic() - started:.1f} s")
    try:
        yield fleet
    finally:
        fleet.stop()


def hosts(fleet, names=None):
    return [(name, fleet.clients[name].client_uuid) for name in (names or sorted(fleet.clients))]


class AgentLog:
    """Counts from one simulated client's agent.log (all runs of the agent, appended)."""

    def __init__(self, path):
        try:
            text = Path(path).read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        self.executions = Counter(cid.lower() for _action, cid in _EXECUTING.findall(text))
        self.duplicates = Counter(cid.lower() for cid in _DUPLICATE.findall(text))
        self.rejections = Counter(code for _cid, code in _REJECTED.findall(text))
        self.dropped = text.count("dropped a command")
        self.handler_errors = text.count("unexpected error while handling")
        self.tracebacks = text.count("Traceback (most recent call last)")

    def executed(self, command_id):
        return self.executions.get(command_id.lower(), 0)


def agent_log(fleet, name):
    return AgentLog(fleet.clients[name].log_path)


def wait_until(predicate, timeout, interval=0.05):
    """Poll ``predicate`` until it is truthy or ``timeout`` seconds (monotonic) passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def crashes(before, after):
    """Agent processes that died unasked: starts beyond those caused by (simulated) boots."""
    total = 0
    for name, now in after.items():
        then = before[name]
        total += max(0, (now["agent_starts"] - then["agent_starts"]) - (now["boots"] - then["boots"]))
    return total
