# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.service_failed_ack: acknowledge retained service_failed reports.

Clears each host's retained report (an empty retained message) over one MQTT connection and notes
it in the ledger. See the module stub plugins/modules/service_failed_ack.py for the documentation.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import ENV_LEDGER, Ledger, LedgerError
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status_ack import AckError, acknowledge
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_action import MqttAction, inventory_clients
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import MQTT_ARGUMENT_SPEC, connection_summary

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str"},
    "client_uuid_var": {"type": "str", "default": "client_uuid"},
    "reason": {"type": "str", "required": True},
    "expect": {"type": "dict", "default": {}},
    "requested_by": {"type": "int"},
    "connect_timeout_s": {"type": "float", "default": 15.0},
    "clear_timeout_s": {"type": "float", "default": 10.0},
    "ledger": {"type": "path", "fallback": (env_fallback, [ENV_LEDGER])},
    **MQTT_ARGUMENT_SPEC,
}


class ActionModule(MqttAction):
    PLUGIN = "service_failed_ack"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = True  # check mode reads what is retained and clears nothing

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._mqtt_args(positive=("connect_timeout_s", "clear_timeout_s"))
        reason = (args["reason"] or "").strip()
        if not reason:
            raise AnsibleActionFail("service_failed_ack: reason must say why the report is acknowledged (it goes to "
                                    "the ledger)")
        if len(reason) > 2000:
            raise AnsibleActionFail("service_failed_ack: reason must be at most 2000 characters")
        if args["requested_by"] is not None and args["requested_by"] < 1:
            raise AnsibleActionFail("service_failed_ack: requested_by must be an integer of at least 1")
        hosts = self._target_hosts(args, task_vars)
        unknown = sorted(set(args["expect"]) - set(hosts))
        if unknown:
            raise AnsibleActionFail(f"service_failed_ack: expect names hosts not in hosts: {unknown}")
        clients, problems = inventory_clients(hosts, task_vars.get("hostvars", {}), args["client_uuid_var"])
        if problems:
            raise AnsibleActionFail("service_failed_ack: fix the inventory first (nothing was cleared) - "
                                    + "; ".join(f"{host}: {text}" for host, text in problems.items()))
        result.update(changed=False, broker=connection_summary(args), ledger=args["ledger"])
        try:
            acks = acknowledge(args, clients, reason, ledger_factory=lambda: Ledger(args["ledger"]),
                               expect=args["expect"], requested_by=args["requested_by"],
                               check_mode=bool(self._task.check_mode), connect_timeout_s=args["connect_timeout_s"],
                               clear_timeout_s=args["clear_timeout_s"])
        except AckError as exc:
            raise AnsibleActionFail(f"service_failed_ack: {exc}; nothing was cleared") from exc
        except LedgerError as exc:
            raise AnsibleActionFail(f"service_failed_ack: {exc}; a report is cleared only once the ledger has the "
                                    "note, so the remaining ones were left as they are") from exc
        result["results"] = acks
        result["cleared"] = sorted(h for h, r in acks.items() if r["cleared"])
        result["would_clear"] = sorted(h for h, r in acks.items() if r["would_clear"])
        result["not_open"] = sorted(h for h, r in acks.items() if r["report"] is None)
        result["left_open"] = sorted(h for h, r in acks.items() if r["report"] is not None and not r["cleared"]
                                     and not r["would_clear"])
        result["changed"] = bool(result["cleared"] or result["would_clear"])
        errors = {h: r["error"] for h, r in acks.items() if r["error"]}
        if errors:
            result["failed"] = True
            detail = "; ".join(f"{h}: {e}" for h, e in sorted(errors.items()))
            result["msg"] = f"service_failed_ack: not cleared - {detail}"
        return result
