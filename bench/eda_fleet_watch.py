"""Fleet watch at 1,000 clients on one MQTT connection: event latency, CPU and RSS (outside CI).

A real mosquitto (the mqtt_broker role's files, local mode); this process plays N clients on the
controller account (heartbeat every --heartbeat-s, health every --health-s, spread evenly, payloads
validated by the contract package), and a burst makes --burst of them crash at once. Measured:

A. the event source alone (extensions/eda/plugins/event_source/fleet_watch.py run by its
   main(queue, args) in a child process, behind a one-slot queue like ansible-rulebook's):
   crash published -> event emitted (p50/p95/max), CPU and RSS at idle and during the burst;
B. the real ansible-rulebook with extensions/eda/rulebooks/fleet_watch.yml: one crash of a host
   with auto-recovery on -> the rule's action (debug line) -> recover.yml started ("PLAY [Recover"),
   then the burst (auto-recovery off for those: alerts only) with the process's CPU and RSS
   (the JVM included).

    python bench/eda_fleet_watch.py [--clients 1000] [--burst 100] [--idle-s 20] [--skip-rulebook]
"""

import argparse
import asyncio
import json
import logging
import os
import re
import runpy
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "extensions" / "eda" / "plugins" / "event_source" / "fleet_watch.py"
sys.path.insert(0, str(REPO / ".cache" / "collections"))
sys.path.insert(0, str(REPO / "sim"))

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def source_child(spec_path):
    """Child process: the source's main() behind a one-slot queue; prints one line per event."""
    spec = json.loads(Path(spec_path).read_text())
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)  # ansible-rulebook does this for its sources
    module = runpy.run_path(str(SOURCE))

    async def run():
        queue = asyncio.Queue(1)

        async def consume():
            while True:
                event = await queue.get()
                watch = event["fleet_watch"]
                print(f"EVENT {time.time():.6f} {watch['type']} {watch['host']} {watch['recover']['decision']}",
                      flush=True)

        consumer = asyncio.create_task(consume())
        try:
            await module["main"](queue, spec)
        finally:
            consumer.cancel()

    asyncio.run(run())


class Fleet(threading.Thread):
    """N fake clients on one paho connection (the controller account may write every topic)."""

    def __init__(self, broker, uuids, heartbeat_s, health_s):
        super().__init__(daemon=True)
        import paho.mqtt.client as mqtt

        self.uuids, self.heartbeat_s, self.health_s = uuids, heartbeat_s, health_s
        self.state = dict.fromkeys(uuids, "running")
        self.boot = {u: str(uuid.uuid4()) for u in uuids}
        self.crashed_at = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-watch-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(broker.controller_username, broker.controller_password)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port, keepalive=60)
        self.client.loop_start()
        self.started = time.time()

    def _body(self, client_uuid, health):
        now = time.time()
        body = {"client_uuid": client_uuid, "sent_at": contract.format_ts(contract.utcnow()),
                "boot_id": self.boot[client_uuid], "agent_version": "1.0.0", "uptime_s": round(now - self.started, 1)}
        if health:
            body.update(app_state=self.state[client_uuid],
                        broker_connection={"reconnect_count": 0, "last_disconnect_at": None})
            return contract.health_topic(client_uuid), json.dumps(contract.validate("health", body))
        return contract.heartbeat_topic(client_uuid), json.dumps(contract.validate("heartbeat", body))

    def crash(self, uuids):
        """Crash these clients now; each publishes its crashed health at once (as the agent's next one)."""
        with self.lock:
            for client_uuid in uuids:
                self.state[client_uuid] = "crashed"
                topic, payload = self._body(client_uuid, True)
                self.client.publish(topic, payload, qos=1)
                self.crashed_at[client_uuid] = time.time()

    def run(self):
        count = len(self.uuids)
        next_beat = [self.started + self.heartbeat_s * i / count for i in range(count)]
        next_health = [self.started + self.health_s * i / count for i in range(count)]
        while True:
            now = time.time()
            with self.lock:
                for index, client_uuid in enumerate(self.uuids):
                    if now >= next_beat[index]:
                        self.client.publish(*self._body(client_uuid, False), qos=0)
                        next_beat[index] += self.heartbeat_s
                    if now >= next_health[index]:
                        self.client.publish(*self._body(client_uuid, True), qos=1)
                        next_health[index] += self.health_s
            time.sleep(0.05)


