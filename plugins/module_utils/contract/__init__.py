# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contract v1 of infoscreen-fleet: schemas, topics and payload builders.

This package is the one home of the MQTT contract. The controller plugins import it as
``ansible_collections.infoscreen.fleet.plugins.module_utils.contract`` and the Pi agent
ships it as ``infoscreen_agent.contract`` (see pyproject.toml), so both sides validate
against the same schema files. It uses only the standard library and jsonschema, and only
relative imports, so it works in both places.
"""

from .ids import UUID_PATTERN, UUID_RE, is_canonical_uuid, is_uuid
from .payloads import (
    ACK_STATUSES,
    ACTIONS,
    ERROR_CODES,
    FROZEN_ACTIONS,
    SCHEMA_VERSION,
    TERMINAL_ACK_STATUSES,
    format_ts,
    make_ack,
    make_command,
    parse_ts,
    utcnow,
)
from .topics import (
    ALL_TOPICS,
    TOPIC_ROOT,
    ack_topic,
    ack_topics,
    client_topics,
    command_topic,
    command_topics,
    health_topic,
    heartbeat_topic,
    logs_topic,
    parse_topic,
    service_failed_topic,
    wildcard_topic,
)
from .validation import (
    HAS_JSONSCHEMA,
    JSONSCHEMA_IMPORT_ERROR,
    SCHEMA_NAMES,
    ContractError,
    errors,
    load_schema,
    parse_payload,
    validate,
)

__all__ = [
    "ALL_TOPICS",
    "UUID_PATTERN",
    "UUID_RE",
    "client_topics",
    "is_canonical_uuid",
    "is_uuid",
    "wildcard_topic",
    "ACK_STATUSES",
    "ACTIONS",
    "ERROR_CODES",
    "FROZEN_ACTIONS",
    "HAS_JSONSCHEMA",
    "JSONSCHEMA_IMPORT_ERROR",
    "SCHEMA_NAMES",
    "SCHEMA_VERSION",
    "TERMINAL_ACK_STATUSES",
    "TOPIC_ROOT",
    "ContractError",
    "ack_topic",
    "ack_topics",
    "command_topic",
    "command_topics",
    "errors",
    "format_ts",
    "heartbeat_topic",
    "health_topic",
    "load_schema",
    "logs_topic",
    "make_ack",
    "make_command",
    "parse_payload",
    "parse_topic",
    "parse_ts",
    "service_failed_topic",
    "utcnow",
    "validate",
]
