"""Fleet status of 1,000 clients on one MQTT connection: wall time, CPU and RSS of the status read.

A real mosquitto (the mqtt_broker role's files, local mode) and a publisher process that plays N
clients on the controller account (which may write every contract topic): each client sends a
heartbeat every --heartbeat-s and a health (with broker_connection; some crashed, some held) every
--health-s, spread evenly; --reports clients have a retained service_failed report. The ledger is
seeded with three commands per client (a tenth of them locked out). Then, measured in this run:

1. in-process: plugins/plugin_utils/fleet_status.read_status (one connection, the listen ends once
   every client sent health) + console table + HTML page - wall, CPU (user+sys) and peak RSS growth;
2. end to end: ansible-playbook playbooks/fleet_status.yml on a generated N-host inventory
   (JSON and HTML written) - wall, CPU and peak RSS of the child processes.

    python bench/fleet_status_scale.py [--clients 1000] [--health-s 10] [--skip-playbook]

Real agents are not used here: one agent process per client (~30 MB, ~1 s to start) does not fit
1,000 times on this machine; the status read only sees MQTT messages, which the publisher sends
exactly as agents do (validated by the contract package before sending).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".cache" / "collections"))
sys.path.insert(0, str(REPO / "sim"))

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract  # noqa: E402
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger  # noqa: E402


def rss_mb():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def publisher(args):
    """Child process: play the clients until killed."""
    import paho.mqtt.client as mqtt

    spec = json.loads(Path(args.spec).read_text())
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-fleet-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(spec["username"], os.environ["BENCH_MQTT_PASSWORD"])
    client.max_queued_messages_set(0)
    client.connect(spec["host"], spec["port"], keepalive=60)
    client.loop_start()
    clients = spec["clients"]
    started = time.time()
    boot = {c: str(uuid.uuid4()) for c in clients}

    def stamp():
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    for client_uuid in clients[:spec["reports"]]:
        body = contract.validate("service_failed", {"client_uuid": client_uuid, "unit": "signage-player.service",
                                                    "failed_at": stamp(), "boot_id": boot[client_uuid]})
        client.publish(contract.service_failed_topic(client_uuid), json.dumps(body), qos=1, retain=True)
    tick = 0.05
    next_health = {c: started + spec["health_s"] * i / len(clients) for i, c in enumerate(clients)}
    next_beat = {c: started + spec["heartbeat_s"] * i / len(clients) for i, c in enumerate(clients)}
    while True:
        now = time.time()
        for index, client_uuid in enumerate(clients):
            base = {"client_uuid": client_uuid, "sent_at": stamp(), "boot_id": boot[client_uuid],
                    "agent_version": "1.0.0", "release": "1.0.0+s1+ssd1", "uptime_s": round(now - started, 1)}
            if now >= next_beat[client_uuid]:
                client.publish(contract.heartbeat_topic(client_uuid), json.dumps(base), qos=0)
                next_beat[client_uuid] += spec["heartbeat_s"]
            if now >= next_health[client_uuid]:
                body = dict(base, app_state="crashed" if index % 50 == 7 else "running", pending_command_id=None,
                            broker_connection={"reconnect_count": index % 4, "last_disconnect_at": None})
                client.publish(contract.health_topic(client_uuid), json.dumps(contract.validate("health", body)),
                               qos=1)
                next_health[client_uuid] += spec["health_s"]
        time.sleep(tick)


def seed_ledger(path, uuids, now):
    with Ledger(str(path)) as db:
        with db.batch():
            for index, client_uuid in enumerate(uuids):
                ages = (600, 300, 60) if index % 10 == 3 else (3000, 2000, 1000)
                for ago in ages:
                    row, _decision = db.reserve(client_uuid, "reboot_host", host=f"pi-{index:04d}", now=now - ago,
                                                check_lockout=False)
                    db.record_transition(row["command_id"], "completed", at=now - ago + 40)


def in_process(broker, uuids, ledger, args):
    from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import console_table, read_status
    from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status_html import render_status_html

    params = {"mqtt_host": broker.host, "mqtt_port": broker.port, "mqtt_username": broker.controller_username,
              "mqtt_password": broker.controller_password, "mqtt_tls": False, "mqtt_ca_cert": None,
              "mqtt_keepalive": 30}
    clients = {f"pi-{i:04d}": u for i, u in enumerate(uuids)}
    rss_before = rss_mb()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    status = read_status(params, clients, ledger_factory=lambda: Ledger(str(ledger)), listen_s=args.health_s * 3,
                         max_heartbeat_age_s=args.health_s * 3)
    read_s = time.perf_counter() - started
    lines = console_table(status["clients"])
    page = render_status_html(status)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    peak_mb = cpu_after.ru_maxrss / 1024
    counts = status["counts"]
    print(f"in-process read_status, {len(uuids)} clients, one connection: read {read_s:.2f} s (listened "
          f"{status['listened_s']} s), + table and page {wall - read_s:.2f} s; CPU {cpu:.2f} s "
          f"({100 * cpu / wall:.0f} % of one core); RSS {rss_before:.0f} -> {rss_mb():.0f} MB (peak {peak_mb:.0f} MB)")
    print(f"  seen online {counts['online']}, silent {counts['silent']}, problem {counts['problem']}, "
          f"locked out {counts['locked_out']}, service_failed {counts['service_failed']}; "
          f"page {len(page) / 1e6:.2f} MB, "
          f"table {len(lines)} lines; invalid payloads {status['invalid_payloads']}")
    return status


def end_to_end(broker, uuids, ledger, workdir, args):
    inventory = {"all": {"children": {"infoscreen_clients": {"hosts": {
        f"pi-{i:04d}": {"client_uuid": u} for i, u in enumerate(uuids)}}}}}
    inv_path = workdir / "inventory.json"
    inv_path.write_text(json.dumps(inventory))
    extra = {"infoscreen_status_listen_s": args.health_s * 3,
             "infoscreen_status_max_heartbeat_age_s": args.health_s * 3,
             "infoscreen_status_json_file": str(workdir / "status.json"),
             "infoscreen_status_html_file": str(workdir / "status.html"), "infoscreen_ledger": str(ledger),
             "infoscreen_mqtt_port": broker.port}
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               INFOSCREEN_MQTT_PASSWORD=broker.controller_password,
               INFOSCREEN_MQTT_USERNAME=broker.controller_username, ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run = subprocess.run(["ansible-playbook", "-i", str(inv_path), "-e", json.dumps(extra),
                          str(REPO / "playbooks" / "fleet_status.yml")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=900, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if args.show_output:
        print(run.stdout[-4000:])
    if run.returncode != 0:
        print(run.stdout[-3000:] + run.stderr[-3000:])
        raise SystemExit(f"ansible-playbook failed ({run.returncode})")
    status = json.loads((workdir / "status.json").read_text())
    heading = [line for line in run.stdout.splitlines() if line.startswith("fleet status ")]
    if heading:  # the action's own account of its time
        print("  action:", heading[0])
    print(f"ansible-playbook fleet_status.yml, {len(uuids)} hosts: wall {wall:.2f} s "
          f"(listened {status['listened_s']} s), "
          f"CPU of the children {cpu:.2f} s, peak RSS of the largest child {after.ru_maxrss / 1024:.0f} MB; "
          f"online {status['counts']['online']}, HTML {(workdir / 'status.html').stat().st_size / 1e6:.2f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--health-s", type=float, default=10.0, help="health interval of the played clients")
    parser.add_argument("--heartbeat-s", type=float, default=5.0)
    parser.add_argument("--reports", type=int, default=50, help="clients with a retained service_failed report")
    parser.add_argument("--skip-playbook", action="store_true")
    parser.add_argument("--show-output", action="store_true", help="print the end of the playbook's output")
    parser.add_argument("--publisher", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publisher:
        args.spec = args.publisher
        publisher(args)
        return
    from infoscreen_sim.broker import LocalBroker

    uuids = [str(uuid.uuid4()) for _index in range(args.clients)]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = LocalBroker(workdir / "broker", clients=[])
        broker.start()
        spec = workdir / "spec.json"
        spec.write_text(json.dumps({"host": broker.host, "port": broker.port, "username": broker.controller_username,
                                    "clients": uuids, "reports": args.reports, "health_s": args.health_s,
                                    "heartbeat_s": args.heartbeat_s}))
        proc = subprocess.Popen([sys.executable, __file__, "--publisher", str(spec)],
                                env=dict(os.environ, BENCH_MQTT_PASSWORD=broker.controller_password))
        try:
            ledger = workdir / "ledger.sqlite3"
            started = time.perf_counter()
            seed_ledger(ledger, uuids, time.time())
            print(f"ledger seeded with {3 * len(uuids)} commands in {time.perf_counter() - started:.1f} s")
            time.sleep(args.health_s)  # the publisher is in its stride (every client sent health once)
            status = in_process(broker, uuids, ledger, args)
            expect_locked = sum(1 for i in range(len(uuids)) if i % 10 == 3)
            print(f"  check: locked out {status['counts']['locked_out']} of {expect_locked} expected, service_failed "
                  f"{status['counts']['service_failed']} of {args.reports}")
            if not args.skip_playbook:
                end_to_end(broker, uuids, ledger, workdir, args)
        finally:
            proc.kill()
            proc.wait()
            broker.stop()


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
