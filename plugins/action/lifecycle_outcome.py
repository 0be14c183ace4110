# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.lifecycle_outcome: this host's result of a wave, as ok/failed.

Controller-only and cheap (one ledger read), so it can run per host after a run_once
infoscreen.fleet.lifecycle_wave: Ansible's recap, max_fail_percentage and callbacks then see
each client's outcome.

With ``ladder: true`` (recover.yml) it judges the result as a step of the recovery ladder
(plugin_utils/recover_ladder.py) and returns ``ladder``; the host is not failed here, the
ladder decides. The result comes from ``result`` (the wave task's per-host result, as the wave
returned it) or else from the ledger; ``wave_error`` is the message of a wave task that failed
as a whole: the step was not sent.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import ENV_LEDGER, Ledger, LedgerError
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_ladder import judge_step

ARGUMENT_SPEC = {
    "wave_id": {"type": "str"},
    "ladder": {"type": "bool", "default": False},
    "action": {"type": "str"},
    "wave_error": {"type": "str"},
    "result": {"type": "dict"},
    "ledger": {"type": "path", "fallback": (env_fallback, [ENV_LEDGER])},
}

RESULT_FIELDS = ("client_uuid", "command_id", "action", "state", "ok", "transitions", "reconnect_s",
                 "reconnect_verdict", "boot_id_before", "boot_id_after", "boot_id_changed", "duplicate_acks",
                 "republished", "error_code", "error_message", "eligible_at", "wave", "wave_id", "reused", "executed",
                 "would_send")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = task_vars.get("inventory_hostname")
        if args["ladder"]:
            return self._ladder(result, host, args)
        if not args["wave_id"]:
            raise AnsibleActionFail("lifecycle_outcome needs wave_id (the wave_id returned by lifecycle_wave)")
        try:
            with Ledger(args["ledger"]) as ledger:
                found = ledger.wave_host_result(args["wave_id"], host)
        except LedgerError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        if found is None:
            result.update(failed=True, state=None,
                          msg=f"host {host} is not part of wave {args['wave_id']} in the ledger: was it added to "
                              f"the play after the wave ran, or does the wave use another ledger file?")
            return result
        for name in RESULT_FIELDS:
            if name in found:
                result[name] = found[name]
        state = found["state"]
        result["changed"] = bool(found.get("executed") and not found.get("reused")) or state == "not_sent"
        if state == "not_sent":
            result["msg"] = f"check mode: would send {found['action']} ({found['command_id']}) to {host}"
        elif found.get("ok"):
            reconnect = found.get("reconnect_s")
            extra = f", reconnected in {reconnect:.1f} s ({found.get('reconnect_verdict')})" if reconnect else ""
            result["msg"] = f"{found['action']} {state} on {host}{extra}" + (" (retry: same command)"
                                                                             if found.get("reused") else "")
            if found.get("reconnect_verdict") == "slow":
                self._display.warning(f"host {host}: reconnect took {reconnect:.1f} s, above the baseline")
        else:
            result["failed"] = True
            detail = found.get("error_message") or found.get("error_code") or state
            result["msg"] = f"{found['action']} {state} on {host}: {detail}"
        return result

    @staticmethod
    def _ladder(result, host, args):
        """Judge the host's step for the recover ladder; a failure to read is a stop, not an error."""
        action = args["action"] or "the step"
        wave_error = args["wave_error"]
        found = args["result"] if wave_error is None else None
        if wave_error is None and found is None and not args["wave_id"]:
            wave_error = "no result for host %s and no wave_id to look it up" % host
        if wave_error is None and found is None:
            try:
                with Ledger(args["ledger"]) as ledger:
                    found = ledger.wave_host_result(args["wave_id"], host)
            except LedgerError as exc:
                wave_error = "the ledger could not be read for the outcome: %s" % exc
            else:
                if found is None:
                    wave_error = "host %s is not part of wave %s in the ledger" % (host, args["wave_id"])
        if found is not None:
            result.update({name: found[name] for name in RESULT_FIELDS if name in found})
        else:
            result.update(state="not_run", ok=False, executed=False, action=action, error_code="step_failed",
                          error_message=wave_error)
        verdict = judge_step(action, found, wave_error=None if found is not None else wave_error)
        result.update(ladder=verdict, changed=False, msg="%s: %s (%s)" % (host, verdict["reason"], verdict["verdict"]))
        return result
