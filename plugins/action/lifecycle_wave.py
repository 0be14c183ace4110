# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.lifecycle_wave: one wave of lifecycle commands, one MQTT connection.

Runs on the controller only (no module is sent to the hosts). Use it with run_once: true; it
drives every host of ``hosts`` (default: ansible_play_batch) and stores each host's result in
the ledger, where infoscreen.fleet.lifecycle_outcome picks it up per host.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.utils.display import Display
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import ENV_LEDGER, Ledger, LedgerError
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import maintenance_window as mw
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.command_tracker import (
    DEFAULT_STABILITY_S,
    DEFAULT_STABILITY_TIMEOUT_S,
)
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_action import MqttAction
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import MQTT_ARGUMENT_SPEC, connection_summary
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave

display = Display()
# Per-host "really back" window (inventory), used when the task does not set stability_s.
STABILITY_VAR = "infoscreen_stability_s"

ARGUMENT_SPEC = {
    "command": {"type": "str", "required": True, "choices": list(contract.ACTIONS)},
    "hosts": {"type": "list", "elements": "str"},
    "absent_hosts": {"type": "list", "elements": "str", "default": []},
    "client_uuid_var": {"type": "str", "default": "client_uuid"},
    "validity_s": {"type": "int", "default": 240},
    "timeout_s": {"type": "float"},
    "transitional_topic": {"type": "bool", "default": False},
    "requested_by": {"type": "int"},
    "reason": {"type": "str"},
    "request_id": {"type": "str"},
    "override_lockout_reason": {"type": "str"},
    "lockout_limit": {"type": "int", "default": 3},
    "lockout_window_s": {"type": "float", "default": 900.0},
    "cooldown_s": {"type": "float", "default": 60.0},
    "reconnect_warn_s": {"type": "float", "default": 90.0},
    "reconnect_ceiling_s": {"type": "float", "default": 150.0},
    "connect_timeout_s": {"type": "float", "default": 15.0},
    "progress_interval_s": {"type": "float", "default": 5.0},
    "reannounce_s": {"type": "float", "default": 15.0},
    "stability_s": {"type": "float"},
    "stability_timeout_s": {"type": "float", "default": DEFAULT_STABILITY_TIMEOUT_S},
    "rollout_id": {"type": "str"},
    # Maintenance windows (docs/policy.md); wave_plan checked them before the rollout began.
    "windows_var": {"type": "str", "default": mw.WINDOWS_VAR},
    "window_policy": {"type": "str", "default": "skip", "choices": ["skip", "wait", "allow"]},
    "window_max_wait_s": {"type": "float", "default": 3600.0},
    "window_override_reason": {"type": "str"},
    "window_now": {"type": "str"},
    "ledger": {"type": "path", "fallback": (env_fallback, [ENV_LEDGER])},
    **MQTT_ARGUMENT_SPEC,
}


