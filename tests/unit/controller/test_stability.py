"""Issue 18 "really back": a reboot completes only when the app runs for the stability window
on the new boot; crashed, flapping, rebooting or silent clients end failed/app_not_stable.
And the held phase: a client that reports a local hold is not timed out before its validity.

Pure state machine with a fake clock (monotonic seconds fed by the test); the window is
judged on the client's own uptime_s from its health reports.
"""

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.command_tracker import Clock, CommandTracker
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import wave_counts

CMD = "9b2f1a36-3c56-4f0e-8b1e-1c2b3d4e5f60"
CLIENT = "0f8fad5b-d9cb-469f-a165-70867728950e"
OLD_BOOT, NEW_BOOT, THIRD_BOOT = "boot-old", "boot-new", "boot-third"


def ack(status, code=None, message=None):
    return {"command_id": CMD, "status": status, "error_code": code, "error_message": message}


def health(app_state, uptime, boot_id=NEW_BOOT, hold=None):
    return {"client_uuid": CLIENT, "boot_id": boot_id, "uptime_s": uptime, "app_state": app_state, "hold": hold}


def rebooted(stability_s=45.0, stability_timeout_s=150.0, action="reboot_host"):
    """A tracker whose agent has just sent completed at t=130 (published at 100)."""
    t = CommandTracker("lobby-01", CLIENT, CMD, action, clock=Clock(100.0, 1_800_000_000.0), start_mono=100.0,
                       validity_s=240, timeout_s=180, stability_s=stability_s,
                       stability_timeout_s=stability_timeout_s)
    t.on_published(100.0)
    t.on_heartbeat(OLD_BOOT, 100.05)
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("execution_started"), 100.2)
    t.on_ack(ack("completed"), 130.0)
    return t


def test_stable_app_completes_only_after_the_window():
    t = rebooted()
    assert t.state == "execution_started" and t.phase == "stabilizing" and not t.terminal
    assert t.on_health(health("running", 20.0), 130.1) is False
    assert t.on_health(health("running", 50.0), 160.1) is False  # 30 s of 45
    assert t.check_deadline(170.0) is False
    assert t.on_health(health("running", 66.0), 176.1) is True  # 46 s >= 45
    result = t.result()
    assert result["state"] == "completed" and result["ok"] is True
    assert result["reconnect_s"] == 29.8  # to the agent's ack, not to the end of the window
    assert result["stability"]["verdict"] == "stable" and result["stability"]["stable_s"] == 46.1
    states = [x["state"] for x in result["transitions"]]
    assert states[-2:] == ["stabilizing", "completed"]
    # the ledger sees reconnect and boot ids at the ack (a fields-only event), then completed
    assert [e[0] for e in t.events][-2:] == [None, "completed"]


def test_app_crashed_after_the_reboot_fails_with_its_own_code_and_counts_against_the_gate():
    t = rebooted()
    t.on_health(health("running", 20.0), 130.1)
    assert t.on_health(health("crashed", 25.0), 135.1) is True
    result = t.result()
    assert (result["state"], result["ok"], result["error_code"]) == ("failed", False, "app_not_stable")
    assert "crashed" in result["error_message"] and "came back after 29.8 s" in result["error_message"]
    assert result["stability"]["verdict"] == "crashed"
    assert result["reconnect_s"] == 29.8
    result["executed"] = True
    counts = wave_counts({"lobby-01": result})
    assert (counts["failed"], counts["ok"]) == (1, 0)


def test_crashed_at_the_first_report_fails_at_once():
    t = rebooted()
    assert t.on_health(health("crashed", 18.0), 130.2) is True
    assert t.result()["stability"]["verdict"] == "crashed"


def test_flapping_app_fails():
    t = rebooted()
    t.on_health(health("running", 20.0), 130.1)
    t.on_health(health("running", 40.0), 150.1)
    assert t.on_health(health("stopped", 50.0), 160.1) is True
    result = t.result()
    assert result["error_code"] == "app_not_stable" and result["stability"]["verdict"] == "flapping"
    assert "from running to stopped" in result["error_message"]


def test_app_not_started_yet_is_waited_for_then_judged_from_when_it_runs():
    t = rebooted()
    assert t.on_health(health("stopped", 12.0), 130.1) is False  # unit not started yet after boot
    t.on_health(health("running", 30.0), 148.0)
    assert t.on_health(health("running", 70.0), 188.0) is False  # only 40 s running
    assert t.on_health(health("running", 76.0), 194.0) is True
    assert t.result()["state"] == "completed"


def test_second_boot_during_the_window_fails():
    t = rebooted()
    t.on_health(health("running", 20.0), 130.1)
    assert t.on_health(health("running", 5.0, boot_id=THIRD_BOOT), 150.0) is True
    assert t.result()["stability"]["verdict"] == "rebooted"


