"""Benchmark of lifecycle waves (issue 5). Prints figures; not a test.

    source scripts/bootstrap.sh
    python bench/lifecycle_wave_bench.py [--clients 1000] [--boot-s 5] [--compare-clients 200]

What it measures, against a real mosquitto rendered by the mqtt_broker role and a light
simulated fleet (bench/light_fleet.py: one MQTT connection per client, real contract
validation, reboot = disconnect, boot_s, reconnect with a new boot id, completed):

A. the wave driver alone (what the run_once task runs): one wave of N reboot_host commands
   over one MQTT connection -> wall, tooling overhead = wall - slowest simulated reboot,
   controller CPU seconds and peak RSS;
B. the whole operator playbook (ansible-playbook playbooks/reboot.yml, one wave of N):
   wall, overhead, time before/after the wave task (Ansible start-up, per-host outcome
   tasks), CPU and peak RSS of ansible-playbook and its workers;
C. a wave of M (200) clients driven by one task per host (bench/per_host_wave.yml:
   community.general.mqtt publish + per-host mosquitto_sub wait) versus the same M through
   playbooks/reboot.yml (one connection) -> ratio.
"""

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "sim"), str(REPO / ".cache" / "collections")]

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger  # noqa: E402
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave  # noqa: E402
from infoscreen_sim.broker import LocalBroker  # noqa: E402


