# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MQTT topic names of contract v1 (canonical and transitional)."""

from .ids import UUID_RE

TOPIC_ROOT = "infoscreen"
# Every contract topic, for the controller's broker account.
ALL_TOPICS = f"{TOPIC_ROOT}/#"

# kind -> (canonical suffix, transitional suffix or None)
_SUFFIXES = {
    "command": ("commands", "command"),
    "ack": ("commands/ack", "command/ack"),
    "heartbeat": ("heartbeat", None),
    "health": ("health", None),
    "service_failed": ("service_failed", None),
    "logs": ("logs", None),
}

# Kept for the agent, which imports the rule under this name (infoscreen_agent/config.py).
_UUID_RE = UUID_RE


def _check_uuid(client_uuid):
    # A wildcard or slash in a client id would widen a subscription or ACL: refuse early.
    if not isinstance(client_uuid, str) or not _UUID_RE.match(client_uuid):
        raise ValueError(f"client_uuid {client_uuid!r} is not a UUID (8-4-4-4-12 hex digits)")
    return client_uuid.lower()


def _topic(kind, client_uuid, transitional=False):
    canonical, alias = _SUFFIXES[kind]
    suffix = alias if transitional else canonical
    if suffix is None:
        raise ValueError(f"topic kind {kind!r} has no transitional alias")
    return f"{TOPIC_ROOT}/{_check_uuid(client_uuid)}/{suffix}"


def wildcard_topic(kind, transitional=False):
    """The subscription for one topic kind of every client, e.g. infoscreen/+/commands/ack."""
    canonical, alias = _SUFFIXES[kind]
    suffix = alias if transitional else canonical
    if suffix is None:
        raise ValueError(f"topic kind {kind!r} has no transitional alias")
    return f"{TOPIC_ROOT}/+/{suffix}"


def client_topics(client_uuid):
    """{kind: [canonical topic, transitional topic if any]} of one client, for ACLs."""
    return {kind: [_topic(kind, client_uuid)] + ([_topic(kind, client_uuid, True)] if alias else [])
            for kind, (_canonical, alias) in _SUFFIXES.items()}


def command_topic(client_uuid, transitional=False):
    """infoscreen/{uuid}/commands, or infoscreen/{uuid}/command when transitional."""
    return _topic("command", client_uuid, transitional)


def ack_topic(client_uuid, transitional=False):
    """infoscreen/{uuid}/commands/ack, or infoscreen/{uuid}/command/ack when transitional."""
    return _topic("ack", client_uuid, transitional)


def command_topics(client_uuid):
    """Both command topics, canonical first: the agent subscribes to both during migration."""
    return [command_topic(client_uuid), command_topic(client_uuid, True)]


def ack_topics(client_uuid):
    """Both ack topics, canonical first: the agent publishes every ack on both."""
    return [ack_topic(client_uuid), ack_topic(client_uuid, True)]


def heartbeat_topic(client_uuid):
    return _topic("heartbeat", client_uuid)


def health_topic(client_uuid):
    return _topic("health", client_uuid)


def service_failed_topic(client_uuid):
    return _topic("service_failed", client_uuid)


def logs_topic(client_uuid):
    return _topic("logs", client_uuid)


def parse_topic(topic):
    """Return (client_uuid, kind, transitional) for a contract topic, or None if it is not one.

    ``kind`` is one of command, ack, heartbeat, health, service_failed, logs.
    """
    parts = topic.split("/", 2)
    if len(parts) != 3 or parts[0] != TOPIC_ROOT or not _UUID_RE.match(parts[1]):
        return None
    for kind, (canonical, alias) in _SUFFIXES.items():
        if parts[2] == canonical:
            return parts[1].lower(), kind, False
        if alias is not None and parts[2] == alias:
            return parts[1].lower(), kind, True
    return None
