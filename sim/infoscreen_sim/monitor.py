"""The fleet's eyes on the broker: one controller MQTT connection that notes, per simulated
client, the boot id of its latest heartbeat/health (the supervisor's "ready" signal)."""

import json
import time
import uuid

import paho.mqtt.client as mqtt
from infoscreen_agent.contract.topics import wildcard_topic


class HealthMonitor:
    def __init__(self, broker, clients_by_uuid, lock):
        self.broker = broker
        self._by_uuid = clients_by_uuid
        self._lock = lock  # the fleet's lock: the supervisor reads what this writes
        self._client = None

    def start(self):
        broker = self.broker
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-supervisor-{uuid.uuid4().hex[:8]}")
        client.username_pw_set(broker.controller_username, broker.controller_password)
        if broker.ca_cert:
            client.tls_set(ca_certs=broker.ca_cert)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect(broker.host, broker.port, keepalive=30)
        client.loop_start()
        self._client = client
        return self

    @staticmethod
    def _on_connect(client, _userdata, _flags, reason, _properties):
        if not reason.is_failure:
            client.subscribe([(wildcard_topic("health"), 0), (wildcard_topic("heartbeat"), 0)])

    def _on_message(self, _client, _userdata, message):
        try:
            body = json.loads(message.payload)
            sim = self._by_uuid.get(body.get("client_uuid"))
        except (ValueError, AttributeError):
            return
        if sim is not None:
            with self._lock:
                sim.healthy_boot_id = body.get("boot_id")
                sim.last_seen = time.time()

    def stop(self):
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
