"""One reboot_host wave in a process of its own, so its CPU time and peak RSS are its alone.

    python -m drills.scale_wave --spec SPEC.json --clients N --ledger PATH

SPEC.json (0600, written by drills.scale): {host, port, controller_username,
controller_password, clients: [[name, client_uuid], ...]}. Prints one JSON line: wall_s
(the run_wave call), cpu_s and peak_rss_mb of this process, rss_before_mb, the wave's
counts/stats/timing, the command ids and the monotonic start/end of the wave.
"""

import argparse
import json
import resource
import sys
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave


def _rss_mb():
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as handle:
        spec = json.load(handle)
    pairs = [tuple(pair) for pair in spec["clients"][:args.clients]]
    params = {"mqtt_host": spec["host"], "mqtt_port": spec["port"], "mqtt_username": spec["controller_username"],
              "mqtt_password": spec["controller_password"], "mqtt_tls": False, "mqtt_ca_cert": None,
              "mqtt_keepalive": 30}
    rss_before, cpu0 = _rss_mb(), _cpu_s()
    started = time.monotonic()  # CLOCK_MONOTONIC is system-wide: comparable with the fleet's journal
    with Ledger(args.ledger) as ledger:
        wave = run_wave(pairs, WaveOptions("reboot_host", timeout_s=args.timeout, progress_interval_s=3600), ledger,
                        params)
    ended = time.monotonic()
    wall = ended - started
    print(json.dumps({"wall_s": wall, "mono_start": started, "mono_end": ended, "cpu_s": _cpu_s() - cpu0,
                      "rss_before_mb": rss_before,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "counts": wave.counts, "stats": wave.stats, "timing": wave.timing,
                      "states": wave.counts.get("states"),
                      "command_ids": [r["command_id"] for r in wave.results.values()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
