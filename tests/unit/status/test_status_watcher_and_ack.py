"""StatusWatcher keeps broker_connection / agent_state / hold of accepted health only (retained or invalid
health is not shown either), and the acknowledgement's "is it the report judged?" rule."""

import json
import types

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import StatusWatcher
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status_ack import same_report

UUID = "3f2a3c1e-8d8b-4a8e-9a3b-1c2d3e4f5a6b"
TOPIC = f"infoscreen/{UUID}/health"


def health(**extra):
    body = {"client_uuid": UUID, "sent_at": "2027-01-15T08:00:00Z", "boot_id": "boot-a", "agent_version": "1.0.0",
            "uptime_s": 12.0, "app_state": "running",
            "broker_connection": {"reconnect_count": 4, "last_disconnect_at": "2027-01-15T07:59:00Z"}}
    body.update(extra)
    return json.dumps(body).encode()


def message(payload, retain=False, topic=TOPIC):
    return types.SimpleNamespace(topic=topic, payload=payload, retain=retain)


def watcher():
    params = {"mqtt_host": "127.0.0.1", "mqtt_port": 1, "mqtt_username": "u", "mqtt_password": None}
    return StatusWatcher(params, {"pi-1": UUID})  # never entered: no connection is made


def test_accepted_health_keeps_broker_connection_and_hold():
    w = watcher()
    hold = {"owner": "ops-anna", "reason": "replacing the display", "since": "2027-01-15T07:00:00Z"}
    w._on_message(None, None, message(health(hold=hold)))
    extra = w.health_extra[UUID]
    assert extra["broker_connection"] == {"reconnect_count": 4, "last_disconnect_at": "2027-01-15T07:59:00Z"}
    assert extra["hold"] == hold
    assert w.by_uuid[UUID].app_state == "running"


def test_retained_or_invalid_health_is_not_shown():
    w = watcher()
    w._on_message(None, None, message(health(), retain=True))
    w._on_message(None, None, message(b'{"client_uuid": "not valid"}'))
    w._on_message(None, None, message(b"not json"))
    assert w.health_extra == {} and w.retained_ignored == 1 and w.invalid == 2


def test_health_of_a_client_not_asked_about_is_ignored():
    w = watcher()
    other = "11111111-2222-4333-8444-555555555555"
    w._on_message(None, None, message(health(client_uuid=other), topic=f"infoscreen/{other}/health"))
    assert w.health_extra == {}


def test_only_the_report_judged_is_cleared_by_recover():
    judged = {"unit": "signage.service", "failed_at": "2027-01-15T09:00:00Z", "boot_id": "b1", "client_uuid": UUID}
    assert same_report(dict(judged, exit_code="1"), judged)  # extra fields do not matter
    assert not same_report(dict(judged, failed_at="2027-01-15T09:05:00Z"), judged)  # a newer failure
    assert not same_report(dict(judged, boot_id="b2"), judged)
    assert not same_report({"invalid": True, "raw": "x"}, judged)
    assert not same_report(judged, None)
