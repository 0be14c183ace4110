"""Contract v1: the example payloads validate and every rule rejects what it should."""

import copy
import json

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

CLIENT = "9b2f7c1e-4a3d-4e5f-8a6b-1c2d3e4f5a6b"
COMMAND_ID = "5d8e2a41-0f7b-4c3e-9a1d-2b3c4d5e6f70"

# The v1 example from the seed: reboot_host, 4 minutes of validity.
V1_COMMAND = {
    "schema_version": "1.0",
    "command_id": COMMAND_ID,
    "client_uuid": CLIENT,
    "action": "reboot_host",
    "issued_at": "2026-04-05T10:17:56Z",
    "expires_at": "2026-04-05T10:21:56Z",
    "requested_by": 1,
    "reason": "scheduled maintenance",
}
V1_ACKS = [
    {"command_id": COMMAND_ID, "status": "accepted", "error_code": None, "error_message": None},
    {"command_id": COMMAND_ID, "status": "execution_started", "error_code": None, "error_message": None},
    {"command_id": COMMAND_ID, "status": "completed", "error_code": None, "error_message": None},
    {"command_id": COMMAND_ID, "status": "failed", "error_code": "helper_failed", "error_message": "exit 1"},
]


def _without(payload, key):
    payload = copy.deepcopy(payload)
    del payload[key]
    return payload


def _with(payload, **changes):
    payload = copy.deepcopy(payload)
    payload.update(changes)
    return payload


def test_v1_examples_validate():
    assert contract.validate("command", V1_COMMAND) is V1_COMMAND
    for ack in V1_ACKS:
        contract.validate("ack", ack)


@pytest.mark.parametrize("action", ["reboot_host", "shutdown_host", "restart_app"])
def test_every_action_is_accepted(action):
    contract.validate("command", _with(V1_COMMAND, action=action))


def test_nullable_fields_accept_null():
    contract.validate("command", _with(V1_COMMAND, requested_by=None, reason=None))


def test_command_requires_all_eight_fields():
    schema = contract.load_schema("command")
    assert len(schema["required"]) == 8
    for key in schema["required"]:
        problems = contract.errors("command", _without(V1_COMMAND, key))
        assert problems == [f"(payload): '{key}' is a required property"]


def test_ack_requires_all_four_fields():
    schema = contract.load_schema("ack")
    assert len(schema["required"]) == 4
    for key in schema["required"]:
        assert contract.errors("ack", _without(V1_ACKS[0], key)), key


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"schema_version": "1.1"}, "schema_version: must be '1.0'"),
        ({"schema_version": 1.0}, "schema_version: must be '1.0'"),
        ({"command_id": "not-a-uuid"}, "command_id: 'not-a-uuid' is not a valid uuid"),
        ({"client_uuid": "9b2f7c1e4a3d4e5f8a6b1c2d3e4f5a6b"}, "client_uuid"),
        ({"action": "format_disk"}, "action: 'format_disk' is not one of"),
        ({"issued_at": "2026-04-05 10:17"}, "issued_at"),
        ({"expires_at": "2026-04-05T10:21:56"}, "expires_at"),  # no offset: refused
        ({"requested_by": 0}, "requested_by"),
        ({"requested_by": "1"}, "requested_by"),
        ({"reason": "x" * 2001}, "reason"),
        ({"extra": True}, "Additional properties are not allowed"),
    ],
)
def test_command_rules_reject(change, fragment):
    problems = contract.errors("command", _with(V1_COMMAND, **change))
    assert problems, change
    assert any(fragment in problem for problem in problems), problems


def test_reason_at_limit_is_accepted():
    contract.validate("command", _with(V1_COMMAND, reason="x" * 2000))


@pytest.mark.parametrize(
    "ack",
    [
        {"command_id": COMMAND_ID, "status": "failed", "error_code": None, "error_message": "x"},
        {"command_id": COMMAND_ID, "status": "failed", "error_code": "expired", "error_message": None},
        {"command_id": COMMAND_ID, "status": "failed", "error_code": "", "error_message": "x"},
        {"command_id": COMMAND_ID, "status": "failed", "error_code": "expired", "error_message": ""},
        {"command_id": COMMAND_ID, "status": "done", "error_code": None, "error_message": None},
        {"command_id": COMMAND_ID, "status": "accepted", "error_code": "x" * 129, "error_message": None},
        {"command_id": COMMAND_ID, "status": "accepted", "error_code": None, "error_message": "x" * 4001},
        {"command_id": COMMAND_ID, "status": "accepted", "error_code": None, "error_message": None, "x": 1},
    ],
)
def test_ack_rules_reject(ack):
    with pytest.raises(contract.ContractError) as caught:
        contract.validate("ack", ack)
    assert caught.value.command_id == COMMAND_ID  # readable, so a caller can still correlate


def test_health_requires_broker_connection_block():
    health = {
        "client_uuid": CLIENT,
        "sent_at": "2026-04-05T10:17:56.000Z",
        "boot_id": "b1",
        "agent_version": "1.0.0",
        "uptime_s": 12.5,
        "broker_connection": {"reconnect_count": 2, "last_disconnect_at": None},
    }
    contract.validate("health", health)
    assert contract.errors("health", _without(health, "broker_connection"))
    broken = _with(health, broker_connection={"reconnect_count": -1, "last_disconnect_at": None})
    assert contract.errors("health", broken)


def test_heartbeat_and_service_failed_validate():
    contract.validate("heartbeat", {
        "client_uuid": CLIENT, "sent_at": "2026-04-05T10:17:56Z", "boot_id": "b", "agent_version": "1.0.0",
        "uptime_s": 3, "release": "1.0.0",
    })
    contract.validate("service_failed", {
        "client_uuid": CLIENT, "unit": "infoscreen-app.service", "failed_at": "2026-04-05T10:17:56Z",
    })
    assert contract.errors("service_failed", {"client_uuid": CLIENT, "failed_at": "2026-04-05T10:17:56Z"})


def test_parse_payload_reports_json_and_type_errors():
    with pytest.raises(contract.ContractError, match="not valid JSON"):
        contract.parse_payload("command", b"{not json")
    with pytest.raises(contract.ContractError, match="must be a JSON object"):
        contract.parse_payload("command", b"[1, 2]")
    with pytest.raises(contract.ContractError, match="not UTF-8"):
        contract.parse_payload("command", b"\xff\xfe")
    with pytest.raises(contract.ContractError, match="more than"):
        contract.parse_payload("command", b" " * (contract.validation.MAX_PAYLOAD_BYTES + 1))
    assert contract.parse_payload("command", json.dumps(V1_COMMAND).encode()) == V1_COMMAND


def test_contract_error_carries_readable_command_id():
    with pytest.raises(contract.ContractError) as caught:
        contract.validate("command", _with(V1_COMMAND, action="nope"))
    assert caught.value.command_id == COMMAND_ID
    with pytest.raises(contract.ContractError) as caught:
        contract.validate("command", _with(V1_COMMAND, command_id="zzz", action="nope"))
    assert caught.value.command_id is None


def test_builders_produce_valid_payloads():
    command = contract.make_command(CLIENT, "restart_app", validity_s=240, reason="test")
    contract.validate("command", command)
    issued = contract.parse_ts(command["issued_at"])
    expires = contract.parse_ts(command["expires_at"])
    assert (expires - issued).total_seconds() == 240
    contract.validate("ack", contract.make_ack(command["command_id"], "failed", "expired", "too late"))
    with pytest.raises(ValueError):
        contract.make_command(CLIENT, "format_disk")
    with pytest.raises(ValueError):
        contract.make_ack(COMMAND_ID, "done")
