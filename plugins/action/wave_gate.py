# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.wave_gate: decide whether the remaining waves may run.

Reads the wave's counts from the ledger, applies the gate (rollout_summary.gate_decision:
fewer than min_executed commands executed is a STOP - nothing sent is never a pass -, else
(failed + timed_out + unreachable) / (executed + unreachable) > threshold, strictly), records
the decision in the ledger and returns it. It never fails the host itself: the playbook
stops the remaining waves (tasks/wave_stop.yml, canary_wave.yml) when ``stop`` is true.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import ENV_LEDGER, Ledger, LedgerError
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import gate_decision

ARGUMENT_SPEC = {
    "wave_id": {"type": "str", "required": True},
    "threshold_pct": {"type": "float", "default": 5.0},
    "min_executed": {"type": "int", "default": 1},
    "ledger": {"type": "path", "fallback": (env_fallback, [ENV_LEDGER])},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            with Ledger(args["ledger"]) as ledger:
                wave = ledger.wave(args["wave_id"])
                if wave is None or wave.get("summary") is None:
                    raise AnsibleActionFail(f"wave {args['wave_id']} is not in the ledger {ledger.path}; run "
                                            f"infoscreen.fleet.lifecycle_wave first and use the same ledger")
                try:
                    gate = gate_decision(wave["summary"]["counts"], args["threshold_pct"], args["min_executed"],
                                         check_mode=bool(wave["check_mode"]))
                except ValueError as exc:
                    raise AnsibleActionFail(str(exc)) from exc
                gate["wave"] = wave["number"]
                if not wave["check_mode"]:
                    ledger.set_gate(args["wave_id"], gate)
        except LedgerError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        # The counts are renamed: a key "failed" in a task result would fail the task, and a
        # key "unreachable" would make Ansible drop the host as unreachable.
        result.update({key: value for key, value in gate.items() if key not in ("failed", "timed_out", "unreachable")})
        result["failed_count"] = gate["failed"]
        result["timed_out_count"] = gate["timed_out"]
        result["unreachable_count"] = gate["unreachable"]
        result["stop"] = gate["decision"] == "stop"
        result["wave_id"] = args["wave_id"]
        result["changed"] = False
        result["msg"] = f"wave {gate['wave']} gate: {gate['decision']} ({gate['reason']})"
        if result["stop"]:
            self._display.warning(f"remaining waves stopped: {result['msg']}")
        return result
