"""The simulated fleet: a local broker and N simulated Pis running the real agent.

One supervisor (this module, one thread) plays the hardware of every client: it starts each
client's agent as its own process (``python -m infoscreen_agent --config <root>/etc/agent.ini
run`` by default), watches the power requests the agents' ``sim`` backend writes, and
"reboots" a client by stopping its agent, waiting a boot time and starting it again with a
new boot id and the same state directory. See docs/simulated-fleet.md.

    with Fleet(tmp_path / "fleet", clients=5, time_scale=0.02) as fleet:
        fleet.manifest            # dict, also written to fleet.manifest_path (0600)
        fleet.power_cycle("client-003")

Command line: ``python -m infoscreen_sim.fleet up|down|status|power ...`` (``--help``).
"""

import argparse
import json
import os
import random
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path

import paho.mqtt.client as mqtt

from .broker import LocalBroker
from .faults import AGENT_FAULTS, DEFAULT_SLOW_BOOT_S, FAULTS, BootTime, FleetSpecError, check_faults
from .manifest import CLIENT_PATHS, MANIFEST_FORMAT, load_manifest, write, write_private

TICK_S = 0.1
STOP_GRACE_S = 5.0
START_WINDOW_S = 10.0  # an agent counts as "starting" until its first health, at most this long
DEFAULT_GROUPS = (("canary", 1), ("wave1", 0.3), ("wave2", None))
DEFAULT_AGENT_OPTIONS = {
    "mqtt.keepalive_s": 30, "mqtt.reconnect_min_s": 1, "mqtt.reconnect_max_s": 10,
    "agent.heartbeat_interval_s": 30, "agent.health_interval_s": 60, "agent.release": "1.0.0+sim",
}


SIM_DIR = Path(__file__).resolve().parent.parent  # holds infoscreen_sim, for the agent runner's PYTHONPATH
RUNNER = ["-m", "infoscreen_sim.agent_runner"]


def runner_command(agent_command):
    """The agent program a Pi would run, turned into the harness runner on the same Python.

    ``[PY, -m, infoscreen_agent, ...]`` (optionally after ``env VAR=...``) becomes
    ``[PY, -m, infoscreen_sim.agent_runner, ...]``; a console script (the pi_agent role's
    ``.../venv/bin/infoscreen-agent``) is run through the interpreter its ``#!`` line names.
    Either way the agent code is the one that program would have imported.
    """
    cmd = [str(part) for part in agent_command]
    if "-m" in cmd[:-1] and cmd[cmd.index("-m") + 1] == "infoscreen_agent":
        at = cmd.index("-m")
        prefix = [f"{p}{os.pathsep}{SIM_DIR}" if p.startswith("PYTHONPATH=") else p for p in cmd[:at]]
        return prefix + RUNNER + cmd[at + 2:]
    try:
        with open(cmd[0], "rb") as handle:
            first = handle.readline(4096).decode("utf-8", "replace").strip()
    except (OSError, IndexError):
        first = ""
    if first.startswith("#!"):
        return shlex.split(first[2:]) + RUNNER + cmd[1:]
    raise FleetSpecError(f"agent command {shlex.join(cmd)!r}: cannot tell which Python runs it; give "
                         "'PYTHON -m infoscreen_agent' or a console script with a #! line")


def runner_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SIM_DIR), env.get("PYTHONPATH", "")) if p)
    return env


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


