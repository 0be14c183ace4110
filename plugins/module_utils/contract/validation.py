# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the contract's JSON Schema files and validate payloads with readable messages."""

import json
import os

from .ids import UUID_RE
from .payloads import parse_ts

try:
    from jsonschema import Draft202012Validator, FormatChecker

    HAS_JSONSCHEMA = True
    JSONSCHEMA_IMPORT_ERROR = None
except ImportError as exc:  # the controller reports this through missing_required_lib
    HAS_JSONSCHEMA = False
    JSONSCHEMA_IMPORT_ERROR = exc

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
SCHEMA_NAMES = ("command", "ack", "heartbeat", "health", "service_failed")
MAX_PAYLOAD_BYTES = 16384

# Kept for the agent, which imports the rule under this name (infoscreen_agent/store.py).
_UUID_RE = UUID_RE
_schemas = {}
_validators = {}


class ContractError(ValueError):
    """A payload broke the contract. ``problems`` lists every rule it broke, most useful first.

    ``command_id`` is set when one could still be read from the payload, so the caller can
    send a failed ack for it.
    """

    def __init__(self, kind, problems, command_id=None):
        self.kind = kind
        self.problems = list(problems)
        self.command_id = command_id
        super().__init__(f"{kind} payload rejected: " + "; ".join(self.problems))


def load_schema(name):
    if name not in SCHEMA_NAMES:
        raise KeyError(f"no contract schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    if name not in _schemas:
        with open(os.path.join(SCHEMA_DIR, f"{name}.schema.json"), encoding="utf-8") as handle:
            _schemas[name] = json.load(handle)
    return _schemas[name]


def _format_checker():
    checker = FormatChecker(formats=())

    # jsonschema only checks date-time when rfc3339-validator is installed: do it ourselves,
    # and require an explicit offset, since expiry decisions depend on it.
    @checker.checks("date-time", raises=ValueError)
    def _date_time(value):
        if not isinstance(value, str):
            return True
        parse_ts(value)
        return True

    @checker.checks("uuid")
    def _uuid(value):
        return not isinstance(value, str) or bool(_UUID_RE.match(value))

    return checker


def _validator(name):
    if not HAS_JSONSCHEMA:
        raise RuntimeError(f"jsonschema is required to validate contract payloads: {JSONSCHEMA_IMPORT_ERROR}")
    if name not in _validators:
        _validators[name] = Draft202012Validator(load_schema(name), format_checker=_format_checker())
    return _validators[name]


def _describe(error):
    where = "/".join(str(part) for part in error.absolute_path) or "(payload)"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "const":
        return f"{where}: must be {error.validator_value!r}, got {error.instance!r}"
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}"
    if error.validator == "format":
        return f"{where}: {error.instance!r} is not a valid {error.validator_value}"
    return f"{where}: {error.message}"


def errors(name, payload):
    """Every rule ``payload`` breaks in schema ``name``, as readable strings (empty if valid)."""
    found = sorted(_validator(name).iter_errors(payload), key=lambda e: (list(e.absolute_path), e.validator))
    return [_describe(error) for error in found]


def _readable_command_id(payload):
    if isinstance(payload, dict):
        value = payload.get("command_id")
        if isinstance(value, str) and _UUID_RE.match(value):
            return value
    return None


def validate(name, payload):
    """Raise ContractError unless ``payload`` matches schema ``name``; return it otherwise."""
    problems = errors(name, payload)
    if problems:
        raise ContractError(name, problems, _readable_command_id(payload))
    return payload


def parse_payload(name, raw):
    """Decode an MQTT payload (bytes or str) as JSON and validate it against schema ``name``."""
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise ContractError(name, [f"payload is {len(raw)} bytes, more than {MAX_PAYLOAD_BYTES}"])
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError(name, [f"payload is not UTF-8: {exc}"]) from None
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ContractError(name, [f"payload is not valid JSON: {exc}"]) from None
    if not isinstance(payload, dict):
        raise ContractError(name, [f"payload must be a JSON object, got {type(payload).__name__}"])
    return validate(name, payload)


__all__ = ["HAS_JSONSCHEMA", "JSONSCHEMA_IMPORT_ERROR", "SCHEMA_NAMES", "ContractError",
           "errors", "load_schema", "parse_payload", "validate"]