def test_no_health_within_the_stability_timeout_fails_not_times_out():
    t = rebooted(stability_timeout_s=60.0)
    assert t.check_deadline(189.9) is False
    assert t.check_deadline(190.0) is True
    result = t.result()
    assert (result["state"], result["error_code"]) == ("failed", "app_not_stable")
    assert "no health report" in result["error_message"]


def test_old_boot_health_is_not_evidence():
    t = rebooted()
    t.on_health(health("running", 5000.0, boot_id=OLD_BOOT), 130.1)
    t.on_health(health("running", 5100.0, boot_id=OLD_BOOT), 190.0)
    assert not t.terminal


def test_health_before_the_ack_of_the_new_boot_counts():
    t = CommandTracker("lobby-01", CLIENT, CMD, "reboot_host", clock=Clock(100.0, 0.0), start_mono=100.0,
                       validity_s=240, timeout_s=180, stability_s=10.0)
    t.on_heartbeat(OLD_BOOT, 100.0)
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("execution_started"), 100.2)
    t.on_health(health("running", 10.0), 129.0)
    t.on_ack(ack("completed"), 130.0)
    assert t.on_health(health("running", 21.0), 140.0) is True
    assert t.state == "completed"


def test_window_zero_keeps_the_old_rule():
    t = rebooted(stability_s=0)
    assert t.state == "completed" and t.stability is None


def test_restart_app_has_no_stability_phase():
    t = rebooted(action="restart_app")
    assert t.state == "completed"


def test_shutdown_going_down_completes_but_one_seen_back_is_judged():
    t = rebooted(action="shutdown_host")
    assert t.state == "completed"  # the usual shutdown: the screen is meant to be dark
    back = CommandTracker("lobby-01", CLIENT, CMD, "shutdown_host", clock=Clock(100.0, 0.0), start_mono=100.0,
                          validity_s=240, timeout_s=180, stability_s=10.0)
    back.on_heartbeat(OLD_BOOT, 100.0)
    back.on_ack(ack("accepted"), 100.1)
    back.on_ack(ack("execution_started"), 100.2)
    back.on_heartbeat(NEW_BOOT, 300.0)  # powered on again before its outcome arrived
    back.on_ack(ack("completed"), 300.5)
    assert back.phase == "stabilizing"
    assert back.on_health(health("crashed", 9.0), 301.0) is True
    assert back.result()["error_code"] == "app_not_stable"


def test_over_the_reconnect_ceiling_fails_without_waiting_for_the_window():
    t = CommandTracker("lobby-01", CLIENT, CMD, "reboot_host", clock=Clock(100.0, 0.0), start_mono=100.0,
                       validity_s=240, timeout_s=300, stability_s=45.0)
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("execution_started"), 100.2)
    t.on_ack(ack("completed"), 260.0)
    result = t.result()
    assert result["state"] == "completed" and result["ok"] is False
    assert result["error_code"] == "reconnect_ceiling_exceeded"


# -- held ---------------------------------------------------------------------------------

HOLD = {"owner": "signage-app", "reason": "live announcement", "since": "2026-12-02T03:00:00Z"}


def accepted(validity_s=240, timeout_s=180):
    t = CommandTracker("lobby-01", CLIENT, CMD, "reboot_host", clock=Clock(100.0, 0.0), start_mono=100.0,
                       validity_s=validity_s, timeout_s=timeout_s)
    t.on_published(100.0)
    t.on_ack(ack("accepted"), 100.1)
    return t


def test_held_client_is_not_timed_out_before_its_validity_ends():
    t = accepted()
    assert t.on_health(health("running", 500.0, boot_id=OLD_BOOT, hold=HOLD), 101.0) is True
    assert t.phase == "held"
    assert t.check_deadline(290.0) is False  # the plain timeout (180 s) has passed
    assert t.check_deadline(339.0) is False  # validity (240 s) has not + the reboot's timeout
    t.on_ack(ack("execution_started"), 330.0)  # the hold cleared just before expiry
    assert t.phase is None
    assert t.check_deadline(500.0) is False  # 180 s from execution_started
    t.on_ack(ack("completed"), 360.0)
    result = t.result()
    assert result["state"] == "completed" and result["hold"]["owner"] == "signage-app"
    assert result["held_s"] == 229.0
    assert [x["state"] for x in result["transitions"]] == ["queued", "published", "accepted", "held",
                                                           "execution_started", "released", "completed"]


def test_held_client_failing_busy_keeps_the_agents_code():
    t = accepted()
    t.on_health(health("running", 500.0, boot_id=OLD_BOOT, hold=HOLD), 101.0)
    t.on_ack(ack("failed", "busy", "held by signage-app since ...: live announcement"), 340.0)
    result = t.result()
    assert (result["state"], result["error_code"]) == ("failed", "busy")
    assert result["held_s"] == 239.0


def test_without_a_hold_the_plain_timeout_applies():
    t = accepted()
    t.on_health(health("running", 500.0, boot_id=OLD_BOOT), 101.0)
    assert t.phase is None
    assert t.check_deadline(280.0) is True
    assert t.result()["state"] == "timed_out"
