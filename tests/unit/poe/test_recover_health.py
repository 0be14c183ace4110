"""Who needs recovery: the pure rules of recover_health.assess, and switch address parsing."""

import json
import time
from types import SimpleNamespace

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_snmp import split_switch_address
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_health import HealthWatcher, assess


def seen(**overrides):
    record = {"seen": True, "heartbeat_age_s": 3.0, "boot_id": "boot-2", "app_state": "running",
              "service_failed": None}
    record.update(overrides)
    return record


def test_a_fresh_running_client_needs_nothing():
    assert assess(seen(), 65, 90) == []


def test_a_silent_client_needs_recovery():
    assert assess(seen(seen=False, heartbeat_age_s=None, boot_id=None), 65, 90) == [
        "silent: no heartbeat or health for 65 s"]


def test_an_old_heartbeat_counts_as_silent():
    assert assess(seen(heartbeat_age_s=120.0), 130, 90) == ["silent: last heartbeat 120 s ago (limit 90 s)"]


@pytest.mark.parametrize("state", ["crashed", "stopped"])
def test_a_crashed_or_stopped_app_needs_recovery(state):
    assert assess(seen(app_state=state), 65, 90) == [f"app_state {state}"]


def test_unknown_app_state_is_not_a_reason():
    assert assess(seen(app_state="unknown"), 65, 90) == []
    assert assess(seen(app_state=None), 65, 90) == []


def test_service_failed_counts_only_for_the_current_boot():
    report = {"unit": "infoscreen-app.service", "failed_at": "2026-11-27T10:00:00Z", "boot_id": "boot-2"}
    assert assess(seen(service_failed=report), 65, 90) == [
        "service_failed: infoscreen-app.service at 2026-11-27T10:00:00Z"]
    old = dict(report, boot_id="boot-1")
    assert assess(seen(service_failed=old), 65, 90) == []
    no_boot = dict(report, boot_id=None)
    assert assess(seen(service_failed=no_boot), 65, 90) != []


def test_reasons_add_up():
    report = {"unit": "x.service", "failed_at": "t", "boot_id": None}
    reasons = assess(seen(seen=False, heartbeat_age_s=None, app_state="crashed", service_failed=report), 10, 90)
    assert len(reasons) == 3


@pytest.mark.parametrize(("switch", "default", "expected"), [
    ("sw-lobby.example", 161, ("sw-lobby.example", 161)),
    ("127.0.0.1:16161", 161, ("127.0.0.1", 16161)),
    ("10.0.0.2", 1161, ("10.0.0.2", 1161)),
    ("fe80::1", 161, ("fe80::1", 161)),  # an IPv6 literal is not host:port
    ("sw:abc", 161, ("sw:abc", 161)),
])
def test_switch_address_may_carry_the_snmp_port(switch, default, expected):
    assert split_switch_address(switch, default) == expected


def _heartbeat_message(client_uuid, release):
    body = {"client_uuid": client_uuid, "sent_at": "2026-11-27T20:00:00.000Z", "boot_id": "boot-1",
            "agent_version": "1.0.0", "release": release, "uptime_s": 12.0}
    return SimpleNamespace(topic=f"infoscreen/{client_uuid}/heartbeat", payload=json.dumps(body).encode())


@pytest.mark.parametrize(("wait_for", "ends_early"), [("heartbeat", True), ("health", False)])
def test_snapshot_reports_the_release_and_ends_on_what_it_waits_for(wait_for, ends_early):
    uuids = {"pi-a": "0b6f1a52-4e4c-4a8e-9d53-1f0d8a6c2b11", "pi-b": "7c1e2f90-5a3b-4c6d-8e9f-0a1b2c3d4e5f"}
    watcher = HealthWatcher({}, uuids)
    watcher._on_message(None, None, _heartbeat_message(uuids["pi-a"], "1.1.0+settings2"))
    watcher._on_message(None, None, _heartbeat_message(uuids["pi-b"], None))
    started = time.monotonic()
    seen_now, listened = watcher.snapshot(0.6, 90, wait_for=wait_for)
    assert (time.monotonic() - started < 0.5) is ends_early
    assert seen_now["pi-a"]["release"] == "1.1.0+settings2" and seen_now["pi-a"]["agent_version"] == "1.0.0"
    assert seen_now["pi-b"]["release"] is None and seen_now["pi-b"]["seen"] is True
    assert listened >= 0
