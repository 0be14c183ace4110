# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge one step of the recover.yml ladder (restart_app, reboot_host) for one host.

"Never escalate on what was not sent": a step counts as tried-and-did-not-help only when its
command was published (broker PUBACK) and its outcome is known - a failure the client reported
after it took the command on, or no terminal answer by the deadline after publication. Anything
else (broker unreachable, never PUBACKed, ledger error, lockout/cooldown, a refusal by the
client, the whole step failing) stops the ladder for that host: the next tier, up to a PoE
power cycle, would act on doubt. Pure functions, no I/O (used by the lifecycle_outcome action).
"""

RECOVERED = "recovered"
ESCALATE = "escalate"
STOP = "stop"
CHECK_MODE = "check_mode"

# Controller-side states reached only after the broker acknowledged the publish.
_PUBLISHED_STATES = frozenset(("published", "accepted", "execution_started", "completed"))
# States the client reaches only when it took the command on (valid, for it, not refused).
_TAKEN_ON_STATES = frozenset(("accepted", "execution_started", "completed"))
# Failures the agent reports after it ran the command (agent/infoscreen_agent/agent.py).
EXECUTION_FAILURES = frozenset(("helper_failed", "reboot_not_observed", "shutdown_not_observed",
                                "restart_not_observed", "reconnect_ceiling_exceeded"))
_NO_ANSWER = frozenset(("timed_out", "expired"))
STOPS_HERE = "the ladder stops here for this host (no next tier, no PoE cycle)"


def _verdict(verdict, tried, reason, code=None):
    return {"verdict": verdict, "tried": tried, "reason": reason, "stop_code": code}


def _seen(result):
    return {t.get("state") for t in result.get("transitions") or [] if isinstance(t, dict)}


def judge_step(action, result, *, wave_error=None):
    """Verdict for one host's result of one ladder step (a lifecycle_wave per-host result).

    Returns ``{"verdict": recovered|escalate|stop|check_mode, "tried": bool, "reason": str,
    "stop_code": str|None}``; ``wave_error`` is the message of a step that failed as a whole.
    """
    if wave_error is not None:
        return _verdict(STOP, False, "%s was not run: the step failed as a whole (%s); %s"
                        % (action, wave_error, STOPS_HERE), "step_failed")
    if not result:
        return _verdict(STOP, False, "%s: no result for this host; %s" % (action, STOPS_HERE), "no_result")
    state = result.get("state")
    code = result.get("error_code")
    message = result.get("error_message") or code or ""
    if state == "not_sent":
        return _verdict(CHECK_MODE, False, "check mode: would send %s" % action)
    if result.get("ok") and state == "completed":
        return _verdict(RECOVERED, True, "%s completed" % action)
    if state == "blocked":
        # Outside the maintenance windows (docs/policy.md, "recover.yml") or the safety lockout.
        what = "outside its maintenance windows" if code == "outside_maintenance_window" else "by the safety lockout"
        return _verdict(STOP, False, "blocked %s before %s: %s (eligible at %s); %s"
                        % (what, action, message, result.get("eligible_at") or "?", STOPS_HERE), code or "blocked")
    seen = _seen(result) | {state}
    if not result.get("executed") or not seen & (_PUBLISHED_STATES | {"failed"}):
        why = message or "the broker never acknowledged the publish (%s)" % state
        return _verdict(STOP, False, "%s not sent (%s): %s; %s" % (action, code or "not_published", why, STOPS_HERE),
                        code or "not_published")
    if state in _NO_ANSWER:
        return _verdict(ESCALATE, True, "%s published, no answer: %s" % (action, message or state))
    if code == "identity_conflict":  # two machines behind one identity (command_tracker): no tier may act
        return _verdict(STOP, True, "%s: %s; %s" % (action, message, STOPS_HERE), code)
    if state == "failed":
        if code in EXECUTION_FAILURES or seen & _TAKEN_ON_STATES:
            return _verdict(ESCALATE, True, "%s failed on the client: %s" % (action, message))
        return _verdict(STOP, False, "%s refused by the client (%s): %s; %s"
                        % (action, code or "failed", message, STOPS_HERE), code or "refused")
    if state == "completed":  # done, but judged not ok (back only above the reconnect ceiling)
        return _verdict(ESCALATE, True, "%s completed but not ok: %s" % (action, message or "see the step"))
    return _verdict(STOP, False, "%s: outcome unknown (last state %s); %s" % (action, state, STOPS_HERE),
                    "outcome_unknown")
