# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a wave is asked to do, checked before anything is sent: the wave options, the
inventory check (every host needs its own valid client_uuid) and the result row of a host
whose command was never executed."""

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.command_tracker import (
    DEFAULT_RECONNECT_CEILING_S,
    DEFAULT_RECONNECT_WARN_S,
    DEFAULT_STABILITY_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
)


class WaveOptions:
    """Everything a wave needs besides the hosts. Times in seconds."""

    def __init__(self, action, *, validity_s=240, timeout_s=None, transitional_topic=False, requested_by=None,
                 reason=None, request_key=None, override_reason=None, lockout_limit=3, lockout_window_s=900.0,
                 cooldown_s=60.0, reconnect_warn_s=DEFAULT_RECONNECT_WARN_S,
                 reconnect_ceiling_s=DEFAULT_RECONNECT_CEILING_S, connect_timeout_s=15.0, progress_interval_s=5.0,
                 check_mode=False, rollout_id=None, track_heartbeats=True, reannounce_s=15.0,
                 reannounce_per_s=200, stability_s=0.0, stability_timeout_s=DEFAULT_STABILITY_TIMEOUT_S,
                 host_stability_s=None, track_health=True, windows=None, window_policy="skip",
                 window_max_wait_s=3600.0, window_override_reason=None, window_now=None, window_clock=None,
                 sleep=None):
        if action not in contract.ACTIONS:
            raise ValueError(f"action {action!r} is not one of {', '.join(contract.ACTIONS)}")
        self.action = action
        self.validity_s = float(validity_s)
        self.timeout_s = float(timeout_s) if timeout_s else DEFAULT_TIMEOUT_S[action]
        self.transitional_topic = transitional_topic
        self.requested_by = requested_by
        self.reason = reason
        self.request_key = request_key
        self.override_reason = override_reason
        self.lockout_limit = lockout_limit
        self.lockout_window_s = lockout_window_s
        self.cooldown_s = cooldown_s
        self.reconnect_warn_s = reconnect_warn_s
        self.reconnect_ceiling_s = reconnect_ceiling_s
        self.connect_timeout_s = connect_timeout_s
        self.progress_interval_s = progress_interval_s
        self.check_mode = check_mode
        self.rollout_id = rollout_id
        self.track_heartbeats = track_heartbeats
        self.reannounce_s = float(reannounce_s or 0)
        self.reannounce_per_s = int(reannounce_per_s)
        # "Really back" (command_tracker.py): seconds the app must run on the new boot; 0 = the
        # agent's completed ack is enough (this library's default; the lifecycle_wave action
        # defaults to DEFAULT_STABILITY_S). host_stability_s: {host: seconds} per-host windows.
        self.stability_s = float(stability_s or 0.0)
        self.stability_timeout_s = float(stability_timeout_s)
        self.host_stability_s = dict(host_stability_s or {})
        self.track_health = track_health
        # Maintenance windows (docs/policy.md): {host: [Window, ...] or None}, judged by the
        # wave driver when it sends. window_policy: skip (block outside, with eligible_at),
        # wait (wait up to window_max_wait_s for the window, then block), allow (send, logged:
        # recover.yml's documented emergency policy). window_now (epoch): judge as if the wave
        # started then (drills and tests; the clock runs on from it). window_clock / sleep:
        # injectable for unit tests (epoch-returning callable, sleep(seconds)).
        if window_policy not in ("skip", "wait", "allow"):
            raise ValueError(f"window_policy {window_policy!r} is not one of skip, wait, allow")
        if window_override_reason is not None and not str(window_override_reason).strip():
            raise ValueError("window_override_reason must say why the maintenance windows are overridden")
        self.windows = dict(windows or {})
        self.window_policy = window_policy
        self.window_max_wait_s = float(window_max_wait_s)
        self.window_override_reason = window_override_reason
        self.window_now = window_now
        self.window_clock = window_clock
        self.sleep = sleep

    def stability_for(self, host):
        return float(self.host_stability_s.get(host, self.stability_s) or 0.0)

    def wait_bound_s(self):
        """Longest this run may wait for one command: a held command until its expiry plus the
        reboot's timeout, then the stability phase (the ledger's sweep leaves it alone until then)."""
        stabilizing = self.stability_timeout_s if self.stability_s or any(self.host_stability_s.values()) else 0.0
        return self.validity_s + self.timeout_s + stabilizing


def not_executed(host, client_uuid, action, state, *, error_code=None, error_message=None, command_id=None,
                 eligible_at=None, extra=None):
    """The result row of a host whose command did not run (blocked, not sent, bad inventory...)."""
    result = {
        "host": host, "client_uuid": client_uuid, "command_id": command_id, "action": action, "state": state,
        "ok": False, "executed": False, "reused": False, "transitions": [], "reconnect_s": None,
        "reconnect_verdict": None, "boot_id_before": None, "boot_id_after": None, "boot_id_changed": None,
        "duplicate_acks": 0, "error_code": error_code, "error_message": error_message, "eligible_at": eligible_at,
    }
    result.update(extra or {})
    return result


def check_inventory(hosts):
    """Split ``[(host, client_uuid), ...]`` into valid entries and per-host inventory errors.

    A missing, malformed or duplicated client_uuid never gets a command: a duplicate would
    reboot the wrong screen, so both hosts sharing it are refused.
    """
    errors = {}
    owners = {}
    for host, client_uuid in hosts:
        if client_uuid is None or (isinstance(client_uuid, str) and not client_uuid.strip()):
            errors[host] = f"host {host}: client_uuid is not set; set the inventory variable client_uuid " \
                           f"(the client's UUID, 8-4-4-4-12 hex) for {host}"
        elif not contract.is_uuid(client_uuid):
            errors[host] = f"host {host}: client_uuid {client_uuid!r} is not a UUID (8-4-4-4-12 hex digits); " \
                           f"fix the inventory variable client_uuid for {host}"
        else:
            owners.setdefault(client_uuid.lower(), []).append(host)
    valid = []
    for client_uuid, owner_hosts in owners.items():
        if len(owner_hosts) > 1:
            for host in owner_hosts:
                errors[host] = f"host {host}: client_uuid {client_uuid} is also used by " \
                               f"{', '.join(h for h in owner_hosts if h != host)}; each client needs its own UUID"
        else:
            valid.append((owner_hosts[0], client_uuid))
    return valid, errors
