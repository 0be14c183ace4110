"""Small in-memory stand-ins for unit tests of the agent's handler (integration tests use
the real broker): a client that records publishes, and a backend that records invocations."""

import itertools
import json
import textwrap

from infoscreen_agent.config import load


class RecordingClient:
    def __init__(self):
        self.published = []
        self.connected = True
        self.puback_to = None
        self.waits = []  # (topic, ack status, timeout) of every wait_for_publish
        self._mids = itertools.count(1)

    def publish(self, topic, payload, qos=0, retain=False):
        self.published.append({"topic": topic, "payload": json.loads(payload), "qos": qos, "retain": retain})

        waits = self.waits

        class Info:
            mid = next(self._mids)

            def wait_for_publish(self, timeout=None):  # paho: blocks until the PUBACK (or timeout)
                waits.append((topic, json.loads(payload)["status"] if "ack" in topic else None, timeout))

        if self.puback_to is not None:  # the broker's PUBACK, as paho's on_publish would report it
            self.puback_to._on_publish(self, None, Info.mid)
        return Info()

    def subscribe(self, topic, qos=0):
        self.published.append({"topic": topic, "subscribe": True, "qos": qos, "retain": False, "payload": None})

    def is_connected(self):
        return self.connected

    def acks(self, topic_suffix="commands/ack"):
        return [p["payload"] for p in self.published
                if p["topic"].endswith("/" + topic_suffix) and not p.get("subscribe")]


class RecordingBackend:
    def __init__(self, fail=False, app="running"):
        self.calls = []
        self.fail = fail
        self.app = app

    def invoke(self, action, command_id):
        from infoscreen_agent.power import HelperFailed

        self.calls.append((action, command_id))
        if self.fail:
            raise HelperFailed("boom")

    def app_state(self):
        return self.app

    def uptime_s(self):
        return 12.5


UUID = "5dca32b5-e6da-4f2e-b990-61f4d2cfb54c"
OTHER = "ebe041bd-1ce9-4b5c-b760-6854193d8720"


def write_config(tmp_path, **extra):
    (tmp_path / "run").mkdir(exist_ok=True)
    boot = tmp_path / "run" / "boot_id"
    if not boot.exists():
        boot.write_text("boot-1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in extra.items())
    text = textwrap.dedent(f"""\
        [mqtt]
        host = 127.0.0.1
        username = {UUID}
        password = secret
        [agent]
        client_uuid = {UUID}
        state_dir = {tmp_path / "state"}
        boot_id_path = {boot}
        """) + lines + "\n"
    path = tmp_path / "agent.ini"
    path.write_text(text)
    return load(str(path))


class Message:
    """What paho hands to on_message (the fields the agent reads)."""

    def __init__(self, payload, *, retain=False, qos=1, mid=1, topic=f"infoscreen/{UUID}/commands"):
        self.payload, self.retain, self.qos, self.mid, self.topic = payload, retain, qos, mid, topic


def run_main(agent):
    """Do what the main thread would until nothing is left: execute, process PUBACKs, timers."""
    while True:
        agent._check_pending()
        if agent._work.empty():
            return
        kind, item = agent._work.get()
        if kind == "command":
            agent._queued -= 1
            agent._execute(item)
        elif kind == "puback":
            agent._handle_puback(item)
