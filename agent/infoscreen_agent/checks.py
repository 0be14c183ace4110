"""Strict checks of an incoming command, mapped to the contract's error codes.

Order matters: the cheapest and most specific reason wins, so the controller gets the
error code that tells it what to fix (a wrong schema_version says more than "invalid").
"""

import datetime
import hashlib
import json

from .contract import ACTIONS, SCHEMA_VERSION, ContractError, parse_ts, validate
from .contract.limits import timestamp_problem
from .contract.validation import MAX_PAYLOAD_BYTES, _readable_command_id


class Rejection(Exception):
    """The command must not run. ``command_id`` is None when none could be read."""

    def __init__(self, error_code, message, command_id=None):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.command_id = command_id


def decode(raw):
    """bytes -> JSON object, or Rejection('invalid_payload') with no command_id when unreadable."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise Rejection("invalid_payload", f"payload is {len(raw)} bytes, more than {MAX_PAYLOAD_BYTES}")
    try:
        payload = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Rejection("invalid_payload", f"payload is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise Rejection("invalid_payload", f"payload must be a JSON object, got {type(payload).__name__}")
    return payload


def readable_command_id(payload):
    return _readable_command_id(payload)


def digest(payload):
    """What identifies a command's content: a replay has the same digest, a reused id another.

    command_id and client_uuid are compared case-insensitively (UUIDs), so they are folded
    to lower case first; key order and whitespace never matter.
    """
    folded = dict(payload)
    for key in ("command_id", "client_uuid"):
        if isinstance(folded.get(key), str):
            folded[key] = folded[key].lower()
    try:
        text = json.dumps(folded, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (ValueError, TypeError, RecursionError):
        text = repr(sorted(folded.items(), key=lambda kv: str(kv[0])))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def issued_epoch(payload):
    """issued_at as epoch seconds, or None when it is not a usable timestamp."""
    value = payload.get("issued_at")
    try:
        if timestamp_problem(value):
            return None
        return parse_ts(value).timestamp()
    except (ValueError, TypeError, OverflowError):
        return None


def check(payload, own_uuid, now, clock_skew_s, future_tolerance_s):
    """Return the command if it may run now; raise Rejection otherwise."""
    cid = _readable_command_id(payload)
    version = payload.get("schema_version")
    if "schema_version" in payload and version != SCHEMA_VERSION:
        raise Rejection("unsupported_schema_version", f"schema_version {version!r} is not {SCHEMA_VERSION!r}", cid)
    target = payload.get("client_uuid")
    if isinstance(target, str) and target.lower() != own_uuid:
        raise Rejection("wrong_client", f"client_uuid {target[:64]!r} is not this client ({own_uuid})", cid)
    action = payload.get("action")
    if "action" in payload and action not in ACTIONS:
        raise Rejection("unsupported_action", f"action {str(action)[:64]!r} is not one of {', '.join(ACTIONS)}", cid)
    try:
        validate("command", payload)
    except ContractError as exc:
        raise Rejection("invalid_payload", "; ".join(exc.problems)[:3900], cid) from None
    for key in ("issued_at", "expires_at"):
        problem = timestamp_problem(payload[key])
        if problem:
            raise Rejection("invalid_payload", f"{key}: {problem}", cid)
    issued = parse_ts(payload["issued_at"])
    expires = parse_ts(payload["expires_at"])
    if expires <= issued:
        raise Rejection("invalid_payload", "expires_at is not after issued_at", cid)
    if now > expires + datetime.timedelta(seconds=clock_skew_s):
        raise Rejection("expired", f"expired at {payload['expires_at']} (clock-skew tolerance {clock_skew_s:g} s)", cid)
    if issued > now + datetime.timedelta(seconds=future_tolerance_s):
        raise Rejection("issued_in_future",
                        f"issued_at {payload['issued_at']} is more than {future_tolerance_s:g} s in the future", cid)
    return payload
