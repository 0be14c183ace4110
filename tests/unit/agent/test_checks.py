import datetime

import pytest
from agent_doubles import OTHER, UUID
from infoscreen_agent import checks
from infoscreen_agent.contract import format_ts, make_command

NOW = datetime.datetime(2026, 4, 5, 10, 0, tzinfo=datetime.timezone.utc)


def run_check(payload, now=NOW):
    return checks.check(payload, UUID, now, clock_skew_s=30, future_tolerance_s=300)


def command(**changes):
    cmd = make_command(UUID, "reboot_host", issued_at=NOW)
    cmd.update(changes)
    return cmd


def test_valid_command_passes():
    assert run_check(command())["action"] == "reboot_host"


@pytest.mark.parametrize(("changes", "code"), [
    ({"schema_version": "2.0"}, "unsupported_schema_version"),
    ({"client_uuid": OTHER}, "wrong_client"),
    ({"action": "format_disk"}, "unsupported_action"),
    ({"extra": 1}, "invalid_payload"),
    ({"requested_by": 0}, "invalid_payload"),
    ({"issued_at": "2026-04-05T10:00:00"}, "invalid_payload"),  # no offset
    ({"expires_at": format_ts(NOW - datetime.timedelta(minutes=5))}, "invalid_payload"),  # before issued_at
])
def test_rejections_carry_the_specific_code(changes, code):
    with pytest.raises(checks.Rejection) as info:
        run_check(command(**changes))
    assert info.value.error_code == code
    assert info.value.command_id == command()["command_id"] or info.value.command_id


def test_missing_field_is_invalid_payload():
    cmd = command()
    del cmd["reason"]
    with pytest.raises(checks.Rejection) as info:
        run_check(cmd)
    assert info.value.error_code == "invalid_payload"


def test_expiry_honours_clock_skew_tolerance():
    cmd = command()  # expires NOW + 240 s
    run_check(cmd, now=NOW + datetime.timedelta(seconds=240 + 29))
    with pytest.raises(checks.Rejection) as info:
        run_check(cmd, now=NOW + datetime.timedelta(seconds=240 + 31))
    assert info.value.error_code == "expired"


def test_issued_far_in_future_is_refused():
    cmd = make_command(UUID, "reboot_host", issued_at=NOW + datetime.timedelta(seconds=301))
    with pytest.raises(checks.Rejection) as info:
        run_check(cmd)
    assert info.value.error_code == "issued_in_future"
    run_check(make_command(UUID, "reboot_host", issued_at=NOW + datetime.timedelta(seconds=299)))


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b"{" * 5000, b"x" * 20000])
def test_undecodable_payloads_have_no_command_id(raw):
    with pytest.raises(checks.Rejection) as info:
        checks.decode(raw)
    assert info.value.error_code == "invalid_payload"
    assert info.value.command_id is None