class Lines(threading.Thread):
    """Every output line of a child, with the time it was read."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines, self.cond = stream, [], threading.Condition()

    def run(self):
        for line in self.stream:
            with self.cond:
                self.lines.append((time.time(), line.rstrip("\n")))
                self.cond.notify_all()

    def wait_for(self, predicate, timeout, start=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [(t, line) for t, line in self.lines[start:] if predicate(line)]
                if found or time.monotonic() > deadline:
                    return found
                self.cond.wait(0.2)

    def collect(self, predicate, count, timeout, start=0):
        """The matching lines once there are ``count`` of them (or what there is at the timeout)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [(t, line) for t, line in self.lines[start:] if predicate(line)]
                if len(found) >= count or time.monotonic() > deadline:
                    return found
                self.cond.wait(0.05)


def figures(name, values):
    values = sorted(values)
    if not values:
        return f"{name}: none"
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return (f"{name}: n={len(values)} p50 {1000 * statistics.median(values):.0f} ms, p95 {1000 * p95:.0f} ms, "
            f"max {1000 * values[-1]:.0f} ms")


def launch(command, env, cwd, ready, timeout):
    """Start a child in its own process group; wait until a line says ``ready``."""
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    lines = Lines(proc.stdout)
    lines.start()
    if not lines.wait_for(lambda line: ready in line, timeout):
        stop(proc)
        raise SystemExit(f"{command[0]} did not start:\n" + "\n".join(line for _t, line in lines.lines[-30:]))
    return proc, lines, started


