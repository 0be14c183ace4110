"""Benchmark of the ledger at wave scale (issue 17, item 4). Prints figures; not a test.

    source scripts/bootstrap.sh
    python bench/ledger_scale.py [--sizes 250,1000] [--backends sqlite,postgresql] [--boot-s 5] [--force]
    python bench/ledger_scale.py --ledger-only [--sizes 1000,10000]

For each size N: a real mosquitto (mqtt_broker role, local mode) with N accounts and a light
simulated fleet (bench/light_fleet.py: one MQTT connection per client, reboot = disconnect,
boot_s, reconnect, completed); then, per backend, one wave of N reboot_host commands driven
by the wave driver over one MQTT connection with a fresh ledger (a SQLite file, or a database
on a throwaway PostgreSQL cluster started like tests/fixtures/postgres.py does). Per wave:

- wall, slowest simulated reboot, tooling overhead = wall - slowest reboot (goal < 3 s);
- controller CPU seconds and RSS (this process: the wave driver runs in it);
- ledger time: the reservation of the wave (one transaction, wave_driver ``_prepare``) and
  every transition write (``record_transitions`` batches, ``finish_wave``), with the number of
  transition batches (they do not grow with the acks: one per flush);
- growth from the smallest to the largest size (ratio of N, of wall overhead, of ledger time).

The machine is shared: the load average is printed with the figures. If a size cannot run
(broker render, connections, memory), it says so and goes on with the others.

What limits 10,000 on 2 cores: not the ledger, the simulated fleet. bench/light_fleet.py runs
one paho client, and so one network thread, per simulated client: 10,000 clients are 10,000
threads and 10,000 broker connections (20,000 local ports) on 2 cores. Tried on the shared
2-core machine: the broker render of 10,000 accounts took 219 s, after 16 more minutes about
5,200 of the clients were still connecting, the load average reached 535 and other
processes' port picks collided (a broker start elsewhere failed with "address in use"). So
sizes above MAX_SAFE_CLIENTS are refused unless --force is given (a bigger machine, or a
light fleet multiplexing many clients per thread, which does not exist yet). 2,000 did not
finish either on that machine (load 120-170: 640 clients never acked within 125 s).

``--ledger-only`` measures what the ledger costs a wave of any size without the fleet: the
same calls the wave driver makes (start_wave, one batch with prefetch_lockout + a reserve
per host, the transitions of every host in flush-sized batches - published, accepted,
execution_started, completed - with defer_when_busy, finish_wave with every host's result),
timed per phase, for 1,000 and 10,000 hosts on each backend.
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
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests"), str(REPO / "sim"), str(REPO / ".cache" / "collections")]

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger  # noqa: E402
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave  # noqa: E402
from fixtures.postgres import PgCluster  # noqa: E402
from infoscreen_sim.broker import LocalBroker  # noqa: E402
from lifecycle_wave_bench import cpu_s, reboot_durations, rss_mb_now, write_private  # noqa: E402

MAX_SAFE_CLIENTS = 1000


def load():
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class LedgerTimer:
    """Wraps one Ledger's write paths with timers (seconds spent inside, and calls)."""

    NAMES = ("reserve", "record_transitions", "flush_deferred", "finish_wave", "start_wave", "find_reusable")

    def __init__(self, ledger):
        self.spent = dict.fromkeys(self.NAMES, 0.0)
        self.calls = dict.fromkeys(self.NAMES, 0)
        self.batch_s = 0.0
        for name in self.NAMES:
            setattr(ledger, name, self._wrap(name, getattr(ledger, name)))
        original_batch = ledger.batch
        timer = self

        class TimedBatch:
            def __enter__(self):
                self.inner = original_batch()
                self.inner.__enter__()
                return ledger

            def __exit__(self, *exc):
                started = time.perf_counter()
                try:
                    return self.inner.__exit__(*exc)
                finally:
                    timer.batch_s += time.perf_counter() - started  # the COMMIT of the wave's reservations

        ledger.batch = TimedBatch

    def _wrap(self, name, method):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed

    def figures(self):
        reserve = self.spent["reserve"] + self.spent["find_reusable"] + self.batch_s
        transitions = self.spent["record_transitions"] + self.spent["flush_deferred"] + self.spent["finish_wave"]
        return {"reserve_s": reserve, "transitions_s": transitions, "start_wave_s": self.spent["start_wave"],
                "total_s": reserve + transitions + self.spent["start_wave"],
                "transition_batches": self.calls["record_transitions"], "calls": dict(self.calls)}


