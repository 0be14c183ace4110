# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One place for the controller's MQTT connection options and paho client construction.

Every controller plugin that talks to the broker takes the options of the doc fragment
``infoscreen.fleet.mqtt`` (MQTT_ARGUMENT_SPEC below, with the INFOSCREEN_MQTT_* environment
fallbacks of docs/conventions.md) and builds its client with ``build_client``.

Connection problems (docs/controller.md, "Connection errors"): ``build_client`` refuses a
missing or unreadable CA file with MqttConnectError; ``wait_connected`` waits for a client
started with ``connect_client`` and, when it does not get through, probes the broker once
(TCP, TLS, CONNECT) to say what happened - refused port, no answer, TLS verification, refused
credentials - and what to do. paho itself only retries silently.
"""

import socket
import ssl
import time
import uuid

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
    broker restarts mid-wave. Raises MqttConnectError for a CA file it cannot use.
    """
    if not HAS_PAHO:
        raise RuntimeError(f"paho-mqtt is required: {PAHO_IMPORT_ERROR}")
    if contract.is_uuid(client_id):
        # A bare client UUID is that client's own session id (docs/broker.md "Client ids"); the
        # controller's account is not bound, so using it would take the client's session over.
        raise ValueError(f"controller client id {client_id!r} is a client's id; use a prefixed one")
    check_ca_file(params)
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
    client._infoscreen_failed_attempts = 0  # counted for wait_connected
    client.on_connect_fail = _count_failed_attempt
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


# -- connection problems, in words -------------------------------------------------------


class MqttConnectError(RuntimeError):
    """The controller cannot connect to the broker; the message says why and what to do."""


_CA_SETTING = "mqtt_ca_cert (or INFOSCREEN_MQTT_CA_CERT)"
_CREDENTIAL_SETTINGS = ("mqtt_username / mqtt_password (INFOSCREEN_MQTT_USERNAME / INFOSCREEN_MQTT_PASSWORD; "
                        "the playbooks pass mqtt_broker_controller_username / mqtt_broker_controller_password)")
# CONNACK reason codes (MQTT v5) that waiting cannot fix.
_BAD_CREDENTIALS = (0x86, 0x87, 0x04, 0x05)  # v5 bad user name or password, not authorized; v3 4, 5


def _uses_tls(params):
    return bool(params.get("mqtt_tls") or params.get("mqtt_ca_cert"))


def check_ca_file(params):
    """Refuse a CA file that does not exist, cannot be read or holds no PEM certificate."""
    path = params.get("mqtt_ca_cert")
    if not path:
        return
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise MqttConnectError(f"the CA file {path} does not exist; set {_CA_SETTING} to the PEM file of the CA "
                               "that signed the broker's certificate") from None
    except OSError as exc:
        raise MqttConnectError(f"the CA file {path} cannot be read ({exc.strerror or exc}); make it a readable file "
                               f"for this user or set {_CA_SETTING} to another file") from None
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise MqttConnectError(f"the CA file {path} holds no PEM CA certificate ({why}); "
                               f"set {_CA_SETTING} to the broker CA's certificate in PEM format") from None


def _count_failed_attempt(client, _userdata):
    client._infoscreen_failed_attempts = getattr(client, "_infoscreen_failed_attempts", 0) + 1


class ConnectProblem:
    """What a probe found: ``message`` for the operator; ``lasting`` when waiting cannot fix it."""

    def __init__(self, message, lasting=False):
        self.message = message
        self.lasting = lasting


def probe(params, timeout_s=5.0):
    """Connect once (TCP, TLS, MQTT CONNECT with the same settings); a ConnectProblem or None."""
    host, port = params["mqtt_host"], int(params["mqtt_port"])
    where = f"{host}:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        check_ca_file(params)
    except MqttConnectError as exc:
        return ConnectProblem(str(exc), lasting=True)
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except socket.gaierror as exc:
        return ConnectProblem(f"the broker host {host!r} cannot be resolved ({exc.strerror or exc}); check mqtt_host "
                              "(INFOSCREEN_MQTT_HOST, infoscreen_mqtt_host)", lasting=True)
    except ConnectionRefusedError:
        return ConnectProblem(f"connection refused by {where}: nothing listens on that port. Check that the broker "
                              f"runs on {host} and that mqtt_port (INFOSCREEN_MQTT_PORT, infoscreen_mqtt_port) is its "
                              f"{'TLS ' if _uses_tls(params) else ''}listener port")
    except (socket.timeout, TimeoutError):
        return ConnectProblem(f"the broker {where} did not answer within {timeout_s:g} s (TCP connect timed out): "
                              "check the host, the port and any firewall in between")
    except OSError as exc:
        return ConnectProblem(f"cannot reach the broker {where}: {exc.strerror or exc}; check mqtt_host, mqtt_port "
                              "and the network")
    sock.close()
    if _uses_tls(params):
        problem = _probe_tls(params, host, port, timeout_s)
        if problem is not None:
            return problem
    return _probe_connack(params, host, port, max(0.5, deadline - time.monotonic()))


