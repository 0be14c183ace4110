"""The supervisor: one thread that plays the hardware of every simulated client.

It starts each client's agent (sim_client.py), acts on the power requests the simulated
machine (sim_power.py) writes - stopping the agent as a host going down would, waiting a
boot time and starting it again with a new boot id and the same state directory - applies
the boot-time faults, and is the PoE hook (power off/on/cycle, also from files dropped in
``<workdir>/control`` by ``fleet power``). See docs/simulated-fleet.md.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import app_faults

TICK_S = 0.1
STOP_GRACE_S = 5.0


class Supervisor:
    def __init__(self, clients, *, boot_time, rng, time_scale, slow_boot_s, crash_after_s, restart_delay_s,
                 max_starting, control_dir, on_status=None):
        self.clients = clients
        self.boot_time = boot_time
        self.rng = rng
        self.time_scale = float(time_scale)
        self.slow_boot_s = float(slow_boot_s)
        self.crash_after_s = float(crash_after_s)
        self.restart_delay_s = float(restart_delay_s)
        self.max_starting = max(1, int(max_starting))
        self.control_dir = Path(control_dir)
        self.on_status = on_status  # called about once a second from the supervisor thread
        self.held = set()  # clients whose power requests wait (tests: "before the reboot happens")
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self._next_status = 0.0

    def start(self):
        now = time.monotonic()
        with self.lock:
            for client in self.clients.values():
                client.state, client.due = "booting", now  # first power-on: no boot delay
        self._thread = threading.Thread(target=self._loop, name="fleet-supervisor", daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # keep supervising; a bad tick must not orphan agents
                print(f"fleet supervisor: tick failed: {exc!r}", file=sys.stderr)
            self._stop.wait(TICK_S)

    def _scaled(self, seconds):
        return seconds * self.time_scale

    def tick(self):
        now = time.monotonic()
        with self.lock:
            self._read_control()
            starting = sum(1 for c in self.clients.values() if c.starting(now))
            for client in self.clients.values():
                if client.state == "booting" and now >= client.due:
                    if starting >= self.max_starting:
                        continue
                    client.boot()
                    starting += 1
                elif client.state == "restarting" and now >= client.due:
                    client.spawn()
                    starting += 1
                elif client.state == "running":
                    self._watch_running(client, now)
                elif client.state == "stopping":
                    self._watch_stopping(client, now)
            if now >= self._next_status:
                self._report_status()
                self._next_status = now + 1.0

    def _watch_running(self, client, now):
        app_faults.tick(client, now, self.time_scale)  # the signage app after a boot (issue 18)
        if client.name not in self.held and client.request_path.exists():
            try:
                request = json.loads(client.request_path.read_text())
            except (OSError, ValueError):
                request = {"verb": "reboot"}
            client.request_path.unlink(missing_ok=True)
            verb = request.get("verb")
            client.note(f"power request {verb}")
            if verb == "shutdown":
                after = "off"
            elif "never_returns" in client.faults:
                after = "dead"
            elif "needs_power_cycle" in client.faults:
                after = "hung"
            else:
                after = "boot"
            self._stop_agent(client, after, now)
            return
        if client.proc.poll() is not None:
            client.note(f"agent exited rc={client.proc.returncode}")
            client.state, client.due = "restarting", now + max(0.1, self._scaled(self.restart_delay_s))
            return
        if "crash_loop" in client.faults and now - client.started_at >= self.crash_after_s:
            client.note("crash_loop: killing the agent")
            client.signal_agent(signal.SIGKILL)
            client.proc.wait(timeout=5)
            client.state, client.due = "restarting", now + max(0.1, self._scaled(self.restart_delay_s))

    def _stop_agent(self, client, after, now):
        client.signal_agent(signal.SIGTERM)  # systemd stops the agent as the host goes down
        client.state, client.after_stop, client.due = "stopping", after, now + STOP_GRACE_S

    def _watch_stopping(self, client, now):
        if client.proc.poll() is None:
            if now < client.due:
                return
            client.signal_agent(signal.SIGKILL)
            client.proc.wait(timeout=5)
        after = client.after_stop
        client.note(f"agent stopped; host {after}")
        if after == "boot":
            seconds = self.slow_boot_s if "slow_boot" in client.faults else self.boot_time.draw(self.rng)
            client.state, client.due = "booting", now + self._scaled(seconds)
        else:
            client.state = after

    def _report_status(self):
        if self.on_status is not None:
            self.on_status()

    # power (the PoE switch hook) --------------------------------------------------------
    def power_off(self, name):
        """Cut the client's power: its agent dies at once (SIGKILL), it stays down."""
        with self.lock:
            client = self.clients[name]
            client.signal_agent(signal.SIGKILL)
            if client.proc:
                client.proc.wait(timeout=5)
            client.request_path.unlink(missing_ok=True)
            client.note("power off")
            client.state = "dead" if client.state == "dead" else "powered_off"

    def power_on(self, name):
        """Restore power: a client that is off, hung or powered off boots (boot time applies)."""
        with self.lock:
            client = self.clients[name]
            client.note("power on")
            if client.state in ("off", "hung", "powered_off"):
                if "never_returns" in client.faults and client.boots > 0:
                    client.state = "dead"
                    return
                seconds = self.slow_boot_s if "slow_boot" in client.faults else self.boot_time.draw(self.rng)
                client.state, client.due = "booting", time.monotonic() + self._scaled(seconds)

    def hold(self, name):
        """Leave the client's power requests unhandled until release(): the moment between
        the helper's return and the host actually going down, stretched for a test."""
        with self.lock:
            self.held.add(name)

    def release(self, name):
        with self.lock:
            self.held.discard(name)

    def signal_agent(self, name, sig=signal.SIGKILL):
        """Send a signal to the client's agent process (tests: crash it)."""
        with self.lock:
            self.clients[name].signal_agent(sig)

    def power_cycle(self, name):
        self.power_off(name)
        self.power_on(name)

    def _read_control(self):
        # Out-of-process hook: `fleet power NAME on|off|cycle` drops a file here.
        try:
            entries = list(os.scandir(self.control_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            if not entry.name.endswith(".power"):
                continue
            name = entry.name[:-len(".power")]
            try:
                verb = Path(entry.path).read_text().strip()
            finally:
                os.unlink(entry.path)
            if name in self.clients and verb in ("on", "off", "cycle"):
                {"on": self.power_on, "off": self.power_off, "cycle": self.power_cycle}[verb](name)

    def status(self):
        with self.lock:
            return {name: {"state": c.state, "boot_id": c.boot_id, "boots": c.boots, "agent_starts": c.agent_starts,
                           "pid": c.proc.pid if c.proc and c.proc.poll() is None else None,
                           "healthy": c.healthy_boot_id == c.boot_id and c.state == "running",
                           "last_seen": c.last_seen, "faults": sorted(c.faults), "events": list(c.events)[-8:]}
                    for name, c in self.clients.items()}

    def agent_pids(self):
        with self.lock:
            return [c.proc.pid for c in self.clients.values() if c.proc and c.proc.poll() is None]

    def stop(self):
        """Stop the thread, then every agent: SIGTERM, SIGKILL after STOP_GRACE_S."""
        self._stop.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self.lock:
            running = [c for c in self.clients.values() if c.proc and c.proc.poll() is None]
            for client in running:
                client.signal_agent(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            for client in running:
                try:
                    client.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    client.signal_agent(signal.SIGKILL)
                    client.proc.wait(timeout=5)
                client.state = "off"
