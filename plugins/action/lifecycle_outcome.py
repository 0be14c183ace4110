"""Action plugin infoscreen.fleet.lifecycle_outcome: this host's result of a wave, as ok/failed.

Controller-only and cheap (one ledger read), so it can run per host after a run_once
infoscreen.fleet.lifecycle_wave: Ansible's recap, max_fail_percentage and callbacks then see
each client's outcome.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import ENV_LEDGER, Ledger, LedgerError

ARGUMENT_SPEC = {
    "wave_id": {"type": "str", "required": True},
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
