# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wave's MQTT session callbacks: paho calls them in its own thread, they only record the
connection state and put events on a queue that the wave driver's thread consumes."""

import queue
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import reason_text

ACK_SUBSCRIPTIONS = (contract.wildcard_topic("ack"), contract.wildcard_topic("ack", transitional=True))
HEARTBEAT_SUBSCRIPTION = contract.wildcard_topic("heartbeat")
HEALTH_SUBSCRIPTION = contract.wildcard_topic("health")


class WaveEvents:
    """paho callbacks run in paho's thread; they only enqueue, the driver thread decides."""

    def __init__(self):
        self.queue = queue.Queue()
        self.connected = False
        self.subscribed = False
        self.last_error = None
        self.connects = 0
        self.disconnects = 0
        self.pubacks = 0

    def on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_text(reason_code)}"
            return
        self.connected = True
        self.connects += 1
        if self.connects > 1:
            self.queue.put(("reconnect", time.monotonic(), None, None))
        # Re-subscribing is harmless when the session was kept, and needed when it was lost.
        subscriptions = [(topic, 1) for topic in ACK_SUBSCRIPTIONS]
        if userdata.get("heartbeats"):
            subscriptions.append((HEARTBEAT_SUBSCRIPTION, 0))
        if userdata.get("health"):
            subscriptions.append((HEALTH_SUBSCRIPTION, 1))
        client.subscribe(subscriptions)

    def on_subscribe(self, client, userdata, mid, reason_codes, properties):
        failures = [rc for rc in reason_codes if rc.is_failure]
        if failures:
            self.last_error = f"subscription refused: {reason_text(failures[0])}"
        else:
            self.subscribed = True

    def on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected = False
        self.disconnects += 1
        self.last_error = f"disconnected: {reason_text(reason_code)}"
        self.queue.put(("disconnect", time.monotonic(), None, None))

    def on_publish(self, client, userdata, mid, reason_code, properties):
        self.pubacks += 1
        self.queue.put(("puback", time.monotonic(), mid, reason_code))

    def on_message(self, client, userdata, message):
        if message.retain:
            return  # acks and heartbeats are never retained (contract): a retained one is stale history
        self.queue.put(("message", time.monotonic(), message.topic, message.payload))