def _probe_tls(params, host, port, timeout_s):
    ca = params.get("mqtt_ca_cert")
    where = f"{host}:{port}"
    context = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                return None
    except ssl.SSLCertVerificationError as exc:
        trusted = f"the CA file {ca}" if ca else "the system's CA store"
        return ConnectProblem(
            f"TLS verification of the broker {where} failed against {trusted}: certificate verify failed: "
            f"{exc.verify_message}. Set {_CA_SETTING} to the CA that signed the broker's certificate, and make sure "
            f"that certificate names {host} (subjectAltName)", lasting=True)
    except ssl.SSLError as exc:
        return ConnectProblem(f"the TLS handshake with {where} failed ({exc.reason or exc}): is {port} the broker's "
                              "TLS listener? A plain MQTT port does not speak TLS", lasting=True)
    except (socket.timeout, TimeoutError):
        return ConnectProblem(f"the broker {where} did not answer the TLS handshake within {timeout_s:g} s; check "
                              "that the port is the broker's TLS listener and that the broker is not hung")
    except OSError as exc:
        return ConnectProblem(f"the TLS connection to {where} failed: {exc.strerror or exc}")


def _probe_connack(params, host, port, timeout_s):
    where = f"{host}:{port}"
    user = params.get("mqtt_username")
    client = build_client(params, client_id=f"infoscreen-probe-{uuid.uuid4().hex[:12]}", persistent=False)
    client.reconnect_delay_set(min_delay=60, max_delay=60)
    answer = {}
    client.on_connect = lambda _c, _u, _f, reason, _p: answer.setdefault("reason", reason)
    try:
        client.connect(host, port, keepalive=max(5, int(timeout_s) + 1), clean_start=True,
                       properties=connect_properties(False))
        deadline = time.monotonic() + timeout_s
        while "reason" not in answer and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    except (OSError, ValueError) as exc:
        return ConnectProblem(f"the MQTT connection to {where} failed: {getattr(exc, 'strerror', None) or exc}")
    finally:
        try:
            client.disconnect()
            client.loop(timeout=0.1)  # sends the DISCONNECT and closes the socket
        except (OSError, ValueError):
            pass
    reason = answer.get("reason")
    if reason is None:
        return ConnectProblem(f"the broker {where} did not answer within {timeout_s:g} s: it accepted the TCP "
                              "connection but sent no MQTT CONNACK (broker hung or overloaded, or not an MQTT "
                              f"port); check the broker and its log, and mqtt_port")
    if not getattr(reason, "is_failure", False):
        return None
    value = getattr(reason, "value", reason)
    if value in _BAD_CREDENTIALS:
        return ConnectProblem(f"the broker {where} refused the credentials of user {user!r} ({reason_text(reason)}): "
                              f"check {_CREDENTIAL_SETTINGS} against the broker's password file", lasting=True)
    return ConnectProblem(f"the broker {where} refused the connection of user {user!r}: {reason_text(reason)}",
                          lasting=True)


def wait_connected(client, params, is_ready, timeout_s):
    """Wait (monotonic deadline) until ``is_ready()``; None when it is, else why not, in words.

    The first failed attempt (or 1 s without success) triggers one probe; a problem that
    waiting cannot fix (refused credentials, TLS verification, a bad CA file) ends the wait at
    once; otherwise paho keeps retrying until the deadline (a broker restarting meanwhile is
    fine), and the message is the latest probe's finding.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    found = None
    probed_at = None
    while time.monotonic() < deadline:
        if is_ready():
            return None
        now = time.monotonic()
        failed = getattr(client, "_infoscreen_failed_attempts", 0) > 0
        if probed_at is None and (failed or now - start >= 1.0):
            found, probed_at = probe(params, min(5.0, max(0.5, deadline - now))), time.monotonic()
            if found is not None and found.lasting:
                return found.message
        time.sleep(0.01)
    if is_ready():
        return None
    if found is None:
        found = probe(params, 3.0)
    if found is not None:
        return found.message
    server = connection_summary(params)
    return (f"could not connect and subscribe to the broker {server['host']}:{server['port']} as "
            f"{server['username']!r} within {timeout_s:g} s, although a test connection succeeded; check the "
            "broker's log and the controller account's ACL")
