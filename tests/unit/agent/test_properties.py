"""Property tests: random and mutated payloads never raise out of the validator or the
handler, and nothing invalid is ever queued for execution."""

import datetime
import json

from agent_doubles import UUID, RecordingBackend, RecordingClient, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from infoscreen_agent import checks
from infoscreen_agent.agent import Agent
from infoscreen_agent.contract import ContractError, format_ts, make_command, parse_ts, validate

NOW = datetime.datetime(2026, 4, 5, 10, 0, tzinfo=datetime.timezone.utc)
FIELDS = ["schema_version", "command_id", "client_uuid", "action", "issued_at", "expires_at", "requested_by",
          "reason"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10)


OTHER_UUIDS = st.uuids().map(str)
TIMES = st.integers(-3600, 3600).map(lambda s: format_ts(NOW + datetime.timedelta(seconds=s)))
FIELD_VALUES = {
    # Plausible values as well as junk, so mutations reach every rule, not only the schema.
    "schema_version": st.sampled_from(["1.0", "1.1", "2.0", 1.0, None]),
    "command_id": OTHER_UUIDS,
    "client_uuid": st.sampled_from([UUID, UUID.upper()]) | OTHER_UUIDS,
    "action": st.sampled_from(["reboot_host", "shutdown_host", "restart_app", "format_disk", "REBOOT_HOST"]),
    "issued_at": TIMES,
    "expires_at": TIMES,
    "requested_by": st.none() | st.integers(-2, 5),
    "reason": st.none() | st.text(max_size=20),
}


@st.composite
def mutated_commands(draw):
    # Issued anywhere from an hour ago to 10 min ahead, valid 1 s to 10 min: expired,
    # current and future commands all occur, before any mutation.
    issued = NOW + datetime.timedelta(seconds=draw(st.integers(-3600, 600)))
    cmd = make_command(draw(FIELD_VALUES["client_uuid"]), draw(st.sampled_from(["reboot_host", "shutdown_host",
                                                                                "restart_app"])),
                       validity_s=draw(st.integers(1, 600)), issued_at=issued)
    for _unused in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "replace":
            field = draw(st.sampled_from(FIELDS))
            cmd[field] = draw(FIELD_VALUES[field] | json_values)
        elif how == "delete" and cmd:
            cmd.pop(draw(st.sampled_from(sorted(cmd))))
        else:
            cmd[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    return cmd


def oracle_runnable(cmd):
    """Independent judgement: may this command run at NOW?"""
    try:
        validate("command", cmd)
    except ContractError:
        return False
    issued, expires = parse_ts(cmd["issued_at"]), parse_ts(cmd["expires_at"])
    return (cmd["client_uuid"].lower() == UUID and expires > issued
            and NOW <= expires + datetime.timedelta(seconds=30)
            and issued <= NOW + datetime.timedelta(seconds=300))


@settings(max_examples=300, deadline=None)
@given(mutated_commands())
def test_validator_rejects_exactly_what_the_oracle_rejects(cmd):
    try:
        checks.check(cmd, UUID, NOW, 30, 300)
        accepted = True
    except checks.Rejection as rej:
        accepted = False
        assert rej.error_code in {"invalid_payload", "unsupported_schema_version", "wrong_client",
                                  "unsupported_action", "expired", "issued_in_future"}
    assert accepted == oracle_runnable(cmd)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_bytes_never_raise_and_never_queue(raw):
    try:
        payload = checks.decode(raw)
    except checks.Rejection:
        return
    try:
        checks.check(payload, UUID, NOW, 30, 300)
    except checks.Rejection:
        return
    raise AssertionError(f"random payload passed: {payload!r}")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmd=mutated_commands())
def test_handler_never_raises_and_only_queues_runnable_commands(tmp_path, cmd):
    backend = RecordingBackend()
    agent = Agent(write_config(tmp_path, lockout_max=0), client=RecordingClient(), backend=backend)
    # Fresh dedupe state per example: the store is on disk and would remember command_ids.
    agent.store._entries.clear()
    agent.store.trusted_since = 0.0  # the examples are issued at NOW (2026-04-05), before this store began
    result = agent.handle_command(json.dumps(cmd).encode(), now=NOW)
    assert result in {"queued", "rejected", "dropped", "duplicate"}
    queued = result == "queued"
    assert queued == oracle_runnable(cmd)
    assert backend.calls == []  # the handler itself never executes; only the main thread does
    for pub in agent.client.published:
        validate("ack", pub["payload"])
        assert pub["retain"] is False
