"""A small paho client for the broker tests: connects, subscribes, remembers what arrives."""

import re
import ssl
import threading
import time
import uuid

import paho.mqtt.client as mqtt

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def default_client_id(username):
    """A client account may only use its own id (its client_uuid); anyone else gets a fresh one."""
    if username and UUID_RE.match(username):
        return username
    return f"t-{uuid.uuid4().hex[:10]}"


class Probe:
    def __init__(self, broker, username, password, *, port=None, ca_cert=None, client_id=None, clean_session=True):
        self.received = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.reason = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or default_client_id(username),
                                  protocol=mqtt.MQTTv311, clean_session=clean_session)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_cert:
            self.client.tls_set(ca_certs=ca_cert, cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(broker.host, port or broker.port, keepalive=20)
        self.client.loop_start()
        if not self._connected.wait(5):
            self.close()
            raise TimeoutError("no CONNACK")

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties):
        self.reason = str(reason_code)
        self._connected.set()

    def _on_message(self, _client, _userdata, message):
        with self._lock:
            self.received.append((message.topic, message.payload.decode()))

    def subscribe(self, *topics):
        for topic in topics:
            _rc, mid = self.client.subscribe(topic, qos=1)
        time.sleep(0.2)

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def payloads(self):
        with self._lock:
            return [payload for _topic, payload in self.received]

    def wait_for(self, payload, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if payload in self.payloads():
                return True
            time.sleep(0.02)
        return False

    def wait_for_topic(self, topic, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(t == topic for t, _payload in self.received):
                    return True
            time.sleep(0.02)
        return False

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def connect_reason(broker, username, password, **kwargs):
    probe = Probe(broker, username, password, **kwargs)
    probe.close()
    return probe.reason
