"""Controller liveness rules (issue 13, items 6 and 8), pure: identity conflicts in the command
tracker and the health read, and retained heartbeat/health never taken as proof of life."""

import json
from types import SimpleNamespace

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.command_tracker import Clock, CommandTracker
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_health import HealthWatcher, assess

CMD = "9b2f1a36-3c56-4f0e-8b1e-1c2b3d4e5f60"
CLIENT = "0f8fad5b-d9cb-469f-a165-70867728950e"
A, B, C = ("aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b",
           "cccccccc-0000-4000-8000-00000000000c")


def tracker(action="reboot_host"):
    return CommandTracker("lobby-01", CLIENT, CMD, action, clock=Clock(100.0, 1_800_000_000.0), start_mono=100.0,
                          validity_s=240, timeout_s=180)


def ack(status):
    return {"command_id": CMD, "status": status, "error_code": None, "error_message": None}


def test_a_real_reboot_changes_the_boot_id_once_and_completes():
    """before A, after B: no conflict; the completed ack counts with the boot id change."""
    t = tracker()
    t.on_heartbeat(A, 100.1)
    t.on_ack(ack("accepted"), 100.2)
    t.on_ack(ack("execution_started"), 100.3)
    t.on_heartbeat(A, 100.4)  # still up before the helper's reboot takes effect
    t.on_ack(ack("completed"), 130.0)
    t.on_heartbeat(B, 131.0)
    assert t.state == "completed" and not t.identity_conflict
    assert t.result()["boot_id_before"] == A


def test_alternating_boot_ids_fail_the_command_with_identity_conflict():
    """A, B, A: two machines behind one identity. The command ends failed/identity_conflict at
    once, check_deadline reports it exactly once, and a later completed ack changes nothing."""
    t = tracker()
    t.on_heartbeat(A, 100.1)
    t.on_ack(ack("accepted"), 100.2)
    t.on_ack(ack("execution_started"), 100.3)
    t.on_heartbeat(B, 101.0)
    assert t.state == "execution_started"
    t.on_heartbeat(A, 102.0)
    assert t.state == "failed" and t.error_code == "identity_conflict"
    assert B in t.error_message and A in t.error_message
    assert t.check_deadline(102.1) is True
    assert t.check_deadline(102.2) is False
    assert t.on_ack(ack("completed"), 130.0) is False
    result = t.result()
    assert result["state"] == "failed" and result["ok"] is False and result["error_code"] == "identity_conflict"
    assert t.events[-1][0] == "failed" and t.events[-1][3]["error_code"] == "identity_conflict"


def test_identity_conflict_applies_to_every_action():
    """restart_app too: a command to a cloned identity may have run on either machine."""
    t = tracker("restart_app")
    for mono, boot in ((100.1, A), (100.2, B), (100.3, A)):
        t.on_heartbeat(boot, mono)
    assert t.state == "failed" and t.error_code == "identity_conflict"


def test_moving_on_to_new_boot_ids_is_no_conflict():
    """A, B, C (a reboot, then another): never returns, so no conflict."""
    t = tracker("restart_app")
    for mono, boot in ((100.1, A), (100.2, B), (100.3, C), (100.4, C)):
        t.on_heartbeat(boot, mono)
    assert not t.identity_conflict and t.state == "queued"


def _message(kind, client_uuid, boot_id, retain=False):
    body = {"client_uuid": client_uuid, "sent_at": "2026-11-27T20:00:00.000Z", "boot_id": boot_id,
            "agent_version": "1.0.0", "release": None, "uptime_s": 12.0}
    return SimpleNamespace(topic=f"infoscreen/{client_uuid}/{kind}", payload=json.dumps(body).encode(),
                           retain=retain)


def test_a_retained_heartbeat_is_not_proof_of_life():
    """A retained heartbeat is counted as ignored and leaves the client silent."""
    watcher = HealthWatcher({}, {"pi-a": CLIENT})
    watcher._on_message(None, None, _message("heartbeat", CLIENT, A, retain=True))
    seen, _listened = watcher.snapshot(0.01, 90)
    assert watcher.retained_ignored == 1
    assert seen["pi-a"]["seen"] is False and seen["pi-a"]["needs_recovery"] is True


def test_the_health_read_flags_alternating_boot_ids_and_does_not_offer_recovery():
    """A, B, A in heartbeats: identity_conflict is the only reason, needs_recovery stays false,
    and wait_new_boot does not count the other machine's boot id as a reconnect."""
    watcher = HealthWatcher({}, {"pi-a": CLIENT})
    for boot in (A, B, A):
        watcher._on_message(None, None, _message("heartbeat", CLIENT, boot))
    seen, _listened = watcher.snapshot(0.01, 90)
    record = seen["pi-a"]
    assert record["identity_conflict"] is True and record["needs_recovery"] is False
    assert len(record["reasons"]) == 1 and record["reasons"][0].startswith("identity_conflict:")
    came = watcher.wait_new_boot({"pi-a": A}, 0.01)
    assert came["pi-a"]["reconnected"] is False and came["pi-a"]["identity_conflict"] is True


def test_assess_without_conflict_is_unchanged():
    record = {"seen": True, "heartbeat_age_s": 3.0, "boot_id": A, "app_state": "running", "service_failed": None,
              "identity_conflict": False, "boot_ids_seen": [], "client_uuid": CLIENT}
    assert assess(record, 65, 90) == []


def test_the_recover_ladder_stops_on_an_identity_conflict():
    """A reboot step that ended identity_conflict is not escalated (no PoE cycle on doubt)."""
    from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_ladder import STOP, judge_step

    t = tracker()
    for mono, boot in ((100.1, A), (100.2, B), (100.3, A)):
        t.on_heartbeat(boot, mono)
    t.on_ack(ack("accepted"), 100.05)
    verdict = judge_step("reboot_host", t.result())
    assert verdict["verdict"] == STOP and verdict["stop_code"] == "identity_conflict"
