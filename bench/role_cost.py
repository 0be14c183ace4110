"""Controller CPU the pi_agent role costs per host, on a simulated fleet (real ansible-playbook).

Brings up a simulated fleet of N clients (real broker, real agents), then runs for real:

- ``install``: ``playbooks/agent.yml`` (full install of release A into every client's root);
- ``switch``: ``playbooks/agent.yml -e pi_agent_action=upgrade`` to release B (a release switch).

Each run's CPU is the user+system time of ansible-playbook and everything it waited for
(workers, modules, pip; on a simulated fleet the "client" side runs on the controller too).
Two fleet sizes give the per-host figure as the slope (cpu(N2) - cpu(N1)) / (N2 - N1), so
the fixed cost (ansible start-up, the wheel built once) drops out; the fixed part is printed too.

    PYTHONPATH=sim python bench/role_cost.py [--sizes 2 6] [--json OUT]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sim"))

from infoscreen_sim.fleet import Fleet  # noqa: E402

RELEASE_A = "1.0.0+costa"
RELEASE_B = "1.0.0+costb"


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def playbook(inventory, *args):
    """Run playbooks/agent.yml; return (cpu seconds, wall seconds)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = ["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / "agent.yml"), *args]
    cpu, wall = children_cpu(), time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    cpu, wall = children_cpu() - cpu, time.monotonic() - wall
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return cpu, wall


def measure(size, workdir):
    """{install: (cpu, wall), switch: (cpu, wall)} for a fleet of ``size`` clients."""
    with Fleet(Path(workdir) / f"fleet-{size}", clients=size, groups=[("canary", 1), ("wave1", None)],
               time_scale=0.02) as fleet:
        install = playbook(fleet.inventory_path, "-e", f"pi_agent_build_version={RELEASE_A}")
        switch = playbook(fleet.inventory_path, "-e", "pi_agent_action=upgrade",
                          "-e", f"pi_agent_build_version={RELEASE_B}")
    return {"install": install, "switch": switch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[2, 6], metavar=("N1", "N2"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    small, large = sorted(args.sizes)
    if small < 1 or large <= small:
        parser.error("--sizes needs 1 <= N1 < N2")
    with tempfile.TemporaryDirectory(prefix="role-cost-") as workdir:
        runs = {size: measure(size, workdir) for size in (small, large)}
    figures = {}
    for step in ("install", "switch"):
        (cpu1, wall1), (cpu2, wall2) = runs[small][step], runs[large][step]
        per_host = (cpu2 - cpu1) / (large - small)
        figures[step] = {"per_host_cpu_s": round(per_host, 2), "fixed_cpu_s": round(cpu1 - per_host * small, 2),
                         f"cpu_s_{small}": round(cpu1, 2), f"cpu_s_{large}": round(cpu2, 2),
                         f"wall_s_{small}": round(wall1, 1), f"wall_s_{large}": round(wall2, 1)}
        print(f"{step:8s} per-host controller CPU {per_host:6.2f} s  (fixed {cpu1 - per_host * small:6.2f} s; "
              f"{small} hosts {cpu1:.1f} s CPU / {wall1:.1f} s wall, "
              f"{large} hosts {cpu2:.1f} s CPU / {wall2:.1f} s wall)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
