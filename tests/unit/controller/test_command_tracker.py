"""The controller-side command state machine (pure, fed with monotonic timestamps)."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.command_tracker import (
    Clock,
    CommandTracker,
    judge_reconnect,
)

CMD = "9b2f1a36-3c56-4f0e-8b1e-1c2b3d4e5f60"
CLIENT = "0f8fad5b-d9cb-469f-a165-70867728950e"


def ack(status, code=None, message=None):
    return {"command_id": CMD, "status": status, "error_code": code, "error_message": message}


def tracker(action="reboot_host", validity_s=240, timeout_s=180):
    return CommandTracker("lobby-01", CLIENT, CMD, action, clock=Clock(100.0, 1_800_000_000.0), start_mono=100.0,
                          validity_s=validity_s, timeout_s=timeout_s)


def test_full_reboot_lifecycle_with_reconnect_time():
    t = tracker()
    t.on_published(100.05)
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("execution_started"), 100.2)
    t.on_ack(ack("completed"), 142.2)
    result = t.result()
    assert result["state"] == "completed"
    assert result["ok"] is True
    assert result["reconnect_s"] == 42.0
    assert result["reconnect_verdict"] == "ok"
    assert [x["state"] for x in result["transitions"]] == ["queued", "published", "accepted", "execution_started",
                                                           "completed"]
    assert result["transitions"][-1]["elapsed_s"] == 42.2
    assert [e[0] for e in t.events] == ["published", "accepted", "execution_started", "completed"]
    assert t.events[-1][3]["reconnect_s"] == 42.0


def test_duplicate_acks_from_both_topics_count_once_and_never_go_back():
    t = tracker()
    for status in ("accepted", "accepted", "execution_started", "accepted", "execution_started"):
        t.on_ack(ack(status), 101)
    assert t.state == "execution_started"
    assert t.duplicate_acks == 3
    t.on_ack(ack("completed"), 150)
    t.on_ack(ack("completed"), 150.1)
    t.on_ack(ack("failed", "helper_failed", "late"), 151)  # nothing after terminal
    assert t.state == "completed"
    assert t.duplicate_acks == 4
    assert [x["state"] for x in t.result()["transitions"]].count("accepted") == 1


def test_failed_ack_keeps_the_error():
    t = tracker()
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("failed", "helper_failed", "sudo: a password is required"), 100.3)
    result = t.result()
    assert (result["state"], result["ok"], result["error_code"]) == ("failed", False, "helper_failed")
    assert result["error_message"] == "sudo: a password is required"


def test_not_accepted_before_expiry_is_expired():
    t = tracker(validity_s=240, timeout_s=600)
    t.on_published(100.1)
    assert not t.check_deadline(339.9)
    assert t.check_deadline(340.0)
    assert t.state == "expired"
    assert t.error_code == "expired"


def test_accepted_but_no_terminal_ack_times_out_with_last_state():
    t = tracker(timeout_s=180)
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("execution_started"), 100.2)
    assert not t.check_deadline(279.9)
    assert t.check_deadline(280.0)
    result = t.result()
    assert result["state"] == "timed_out"
    assert "last state execution_started" in result["error_message"]
    assert "lobby-01" in result["error_message"]


@pytest.mark.parametrize(("seconds", "verdict", "ok"), [(90.0, "ok", True), (90.1, "slow", True),
                                                        (150.0, "slow", True), (150.5, "over_ceiling", False)])
def test_reconnect_is_judged_against_baseline_and_ceiling(seconds, verdict, ok):
    t = tracker(timeout_s=400)
    t.on_ack(ack("accepted"), 100.0)
    t.on_ack(ack("execution_started"), 100.0)
    t.on_ack(ack("completed"), 100.0 + seconds)
    result = t.result()
    assert result["reconnect_verdict"] == verdict
    assert result["ok"] is ok
    if not ok:
        assert result["error_code"] == "reconnect_ceiling_exceeded"


def test_restart_app_has_no_reconnect_time():
    t = tracker(action="restart_app")
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("completed"), 103)
    assert t.result()["reconnect_s"] is None
    assert t.result()["ok"] is True


def test_boot_ids_from_heartbeats():
    t = tracker()
    t.on_heartbeat("boot-a", 100.01)
    t.on_ack(ack("accepted"), 100.1)
    t.on_ack(ack("execution_started"), 100.2)
    t.on_heartbeat("boot-a", 100.3)  # the old boot still talking
    t.on_heartbeat("boot-b", 130)
    t.on_ack(ack("completed"), 131)
    result = t.result()
    assert (result["boot_id_before"], result["boot_id_after"], result["boot_id_changed"]) == ("boot-a", "boot-b",
                                                                                              True)


def test_judge_reconnect_unknown():
    assert judge_reconnect(None) is None
