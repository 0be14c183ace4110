# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.wave_plan: check every rollout option and plan the waves.

Runs on the controller before any client is touched (first play of canary.yml and of the
group playbooks, run_once). The checks and the arithmetic are the pure functions of
plugins/plugin_utils/wave_plan.py; this plugin only feeds them the play's hosts (``--limit``
applied) and the inventory groups, and fails with their message.
"""

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import iso
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import maintenance_window as mw
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_plan import (
    PlanError,
    bulk_guard,
    check_pattern,
    plan,
)

ARGUMENT_SPEC = {
    "waves": {"type": "raw", "required": True},
    "hosts": {"type": "list", "elements": "str"},
    "target": {"type": "str"},
    "pattern": {"type": "str"},
    "threshold_pct": {"type": "raw", "default": 5},
    "min_executed": {"type": "raw", "default": 1},
    "unlimited_hosts": {"type": "list", "elements": "str"},
    "limit": {"type": "str"},
    "fleet_group": {"type": "str", "default": "infoscreen_clients"},
    "bulk_max_hosts": {"type": "raw", "default": 10},
    "bulk_max_pct": {"type": "raw"},
    "bulk_confirm": {"type": "raw"},
    "windows_var": {"type": "str", "default": mw.WINDOWS_VAR},
    "window_policy": {"type": "str", "default": "skip", "choices": ["skip", "wait"]},
    "window_max_wait_s": {"type": "float", "default": 3600.0},
    "window_override_reason": {"type": "str"},
    "window_now": {"type": "str"},
}
# Judging the windows of many hosts in the plan's message: list at most this many by name.
_NAMED = 5


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
        check_mode = bool(self._task.check_mode or self._play_context.check_mode)
        try:
            if args["pattern"] is not None:
                check_pattern(args["pattern"], groups, list(task_vars.get("hostvars") or {}))
            planned = plan(hosts, args["waves"], groups=groups, target=args["target"],
                           threshold_pct=args["threshold_pct"], min_executed=args["min_executed"])
            targeted = [host for wave in planned["waves"] for host in wave["hosts"]]
            limit = args["limit"] if args["limit"] is not None else task_vars.get("ansible_limit")
            bulk = bulk_guard(targeted, unlimited=self._unlimited(args, groups, planned), limit=limit,
                              fleet=groups.get(args["fleet_group"]), max_hosts=args["bulk_max_hosts"],
                              max_pct=args["bulk_max_pct"], confirm=args["bulk_confirm"], check_mode=check_mode)
            windows = self._windows(args, task_vars, targeted)
        except (PlanError, mw.WindowError) as exc:
            raise AnsibleActionFail(f"{exc}. Nothing was changed.") from None
        result.update(planned)
        result["changed"] = False
        result["bulk"] = bulk
        result["windows"] = windows
        skipped = f"; not in --limit, skipped: {', '.join(planned['skipped'])}" if planned["skipped"] else ""
        result["msg"] = (f"{len(planned['waves'])} wave(s) over {planned['hosts']} host(s): "
                         + ", ".join(f"{w['name']} {len(w['hosts'])}" for w in planned["waves"]) + skipped
                         + f"; {bulk['msg']}; {windows['msg']}")
        return result

    @staticmethod
    def _unlimited(args, groups, planned):
        """The hosts the run would target without --limit (None when not known)."""
        if args["unlimited_hosts"] is not None:
            return args["unlimited_hosts"]
        if planned["mode"] == "groups":
            return [host for wave in [w["name"] for w in planned["waves"]] + planned["skipped"]
                    for host in groups.get(wave, [])]
        if args["target"] is not None:
            return groups.get(args["target"], [])
        return None

    def _windows(self, args, task_vars, targeted):
        """Check every targeted host's maintenance windows and the window options (nothing is
        sent yet); say how many hosts are outside their windows now."""
        if args["window_max_wait_s"] < 0:
            raise mw.WindowError(f"infoscreen_window_max_wait_s {args['window_max_wait_s']!r} must not be negative")
        reason = args["window_override_reason"]
        if reason is not None and not reason.strip():
            raise mw.WindowError("infoscreen_window_override_reason is empty: say why the maintenance windows are "
                                 "overridden (it is logged), or leave it unset")
        now = time.time() if not args["window_now"] else mw.parse_instant(args["window_now"])
        hostvars = task_vars.get("hostvars") or {}
        problems = []
        restricted = 0
        outside = []
        for host in targeted:
            try:
                raw = hostvars[host].get(args["windows_var"]) if host in hostvars else None
                if raw is not None:
                    raw = self._templar.template(raw)
                windows = mw.parse_windows(raw, f"host {host}: {args['windows_var']}")
            except mw.WindowError as exc:
                problems.append(str(exc))
                continue
            if windows is None:
                continue
            restricted += 1
            verdict = mw.judge(windows, now)
            if not verdict["inside"]:
                outside.append((host, verdict["eligible_at"]))
        if problems:
            more = f" (and {len(problems) - _NAMED} more host(s))" if len(problems) > _NAMED else ""
            raise mw.WindowError("; ".join(problems[:_NAMED]) + more + "; fix the inventory")
        if not restricted:
            return {"restricted": 0, "outside_now": [], "msg": "no maintenance windows set"}
        text = f"maintenance windows on {restricted} host(s), {len(outside)} outside now"
        if outside:
            names = ", ".join(f"{host} (opens {iso(at) if at else 'not within 2 weeks'})"
                              for host, at in outside[:_NAMED])
            text += f": {names}{' ...' if len(outside) > _NAMED else ''}"
            text += f"; sent anyway, override: {reason}" if reason else f"; policy {args['window_policy']}"
        if args["window_now"]:
            text += f" (judged at infoscreen_wave_window_now={args['window_now']}, not the controller clock)"
        return {"restricted": restricted, "outside_now": [{"host": h, "eligible_at": iso(a)} for h, a in outside],
                "msg": text}
