"""A small controller-side client for the simulated fleet (demo and tests).

One MQTT connection as the controller account: it publishes commands (QoS 1, never
retained) and records every ack, heartbeat and health message it sees. The real controller
plugins are in plugins/; this is only enough to drive and observe a fleet.

    with SimController(manifest) as ctl:
        cmd = ctl.send(client_uuid, "reboot_host")
        ctl.wait_terminal([cmd["command_id"]], timeout=10)
        ctl.statuses(cmd["command_id"])   # ['accepted', 'execution_started', 'completed']
"""

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from infoscreen_agent.contract import command_topic, make_command, parse_topic


class SimController:
    def __init__(self, manifest, client_id=None, clean_session=False):
        self.manifest = manifest
        broker = manifest["broker"]
        self._cond = threading.Condition()
        self.acks = []  # (monotonic, topic, transitional, payload dict or raw str)
        self.boot_ids = {}  # client_uuid -> latest boot id seen in heartbeat/health
        self.health = {}  # client_uuid -> latest health payload
        self.messages = []  # (monotonic, topic, payload bytes) of everything else
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"sim-controller-{uuid.uuid4().hex[:8]}",
                                  clean_session=clean_session)
        self.client.username_pw_set(manifest["controller"]["username"], manifest["controller"]["password"])
        if broker.get("ca_cert"):
            self.client.tls_set(ca_certs=broker["ca_cert"])
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(broker["host"], broker["port"], keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise TimeoutError(f"controller could not connect to {broker['host']}:{broker['port']}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _userdata, _flags, reason, _props):
        if reason.is_failure:
            return
        client.subscribe([("infoscreen/+/commands/ack", 1), ("infoscreen/+/command/ack", 1),
                          ("infoscreen/+/health", 1), ("infoscreen/+/heartbeat", 0),
                          ("infoscreen/+/service_failed", 1)])
        time.sleep(0.05)
        self._connected.set()

    def _on_message(self, _client, _userdata, message):
        parsed = parse_topic(message.topic)
        now = time.monotonic()
        with self._cond:
            if parsed and parsed[1] == "ack":
                try:
                    body = json.loads(message.payload)
                except ValueError:
                    body = message.payload.decode(errors="replace")
                self.acks.append((now, message.topic, parsed[2], body))
            elif parsed and parsed[1] in ("heartbeat", "health"):
                try:
                    body = json.loads(message.payload)
                    self.boot_ids[parsed[0]] = body["boot_id"]
                    if parsed[1] == "health":
                        self.health[parsed[0]] = body
                except (ValueError, KeyError, TypeError):
                    pass
                self.messages.append((now, message.topic, message.payload))
            else:
                self.messages.append((now, message.topic, message.payload))
            self._cond.notify_all()

    # publishing -------------------------------------------------------------------------
    def publish_raw(self, client_uuid, payload, transitional=False):
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        info = self.client.publish(command_topic(client_uuid, transitional), data, qos=1, retain=False)
        info.wait_for_publish(10)
        return info

    def send(self, client_uuid, action, transitional=False, **kwargs):
        command = make_command(client_uuid, action, **kwargs)
        self.publish_raw(client_uuid, command, transitional)
        return command

    # observing --------------------------------------------------------------------------
    def ack_records(self, command_id, transitional=None):
        with self._cond:
            return [(t, topic, alias, body) for t, topic, alias, body in self.acks
                    if isinstance(body, dict) and body.get("command_id") == command_id
                    and (transitional is None or alias == transitional)]

    def statuses(self, command_id, transitional=False):
        """Ack statuses for a command on one ack topic, in arrival order (duplicates kept)."""
        return [body["status"] for _t, _topic, _alias, body in self.ack_records(command_id, transitional)]

    def terminal(self, command_id):
        for _t, _topic, _alias, body in self.ack_records(command_id):
            if body.get("status") in ("completed", "failed"):
                return body
        return None

    def wait_for(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return result
                self._cond.wait(min(remaining, 0.2))

    def wait_terminal(self, command_ids, timeout):
        """{command_id: terminal ack or None} once all are terminal or ``timeout`` passed."""
        ids = list(command_ids)
        self.wait_for(lambda: all(self.terminal(cid) for cid in ids), timeout)
        return {cid: self.terminal(cid) for cid in ids}

    def wait_statuses(self, command_id, wanted, timeout):
        return self.wait_for(lambda: set(wanted) <= set(self.statuses(command_id)), timeout)

    def wait_boot_change(self, client_uuid, old_boot_id, timeout):
        return self.wait_for(lambda: self.boot_ids.get(client_uuid) not in (None, old_boot_id), timeout)

    def first_ack_time(self, command_id, status):
        for t, _topic, _alias, body in self.ack_records(command_id, transitional=False):
            if body.get("status") == status:
                return t
        return None
