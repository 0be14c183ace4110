"""Scale: the largest reboot wave driven over one MQTT connection, and what it costs.

One real mosquitto (role-rendered, one account per client) and the bench's light simulated
fleet (bench/light_fleet.py: one MQTT connection per client in a few processes, real
contract validation, reboot = disconnect, ``boot_s``, reconnect with a new boot id,
completed). Real agents cost ~30 MB and ~1 s of start-up each, which is why 1,000 of them
are simulated this way; the other drills use real agents.

For each size (100, 250, 500, 1,000 by default) one reboot_host wave runs through the real
wave driver in a child process (drills.scale_wave) with a fresh ledger. Figures: wall time,
tooling overhead = wall - slowest simulated reboot (from the light fleet's journal),
controller CPU seconds and peak RSS (the child's own), broker CPU seconds (from /proc over
the wave). Cost growth compares CPU per client and overhead with the smallest size.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from infoscreen_sim.broker import LocalBroker
from infoscreen_sim.measure import _cpu_s

from . import REPO
from .report import Goal, Row

NAME = "scale"
LIGHT_FLEET = REPO / "bench" / "light_fleet.py"
OVERHEAD_GOAL_S = 2.0  # issue 5's benchmark goal for a 1,000-client wave


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def journal_figures(journal_dir, command_ids, mono_start, mono_end):
    """From the light fleet's journal (monotonic times): the slowest received->completed
    reboot, how long until the last client had its command (dispatch), and how long the
    controller took from the last completed ack sent to the end of the wave (tail)."""
    entries = []
    for path in Path(journal_dir).glob("reboots-*.jsonl"):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["command_id"] in command_ids:
                entries.append(entry)
    if not entries:
        return {"slowest_reboot_s": None, "dispatch_s": None, "tail_s": None}
    return {"slowest_reboot_s": max(e["completed"] - e["received"] for e in entries),
            "dispatch_s": max(e["received"] for e in entries) - mono_start,
            "tail_s": mono_end - max(e["completed"] for e in entries)}


def growth(points):
    """CPU per client and overhead of each size relative to the smallest size (pure)."""
    if not points:
        return []
    base = points[0]
    base_cpu = base["cpu_s"] / base["clients"]
    out = []
    for point in points:
        per_client = point["cpu_s"] / point["clients"]
        out.append({"clients": point["clients"], "cpu_per_client_ms": 1000 * per_client,
                    "cpu_per_client_ratio": per_client / base_cpu if base_cpu else None,
                    "clients_ratio": point["clients"] / base["clients"]})
    return out


def _start_workers(spec_path, journal_dir, boot_s, workers):
    procs = []
    for index in range(workers):
        procs.append(subprocess.Popen(
            [sys.executable, str(LIGHT_FLEET), "--spec", str(spec_path), "--slice", str(index), "--slices",
             str(workers), "--boot-s", str(boot_s), "--outdir", str(journal_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True))
    return procs


def _stop_workers(procs):
    for proc in procs:
        try:
            proc.stdin.close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)


def run(ctx):
    sizes = sorted(ctx.sizes or ctx.pick([50, 100], [100, 250, 500, 1000]))
    boot_s = ctx.pick(2.0, 5.0)
    work = ctx.dir("scale")
    clients = [{"name": f"scale-{i:04d}", "client_uuid": str(uuid.uuid4()), "password": uuid.uuid4().hex}
               for i in range(max(sizes))]
    points = []
    broker = LocalBroker(work / "broker", clients)
    workers = []
    try:
        started = time.monotonic()
        broker.start()
        ctx.say(f"  broker with {len(clients)} accounts up in {time.monotonic() - started:.1f} s "
                f"(render {broker.render_seconds:.1f} s)")
        fleet_spec, wave_spec = work / "fleet-spec.json", work / "wave-spec.json"
        _write_private(fleet_spec, {"host": broker.host, "port": broker.port,
                                    "clients": [[c["client_uuid"], c["password"]] for c in clients]})
        _write_private(wave_spec, {"host": broker.host, "port": broker.port,
                                   "controller_username": broker.controller_username,
                                   "controller_password": broker.controller_password,
                                   "clients": [[c["name"], c["client_uuid"]] for c in clients]})
        journal = work / "journal"
        journal.mkdir(exist_ok=True)
        started = time.monotonic()
        workers = _start_workers(fleet_spec, journal, boot_s, 4)
        ready = [w.stdout.readline().strip() for w in workers]
        ctx.say(f"  light fleet {', '.join(ready)} in {time.monotonic() - started:.1f} s")
        for size in sizes:
            broker_cpu0 = _cpu_s(broker.pid)
            proc = subprocess.run([sys.executable, "-m", "drills.scale_wave", "--spec", str(wave_spec), "--clients",
                                   str(size), "--ledger", str(work / f"ledger-{size}.sqlite3")],
                                  cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
            broker_cpu = _cpu_s(broker.pid) - broker_cpu0
            if proc.returncode != 0:
                ctx.say(f"  wave of {size} failed (rc {proc.returncode}): {proc.stderr[-500:]}")
                break
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            figures = journal_figures(journal, set(data["command_ids"]), data["mono_start"], data["mono_end"])
            slowest = figures["slowest_reboot_s"]
            point = {"clients": size, "wall_s": data["wall_s"], **figures, "timing": data["timing"],
                     "overhead_s": data["wall_s"] - slowest if slowest is not None else None,
                     "cpu_s": data["cpu_s"], "peak_rss_mb": data["peak_rss_mb"],
                     "rss_before_mb": data["rss_before_mb"], "broker_cpu_s": broker_cpu,
                     "broker_cpu_pct": 100 * broker_cpu / data["wall_s"], "states": data["states"],
                     "acks": data["stats"]["acks"], "duplicate_acks": data["stats"]["duplicate_acks"],
                     "all_completed": data["states"] == {"completed": size}}
            points.append(point)
            overhead = f"{point['overhead_s']:.2f}" if point["overhead_s"] is not None else "n/a"
            ctx.say(f"  wave {size}: {data['states']}, wall {data['wall_s']:.2f} s, overhead {overhead} s, "
                    f"controller CPU {data['cpu_s']:.2f} s / peak RSS {data['peak_rss_mb']:.0f} MB, "
                    f"broker CPU {broker_cpu:.2f} s")
            if not point["all_completed"]:
                break
    finally:
        _stop_workers(workers)
        broker.stop()
    return rows_for(points, sizes, boot_s, ready if workers else [])


def rows_for(points, sizes, boot_s, ready):
    complete = [p for p in points if p["all_completed"]]
    largest = complete[-1] if complete else None
    rows = [Row(NAME, "largest reboot wave over one MQTT connection, all completed",
                largest["clients"] if largest else 0, "clients", goal=Goal(">=", max(sizes)),
                note=f"light simulated fleet ({', '.join(ready)}), boot {boot_s:g} s; sizes tried "
                     f"{', '.join(str(p['clients']) for p in points)}",
                extra={"points": points, "growth": growth(complete)})]
    if largest is None:
        return rows
    rows += [
        Row(NAME, f"tooling overhead at {largest['clients']} (wall - slowest simulated reboot)",
            largest["overhead_s"], "s", goal=Goal("<", OVERHEAD_GOAL_S),
            note=f"wall {largest['wall_s']:.2f} s, slowest reboot {largest['slowest_reboot_s']:.2f} s; last client got "
                 f"its command {largest['dispatch_s']:.2f} s after the wave started, the wave ended "
                 f"{largest['tail_s']:.2f} s after the last completed ack was sent; all commands published at "
                 f"{largest['timing'].get('published_s')} s"),
        Row(NAME, f"controller CPU for the wave of {largest['clients']}", largest["cpu_s"], "s"),
        Row(NAME, f"controller peak RSS, wave of {largest['clients']}", largest["peak_rss_mb"], "MB",
            note=f"{largest['rss_before_mb']:.0f} MB before the wave (interpreter + imports)"),
        Row(NAME, f"broker CPU during the wave of {largest['clients']}", largest["broker_cpu_s"], "s",
            note=f"{largest['broker_cpu_pct']:.0f} % of one core over the wave"),
    ]
    trend = growth(complete)
    if len(trend) > 1:
        last = trend[-1]
        rows.append(Row(NAME, f"cost growth {trend[0]['clients']} -> {last['clients']}: CPU per client ratio",
                        last["cpu_per_client_ratio"], "x",
                        note=f"x{last['clients_ratio']:g} clients; CPU per client (ms): "
                             + ", ".join(f"{t['clients']}: {t['cpu_per_client_ms']:.1f}" for t in trend)
                             + "; 1.0 = linear total cost"))
    return rows


def detail_table(points):
    """Markdown table of every size (for the report)."""
    lines = ["| clients | wall s | slowest reboot s | overhead s | last command received s | tail s | "
             "controller CPU s | CPU/client ms | controller peak RSS MB | broker CPU s | states |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def num(value):
        return f"{value:.2f}" if value is not None else "n/a"

    for p in points:
        lines.append(f"| {p['clients']} | {p['wall_s']:.2f} | {num(p['slowest_reboot_s'])} | {num(p['overhead_s'])} | "
                     f"{num(p['dispatch_s'])} | {num(p['tail_s'])} | {p['cpu_s']:.2f} | "
                     f"{1000 * p['cpu_s'] / p['clients']:.1f} | {p['peak_rss_mb']:.0f} | {p['broker_cpu_s']:.2f} | "
                     f"{p['states']} |")
    return "\n".join(lines)
