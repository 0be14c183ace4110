"""The simulated fleet: a local broker and N simulated Pis running the real agent.

This module assembles the parts, each in its own file:

- sim_client.py: one simulated Pi (files, agent process through agent_runner.py, state);
- supervisor.py: the thread that plays every client's hardware (boots, power requests,
  faults, the PoE hook);
- monitor.py: the MQTT connection that sees which clients are up (heartbeat/health);
- config_writer.py: each client's agent.ini and the fleet manifest (manifest.py);
- fleet_cli.py: the command line, ``python -m infoscreen_sim.fleet up|down|status|power``.

    with Fleet(tmp_path / "fleet", clients=5, time_scale=0.02) as fleet:
        fleet.manifest            # dict, also written to fleet.manifest_path (0600)
        fleet.power_cycle("client-003")

See docs/simulated-fleet.md.
"""

import json
import os
import random
import secrets
import signal
import sys
import time
import uuid
from pathlib import Path

from . import config_writer
from .broker import LocalBroker
from .config_writer import DEFAULT_AGENT_OPTIONS
from .faults import DEFAULT_SLOW_BOOT_S, BootTime, FleetSpecError, check_faults
from .manifest import write_private
from .monitor import HealthMonitor
from .sim_client import SimClient, runner_command
from .supervisor import Supervisor

__all__ = ["DEFAULT_AGENT_OPTIONS", "DEFAULT_GROUPS", "Fleet", "SimClient", "main", "split_groups"]
DEFAULT_GROUPS = (("canary", 1), ("wave1", 0.3), ("wave2", None))


def split_groups(names, groups):
    """``groups`` = [(name, size)]; size is a count (int), a share (float < 1) or None (the rest)."""
    out, start, total = {}, 0, len(names)
    for index, (group, size) in enumerate(groups):
        if size is None or index == len(groups) - 1:
            count = total - start
        elif isinstance(size, float) and size < 1:
            count = round(total * size)
        else:
            count = int(size)
        count = max(0, min(count, total - start))
        for name in names[start:start + count]:
            out[name] = group
        start += count
    return out


