"""Run the agent installed in a chroot instance against a local broker: restart_app round trip.

Used by verify.yml (runs on the host with the project virtualenv). It copies the converged
agent.ini, changes only what a simulated round trip needs (broker port, a scratch state dir in
the instance's /tmp), starts a real mosquitto with the broker role's
files (infoscreen_sim.broker.LocalBroker) holding the client's inventory credentials, runs
the installed release's agent inside the chroot as the agent user through the harness's
``infoscreen_sim.agent_runner`` (copied into the scratch dir; the simulated machine stands in
for the privileged helper, which cannot restart a unit in a chroot), waits for a heartbeat,
publishes restart_app and collects the acks. Prints a JSON
summary; exits 1 if the round trip did not complete. Cleans up everything it started.
"""

import argparse
import configparser
import json
import pathlib
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import infoscreen_sim
import paho.mqtt.client as mqtt
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from infoscreen_sim.broker import LocalBroker

HEARTBEAT_TIMEOUT_S = 45.0
ACK_TIMEOUT_S = 45.0


def agent_ids(root, user):
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise SystemExit(f"user {user} does not exist in {root}/etc/passwd")


def write_config(root, scratch, port, uid, gid):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(root / "etc/infoscreen-agent/agent.ini")
    inner = "/" + str(scratch.relative_to(root))
    parser["mqtt"]["port"] = str(port)
    parser["agent"]["state_dir"] = f"{inner}/state"
    parser["agent"]["boot_id_path"] = f"{inner}/boot_id"
    parser["agent"]["heartbeat_interval_s"] = "1"
    (scratch / "state").mkdir()
    (scratch / "boot_id").write_text(str(uuid.uuid4()) + "\n")
    (scratch / "app-state").write_text("stopped\n")
    with open(scratch / "agent.ini", "w", encoding="utf-8") as handle:
        parser.write(handle)
    # The harness package runs the agent on the simulated machine (agent_runner.py); the agent
    # user must be able to read it inside the chroot.
    shutil.copytree(pathlib.Path(infoscreen_sim.__file__).parent, scratch / "harness" / "infoscreen_sim",
                    ignore=shutil.ignore_patterns("__pycache__", "snmpsim_data"))
    for path in (scratch, scratch / "state", scratch / "app-state", scratch / "agent.ini"):
        shutil.chown(path, uid, gid)
    return parser, inner


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--root", required=True, type=pathlib.Path)
    args.add_argument("--user", default="infoscreen-agent")
    args.add_argument("--install-dir", default="/opt/infoscreen-agent")
    opts = args.parse_args()
    root = opts.root.resolve()
    uid, gid = agent_ids(root, opts.user)
    work = pathlib.Path(tempfile.mkdtemp(prefix="pi-agent-verify-"))
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="pi-agent-verify-", dir=root / "tmp"))
    result = {"heartbeat_agent_version": None, "acks": [], "agent_exit": None}
    agent = broker = client = None
    log = open(work / "agent.log", "wb")  # closed in finally
    try:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(root / "etc/infoscreen-agent/agent.ini")
        client_uuid = parser["agent"]["client_uuid"]
        broker = LocalBroker(work / "broker", clients=[{"name": "pi-agent-deb12", "client_uuid": client_uuid,
                                                        "password": parser["mqtt"]["password"]}])
        broker.start()
        _unused, inner = write_config(root, scratch, broker.port, uid, gid)
        inbox = queue.Queue()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"verify-{uuid.uuid4().hex[:8]}")
        client.username_pw_set(broker.controller_username, broker.controller_password)
        client.on_message = lambda _c, _u, msg: inbox.put((msg.topic, msg.payload))
        client.connect(broker.host, broker.port)
        client.loop_start()
        client.subscribe([(contract.heartbeat_topic(client_uuid), 0)]
                         + [(t, 1) for t in contract.ack_topics(client_uuid)])
        agent = subprocess.Popen(
            ["chroot", f"--userspec={uid}:{gid}", str(root), f"{opts.install_dir}/current/venv/bin/python",
             "-m", "infoscreen_sim.agent_runner", "--power-request", f"{inner}/state/power-request.json",
             "--app-state", f"{inner}/app-state", "--config", f"{inner}/agent.ini", "run"],
            stdout=subprocess.DEVNULL, stderr=log,
            env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "PYTHONPATH": f"{inner}/harness", "LANG": "C.UTF-8"},
        )
        deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S
        while result["heartbeat_agent_version"] is None and time.monotonic() < deadline:
            try:
                topic, payload = inbox.get(timeout=1)
            except queue.Empty:
                if agent.poll() is not None:
                    break
                continue
            if topic == contract.heartbeat_topic(client_uuid):
                result["heartbeat_agent_version"] = json.loads(payload)["agent_version"]
        command = contract.make_command(client_uuid, "restart_app", reason="molecule verify")
        client.publish(contract.command_topic(client_uuid), json.dumps(command), qos=1).wait_for_publish(10)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        seen = set()
        while time.monotonic() < deadline:
            try:
                topic, payload = inbox.get(timeout=1)
            except queue.Empty:
                continue
            ack = json.loads(payload)
            if topic not in contract.ack_topics(client_uuid) or ack["command_id"] != command["command_id"]:
                continue
            if ack["status"] in seen:  # the same ack arrives on the canonical and the alias topic
                continue
            seen.add(ack["status"])
            result["acks"].append({k: ack[k] for k in ("status", "error_code")})
            if ack["status"] in contract.TERMINAL_ACK_STATUSES:
                break
    finally:
        if agent is not None:
            if agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
                try:
                    agent.wait(10)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait()
            result["agent_exit"] = agent.returncode
        log.close()
        if agent is not None:
            result["agent_log_tail"] = (work / "agent.log").read_text(errors="replace")[-1500:]
        if client is not None:
            client.loop_stop()
            client.disconnect()
        if broker is not None:
            broker.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    statuses = [a["status"] for a in result["acks"]]
    return 0 if statuses and statuses[-1] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
