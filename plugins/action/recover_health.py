# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.recover_health: who needs recovery, and who came back.

Runs on the controller over one MQTT connection for all hosts (use run_once). See the
module stub plugins/modules/recover_health.py for the documentation.
"""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import (
    MQTT_ARGUMENT_SPEC,
    connection_summary,
    missing_libraries,
)
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_health import HealthError, HealthWatcher

ARGUMENT_SPEC = {
    "mode": {"type": "str", "default": "snapshot", "choices": ["snapshot", "wait_reconnect"]},
    "hosts": {"type": "list", "elements": "str"},
    "client_uuid_var": {"type": "str", "default": "client_uuid"},
    "listen_s": {"type": "float", "default": 65.0},
    "wait_for": {"type": "str", "default": "health", "choices": ["health", "heartbeat"]},
    "max_heartbeat_age_s": {"type": "float", "default": 90.0},
    "boot_ids": {"type": "dict", "default": {}},
    "since": {"type": "float"},
    "timeout_s": {"type": "float", "default": 150.0},
    "connect_timeout_s": {"type": "float", "default": 15.0},
    **MQTT_ARGUMENT_SPEC,
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # it only listens
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        missing = missing_libraries()
        if missing:
            raise AnsibleActionFail(missing)
        for name in ("listen_s", "max_heartbeat_age_s", "timeout_s", "connect_timeout_s"):
            if args[name] <= 0:
                raise AnsibleActionFail(f"recover_health: {name} must be above 0, got {args[name]}")
        hosts = args["hosts"] if args["hosts"] is not None else task_vars.get("ansible_play_batch", [])
        hostvars = task_vars.get("hostvars", {})
        clients, problems = {}, []
        for host in hosts:
            value = hostvars.get(host, {}).get(args["client_uuid_var"])
            try:
                contract.heartbeat_topic(value)  # refuses anything that is not a UUID
            except (TypeError, ValueError):
                problems.append(f"{host}: {args['client_uuid_var']} is missing or not a UUID ({value!r})")
            else:
                clients[host] = value
        if problems:
            raise AnsibleActionFail("recover_health: fix the inventory first - " + "; ".join(problems))
        result.update(changed=False, mode=args["mode"], broker=connection_summary(args))
        try:
            with HealthWatcher(args, clients, connect_timeout_s=args["connect_timeout_s"]) as watcher:
                if args["mode"] == "snapshot":
                    seen, listened = watcher.snapshot(args["listen_s"], args["max_heartbeat_age_s"],
                                                      wait_for=args["wait_for"])
                    result.update(clients=seen, listened_s=round(listened, 1),
                                  needs_recovery=sorted(h for h, r in seen.items() if r["needs_recovery"]),
                                  healthy=sorted(h for h, r in seen.items() if not r["reasons"]))
                else:
                    unknown = sorted(set(args["boot_ids"]) - set(clients))
                    if unknown:
                        raise AnsibleActionFail(f"recover_health: boot_ids for hosts not in hosts: {unknown}")
                    came = watcher.wait_new_boot({h: args["boot_ids"].get(h) for h in clients}, args["timeout_s"],
                                                 since_epoch=args["since"])
                    result.update(clients=came, reconnected=sorted(h for h, r in came.items() if r["reconnected"]),
                                  missing=sorted(h for h, r in came.items() if not r["reconnected"]))
                result["invalid_payloads"] = watcher.invalid
                result["retained_ignored"] = watcher.retained_ignored
                result["identity_conflicts"] = sorted(h for h, r in result["clients"].items()
                                                      if r.get("identity_conflict"))
        except HealthError as exc:
            raise AnsibleActionFail(f"recover_health: {exc}") from exc
        return result