def run_size(size, args, workdir, pg):
    clients = [{"name": f"bench-{i:05d}", "client_uuid": str(uuid.uuid4()), "password": secrets.token_urlsafe(12)}
               for i in range(size)]
    out = {"clients": size}
    t0 = time.monotonic()
    broker = LocalBroker(workdir / f"broker-{size}", clients)
    broker.start()
    out["broker_start_s"] = time.monotonic() - t0
    if args.broker_queue:
        conf = broker.conf_path.read_text().splitlines()
        conf = [f"max_queued_messages {args.broker_queue}" if line.startswith("max_queued_messages ") else
                "max_queued_bytes 0" if line.startswith("max_queued_bytes ") else line for line in conf]
        broker.conf_path.write_text("\n".join(conf) + "\n")
        broker.restart()
    print(f"[{size}] broker up in {out['broker_start_s']:.1f} s (load {load()})", flush=True)
    spec = workdir / f"fleet-{size}.json"
    write_private(spec, json.dumps({"host": broker.host, "port": broker.port,
                                    "clients": [[c["client_uuid"], c["password"]] for c in clients]}))
    journal = workdir / f"journal-{size}"
    journal.mkdir(exist_ok=True)
    workers = []
    try:
        t0 = time.monotonic()
        for index in range(args.workers):
            workers.append(subprocess.Popen(
                [sys.executable, str(REPO / "bench" / "light_fleet.py"), "--spec", str(spec), "--slice", str(index),
                 "--slices", str(args.workers), "--boot-s", str(args.boot_s), "--outdir", str(journal)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        ready = [w.stdout.readline().strip() for w in workers]
        out["fleet_start_s"] = time.monotonic() - t0
        print(f"[{size}] light fleet: {', '.join(ready)} in {out['fleet_start_s']:.1f} s", flush=True)
        mqtt_params = {"mqtt_host": broker.host, "mqtt_port": broker.port,
                       "mqtt_username": broker.controller_username, "mqtt_password": broker.controller_password,
                       "mqtt_tls": False, "mqtt_ca_cert": None, "mqtt_keepalive": 30}
        pairs = [(c["name"], c["client_uuid"]) for c in clients]
        for backend in args.backends:
            spec_of = (str(workdir / f"ledger-{size}.sqlite3") if backend == "sqlite"
                       else pg.url(pg.create_database(f"bench_{size}_{uuid.uuid4().hex[:6]}")))
            rss0, cpu0 = rss_mb_now(), cpu_s(resource.RUSAGE_SELF)
            load_before = load()
            mono = time.monotonic()
            with Ledger(spec_of) as ledger:
                timer = LedgerTimer(ledger)
                wave = run_wave(pairs, WaveOptions("reboot_host", timeout_s=args.timeout_s, progress_interval_s=10,
                                                   track_health=False), ledger, mqtt_params,
                                progress=lambda line: print("    " + line, flush=True))
            wall = time.monotonic() - mono
            cpu = cpu_s(resource.RUSAGE_SELF) - cpu0
            reboots = reboot_durations(journal, {r["command_id"] for r in wave.results.values()})
            slowest = max((e["completed"] - e["received"] for e in reboots.values()), default=float("nan"))
            figures = {"wall_s": wall, "slowest_reboot_s": slowest, "overhead_s": wall - slowest, "cpu_s": cpu,
                       "rss_mb": rss_mb_now(), "rss_growth_mb": rss_mb_now() - rss0,
                       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       "states": wave.counts["states"], "acks": wave.stats["acks"], "ledger": timer.figures(),
                       "timing": wave.timing, "load_before": load_before, "load_after": load()}
            out[backend] = figures
            led = figures["ledger"]
            print(f"[{size}] {backend}: states {figures['states']}; wall {wall:.2f} s, slowest reboot "
                  f"{slowest:.2f} s -> tooling overhead {wall - slowest:.2f} s (goal < 3 s); controller CPU "
                  f"{cpu:.2f} s; RSS {figures['rss_mb']:.0f} MB (+{figures['rss_growth_mb']:.0f}); ledger "
                  f"{led['total_s']:.2f} s = reserve {led['reserve_s']:.2f} s + transitions "
                  f"{led['transitions_s']:.2f} s in {led['transition_batches']} batches for {figures['acks']} "
                  f"acks; load {load_before} -> {figures['load_after']}", flush=True)
            time.sleep(args.boot_s + 2)  # every client is back before the next wave
    finally:
        for worker in workers:
            try:
                worker.stdin.close()
                worker.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                worker.kill()
                worker.wait(timeout=10)
        broker.stop()
    return out


def growth(results, backends):
    sizes = sorted(r["clients"] for r in results if all(b in r for b in backends))
    if len(sizes) < 2:
        return {}
    small, large = (next(r for r in results if r["clients"] == n) for n in (sizes[0], sizes[-1]))
    ratio = large["clients"] / small["clients"]
    found = {}
    for backend in backends:
        a, b = small[backend], large[backend]
        found[backend] = {"clients_x": ratio, "overhead_x": b["overhead_s"] / max(a["overhead_s"], 1e-3),
                          "ledger_x": b["ledger"]["total_s"] / max(a["ledger"]["total_s"], 1e-3),
                          "cpu_x": b["cpu_s"] / max(a["cpu_s"], 1e-3)}
        print(f"growth {backend} {small['clients']} -> {large['clients']} ({ratio:g}x clients): tooling overhead "
              f"{found[backend]['overhead_x']:.1f}x, ledger time {found[backend]['ledger_x']:.1f}x, controller CPU "
              f"{found[backend]['cpu_x']:.1f}x (linear = {ratio:g}x)", flush=True)
    return found


def ledger_only(args):
    """The ledger calls of one wave per size and backend, timed (no broker, no fleet)."""
    print(f"ledger-only bench: sizes {args.sizes}, backends {args.backends}, flush {args.flush}, "
          f"{os.cpu_count()} cores, load {load()}", flush=True)
    pg = PgCluster() if "postgresql" in args.backends else None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="infoscreen-ledger-only-"))
    results = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            entry = {"clients": size}
            hosts = [(f"h-{i:05d}", str(uuid.uuid4())) for i in range(size)]
            for backend in args.backends:
                spec = (str(workdir / f"only-{size}.sqlite3") if backend == "sqlite"
                        else pg.url(pg.create_database(f"only_{size}_{uuid.uuid4().hex[:6]}")))
                load_before, cpu0, rss0 = load(), cpu_s(resource.RUSAGE_SELF), rss_mb_now()
                phases = {}
                with Ledger(spec) as ledger:
                    ledger.migrate()
                    now = time.time()
                    wave_id = str(uuid.uuid4())
                    t0 = time.perf_counter()
                    ledger.start_wave(wave_id, wave_id, "reboot_host", now=now)
                    phases["start_wave_s"] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    ids = []
                    with ledger.batch():
                        ledger.prefetch_lockout([u for _h, u in hosts], now=now)
                        for host, client_uuid in hosts:
                            row, _unused = ledger.reserve(client_uuid, "reboot_host", host=host, wave_id=wave_id,
                                                          now=now, expires_at=now + 240, deadline_at=now + 300,
                                                          payload={"command_id": "x", "action": "reboot_host"})
                            ids.append(row["command_id"])
                    phases["reserve_s"] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    batches = 0
                    for state in ("published", "accepted", "execution_started", "completed"):
                        for start in range(0, size, args.flush):
                            fields = {"reconnect_s": 30.0} if state == "completed" else {}
                            ledger.record_transitions([(cid, state, None, None, fields)
                                                       for cid in ids[start:start + args.flush]],
                                                      defer_when_busy=True)
                            batches += 1
                    phases["transitions_s"] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    ledger.finish_wave(wave_id, {h: {"client_uuid": u, "command_id": c, "state": "completed"}
                                                 for (h, u), c in zip(hosts, ids)}, {"counts": {"hosts": size}})
                    phases["finish_wave_s"] = time.perf_counter() - t0
                    done = len(ledger.commands(wave_id=wave_id, state="completed", limit=size + 1,
                                               with_transitions=False))
                total = sum(phases.values())
                entry[backend] = dict(phases, total_s=total, batches=batches, completed=done,
                                      cpu_s=cpu_s(resource.RUSAGE_SELF) - cpu0, rss_growth_mb=rss_mb_now() - rss0,
                                      per_host_ms=1000 * total / size, load_before=load_before, load_after=load())
                print(f"[{size}] {backend}: ledger {total:.2f} s for the wave ({1000 * total / size:.2f} ms per "
                      f"host) = start {phases['start_wave_s']:.2f} + reserve {phases['reserve_s']:.2f} + "
                      f"transitions {phases['transitions_s']:.2f} ({4 * size} in {batches} batches) + finish "
                      f"{phases['finish_wave_s']:.2f}; {done} completed; CPU {entry[backend]['cpu_s']:.2f} s; "
                      f"load {load_before} -> {load()}", flush=True)
            results.append(entry)
    finally:
        if pg is not None:
            pg.remove()
    sizes = sorted(r["clients"] for r in results)
    if len(sizes) > 1:
        small, large = results[0], results[-1]
        for backend in args.backends:
            ratio = large[backend]["total_s"] / max(small[backend]["total_s"], 1e-6)
            print(f"growth {backend} {small['clients']} -> {large['clients']} "
                  f"({large['clients'] / small['clients']:g}x hosts): ledger time {ratio:.1f}x", flush=True)
    (workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"figures also in {workdir / 'results.json'} (load {load()})")
    return 0


def main():
    parser = argparse.ArgumentParser(description="ledger scale benchmark (prints figures)")
    parser.add_argument("--sizes", default=None, help="default 250,1000 (with --ledger-only 1000,10000)")
    parser.add_argument("--ledger-only", action="store_true", help="the ledger's calls of a wave, no fleet")
    parser.add_argument("--flush", type=int, default=500, help="--ledger-only: transitions per flush batch")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--boot-s", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4, help="light-fleet processes")
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument("--broker-queue", type=int, default=100000,
                        help="mosquitto max_queued_messages (the role's 10000 is too small for a 10,000 wave)")
    parser.add_argument("--force", action="store_true",
                        help=f"run sizes above {MAX_SAFE_CLIENTS} (one thread per simulated client; see the top)")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    args.backends = [b for b in args.backends.split(",") if b]
    args.sizes = args.sizes or ("1000,10000" if args.ledger_only else "250,1000")
    if args.ledger_only:
        return ledger_only(args)
    too_big = [s for s in args.sizes.split(",") if int(s) > MAX_SAFE_CLIENTS]
    if too_big and not args.force:
        parser.error(f"sizes {', '.join(too_big)} exceed {MAX_SAFE_CLIENTS} light clients: bench/light_fleet.py needs "
                     "one thread and one broker connection per client, which a 2-core machine cannot carry (see "
                     "the top of this file); give --force on a machine that can")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="infoscreen-ledger-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"ledger bench: sizes {args.sizes}, backends {args.backends}, boot {args.boot_s:g} s, "
          f"{args.workers} fleet processes, {os.cpu_count()} cores, load {load()}, workdir {workdir}", flush=True)
    pg = PgCluster() if "postgresql" in args.backends else None
    results = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            try:
                results.append(run_size(size, args, workdir, pg))
            except Exception as exc:  # noqa: BLE001 - a size that cannot run is reported, the others go on
                print(f"[{size}] could not run: {type(exc).__name__}: {exc}", flush=True)
                results.append({"clients": size, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if pg is not None:
            pg.remove()
    summary = {"results": results, "growth": growth([r for r in results if "error" not in r], args.backends),
               "load_end": load()}
    (workdir / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"figures also in {workdir / 'results.json'} (load {load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
