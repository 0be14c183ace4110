"""One simulated Pi: its files, its agent process (the real agent, through the runner) and
its power state. The supervisor (supervisor.py) moves it between states."""

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections import deque
from pathlib import Path

from .faults import AGENT_FAULTS, FleetSpecError
from .manifest import CLIENT_PATHS

START_WINDOW_S = 10.0  # an agent counts as "starting" until its first health, at most this long

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
        self.installed_agent_path = self.root / CLIENT_PATHS["installed_agent"]
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
        """The agent program this client runs, without its arguments.

        Like a Pi's systemd unit (roles/pi_agent/templates/infoscreen-agent.service.j2,
        ExecStart through the ``current`` pointer), every boot starts the release the pi_agent
        role made current in this client's root, once the role installed one; before that the
        fleet's own command (the checkout's agent)."""
        if os.path.exists(self.installed_agent_path):  # follows current: a dangling one is not installed
            return [str(self.installed_agent_path)]
        command = self.spec.get("agent_command") or [sys.executable, "-m", "infoscreen_agent"]
        return shlex.split(command) if isinstance(command, str) else list(command)

    def agent_command(self):
        # A deployment (the pi_agent role on the client's root) switches the release a client
        # runs (base_agent_command) and layers its own config over the fleet's one: the fleet's
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
