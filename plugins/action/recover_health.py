# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.recover_health: who needs recovery, and who came back.

Runs on the controller over one MQTT connection for all hosts (use run_once). See the
module stub plugins/modules/recover_health.py for the documentation.
"""

from ansible.errors import AnsibleActionFail
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_action import MqttAction, inventory_clients
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import MQTT_ARGUMENT_SPEC, connection_summary
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


class ActionModule(MqttAction):
    PLUGIN = "recover_health"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = True  # it only listens

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._mqtt_args(positive=("listen_s", "max_heartbeat_age_s", "timeout_s", "connect_timeout_s"))
        hosts = self._target_hosts(args, task_vars)
        clients, problems = inventory_clients(hosts, task_vars.get("hostvars", {}), args["client_uuid_var"])
        if problems:
            raise AnsibleActionFail("recover_health: fix the inventory first - "
                                    + "; ".join(f"{host}: {text}" for host, text in problems.items()))
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
