"""Action plugin infoscreen.fleet.wave_plan: check every rollout option and plan the waves.

Runs on the controller before any client is touched (first play of canary.yml and of the
group playbooks, run_once). The checks and the arithmetic are the pure functions of
plugins/plugin_utils/wave_plan.py; this plugin only feeds them the play's hosts (``--limit``
applied) and the inventory groups, and fails with their message.
"""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_plan import PlanError, check_pattern, plan

ARGUMENT_SPEC = {
    "waves": {"type": "raw", "required": True},
    "hosts": {"type": "list", "elements": "str"},
    "target": {"type": "str"},
    "pattern": {"type": "str"},
    "threshold_pct": {"type": "raw", "default": 5},
    "min_executed": {"type": "raw", "default": 1},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hosts = args["hosts"] if args["hosts"] is not None else list(task_vars.get("ansible_play_hosts_all") or [])
        groups = {name: list(members) for name, members in (task_vars.get("groups") or {}).items()}
        try:
            if args["pattern"] is not None:
                check_pattern(args["pattern"], groups, list(task_vars.get("hostvars") or {}))
            planned = plan(hosts, args["waves"], groups=groups, target=args["target"],
                           threshold_pct=args["threshold_pct"], min_executed=args["min_executed"])
        except PlanError as exc:
            raise AnsibleActionFail(f"{exc}. Nothing was changed.") from None
        result.update(planned)
        result["changed"] = False
        skipped = f"; not in --limit, skipped: {', '.join(planned['skipped'])}" if planned["skipped"] else ""
        result["msg"] = (f"{len(planned['waves'])} wave(s) over {planned['hosts']} host(s): "
                         + ", ".join(f"{w['name']} {len(w['hosts'])}" for w in planned["waves"]) + skipped)
        return result