class ActionModule(MqttAction):
    PLUGIN = "lifecycle_wave"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._mqtt_args()
        self._check_numbers(args)
        if args["override_lockout_reason"] is not None and not args["override_lockout_reason"].strip():
            raise AnsibleActionFail("override_lockout_reason must say why the lockout is overridden (it is logged)")
        if args["reason"] is not None and len(args["reason"]) > 2000:
            raise AnsibleActionFail("reason must be at most 2000 characters (contract v1)")

        hosts = self._target_hosts(args, task_vars)
        absent_names = [host for host in dict.fromkeys(args["absent_hosts"]) if host not in hosts]
        pairs = [(host, self._client_uuid(task_vars, host, args["client_uuid_var"])) for host in hosts]
        absent = [(host, self._client_uuid(task_vars, host, args["client_uuid_var"])) for host in absent_names]
        play = self._task.get_play() if hasattr(self._task, "get_play") else None
        rollout_id = args["rollout_id"] or f"play-{getattr(play, '_uuid', None) or self._task._uuid}"
        # Retry safety: the request key is stable across retries of this task in this run
        # (task uuid) or across runs when the operator passes request_id.
        request_key = f"request:{args['request_id']}" if args["request_id"] else f"task:{self._task._uuid}"
        host_stability = {} if args["stability_s"] is not None else {
            host: self._stability_of(task_vars, host) for host in [*hosts, *absent_names]}
        too_long = sorted(host for host, seconds in host_stability.items() if seconds > args["stability_timeout_s"])
        if too_long:
            raise AnsibleActionFail(f"{STABILITY_VAR} of {', '.join(too_long)} is above stability_timeout_s "
                                    f"({args['stability_timeout_s']:g}): the window could never be reached; raise "
                                    "stability_timeout_s or shorten the window")
        options = WaveOptions(
            args["command"], validity_s=args["validity_s"], timeout_s=args["timeout_s"],
            transitional_topic=args["transitional_topic"], requested_by=args["requested_by"], reason=args["reason"],
            request_key=request_key, override_reason=args["override_lockout_reason"],
            lockout_limit=args["lockout_limit"], lockout_window_s=args["lockout_window_s"],
            cooldown_s=args["cooldown_s"], reconnect_warn_s=args["reconnect_warn_s"],
            reconnect_ceiling_s=args["reconnect_ceiling_s"], connect_timeout_s=args["connect_timeout_s"],
            progress_interval_s=args["progress_interval_s"], check_mode=bool(self._task.check_mode or
                                                                             self._play_context.check_mode),
            rollout_id=rollout_id, reannounce_s=args["reannounce_s"],
            stability_s=DEFAULT_STABILITY_S if args["stability_s"] is None else args["stability_s"],
            stability_timeout_s=args["stability_timeout_s"], host_stability_s=host_stability,
            **self._window_options(args, task_vars, [*hosts, *absent_names]))
        try:
            with Ledger(args["ledger"]) as ledger:
                wave = run_wave(pairs, options, ledger, args, progress=display.display, warn=display.warning,
                                absent=absent)
                ledger_path = ledger.path
        except LedgerError as exc:
            wave = getattr(exc, "wave", None)  # set when the commands were already sent
            if wave is None:
                raise AnsibleActionFail(str(exc)) from exc
            raise AnsibleActionFail(
                f"{exc}. The wave's commands were sent; their outcomes are in this result and the rollout report",
                result={"wave_id": wave.wave_id, "wave": wave.number, "command": args["command"],
                        "counts": wave.counts, "results": wave.results, "stats": wave.stats}) from exc

        results = wave.results
        result.update(
            changed=wave.stats["published"] > 0,
            wave_id=wave.wave_id,
            wave=wave.number,
            rollout_id=rollout_id,
            command=args["command"],
            check_mode=options.check_mode,
            counts=wave.counts,
            stats=wave.stats,
            timing=wave.timing,
            results=results,
            ledger=ledger_path,
            broker=connection_summary(args),
            request_key=request_key,
        )
        if options.check_mode:
            result["would_send"] = [r["would_send"] for r in results.values() if r.get("would_send")]
        counts = wave.counts
        result["msg"] = (f"wave {wave.number}: {args['command']} for {counts['hosts']} hosts: "
                         + ", ".join(f"{state} {n}" for state, n in counts["states"].items()))
        return result

    @staticmethod
    def _check_numbers(args):
        positive = ("validity_s", "lockout_limit", "lockout_window_s", "reconnect_warn_s", "reconnect_ceiling_s",
                    "connect_timeout_s", "progress_interval_s")
        for name in positive:
            if args[name] is None or args[name] <= 0:
                raise AnsibleActionFail(f"{name} must be a positive number, got {args[name]!r}")
        if args["timeout_s"] is not None and args["timeout_s"] <= 0:
            raise AnsibleActionFail(f"timeout_s must be a positive number, got {args['timeout_s']!r}")
        if args["reannounce_s"] < 0:
            raise AnsibleActionFail(f"reannounce_s must not be negative (0 disables), got {args['reannounce_s']!r}")
        if args["cooldown_s"] < 0:
            raise AnsibleActionFail(f"cooldown_s must not be negative, got {args['cooldown_s']!r}")
        if args["reconnect_ceiling_s"] < args["reconnect_warn_s"]:
            raise AnsibleActionFail("reconnect_ceiling_s must not be below reconnect_warn_s")
        if args["stability_s"] is not None and args["stability_s"] < 0:
            raise AnsibleActionFail(f"stability_s must not be negative (0 = the agent's completed ack is enough), "
                                    f"got {args['stability_s']!r}")
        if args["stability_timeout_s"] is None or args["stability_timeout_s"] <= 0:
            raise AnsibleActionFail("stability_timeout_s must be a positive number, got "
                                    f"{args['stability_timeout_s']!r}")
        if (args["stability_s"] or 0) > args["stability_timeout_s"]:
            raise AnsibleActionFail(f"stability_timeout_s ({args['stability_timeout_s']:g}) must be at least "
                                    f"stability_s ({args['stability_s']:g}): the window could never be reached")

    def _stability_of(self, task_vars, host):
        """The host's infoscreen_stability_s (inventory), else the default; refused when unusable."""
        value = self._host_var(task_vars, host, STABILITY_VAR)
        if value is None or value == "":
            return DEFAULT_STABILITY_S
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 <= seconds <= 3600:
            raise AnsibleActionFail(f"host {host}: {STABILITY_VAR} = {value!r} is not a number of seconds "
                                    "between 0 and 3600; fix the inventory (0 disables the stability window)")
        return seconds

    def _host_var(self, task_vars, host, var_name):
        hostvars = task_vars.get("hostvars") or {}
        try:
            value = hostvars[host].get(var_name)
        except Exception:  # noqa: BLE001 - unknown host or an undefined template: not set
            return None
        try:
            return self._templar.template(value) if value is not None else None
        except Exception as exc:  # noqa: BLE001
            raise AnsibleActionFail(f"host {host}: cannot template {var_name}: {exc}") from exc

    def _window_options(self, args, task_vars, hosts):
        """The WaveOptions of the maintenance windows; every host's windows parsed (refused when bad)."""
        if args["window_max_wait_s"] < 0:
            raise AnsibleActionFail(f"window_max_wait_s must not be negative, got {args['window_max_wait_s']!r}")
        reason = args["window_override_reason"]
        if reason is not None and not reason.strip():
            raise AnsibleActionFail("window_override_reason must say why the maintenance windows are overridden "
                                    "(it is logged)")
        hostvars = task_vars.get("hostvars") or {}
        windows = {}
        try:
            now = mw.parse_instant(args["window_now"], "window_now") if args["window_now"] else None
            for host in hosts:
                raw = hostvars[host].get(args["windows_var"]) if host in hostvars else None
                if raw is not None:
                    raw = self._templar.template(raw)
                windows[host] = mw.parse_windows(raw, f"host {host}: {args['windows_var']}")
        except mw.WindowError as exc:
            raise AnsibleActionFail(f"{exc}; nothing was sent") from None
        return {"windows": windows, "window_policy": args["window_policy"],
                "window_max_wait_s": args["window_max_wait_s"], "window_override_reason": reason,
                "window_now": now}

    def _client_uuid(self, task_vars, host, var_name):
        hostvars = task_vars.get("hostvars") or {}
        try:
            host_vars = hostvars[host]
        except KeyError:
            return None
        try:
            value = host_vars.get(var_name) if hasattr(host_vars, "get") else host_vars[var_name]
        except Exception:  # noqa: BLE001 - an undefined/broken template is an inventory error
            return None
        if value is None:
            return None
        try:
            value = self._templar.template(value)
        except Exception as exc:  # noqa: BLE001
            display.warning(f"host {host}: cannot template {var_name}: {exc}")
            return None
        return value
