# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.rollout_state: the rollout state file beside the ledger.

op=begin starts or resumes a rollout (or refuses, saying why), op=record stores what each
client runs before the first apply - once per rollout, a re-run gets the first record back -
and op=finish closes it. The logic is plugins/plugin_utils/rollout_state.py.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import ENV_LEDGER, default_path
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import rollout_state

ARGUMENT_SPEC = {
    "op": {"type": "str", "required": True, "choices": ["begin", "record", "finish"]},
    "rollout_id": {"type": "str", "required": True},
    "release": {"type": "str"},
    "recorded": {"type": "dict", "default": {}},
    "wave": {"type": "int"},
    "wave_name": {"type": "str"},
    "status": {"type": "str", "choices": ["passed", "rolled_back"]},
    "reason": {"type": "str"},
    "ledger": {"type": "path", "fallback": (env_fallback, [ENV_LEDGER])},
    "state_dir": {"type": "path"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        check_mode = bool(self._task.check_mode or self._play_context.check_mode)
        directory = args["state_dir"] or rollout_state.state_dir(args["ledger"] or default_path())
        rollout_id = args["rollout_id"]
        result.update(changed=False, rollout_id=rollout_id, state_dir=directory, check_mode=check_mode)
        try:
            if args["op"] == "begin":
                if not args["release"]:
                    raise AnsibleActionFail("op=begin needs release (the label being rolled out)")
                state, message = rollout_state.begin(directory, rollout_id, args["release"], check_mode=check_mode)
                result.update(msg=message, resumed=state.get("runs", 1) > 1, runs=state.get("runs", 1),
                              recorded_hosts=sorted(state.get("clients") or {}), changed=not check_mode)
            elif args["op"] == "record":
                effective, new = rollout_state.record(directory, rollout_id, args["recorded"], args["wave"],
                                                      check_mode=check_mode)
                kept = sorted(set(effective) - set(new))
                result.update(recorded=effective, new=new, kept=kept, changed=bool(new) and not check_mode,
                              msg=f"rollout {rollout_id}: recorded {len(new)} client(s)"
                                  + (f"; kept the first record of {', '.join(kept)} (resumed rollout)" if kept else ""))
            else:
                if not args["status"]:
                    raise AnsibleActionFail("op=finish needs status (passed or rolled_back)")
                rollout_state.finish(directory, rollout_id, args["status"], wave=args["wave"],
                                     name=args["wave_name"], reason=args["reason"], check_mode=check_mode)
                result.update(msg=f"rollout {rollout_id}: {args['status']}", changed=not check_mode)
        except rollout_state.RolloutStateError as exc:
            raise AnsibleActionFail(str(exc)) from None
        return result
