"""Heartbeat and health payloads (contract v1 extensions), and the facts they report."""

import logging

from . import __version__
from .contract import ContractError, format_ts, utcnow, validate

LOG = logging.getLogger(__name__)


def read_boot_id(path):
    with open(path, encoding="utf-8") as handle:
        boot_id = handle.read().strip()
    if not boot_id:
        raise ValueError(f"boot id file {path} is empty")
    return boot_id[:64]


def _checked(kind, body):
    """Validate ``body``; if the agent's own facts break the schema, drop the offending extras.

    Never raises: a client that cannot build its heartbeat would go silent (or crash-loop),
    which is worse than a heartbeat without its release label. The problem is logged.
    """
    try:
        return validate(kind, body)
    except ContractError as exc:
        LOG.error("own %s payload breaks the contract (%s); sending it without release label and extras",
                  kind, "; ".join(exc.problems)[:300])
    body = dict(body, release=None)
    body.pop("agent_state", None)
    body.pop("hold", None)
    try:
        return validate(kind, body)
    except ContractError as exc:
        LOG.error("own %s payload still breaks the contract: %s", kind, "; ".join(exc.problems)[:300])
        return None


def heartbeat(client_uuid, boot_id, release, uptime):
    return _checked("heartbeat", {
        "client_uuid": client_uuid,
        "sent_at": format_ts(utcnow()),
        "boot_id": boot_id,
        "agent_version": __version__,
        "release": release or None,
        "uptime_s": round(uptime, 1),
    })


def health(client_uuid, boot_id, release, uptime, *, app_state, pending_command_id, reconnect_count,
           last_disconnect_at, agent_state=None, hold=None):
    """``hold``: the local hold in force (hold.read_hold) or None; always reported (null = none)."""
    body = {
        "client_uuid": client_uuid,
        "sent_at": format_ts(utcnow()),
        "boot_id": boot_id,
        "agent_version": __version__,
        "release": release or None,
        "uptime_s": round(uptime, 1),
        "app_state": app_state,
        "pending_command_id": pending_command_id,
        "broker_connection": {
            "reconnect_count": reconnect_count,
            "last_disconnect_at": format_ts(last_disconnect_at) if last_disconnect_at else None,
        },
    }
    if agent_state is not None:
        body["agent_state"] = agent_state
    body["hold"] = hold
    return _checked("health", body)
