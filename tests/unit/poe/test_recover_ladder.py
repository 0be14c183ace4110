"""The recover ladder's judging of one step (plugin_utils/recover_ladder.py): only a step whose
command was published and whose outcome is known counts as tried; everything else stops."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_ladder import judge_step


def wave_result(state, *seen, executed=True, ok=False, error_code=None, error_message=None, eligible_at=None):
    return {"state": state, "executed": executed, "ok": ok, "error_code": error_code, "error_message": error_message,
            "eligible_at": eligible_at, "transitions": [{"state": s} for s in ("queued", *seen, state)]}


@pytest.mark.parametrize("result, code", [
    # the wave could not connect: nothing left the controller
    (wave_result("failed", executed=False, error_code="broker_unreachable",
                 error_message="host h: not sent: could not connect"), "broker_unreachable"),
    # the broker went away before the PUBACK: the command ran out while still queued
    (wave_result("timed_out", error_code="timeout", error_message="no terminal ack; last state queued"),
     "timeout"),
    (wave_result("expired", error_code="expired", error_message="not accepted (last state queued)"), "expired"),
    # the safety lockout or cooldown refused it before publishing
    (wave_result("blocked", executed=False, error_code="cooldown", error_message="cooling down",
                 eligible_at="2026-01-01T00:00:00Z"), "cooldown"),
    # the client refused it without running it (its own lockout, clock skew, wrong client)
    (wave_result("failed", "published", error_code="lockout", error_message="3 ran"), "lockout"),
    (wave_result("failed", "published", error_code="wrong_client", error_message="not me"), "wrong_client"),
    # a result the wave driver marks as not sent, whatever its state
    (wave_result("unreachable", executed=False, error_code="host_unreachable", error_message="dropped out"),
     "host_unreachable"),
])
def test_not_tried_stops_the_ladder(result, code):
    """Not published, blocked or refused by the client: verdict stop, not tried, the reason says so."""
    verdict = judge_step("reboot_host", result)
    assert (verdict["verdict"], verdict["tried"], verdict["stop_code"]) == ("stop", False, code)
    assert "reboot_host" in verdict["reason"] and "no PoE cycle" in verdict["reason"]


@pytest.mark.parametrize("result", [
    wave_result("expired", "published", error_code="expired", error_message="not accepted (last state published)"),
    wave_result("timed_out", "published", "accepted", "execution_started", error_code="timeout"),
    wave_result("failed", "published", "accepted", "execution_started", error_code="helper_failed",
                error_message="helper exited 1"),
    # the accepted / execution_started acks were lost, the failure says the command ran
    wave_result("failed", "published", error_code="restart_not_observed", error_message="app still crashed"),
    wave_result("completed", "published", "accepted", "execution_started", error_code="reconnect_ceiling_exceeded"),
])
def test_published_with_a_known_bad_outcome_escalates(result):
    """Published, then a failure after the client took it on or no answer by the deadline: tried."""
    verdict = judge_step("restart_app", result)
    assert (verdict["verdict"], verdict["tried"], verdict["stop_code"]) == ("escalate", True, None)


def test_completed_recovers_and_check_mode_continues():
    """A completed, ok step ends the ladder as recovered; check mode's not_sent only previews."""
    done = judge_step("restart_app", wave_result("completed", "published", "accepted", ok=True))
    assert (done["verdict"], done["tried"]) == ("recovered", True)
    preview = judge_step("restart_app", wave_result("not_sent", executed=False))
    assert (preview["verdict"], preview["tried"]) == ("check_mode", False)


def test_a_step_that_failed_as_a_whole_stops_with_its_message():
    """No per-host result (the wave task raised, e.g. a LedgerError): stop, naming the error."""
    verdict = judge_step("restart_app", None, wave_error="the ledger /x could not be opened")
    assert (verdict["verdict"], verdict["stop_code"]) == ("stop", "step_failed")
    assert "the ledger /x could not be opened" in verdict["reason"]
    assert judge_step("restart_app", None)["verdict"] == "stop"
