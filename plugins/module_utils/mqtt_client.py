"""One place for the controller's MQTT connection options and paho client construction.

Every controller plugin that talks to the broker takes the options of the doc fragment
``infoscreen.fleet.mqtt`` (MQTT_ARGUMENT_SPEC below, with the INFOSCREEN_MQTT_* environment
fallbacks of docs/conventions.md) and builds its client with ``build_client``.
"""

import ssl

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    HAS_PAHO = True
    PAHO_IMPORT_ERROR = None
except ImportError as exc:  # reported through missing_required_lib by the callers
    mqtt = None
    HAS_PAHO = False
    PAHO_IMPORT_ERROR = exc

MQTT_ARGUMENT_SPEC = {
    "mqtt_host": {"type": "str", "default": "127.0.0.1", "fallback": (env_fallback, ["INFOSCREEN_MQTT_HOST"])},
    "mqtt_port": {"type": "int", "default": 1883, "fallback": (env_fallback, ["INFOSCREEN_MQTT_PORT"])},
    "mqtt_username": {"type": "str", "default": "infoscreen-controller",
                      "fallback": (env_fallback, ["INFOSCREEN_MQTT_USERNAME"])},
    "mqtt_password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["INFOSCREEN_MQTT_PASSWORD"])},
    "mqtt_tls": {"type": "bool", "default": False},
    "mqtt_ca_cert": {"type": "path", "fallback": (env_fallback, ["INFOSCREEN_MQTT_CA_CERT"])},
    "mqtt_keepalive": {"type": "int", "default": 30},
}

MQTT_OPTION_NAMES = tuple(MQTT_ARGUMENT_SPEC)

# A session that outlives a broker restart or a short network cut, so acks sent while the
# controller was away are queued for it. Removed explicitly when the wave ends.
SESSION_EXPIRY_S = 900


def missing_libraries():
    """The missing_required_lib message for paho-mqtt or jsonschema, or None when both import."""
    if not HAS_PAHO:
        return missing_required_lib("paho-mqtt")
    if not contract.HAS_JSONSCHEMA:
        return missing_required_lib("jsonschema")
    return None


def connection_summary(params):
    """Connection settings safe to show in task output (never the password)."""
    return {
        "host": params["mqtt_host"],
        "port": params["mqtt_port"],
        "username": params.get("mqtt_username"),
        "tls": bool(params.get("mqtt_tls") or params.get("mqtt_ca_cert")),
    }


def build_client(params, client_id, persistent=True):
    """A paho client (MQTT v5) configured from the mqtt_* options; not yet connected.

    ``persistent`` asks for a session that survives disconnects (clean start only on the
    first connect, session expiry SESSION_EXPIRY_S), so QoS 1 acks are not lost when the
    broker restarts mid-wave.
    """
    if not HAS_PAHO:
        raise RuntimeError(f"paho-mqtt is required: {PAHO_IMPORT_ERROR}")
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    if params.get("mqtt_username"):
        client.username_pw_set(params["mqtt_username"], params.get("mqtt_password"))
    if params.get("mqtt_tls") or params.get("mqtt_ca_cert"):
        client.tls_set(ca_certs=params.get("mqtt_ca_cert"), cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    # paho keeps at most 20 QoS 1 publishes in flight (within mosquitto's default receive
    # maximum) and queues the rest without limit.
    client.max_queued_messages_set(0)
    client._infoscreen_persistent = persistent  # read by connect_client
    return client


def connect_properties(persistent=True):
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    return props


def connect_client(client, params):
    """Start connecting in the background (paho reconnects by itself afterwards)."""
    persistent = getattr(client, "_infoscreen_persistent", True)
    client.connect_async(
        params["mqtt_host"],
        int(params["mqtt_port"]),
        keepalive=int(params.get("mqtt_keepalive") or 30),
        clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY,
        properties=connect_properties(persistent),
    )


def disconnect_and_forget(client):
    """Disconnect and let the broker drop the session at once (session expiry 0)."""
    props = Properties(PacketTypes.DISCONNECT)
    props.SessionExpiryInterval = 0
    try:
        client.disconnect(properties=props)
    except (OSError, ValueError):  # best effort while shutting down
        return


def reason_text(reason_code):
    """Readable text for a paho v2 ReasonCode or int return code."""
    if reason_code is None:
        return "unknown"
    text = getattr(reason_code, "getName", None)
    if callable(text):
        return text()
    return str(reason_code)
