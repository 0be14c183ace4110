# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Constants and builders for contract v1 payloads."""

import datetime
import uuid

SCHEMA_VERSION = "1.0"
FROZEN_ACTIONS = ("reboot_host", "shutdown_host")
# restart_app was added after the freeze with the same lifecycle and lockout as reboot_host.
ACTIONS = FROZEN_ACTIONS + ("restart_app",)
ACK_STATUSES = ("accepted", "execution_started", "completed", "failed")
TERMINAL_ACK_STATUSES = ("completed", "failed")

# Machine-readable error codes a client puts in a failed ack.
ERROR_CODES = {
    "invalid_payload": "the command is not valid JSON or does not match the command schema",
    "unsupported_schema_version": "schema_version is not 1.0",
    "wrong_client": "client_uuid is not this client's",
    "unsupported_action": "the action is not one this client executes",
    "expired": "expires_at has passed (beyond the clock-skew tolerance)",
    "issued_in_future": "issued_at lies implausibly far in the future",
    "lockout": "the client's own safety lockout refused the command",
    "helper_failed": "the privileged helper failed or could not be invoked",
    "reboot_not_observed": "the boot id did not change before the reboot deadline",
    "shutdown_not_observed": "the host was still up after the shutdown deadline",
    "restart_not_observed": "the signage app did not come back after restart",
    "busy": "another command is still executing on this client",
    # Added by issue 13 (client hardening); the meaning of the ones above is unchanged.
    "retained": "the command arrived as a retained message; commands are never retained",
    "state_lost": "issued before the client's record of commands begins (state lost or evicted): it may have run",
    "command_id_reused": "the command_id was seen before with a different payload",
    "state_unwritable": "the client cannot record the command in its state directory, so it does not run it",
}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def format_ts(moment):
    """RFC 3339 UTC with milliseconds and a Z suffix: 2026-04-05T10:17:56.000Z."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(text):
    """Parse an RFC 3339 date-time that carries an offset; naive times are refused."""
    if not isinstance(text, str) or "T" not in text.upper():
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    moment = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


def make_command(client_uuid, action, *, validity_s=240, requested_by=None, reason=None,
                 command_id=None, issued_at=None):
    """Build a v1 command. The seed's example validity is 4 minutes (240 s)."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    if validity_s <= 0:
        raise ValueError("validity_s must be positive")
    issued = issued_at or utcnow()
    return {
        "schema_version": SCHEMA_VERSION,
        "command_id": command_id or str(uuid.uuid4()),
        "client_uuid": client_uuid,
        "action": action,
        "issued_at": format_ts(issued),
        "expires_at": format_ts(issued + datetime.timedelta(seconds=validity_s)),
        "requested_by": requested_by,
        "reason": reason,
    }


def make_ack(command_id, status, error_code=None, error_message=None):
    if status not in ACK_STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(ACK_STATUSES)}")
    return {
        "command_id": command_id,
        "status": status,
        "error_code": error_code,
        "error_message": error_message,
    }
