"""Heartbeat and health payloads (contract v1 extensions), and the facts they report."""

import os
import time

from . import __version__
from .contract import format_ts, utcnow, validate


def read_boot_id(path):
    with open(path, encoding="utf-8") as handle:
        boot_id = handle.read().strip()
    if not boot_id:
        raise ValueError(f"boot id file {path} is empty")
    return boot_id[:64]


def uptime_s(power_backend, boot_id_path):
    """Host uptime. A simulated client 'booted' when the supervisor wrote its boot id file."""
    if power_backend == "sim":
        try:
            return max(0.0, time.time() - os.stat(boot_id_path).st_mtime)
        except OSError:
            return 0.0
    try:
        with open("/proc/uptime", encoding="ascii") as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def heartbeat(client_uuid, boot_id, release, uptime):
    return validate("heartbeat", {
        "client_uuid": client_uuid,
        "sent_at": format_ts(utcnow()),
        "boot_id": boot_id,
        "agent_version": __version__,
        "release": release or None,
        "uptime_s": round(uptime, 1),
    })


def health(client_uuid, boot_id, release, uptime, *, app_state, pending_command_id, reconnect_count,
           last_disconnect_at):
    return validate("health", {
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
    })