class Fleet:
    def __init__(self, workdir, clients=20, *, groups=DEFAULT_GROUPS, faults=None, boot_time="uniform:20:60",
                 time_scale=0.05, slow_boot_s=DEFAULT_SLOW_BOOT_S, crash_after_s=3.0, restart_delay_s=5.0,
                 seed=None, tls=False, agent_command=None, agent_options=None, client_agent_commands=None,
                 poe=None, max_starting=16, name_prefix="client", broker=None, accounts=None):
        self.workdir = Path(workdir).resolve()
        self.rng = random.Random(seed)
        if isinstance(clients, int):
            if clients < 1:
                raise FleetSpecError("clients must be at least 1")
            names = [f"{name_prefix}-{i:03d}" for i in range(1, clients + 1)]
        else:
            names = list(clients)
        faults = faults or {}
        unknown = sorted(set(faults) - set(names))
        if unknown:
            raise FleetSpecError(f"faults given for unknown client(s) {', '.join(unknown)}")
        if time_scale <= 0:
            raise FleetSpecError("time_scale must be positive")
        self.boot_time = BootTime(boot_time)
        self.time_scale = float(time_scale)
        self.slow_boot_s = float(slow_boot_s)
        self.crash_after_s = float(crash_after_s)
        self.restart_delay_s = float(restart_delay_s)
        self.tls = bool(tls)
        self.max_starting = max(1, int(max_starting))
        self.agent_options = dict(DEFAULT_AGENT_OPTIONS, **(agent_options or {}))
        self.manifest_path = self.workdir / "fleet.json"
        self.inventory_path = self.workdir / "inventory.yml"
        self.status_path = self.workdir / "status.json"
        self.control_dir = self.workdir / "control"
        self.controller_password = secrets.token_urlsafe(18)
        group_of = split_groups(names, list(groups))
        poe = poe or {}
        # A started LocalBroker to reuse (tests: one broker render per session) and the
        # broker accounts it already has, one per client in order: [{client_uuid, password}].
        self._shared_broker = broker
        accounts = list(accounts or [])
        if broker is not None and len(accounts) < len(names):
            raise FleetSpecError(f"a shared broker needs an account per client: {len(names)} clients, "
                                 f"{len(accounts)} accounts")
        self.specs = []
        for index, name in enumerate(names):
            account = accounts[index] if index < len(accounts) else None
            root = self.workdir / "clients" / name
            self.specs.append({
                "name": name,
                "client_uuid": account["client_uuid"] if account else str(uuid.UUID(int=self.rng.getrandbits(128),
                                                                                    version=4)),
                "password": account["password"] if account else secrets.token_urlsafe(18),
                "group": group_of[name],
                "faults": check_faults(name, faults.get(name, [])),
                "root": str(root),
                "agent_command": (client_agent_commands or {}).get(name, agent_command),
                "poe": poe.get(name),
            })
        self.clients = {spec["name"]: SimClient(self, spec) for spec in self.specs}
        for client in self.clients.values():
            runner_command(client.base_agent_command())  # refuse an agent command it cannot run, now
        self.supervisor = Supervisor(self.clients, boot_time=self.boot_time, rng=self.rng, time_scale=self.time_scale,
                                     slow_boot_s=self.slow_boot_s, crash_after_s=self.crash_after_s,
                                     restart_delay_s=self.restart_delay_s, max_starting=self.max_starting,
                                     control_dir=self.control_dir, on_status=self._write_status)
        self.broker = None
        self.manifest = None
        self._monitor = None
        self.started_mono = None
        self.ready_seconds = None

    @property
    def held(self):
        return self.supervisor.held

    def start(self, wait=True, timeout=None):
        self.started_mono = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.control_dir.mkdir(exist_ok=True)
        self.broker = self._shared_broker or LocalBroker(
            self.workdir / "broker",
            clients=[{"name": s["name"], "client_uuid": s["client_uuid"], "password": s["password"]}
                     for s in self.specs],
            controller_password=self.controller_password, tls=self.tls)
        try:
            self.broker.start()
            for client in self.clients.values():
                config_writer.write_client_files(client, self.broker, self.agent_options)
            self.manifest = config_writer.build_manifest(self)
            config_writer.save_manifest(self)
            self._monitor = HealthMonitor(self.broker, {c.client_uuid: c for c in self.clients.values()},
                                          self.supervisor.lock).start()
            self.supervisor.start()
            if wait:
                self.wait_ready(timeout or max(60.0, 0.5 * len(self.clients)))
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_ready(self, timeout=60.0, names=None):
        """Wait until every (named) running client published health with its current boot id."""
        deadline = time.monotonic() + timeout
        names = list(names or self.clients)
        while time.monotonic() < deadline:
            with self.supervisor.lock:
                waiting = [n for n in names if self.clients[n].state in ("booting", "restarting", "stopping")
                           or (self.clients[n].state == "running"
                               and self.clients[n].healthy_boot_id != self.clients[n].boot_id)]
            if not waiting:
                if self.ready_seconds is None:
                    self.ready_seconds = time.monotonic() - self.started_mono
                    self.manifest["status"] = "ready"
                    config_writer.save_manifest(self)
                return True
            time.sleep(0.05)
        raise TimeoutError(f"{len(waiting)} simulated clients not ready after {timeout:.0f} s: "
                           f"{', '.join(waiting[:10])}; see their log/agent.log under {self.workdir}/clients")

    # the hardware (supervisor.py) ---------------------------------------------------------
    def tick(self):
        self.supervisor.tick()

    def power_off(self, name):
        """Cut the client's power: its agent dies at once (SIGKILL), it stays down."""
        self.supervisor.power_off(name)

    def power_on(self, name):
        """Restore power: a client that is off, hung or powered off boots (boot time applies)."""
        self.supervisor.power_on(name)

    def power_cycle(self, name):
        self.supervisor.power_cycle(name)

    def hold(self, name):
        """Leave the client's power requests unhandled until release() (supervisor.hold)."""
        self.supervisor.hold(name)

    def release(self, name):
        self.supervisor.release(name)

    def signal_agent(self, name, sig=signal.SIGKILL):
        """Send a signal to the client's agent process (tests: crash it)."""
        self.supervisor.signal_agent(name, sig)

    def handle_power_event(self, event):
        """Callback for SimSwitch.on_power_event: map (group, port) to the client it feeds."""
        for spec in self.specs:
            poe = spec.get("poe") or {}
            if (poe.get("group", 1), poe.get("port")) == (event.get("group"), event.get("port")):
                (self.power_off if event.get("event") == "power_off" else self.power_on)(spec["name"])
                return spec["name"]
        return None

    # status and shutdown ----------------------------------------------------------------
    def status(self):
        return self.supervisor.status()

    def pids(self):
        return {"supervisor": os.getpid(), "broker": self.broker.pid if self.broker else None,
                "agents": self.supervisor.agent_pids()}

    def _write_status(self):
        write_private(self.status_path, json.dumps({"at": time.time(), "pids": self.pids(),
                                                    "clients": self.status()}, indent=1))

    def stop(self):
        self.supervisor.stop()
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        if self.broker is not None and self._shared_broker is None:
            self.broker.stop()
        if self.manifest is not None:
            self.manifest["status"] = "stopped"
            config_writer.save_manifest(self)
            self._write_status()


def main(argv=None):
    """``python -m infoscreen_sim.fleet ...``: the command line lives in fleet_cli.py."""
    from .fleet_cli import main as cli_main  # noqa: PLC0415 - fleet_cli imports this module

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
