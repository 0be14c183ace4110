"""``notify-service-failed UNIT``: report a failed systemd unit, retained, for OnFailure=.

systemd (v249+) passes the failed unit's result to OnFailure= units as MONITOR_* variables;
the plain names are read too so ExecStopPost= can use the same command.
"""

import json
import logging
import os
import time

from .contract import format_ts, service_failed_topic, utcnow, validate
from .status import read_boot_id

LOG = logging.getLogger(__name__)


def _env(name):
    value = os.environ.get(f"MONITOR_{name}") or os.environ.get(name)
    return value[:64] if value else None


def build(client_uuid, unit, boot_id):
    return validate("service_failed", {
        "client_uuid": client_uuid,
        "unit": unit,
        "failed_at": format_ts(utcnow()),
        "boot_id": boot_id,
        "service_result": _env("SERVICE_RESULT"),
        "exit_code": _env("EXIT_CODE"),
        "exit_status": _env("EXIT_STATUS"),
    })


def publish_service_failed(config, unit, timeout_s=15.0):
    """Publish the report retained with QoS 1 and wait for the broker's PUBACK. Returns 0/1."""
    import paho.mqtt.client as mqtt  # noqa: PLC0415 - the CLI checks for paho first

    if not unit or len(unit) > 256:
        LOG.error("unit name must be 1-256 characters, got %r", unit)
        return 2
    try:
        boot_id = read_boot_id(config.boot_id_path)
    except (OSError, ValueError):
        boot_id = None
    body = json.dumps(build(config.client_uuid, unit, boot_id))
    # The broker binds each client account to its own client id (docs/broker.md "Client ids"),
    # so this shares the agent's id and briefly takes its session over. It resumes the session
    # (clean_session False, so the agent's subscriptions and queued commands survive) and never
    # acknowledges a command delivered meanwhile: the broker redelivers it to the agent.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_uuid,
                         clean_session=False, manual_ack=True)
    client.username_pw_set(config.username, config.password)
    if config.tls_ca:
        client.tls_set(ca_certs=config.tls_ca)
    deadline = time.monotonic() + timeout_s
    try:
        client.connect(config.host, config.port, keepalive=30)
    except OSError as exc:
        LOG.error("cannot reach broker %s:%s to report %s failed: %s", config.host, config.port, unit, exc)
        return 1
    client.loop_start()
    try:
        info = client.publish(service_failed_topic(config.client_uuid), body, qos=1, retain=True)
        while time.monotonic() < deadline and not client.is_connected():
            time.sleep(0.05)
        while time.monotonic() < deadline:
            if info.rc == 0 and info.is_published():
                LOG.info("reported %s failed on %s", unit, service_failed_topic(config.client_uuid))
                return 0
            time.sleep(0.05)
        LOG.error("broker did not acknowledge the service_failed report for %s within %.0f s", unit, timeout_s)
        return 1
    finally:
        client.disconnect()
        client.loop_stop()