def stop(proc):
    """SIGINT, then the whole process group (the rulebook and a recover.yml run it started)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def measure_idle(pid, seconds):
    cpu0, wall0 = proc_cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    cpu = proc_cpu_s(pid) - cpu0
    return cpu, time.monotonic() - wall0, proc_rss_mb(pid)


def write_inventory(workdir, uuids, auto_host=None):
    hosts = {f"pi-{i:04d}": {"client_uuid": u} for i, u in enumerate(uuids)}
    auto = {h: hosts.pop(h) for h in ([auto_host] if auto_host else [])}
    inventory = {"all": {"children": {"infoscreen_clients": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {"watched": {"hosts": hosts, "vars": {"infoscreen_fleet_watch_auto_recover": False}},
                     "auto": {"hosts": auto}}}}}}
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory))
    return path


def phase_source(broker, fleet, uuids, workdir, args):
    inventory = write_inventory(workdir, uuids)
    spec = workdir / "source-args.json"
    spec.write_text(json.dumps({"inventory": str(inventory), "mqtt_host": broker.host, "mqtt_port": broker.port,
                                "ledger": str(workdir / "ledger-a.sqlite3"), "silent_after_s": 120}))
    env = dict(os.environ, INFOSCREEN_MQTT_USERNAME=broker.controller_username,
               INFOSCREEN_MQTT_PASSWORD=broker.controller_password, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(REPO / ".cache" / "collections"), os.environ.get("PYTHONPATH", "")]))
    child, lines, started = launch([sys.executable, __file__, "--source-child", str(spec)], env, workdir,
                                   "silent after", 120)
    try:
        print(f"A. source alone: {len(uuids)} clients, inventory loaded and connected in "
              f"{time.monotonic() - started:.1f} s, RSS {proc_rss_mb(child.pid):.0f} MB")
        time.sleep(args.health_s)  # every client seen once
        cpu, wall, rss = measure_idle(child.pid, args.idle_s)
        rate = len(uuids) * (1 / args.heartbeat_s + 1 / args.health_s)
        print(f"   idle ({rate:.0f} msg/s): CPU {cpu:.2f} s in {wall:.0f} s = {100 * cpu / wall:.1f} % of one core, "
              f"RSS {rss:.0f} MB")
        mark = len(lines.lines)
        burst = uuids[1:args.burst + 1]
        cpu0, t0 = proc_cpu_s(child.pid), time.monotonic()
        fleet.crash(burst)
        names = {f"pi-{uuids.index(u):04d}": u for u in burst}
        found = lines.collect(lambda line: " app_crashed " in line, len(burst), 60, start=mark)
        took = time.monotonic() - t0
        cpu = proc_cpu_s(child.pid) - cpu0
        latencies = []
        for when, line in found:
            host = line.split()[3]
            if host in names:
                latencies.append(when - fleet.crashed_at[names[host]])
        print(f"   burst of {len(burst)} crashes: {len(found)} app_crashed events in {took:.2f} s; "
              f"CPU {cpu:.2f} s; RSS {proc_rss_mb(child.pid):.0f} MB")
        print("   " + figures("crash published -> event emitted", latencies))
    finally:
        stop(child)
    return burst


def phase_rulebook(broker, fleet, uuids, workdir, args, *, crashed):
    with fleet.lock:  # phase A's burst runs again: the rulebook sees it crash afresh below
        for client_uuid in crashed:
            fleet.state[client_uuid] = "running"
    auto_host = f"pi-{len(uuids) - 1:04d}"
    inventory = write_inventory(workdir, uuids, auto_host=auto_host)
    variables = workdir / "vars.json"
    variables.write_text(json.dumps({"infoscreen_fleet_watch_inventory": str(inventory),
                                     "infoscreen_fleet_watch_silent_after_s": 120,
                                     "infoscreen_fleet_watch_ledger": str(workdir / "ledger-b.sqlite3")}))
    env = dict(os.environ, INFOSCREEN_MQTT_USERNAME=broker.controller_username,
               INFOSCREEN_MQTT_PASSWORD=broker.controller_password, INFOSCREEN_MQTT_HOST=broker.host,
               INFOSCREEN_MQTT_PORT=str(broker.port), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1")
    proc, lines, started = launch(["ansible-rulebook", "-i", str(inventory), "-r", "infoscreen.fleet.fleet_watch",
                                   "--vars", str(variables), "-v", "--shutdown-delay", "2"], env, workdir,
                                  "Waiting for events", 180)
    try:
        print(f"B. ansible-rulebook + fleet_watch.yml: ready in {time.monotonic() - started:.1f} s, "
              f"RSS {proc_rss_mb(proc.pid):.0f} MB (JVM included)")
        time.sleep(args.health_s)
        cpu, wall, rss = measure_idle(proc.pid, args.idle_s)
        print(f"   idle: CPU {cpu:.2f} s in {wall:.0f} s = {100 * cpu / wall:.1f} % of one core, RSS {rss:.0f} MB")
        mark = len(lines.lines)
        fleet.crash([uuids[-1]])
        t0 = fleet.crashed_at[uuids[-1]]
        action = lines.wait_for(lambda line: f"app_crashed on {auto_host}" in line, 60, start=mark)
        play = lines.wait_for(lambda line: line.startswith("PLAY [Recover"), 120, start=mark)
        if action:
            print(f"   crash published -> rule action (debug): {1000 * (action[0][0] - t0):.0f} ms")
        if play:
            print(f"   crash published -> recover.yml started (PLAY line): {1000 * (play[0][0] - t0):.0f} ms")
        time.sleep(5)
        mark = len(lines.lines)
        burst = uuids[1:args.burst + 1]
        cpu0, w0 = proc_cpu_s(proc.pid), time.monotonic()
        fleet.crash(burst)
        alerts = lines.collect(lambda line: "ALERT (hands on site): app_crashed" in line, len(burst), 120, start=mark)
        took = time.monotonic() - w0
        cpu = proc_cpu_s(proc.pid) - cpu0
        print(f"   burst of {len(burst)} crashes (auto-recovery off): {len(alerts)} alert actions in {took:.2f} s; "
              f"CPU {cpu:.2f} s; RSS {proc_rss_mb(proc.pid):.0f} MB")
        by_host = {f"pi-{uuids.index(u):04d}": u for u in burst}
        hosts = [(t, re.search(r"app_crashed on (\S+)", line).group(1)) for t, line in alerts]
        latencies = [t - fleet.crashed_at[by_host[host]] for t, host in hosts if host in by_host]
        print("   " + figures("crash published -> alert action", latencies))
    finally:
        stop(proc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--heartbeat-s", type=float, default=10.0)
    parser.add_argument("--health-s", type=float, default=30.0)
    parser.add_argument("--idle-s", type=float, default=20.0)
    parser.add_argument("--skip-rulebook", action="store_true")
    parser.add_argument("--source-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.source_child:
        source_child(args.source_child)
        return
    from infoscreen_sim.broker import LocalBroker

    with tempfile.TemporaryDirectory(prefix="eda-bench-") as tmp:
        workdir = Path(tmp)
        dummy = [{"name": "bench-0", "client_uuid": str(uuid.uuid4()), "password": uuid.uuid4().hex}]
        with LocalBroker(workdir / "broker", clients=dummy) as broker:
            uuids = [str(uuid.uuid4()) for _client in range(args.clients)]
            fleet = Fleet(broker, uuids, args.heartbeat_s, args.health_s)
            fleet.start()
            print(f"{args.clients} clients: heartbeat every {args.heartbeat_s:g} s, health every {args.health_s:g} s "
                  f"on one publisher connection; {os.cpu_count()} CPUs (shared)")
            crashed = phase_source(broker, fleet, uuids, workdir, args)
            if not args.skip_rulebook:
                phase_rulebook(broker, fleet, uuids, workdir, args, crashed=crashed)


if __name__ == "__main__":
    main()
