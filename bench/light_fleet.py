"""A lightweight simulated fleet for benchmarks: many contract-v1 clients in few processes.

Why not the real agents: one agent process per client costs ~30 MB and ~1 s to start, so
1,000 of them do not fit this 2-core / 24 GB machine. Here each simulated client is one paho
connection (its own MQTT account, persistent session, both command topics) that validates
the command with the contract package and answers like the agent does: accepted and
execution_started at once on both ack topics; for reboot_host it disconnects, "boots" for
``boot_s`` seconds and reconnects with a new boot id, then sends completed (restart_app and
shutdown_host complete after ``boot_s`` without a reboot). Duplicate command ids are re-acked,
never re-executed.

Each worker process serves a slice of the clients and appends one JSON line per executed
command to ``<outdir>/reboots-<slice>.jsonl``: client_uuid, command_id, received and
completed (time.monotonic(), which is system-wide on Linux, so the bench can compare it with
its own clock).

    python bench/light_fleet.py --spec clients.json --slice 0 --slices 4 --boot-s 5 --outdir DIR
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / ".cache" / "collections"))
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract  # noqa: E402


class LightClient:
    def __init__(self, host, port, client_uuid, password, *, boot_s, journal):
        self.host, self.port = host, port
        self.client_uuid = client_uuid
        self.password = password
        self.boot_s = boot_s
        self.journal = journal
        self.boot_id = str(uuid.uuid4())
        self.seen = {}  # command_id -> last status
        self.pending_completed = None
        self.connected = threading.Event()
        self.client = None
        self._connect()

    def _connect(self):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_uuid, clean_session=False,
                             protocol=mqtt.MQTTv311)
        client.username_pw_set(self.client_uuid, self.password)
        client.reconnect_delay_set(0.2, 2)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self.client = client  # before the loop starts: on_connect publishes through it
        client.connect_async(self.host, self.port, keepalive=60)
        client.loop_start()

    def _ack(self, command_id, status, code=None, message=None):
        self.seen[command_id] = status
        body = json.dumps(contract.make_ack(command_id, status, code, message))
        return [self.client.publish(topic, body, qos=1) for topic in contract.ack_topics(self.client_uuid)]

    def _on_connect(self, client, _userdata, _flags, reason, _props):
        if reason.is_failure:
            print(f"{self.client_uuid}: connect refused: {reason}", file=sys.stderr)
            return
        client.subscribe([(topic, 1) for topic in contract.command_topics(self.client_uuid)])
        beat = {"client_uuid": self.client_uuid, "sent_at": contract.format_ts(contract.utcnow()),
                "boot_id": self.boot_id, "agent_version": "bench", "uptime_s": 0}
        client.publish(contract.heartbeat_topic(self.client_uuid), json.dumps(beat), qos=0)
        if self.pending_completed:
            command_id, received = self.pending_completed
            self.pending_completed = None
            self._ack(command_id, "completed")
            self.journal(self.client_uuid, command_id, received, time.monotonic())
        self.connected.set()

    def _on_message(self, _client, _userdata, message):
        received = time.monotonic()
        try:
            command = contract.parse_payload("command", message.payload)
        except contract.ContractError:
            return
        command_id = command["command_id"]
        if command_id in self.seen:  # duplicate (both topics, or a retry): re-announce only
            self._ack(command_id, self.seen[command_id])
            return
        sent = self._ack(command_id, "accepted") + self._ack(command_id, "execution_started")
        if command["action"] == "reboot_host":
            threading.Thread(target=self._reboot, args=(command_id, received, sent), daemon=True).start()
        else:
            threading.Timer(self.boot_s, self._complete_in_place, args=(command_id, received)).start()

    def _complete_in_place(self, command_id, received):
        self._ack(command_id, "completed")
        self.journal(self.client_uuid, command_id, received, time.monotonic())

    def _reboot(self, command_id, received, sent):
        old = self.client
        for info in sent:  # the acks must reach the broker before the "host" goes down
            info.wait_for_publish(timeout=10)
        old.disconnect()
        old.loop_stop()
        self.connected.clear()
        time.sleep(self.boot_s)
        self.boot_id = str(uuid.uuid4())
        self.pending_completed = (command_id, received)
        self._connect()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--spec", required=True, help="JSON: {host, port, clients: [[uuid, password], ...]}")
    parser.add_argument("--slice", type=int, default=0)
    parser.add_argument("--slices", type=int, default=1)
    parser.add_argument("--boot-s", type=float, default=5.0)
    parser.add_argument("--outdir", required=True)
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text())
    mine = spec["clients"][args.slice::args.slices]
    lock = threading.Lock()
    journal_path = Path(args.outdir) / f"reboots-{args.slice}.jsonl"
    journal_file = open(journal_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process lifetime

    def journal(client_uuid, command_id, received, completed):
        with lock:
            journal_file.write(json.dumps({"client_uuid": client_uuid, "command_id": command_id,
                                           "received": received, "completed": completed}) + "\n")
            journal_file.flush()

    clients = []
    for client_uuid, password in mine:
        clients.append(LightClient(spec["host"], spec["port"], client_uuid, password, boot_s=args.boot_s,
                                   journal=journal))
        time.sleep(0.002)  # do not stampede the broker's accept queue
    deadline = time.monotonic() + 120
    for client in clients:
        client.connected.wait(max(0.1, deadline - time.monotonic()))
    ready = sum(c.connected.is_set() for c in clients)
    print(f"READY {ready}/{len(clients)}", flush=True)
    try:
        sys.stdin.read()  # run until the bench closes our stdin
    finally:
        for client in clients:
            client.close()
        journal_file.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
