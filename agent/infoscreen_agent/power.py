"""How the agent gets privileged work done: the narrow helper, or the simulated fleet.

The agent itself never needs root. ``helper`` runs ``helper_command`` plus exactly one verb
(the helper accepts nothing else). ``sim`` never calls the helper: it writes a power request
into the client's scratch root, and the fleet supervisor plays the part of the machine.
"""

import logging
import os
import subprocess
import time

from .store import atomic_write_json

LOG = logging.getLogger(__name__)
VERBS = {"reboot_host": "reboot", "shutdown_host": "shutdown", "restart_app": "restart-app"}
APP_STATES = ("running", "stopped", "crashed", "unknown")
_SYSTEMD_TO_APP = {"active": "running", "reloading": "running", "activating": "running",
                   "inactive": "stopped", "deactivating": "stopped", "failed": "crashed"}


class HelperFailed(Exception):
    pass


class HelperBackend:
    def __init__(self, config):
        self.command = list(config.helper_command)
        self.timeout_s = config.helper_timeout_s
        self.app_unit = config.app_unit

    def invoke(self, action, command_id):
        verb = VERBS[action]
        try:
            result = subprocess.run(self.command + [verb], capture_output=True, text=True,
                                    timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HelperFailed(f"helper {self.command[0]} {verb} could not run: {exc}") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()[-500:]
            raise HelperFailed(f"helper {verb} exited {result.returncode}: {detail or 'no output'}")

    def app_state(self):
        try:
            result = subprocess.run(["systemctl", "is-active", self.app_unit], capture_output=True,
                                    text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return _SYSTEMD_TO_APP.get(result.stdout.strip(), "unknown")


class SimBackend:
    """Power requests become files the fleet supervisor acts on; the app is a state file."""

    def __init__(self, config):
        self.request_path = config.sim_request_path
        self.app_state_path = config.sim_app_state_path
        self.fails = config.sim_helper_fails

    def invoke(self, action, command_id):
        verb = VERBS[action]
        if self.fails:
            raise HelperFailed(f"simulated helper failure for {verb}")
        if action == "restart_app":
            self._write_app_state("running")
            return
        atomic_write_json(self.request_path, {"verb": verb, "command_id": command_id, "requested_at": time.time()})

    def app_state(self):
        if not self.app_state_path:
            return "running"
        try:
            with open(self.app_state_path, encoding="utf-8") as handle:
                state = handle.read().strip()
        except OSError:
            return "running"
        return state if state in APP_STATES else "unknown"

    def _write_app_state(self, state):
        if self.app_state_path:
            tmp = f"{self.app_state_path}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(state + "\n")
            os.replace(tmp, self.app_state_path)


def make_backend(config):
    return SimBackend(config) if config.power_backend == "sim" else HelperBackend(config)
