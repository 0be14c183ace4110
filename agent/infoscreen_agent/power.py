"""How the agent gets privileged work done and reads the machine it runs on: the helper.

The agent itself never needs root. ``HelperBackend`` runs ``helper_command`` plus exactly
one verb (the helper accepts nothing else), asks systemd for the app's state and reads the
host's uptime.

A power backend is any object with these three methods (the "power backend seam",
docs/agent.md "Embedding the agent"):

- ``invoke(action, command_id)``: do ``reboot_host`` | ``shutdown_host`` | ``restart_app``;
  raise ``HelperFailed`` with a readable reason when it cannot;
- ``app_state()``: one of ``APP_STATES``;
- ``uptime_s()``: seconds since the host booted.

The installed agent always uses ``HelperBackend``; ``cli.main(backend_factory=...)`` lets a
test bench run this same agent on machines it plays itself.
"""

import logging
import subprocess

LOG = logging.getLogger(__name__)
VERBS = {"reboot_host": "reboot", "shutdown_host": "shutdown", "restart_app": "restart-app"}
APP_STATES = ("running", "stopped", "crashed", "unknown")
_SYSTEMD_TO_APP = {"active": "running", "reloading": "running", "activating": "running",
                   "inactive": "stopped", "deactivating": "stopped", "failed": "crashed"}


class HelperFailed(Exception):
    pass


def host_uptime_s():
    """The kernel's uptime (``/proc/uptime``); 0.0 when it cannot be read."""
    try:
        with open("/proc/uptime", encoding="ascii") as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


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

    def uptime_s(self):
        return host_uptime_s()


def make_backend(config):
    """The installed agent's backend: the narrow privileged helper."""
    return HelperBackend(config)
