"""The README main command: bring up a simulated fleet, reboot it through the contract, and
show per client the ack sequence and the reboot time; then bring everything down.

    python -m infoscreen_sim.demo [--clients 20] [--workdir DIR]
"""

import argparse
import statistics
import sys
import tempfile
import time

from .controller import SimController
from .fleet import Fleet

DEFAULT_FAULTS = ("helper_fails", "never_returns", "drops_acks")


def run(clients, workdir, time_scale, timeout_s, faults):
    fault_map = {f"client-{clients - i:03d}": [fault] for i, fault in enumerate(faults) if clients - i > 1}
    started = time.monotonic()
    print(f"== bringing up {clients} simulated clients (broker rendered by the mqtt_broker role)", flush=True)
    with Fleet(workdir, clients=clients, faults=fault_map, time_scale=time_scale, boot_time="uniform:20:60",
               agent_options={"agent.heartbeat_interval_s": 1, "agent.health_interval_s": 5}) as fleet:
        print(f"   fleet ready in {time.monotonic() - started:.1f} s; manifest {fleet.manifest_path}", flush=True)
        with SimController(fleet.manifest) as ctl:
            ctl.wait_for(lambda: len(ctl.boot_ids) >= clients, 10)
            before = dict(ctl.boot_ids)
            sent = {}
            print(f"== reboot_host to every client (boot time uniform 20-60 s x {time_scale})", flush=True)
            for entry in fleet.manifest["clients"]:
                sent[entry["name"]] = (entry, ctl.send(entry["client_uuid"], "reboot_host", reason="demo"),
                                       time.monotonic())
            ctl.wait_terminal([cmd["command_id"] for _e, cmd, _t in sent.values()], timeout_s)
            print(f"\n{'client':12} {'faults':14} {'ack sequence':48} {'result':22} {'reboot s':>8}  boot id")
            times = []
            for name, (entry, cmd, t0) in sent.items():
                seq = ctl.statuses(cmd["command_id"])
                term = ctl.terminal(cmd["command_id"])
                new_boot = ctl.boot_ids.get(entry["client_uuid"])
                changed = new_boot != before.get(entry["client_uuid"])
                if term and term["status"] == "completed" and changed:
                    result = "completed"
                    seconds = ctl.first_ack_time(cmd["command_id"], "completed") - t0
                    times.append(seconds)
                elif term:
                    result = f"failed/{term['error_code']}"
                    seconds = None
                else:
                    result = "timed_out"
                    seconds = None
                print(f"{name:12} {','.join(entry['faults']) or '-':14} {' > '.join(seq) or '(none)':48} "
                      f"{result:22} {f'{seconds:.2f}' if seconds else '-':>8}  "
                      f"{(before.get(entry['client_uuid']) or '?')[:8]} -> {(new_boot or '?')[:8]}")
            if times:
                print(f"\ncompleted {len(times)}/{clients}; reboot time median {statistics.median(times):.2f} s, "
                      f"max {max(times):.2f} s (simulated boot time scaled by {time_scale})")
        print("== bringing the fleet down", flush=True)
    print(f"== done in {time.monotonic() - started:.1f} s; no fleet process left", flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m infoscreen_sim.demo", description=__doc__.partition("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workdir", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=12.0, help="seconds to wait for terminal acks")
    parser.add_argument("--no-faults", action="store_true", help="do not inject the demo's three faults")
    args = parser.parse_args(argv)
    faults = () if args.no_faults else DEFAULT_FAULTS
    if args.workdir:
        return run(args.clients, args.workdir, args.time_scale, args.timeout, faults)
    with tempfile.TemporaryDirectory(prefix="infoscreen-demo-") as workdir:
        return run(args.clients, workdir, args.time_scale, args.timeout, faults)


if __name__ == "__main__":
    sys.exit(main())