def rss_mb_now():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def reboot_durations(outdir, command_ids):
    found = {}
    for path in Path(outdir).glob("reboots-*.jsonl"):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["command_id"] in command_ids:
                found[entry["command_id"]] = entry
    return found


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def inventory(path, clients, broker):
    hosts = {c["name"]: {"client_uuid": c["client_uuid"]} for c in clients}
    data = {"all": {"vars": {"infoscreen_mqtt_host": broker.host, "infoscreen_mqtt_port": broker.port},
                    "children": {"infoscreen_clients": {"hosts": hosts, "vars": {
                        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}
    write_private(path, json.dumps(data))


def ansible_env(broker, ledger, report=None):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), INFOSCREEN_LEDGER=str(ledger),
               INFOSCREEN_MQTT_PASSWORD=broker.controller_password, ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if report:
        env.update(ANSIBLE_CALLBACKS_ENABLED="infoscreen.fleet.rollout_report", INFOSCREEN_ROLLOUT_JSON=str(report),
                   INFOSCREEN_ROLLOUT_TABLE="false")
    return env


def run_playbook(args, env, log):
    cpu0, started = cpu_s(resource.RUSAGE_CHILDREN), time.time()
    mono = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.run(["ansible-playbook", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                              check=False)
    return {"rc": proc.returncode, "wall_s": time.monotonic() - mono, "started": started, "ended": time.time(),
            "cpu_s": cpu_s(resource.RUSAGE_CHILDREN) - cpu0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def wave_commands(ledger_path):
    with Ledger(str(ledger_path)) as ledger:
        waves = ledger._db.execute("SELECT wave_id, started_at, finished_at FROM waves ORDER BY started_at").fetchall()
        commands = ledger.commands(limit=100000, with_transitions=False)
    return [dict(w) for w in waves], commands


def main():
    parser = argparse.ArgumentParser(description="lifecycle wave benchmark (prints figures)")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--boot-s", type=float, default=5.0)
    parser.add_argument("--compare-clients", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, help="light-fleet processes")
    parser.add_argument("--skip", action="append", default=[], choices=["driver", "playbook", "compare"])
    parser.add_argument("--broker-queue", type=int, default=None,
                        help="raise mosquitto's max_queued_messages to N (the role's default is 10000; a controller "
                             "waiting on a big wave needs more, see docs/controller.md)")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="infoscreen-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    clients = [{"name": f"bench-{i:04d}", "client_uuid": str(uuid.uuid4()), "password": secrets.token_urlsafe(12)}
               for i in range(args.clients)]
    print(f"bench: {args.clients} light clients, boot {args.boot_s:g} s, {args.workers} fleet processes, "
          f"workdir {workdir}", flush=True)
    broker = LocalBroker(workdir / "broker", clients)
    t0 = time.monotonic()
    broker.start()
    print(f"broker (mqtt_broker role, local mode) up on {broker.host}:{broker.port} in "
          f"{time.monotonic() - t0:.1f} s", flush=True)
    if args.broker_queue:
        conf = broker.conf_path.read_text().splitlines()
        conf = [f"max_queued_messages {args.broker_queue}" if line.startswith("max_queued_messages ") else
                "max_queued_bytes 0" if line.startswith("max_queued_bytes ") else line for line in conf]
        broker.conf_path.write_text("\n".join(conf) + "\n")
        broker.restart()
        print(f"broker restarted with max_queued_messages {args.broker_queue}, max_queued_bytes 0", flush=True)
    spec = workdir / "fleet-spec.json"
    write_private(spec, json.dumps({"host": broker.host, "port": broker.port,
                                    "clients": [[c["client_uuid"], c["password"]] for c in clients]}))
    journal_dir = workdir / "journal"
    journal_dir.mkdir(exist_ok=True)
    workers = []
    results = {}
    try:
        t0 = time.monotonic()
        for index in range(args.workers):
            workers.append(subprocess.Popen(
                [sys.executable, str(REPO / "bench" / "light_fleet.py"), "--spec", str(spec), "--slice", str(index),
                 "--slices", str(args.workers), "--boot-s", str(args.boot_s), "--outdir", str(journal_dir)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        ready = [w.stdout.readline().strip() for w in workers]
        print(f"light fleet: {', '.join(ready)} in {time.monotonic() - t0:.1f} s", flush=True)
        mqtt_params = {"mqtt_host": broker.host, "mqtt_port": broker.port,
                       "mqtt_username": broker.controller_username, "mqtt_password": broker.controller_password,
                       "mqtt_tls": False, "mqtt_ca_cert": None, "mqtt_keepalive": 30}
        pairs = [(c["name"], c["client_uuid"]) for c in clients]

        if "driver" not in args.skip:
            ledger_path = workdir / "ledger-driver.sqlite3"
            rss0, cpu0 = rss_mb_now(), cpu_s(resource.RUSAGE_SELF)
            mono = time.monotonic()
            with Ledger(str(ledger_path)) as ledger:
                wave = run_wave(pairs, WaveOptions("reboot_host", timeout_s=120, progress_interval_s=5), ledger,
                                mqtt_params, progress=lambda line: print("  " + line, flush=True))
            wall = time.monotonic() - mono
            cpu = cpu_s(resource.RUSAGE_SELF) - cpu0
            ids = {r["command_id"] for r in wave.results.values()}
            reboots = reboot_durations(journal_dir, ids)
            slowest = max((e["completed"] - e["received"] for e in reboots.values()), default=float("nan"))
            states = wave.counts["states"]
            results["driver"] = {"wall_s": wall, "slowest_reboot_s": slowest, "overhead_s": wall - slowest,
                                 "cpu_s": cpu, "rss_mb": rss_mb_now(), "rss_growth_mb": rss_mb_now() - rss0,
                                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                 "states": states, "timing": wave.timing, "stats": wave.stats}
            print(f"A. wave driver, {args.clients} clients: states {states}; wall {wall:.2f} s, slowest simulated "
                  f"reboot {slowest:.2f} s -> tooling overhead {wall - slowest:.2f} s (goal < 2 s); controller CPU "
                  f"{cpu:.2f} s; RSS {rss_mb_now():.0f} MB (+{rss_mb_now() - rss0:.0f} MB for the wave); "
                  f"acks {wave.stats['acks']} (dup {wave.stats['duplicate_acks']}); timing {wave.timing}", flush=True)

        inv = workdir / "inventory.json"
        inventory(inv, clients, broker)
        if "playbook" not in args.skip:
            variants = (("with per-host outcome tasks", "playbook", []),
                        ("without per-host outcome tasks", "playbook_no_outcome",
                         ["-e", "infoscreen_wave_per_host_outcome=false"]))
            for label, key, extra in variants:
                ledger_path = workdir / f"ledger-{key}.sqlite3"
                report = workdir / f"report-{key}.json"
                run = run_playbook(["-i", str(inv), str(REPO / "playbooks" / "reboot.yml"), "-e",
                                    f"infoscreen_wave_size={args.clients}", "-e", "infoscreen_wave_timeout_s=120",
                                    # The whole fleet without --limit: the bulk guard wants the count (docs/policy.md).
                                    "-e", f"infoscreen_bulk_confirm={args.clients}", *extra],
                                   ansible_env(broker, ledger_path, report), workdir / f"{key}.log")
                waves, commands = wave_commands(ledger_path)
                reboots = reboot_durations(journal_dir, {c["command_id"] for c in commands})
                slowest = max((e["completed"] - e["received"] for e in reboots.values()), default=float("nan"))
                data = json.loads(report.read_text())
                before = waves[0]["started_at"] - run["started"]
                wave_wall = waves[0]["finished_at"] - waves[0]["started_at"]
                after = run["ended"] - waves[0]["finished_at"]
                results[key] = dict(run, slowest_reboot_s=slowest, overhead_s=run["wall_s"] - slowest,
                                    before_wave_s=before, wave_task_s=wave_wall, after_wave_s=after,
                                    per_host_after_ms=1000 * after / args.clients, totals=data["totals"])
                print(f"B. ansible-playbook reboot.yml {label}, one wave of {args.clients}: rc {run['rc']}, states "
                      f"{data['totals']['states']}; wall {run['wall_s']:.2f} s, slowest reboot {slowest:.2f} s -> "
                      f"overhead {run['wall_s'] - slowest:.2f} s = start-up+inventory {before:.2f} s + wave task "
                      f"{wave_wall:.2f} s (incl. the reboot) + gate/outcome/report {after:.2f} s "
                      f"({1000 * after / args.clients:.1f} ms per host); CPU (ansible-playbook + workers) "
                      f"{run['cpu_s']:.1f} s; peak RSS of one process {run['peak_rss_mb']:.0f} MB", flush=True)

        if "compare" not in args.skip:
            subset = ",".join(c["name"] for c in clients[:args.compare_clients])
            ledger_path = workdir / "ledger-compare.sqlite3"
            single = run_playbook(["-i", str(inv), str(REPO / "playbooks" / "reboot.yml"), "-l", subset, "-e",
                                   f"infoscreen_wave_size={args.compare_clients}"],
                                  ansible_env(broker, ledger_path), workdir / "compare-single.log")
            per_host = run_playbook(["-i", str(inv), str(REPO / "bench" / "per_host_wave.yml"), "-l", subset,
                                     "-e", f"bench_run={uuid.uuid4().hex[:8]}",
                                     "-e", f"bench_user={broker.controller_username}",
                                     "-e", f"bench_password={broker.controller_password}"],
                                    ansible_env(broker, workdir / "unused.sqlite3"), workdir / "compare-per-host.log")
            summary = run_playbook(["-i", str(inv), str(REPO / "playbooks" / "reboot.yml"), "-l", subset, "-e",
                                    f"infoscreen_wave_size={args.compare_clients}", "-e",
                                    "infoscreen_wave_per_host_outcome=false"],
                                   ansible_env(broker, workdir / "ledger-compare-summary.sqlite3"),
                                   workdir / "compare-single-summary.log")
            ratio = per_host["wall_s"] / single["wall_s"]
            ratio_summary = per_host["wall_s"] / summary["wall_s"]
            results["compare"] = {"clients": args.compare_clients, "single": single, "single_summary": summary,
                                  "per_host": per_host, "ratio": ratio, "ratio_summary": ratio_summary}
            print(f"C. {args.compare_clients} clients: one task per host {per_host['wall_s']:.1f} s (rc "
                  f"{per_host['rc']}) vs one connection {single['wall_s']:.1f} s (rc {single['rc']}) -> "
                  f"{ratio:.1f}x; vs one connection without per-host outcome tasks {summary['wall_s']:.1f} s "
                  f"(rc {summary['rc']}) -> {ratio_summary:.1f}x (goal >= 20x)", flush=True)
    finally:
        for worker in workers:
            try:
                worker.stdin.close()
                worker.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                worker.kill()
                worker.wait(timeout=10)
        broker.stop()
    (workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"figures also in {workdir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
