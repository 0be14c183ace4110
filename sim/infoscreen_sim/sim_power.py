"""The simulated Pi's hardware as the agent sees it: a power backend for the real agent.

The agent's power backend seam (agent/infoscreen_agent/power.py) takes any object with
``invoke``, ``app_state`` and ``uptime_s``. This one never runs a helper: reboot and shutdown
write a power request into the client's scratch root, which the fleet supervisor
(supervisor.py) acts on like the machine would; restart-app sets the app-state file to
``running``; uptime is the time since the supervisor wrote the client's boot id file.
"""

import json
import os
import time

from infoscreen_agent.power import APP_STATES, VERBS


def _atomic_write(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class SimPowerBackend:
    def __init__(self, request_path, app_state_path, boot_id_path):
        self.request_path = str(request_path)
        self.app_state_path = str(app_state_path or "")
        self.boot_id_path = str(boot_id_path)

    def invoke(self, action, command_id):
        verb = VERBS[action]
        if action == "restart_app":
            self._write_app_state("running")
            return
        _atomic_write(self.request_path, json.dumps({"verb": verb, "command_id": command_id,
                                                     "requested_at": time.time()}))

    def app_state(self):
        if not self.app_state_path:
            return "running"
        try:
            with open(self.app_state_path, encoding="utf-8") as handle:
                state = handle.read().strip()
        except OSError:
            return "running"
        return state if state in APP_STATES else "unknown"

    def uptime_s(self):
        """A simulated client 'booted' when the supervisor wrote its boot id file."""
        try:
            return max(0.0, time.time() - os.stat(self.boot_id_path).st_mtime)
        except OSError:
            return 0.0

    def _write_app_state(self, state):
        if self.app_state_path:
            _atomic_write(self.app_state_path, state + "\n")