class SimClient:
    """One simulated Pi: its files, its agent process and its power state."""

    def __init__(self, fleet, spec):
        self.fleet = fleet
        self.spec = spec
        self.name = spec["name"]
        self.client_uuid = spec["client_uuid"]
        self.root = Path(spec["root"])
        self.faults = set(spec["faults"])
        self.config_path = self.root / CLIENT_PATHS["config"]
        self.role_config_path = self.root / CLIENT_PATHS["role_config"]  # layered over config_path
        self.agent_command_path = self.root / CLIENT_PATHS["agent_command"]
        self.state_dir = self.root / CLIENT_PATHS["state_dir"]
        self.boot_id_path = self.root / CLIENT_PATHS["boot_id"]
        self.request_path = self.root / CLIENT_PATHS["power_request"]
        self.app_state_path = self.root / CLIENT_PATHS["app_state"]
        self.log_path = self.root / CLIENT_PATHS["log"]
        self.state = "off"  # off|booting|running|stopping|restarting|hung|dead|powered_off
        self.proc = None
        self.boot_id = None
        self.boots = 0
        self.agent_starts = 0
        self.due = None  # monotonic time of the next transition
        self.after_stop = None
        self.started_at = None
        self.healthy_boot_id = None
        self.last_seen = None
        self.events = deque(maxlen=40)

    def note(self, event):
        self.events.append((round(time.time(), 3), event))

    # agent process ----------------------------------------------------------------------
    def base_agent_command(self):
        """The agent program this client runs, without its arguments."""
        if self.agent_command_path.exists():
            return json.loads(self.agent_command_path.read_text())
        command = self.spec.get("agent_command") or [sys.executable, "-m", "infoscreen_agent"]
        return shlex.split(command) if isinstance(command, str) else list(command)

    def agent_command(self):
        # A deployment (the pi_agent role on a scratch root) may switch the release a client
        # runs (agent_command.json) and layer its own config over the fleet's one: the fleet's
        # file keeps the broker endpoint, state dir and boot id path, the role's file overrides
        # what it renders (release label, intervals, log level, ...). The machine (power
        # requests, app state) and the injected faults are the runner's options, not config.
        harness = ["--power-request", str(self.request_path), "--app-state", str(self.app_state_path)]
        harness += [f"--fault={fault}" for fault in AGENT_FAULTS if fault in self.faults]
        configs = ["--config", str(self.config_path)]
        if self.role_config_path.exists():
            configs += ["--config", str(self.role_config_path)]
        return runner_command(self.base_agent_command()) + harness + configs + ["run"]

    def spawn(self):
        command = self.agent_command()
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=runner_env(),
                                         stdin=subprocess.DEVNULL, cwd=self.root, start_new_session=True)
        self.agent_starts += 1
        self.started_at = time.monotonic()
        self.state = "running"
        self.note(f"agent started pid {self.proc.pid}")

    def signal_agent(self, sig):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def boot(self):
        """Power-on complete: a new boot id, the app running, the agent starting."""
        self.boots += 1
        self.boot_id = str(uuid.uuid4())
        tmp = self.boot_id_path.with_suffix(".tmp")
        tmp.write_text(self.boot_id + "\n")
        os.replace(tmp, self.boot_id_path)
        if not (self.boots == 1 and "app_crashed" in self.faults):
            self.app_state_path.write_text("running\n")
        if self.boots > 1 and "loses_state" in self.faults:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir.mkdir(mode=0o700)
        self.note(f"booted {self.boot_id}")
        self.spawn()

    def starting(self, now):
        return (self.state == "running" and self.healthy_boot_id != self.boot_id
                and now - (self.started_at or 0) < START_WINDOW_S)


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
        self._by_uuid = {c.client_uuid: c for c in self.clients.values()}
        self.broker = None
        self.manifest = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self._monitor = None
        self._next_status = 0.0
        self.held = set()  # clients whose power requests wait (tests: "before the reboot happens")
        self.started_mono = None
        self.ready_seconds = None

    # setup ------------------------------------------------------------------------------
    def _write_client_files(self, client, broker):
        for path in (client.config_path.parent, client.boot_id_path.parent, client.state_dir, client.log_path.parent):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(client.state_dir, 0o700)
        options = dict(self.agent_options)
        options.update({
            "mqtt.host": broker.host, "mqtt.port": broker.port, "mqtt.username": client.client_uuid,
            "mqtt.password": client.spec["password"], "mqtt.tls_ca": broker.ca_cert or "",
            "agent.client_uuid": client.client_uuid, "agent.state_dir": client.state_dir,
            "agent.boot_id_path": client.boot_id_path,
        })
        sections = {}
        for key, value in options.items():
            section, option = key.split(".", 1)
            text = str(value).lower() if isinstance(value, bool) else value
            sections.setdefault(section, []).append(f"{option} = {text}")
        text = f"# simulated client {client.name} (generated by infoscreen_sim.fleet)\n"
        text += "".join(f"\n[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items())
        write_private(client.config_path, text)
        client.app_state_path.write_text("crashed\n" if "app_crashed" in client.faults else "running\n")

    def _build_manifest(self):
        broker = self.broker
        return {
            "format": MANIFEST_FORMAT,
            "manifest_path": str(self.manifest_path),
            "inventory_path": str(self.inventory_path),
            "workdir": str(self.workdir),
            "status": "starting",
            "supervisor_pid": os.getpid(),
            "time_scale": self.time_scale,
            "boot_time": self.boot_time.spec,
            "broker": {"host": broker.host, "port": broker.port, "tls": self.tls, "ca_cert": broker.ca_cert,
                       "pid": broker.pid},
            "controller": {"username": broker.controller_username, "password": broker.controller_password},
            "agent": {"heartbeat_interval_s": float(self.agent_options["agent.heartbeat_interval_s"]),
                      "health_interval_s": float(self.agent_options["agent.health_interval_s"])},
            "groups": {g: [s["name"] for s in self.specs if s["group"] == g]
                       for g in dict.fromkeys(s["group"] for s in self.specs)},
            "clients": [self._client_entry(s) for s in self.specs],
        }

    def _client_entry(self, spec):
        client = self.clients[spec["name"]]
        return {
            "name": spec["name"], "client_uuid": spec["client_uuid"], "username": spec["client_uuid"],
            "password": spec["password"], "group": spec["group"], "faults": spec["faults"], "root": spec["root"],
            "state_dir": str(client.state_dir), "config_path": str(client.config_path),
            "boot_id_path": str(client.boot_id_path), "log_path": str(client.log_path),
            "agent_command": client.base_agent_command(), "poe": spec["poe"],
        }

    def _save_manifest(self):
        write(self.manifest, self.manifest_path, self.inventory_path, sys.executable)

    def start(self, wait=True, timeout=None):
        self.started_mono = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.control_dir.mkdir(exist_ok=True)
        self.broker = self._shared_broker or LocalBroker(self.workdir / "broker",
                                  clients=[{"name": s["name"], "client_uuid": s["client_uuid"],
                                            "password": s["password"]} for s in self.specs],
                                  controller_password=self.controller_password, tls=self.tls)
        try:
            self.broker.start()
            for client in self.clients.values():
                self._write_client_files(client, self.broker)
            self.manifest = self._build_manifest()
            self._save_manifest()
            self._start_monitor()
            now = time.monotonic()
            for client in self.clients.values():
                client.state, client.due = "booting", now  # first power-on: no boot delay
            self._thread = threading.Thread(target=self._loop, name="fleet-supervisor", daemon=True)
            self._thread.start()
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
            with self._lock:
                waiting = [n for n in names if self.clients[n].state in ("booting", "restarting", "stopping")
                       or (self.clients[n].state == "running"
                           and self.clients[n].healthy_boot_id != self.clients[n].boot_id)]
            if not waiting:
                if self.ready_seconds is None:
                    self.ready_seconds = time.monotonic() - self.started_mono
                    self.manifest["status"] = "ready"
                    self._save_manifest()
                return True
            time.sleep(0.05)
        raise TimeoutError(f"{len(waiting)} simulated clients not ready after {timeout:.0f} s: "
                           f"{', '.join(waiting[:10])}; see their log/agent.log under {self.workdir}/clients")

    # health monitor (one controller connection) -----------------------------------------
    def _start_monitor(self):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-supervisor-{uuid.uuid4().hex[:8]}")
        client.username_pw_set(self.broker.controller_username, self.broker.controller_password)
        if self.broker.ca_cert:
            client.tls_set(ca_certs=self.broker.ca_cert)

        def on_connect(c, _u, _f, reason, _p):
            if not reason.is_failure:
                c.subscribe([("infoscreen/+/health", 0), ("infoscreen/+/heartbeat", 0)])

        def on_message(_c, _u, message):
            try:
                body = json.loads(message.payload)
                sim = self._by_uuid.get(body.get("client_uuid"))
            except (ValueError, AttributeError):
                return
            if sim is not None:
                with self._lock:
                    sim.healthy_boot_id = body.get("boot_id")
                    sim.last_seen = time.time()

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect(self.broker.host, self.broker.port, keepalive=30)
        client.loop_start()
        self._monitor = client

    # supervision ------------------------------------------------------------------------
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
        with self._lock:
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
                self._write_status()
                self._next_status = now + 1.0

    def _watch_running(self, client, now):
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

    # power (the PoE switch hook) --------------------------------------------------------
    def power_off(self, name):
        """Cut the client's power: its agent dies at once (SIGKILL), it stays down."""
        with self._lock:
            client = self.clients[name]
            client.signal_agent(signal.SIGKILL)
            if client.proc:
                client.proc.wait(timeout=5)
            client.request_path.unlink(missing_ok=True)
            client.note("power off")
            client.state = "dead" if client.state == "dead" else "powered_off"

    def power_on(self, name):
        """Restore power: a client that is off, hung or powered off boots (boot time applies)."""
        with self._lock:
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
        with self._lock:
            self.held.add(name)

    def release(self, name):
        with self._lock:
            self.held.discard(name)

    def signal_agent(self, name, sig=signal.SIGKILL):
        """Send a signal to the client's agent process (tests: crash it)."""
        with self._lock:
            self.clients[name].signal_agent(sig)

    def power_cycle(self, name):
        self.power_off(name)
        self.power_on(name)

    def handle_power_event(self, event):
        """Callback for SimSwitch.on_power_event: map (group, port) to the client it feeds."""
        for spec in self.specs:
            poe = spec.get("poe") or {}
            if (poe.get("group", 1), poe.get("port")) == (event.get("group"), event.get("port")):
                (self.power_off if event.get("event") == "power_off" else self.power_on)(spec["name"])
                return spec["name"]
        return None

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

    # status and shutdown ----------------------------------------------------------------
    def status(self):
        with self._lock:
            return {name: {"state": c.state, "boot_id": c.boot_id, "boots": c.boots, "agent_starts": c.agent_starts,
                           "pid": c.proc.pid if c.proc and c.proc.poll() is None else None,
                           "healthy": c.healthy_boot_id == c.boot_id and c.state == "running",
                           "last_seen": c.last_seen, "faults": sorted(c.faults), "events": list(c.events)[-8:]}
                    for name, c in self.clients.items()}

    def pids(self):
        with self._lock:
            agents = [c.proc.pid for c in self.clients.values() if c.proc and c.proc.poll() is None]
        return {"supervisor": os.getpid(), "broker": self.broker.pid if self.broker else None, "agents": agents}

    def _write_status(self):
        write_private(self.status_path, json.dumps({"at": time.time(), "pids": self.pids(),
                                                    "clients": self.status()}, indent=1))

    def stop(self):
        self._stop.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._lock:
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
        if self._monitor is not None:
            self._monitor.disconnect()
            self._monitor.loop_stop()
            self._monitor = None
        if self.broker is not None and self._shared_broker is None:
            self.broker.stop()
        if self.manifest is not None:
            self.manifest["status"] = "stopped"
            self._save_manifest()
            self._write_status()


# -- command line -----------------------------------------------------------------------------
def _parse_faults(items):
    faults = {}
    for item in items or []:
        name, _, listed = item.partition("=")
        if not listed:
            raise FleetSpecError(f"--fault {item!r}: use NAME=FAULT[,FAULT] (faults: {', '.join(FAULTS)})")
        faults.setdefault(name, []).extend(f for f in listed.split(",") if f)
    return faults


def _parse_groups(text):
    groups = []
    for part in text.split(","):
        name, _, size = part.partition("=")
        if size in ("", "rest"):
            groups.append((name, None))
        else:
            number = float(size)
            groups.append((name, number if number < 1 else int(number)))
    return groups


def fleet_from_args(args):
    return Fleet(args.workdir, clients=args.clients, groups=_parse_groups(args.groups),
                 faults=_parse_faults(args.fault), boot_time=args.boot_time, time_scale=args.time_scale,
                 slow_boot_s=args.slow_boot_s, seed=args.seed, tls=args.tls, agent_command=args.agent_command,
                 agent_options=dict(kv.split("=", 1) for kv in args.agent_option or []))


def _pid_alive(pid, marker):
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def _cmd_supervise(args):
    fleet = fleet_from_args(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        fleet.start(wait=True)
        print(f"fleet ready: {len(fleet.clients)} clients in {fleet.ready_seconds:.1f} s", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
    return 0


def _cmd_up(args):
    fleet_from_args(args)  # refuse bad options here, before anything is started
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    manifest_path = workdir / "fleet.json"
    if manifest_path.exists() and load_manifest(manifest_path)["status"] != "stopped":
        pid = load_manifest(manifest_path)["supervisor_pid"]
        if _pid_alive(pid, "infoscreen_sim.fleet"):
            print(f"a fleet is already running in {workdir} (supervisor pid {pid}); run `down` first", file=sys.stderr)
            return 1
    manifest_path.unlink(missing_ok=True)
    # The absolute workdir on the supervisor's command line lets `down` recognise it by pid.
    argv = [sys.executable, "-m", "infoscreen_sim.fleet", "supervise", "--workdir", str(workdir)] + args.raw
    with open(workdir / "supervisor.log", "a", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    (workdir / "supervisor.pid").write_text(f"{proc.pid}\n")
    started = time.monotonic()
    deadline = started + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"fleet supervisor exited rc={proc.returncode}; see {workdir / 'supervisor.log'}", file=sys.stderr)
            return 1
        if manifest_path.exists() and load_manifest(manifest_path)["status"] == "ready":
            manifest = load_manifest(manifest_path)
            print(f"fleet up: {len(manifest['clients'])} clients, broker {manifest['broker']['host']}:"
                  f"{manifest['broker']['port']}, ready in {time.monotonic() - started:.1f} s")
            print(f"manifest:  {manifest_path}\ninventory: {manifest['inventory_path']}")
            return 0
        time.sleep(0.2)
    print(f"fleet not ready after {args.timeout} s; see {workdir / 'supervisor.log'}; run `down`", file=sys.stderr)
    return 1


def _cmd_down(args):
    workdir = Path(args.workdir).resolve()
    pid_file = workdir / "supervisor.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    if pid and _pid_alive(pid, "infoscreen_sim.fleet"):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _pid_alive(pid, "infoscreen_sim.fleet") and time.monotonic() < deadline:
            time.sleep(0.1)
    # Anything the supervisor left (it was killed, say): agents and broker named in the last
    # status, each checked to belong to this fleet's folder before it is killed.
    leftovers = []
    status_path = workdir / "status.json"
    if status_path.exists():
        pids = json.loads(status_path.read_text()).get("pids", {})
        for candidate in [pids.get("supervisor"), pids.get("broker"), *pids.get("agents", [])]:
            if candidate and _pid_alive(candidate, str(workdir)):
                os.kill(candidate, signal.SIGKILL)
                leftovers.append(candidate)
    pid_file.unlink(missing_ok=True)
    print(f"fleet down ({workdir}); killed {len(leftovers)} leftover process(es)")
    return 0


def _cmd_status(args):
    workdir = Path(args.workdir).resolve()
    status = json.loads((workdir / "status.json").read_text())
    counts = {}
    for name, entry in sorted(status["clients"].items()):
        counts[entry["state"]] = counts.get(entry["state"], 0) + 1
        if args.verbose:
            print(f"{name:12} {entry['state']:12} boots={entry['boots']} starts={entry['agent_starts']} "
                  f"healthy={entry['healthy']} faults={','.join(entry['faults']) or '-'}")
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), f"(as of {time.ctime(status['at'])})")
    return 0


def _cmd_power(args):
    control = Path(args.workdir).resolve() / "control"
    control.mkdir(exist_ok=True)
    (control / f"{args.name}.power").write_text(args.verb + "\n")
    return 0


def _add_fleet_options(parser):
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--groups", default="canary=1,wave1=0.3,wave2=rest",
                        help="child groups of infoscreen_clients: NAME=COUNT|SHARE|rest,... (default %(default)s)")
    parser.add_argument("--fault", action="append", metavar="NAME=FAULT[,FAULT]",
                        help=f"inject faults into a client; faults: {', '.join(FAULTS)}")
    parser.add_argument("--boot-time", default="uniform:20:60", help="fixed:S | uniform:LO:HI | normal:MEAN:SD")
    parser.add_argument("--time-scale", type=float, default=0.05, help="multiplies every simulated duration")
    parser.add_argument("--slow-boot-s", type=float, default=DEFAULT_SLOW_BOOT_S)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--agent-command", help="runs the agent (default: this python -m infoscreen_agent)")
    parser.add_argument("--agent-option", action="append", metavar="SECTION.KEY=VALUE",
                        help="agent.ini override, e.g. agent.heartbeat_interval_s=5")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m infoscreen_sim.fleet", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, helptext in (("up", "start a fleet in the background"), ("supervise", "run a fleet in the foreground")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--workdir", required=True)
        _add_fleet_options(p)
        if name == "up":
            p.add_argument("--timeout", type=float, default=300)
    for name, helptext in (("down", "stop the fleet, leave no process"), ("status", "print client states")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--workdir", required=True)
        if name == "status":
            p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("power", help="power a client on/off/cycle (the PoE hook)")
    p.add_argument("--workdir", required=True)
    p.add_argument("name")
    p.add_argument("verb", choices=("on", "off", "cycle"))
    args = parser.parse_args(argv)
    if args.cmd == "up":  # hand the fleet options, not --timeout/--workdir, to `supervise`
        raw, skip = [], False
        for item in argv[1:]:
            if skip:
                skip = False
                continue
            if item in ("--timeout", "--workdir"):
                skip = True
                continue
            if not item.startswith(("--timeout=", "--workdir=")):
                raw.append(item)
        args.raw = raw
    try:
        return {"up": _cmd_up, "supervise": _cmd_supervise, "down": _cmd_down, "status": _cmd_status,
                "power": _cmd_power}[args.cmd](args)
    except FleetSpecError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
