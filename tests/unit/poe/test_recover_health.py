"""Who needs recovery: the pure rules of recover_health.assess, and switch address parsing."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_snmp import split_switch_address
from ansible_collections.infoscreen.fleet.plugins.module_utils.recover_health import assess


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
