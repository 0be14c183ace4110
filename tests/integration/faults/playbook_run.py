"""Run a real playbook (ansible-playbook with the rollout_report callback) in its own process
group, so a fault test can act while it runs (lock the ledger, kill the whole controller).

``start_playbook(playbook, inventory, tmp_path, ...)`` returns a ``Run``; ``run.wait()``
returns (returncode, output, report dict or None). ``run.kill()`` sends SIGKILL to ansible-playbook
and every process below it at once, as when the controller machine loses power or the OOM
killer strikes. Ansible's workers run in their own sessions (os.setsid in
ansible/executor/process/worker.py), so killing the process group, or only ansible-playbook,
would leave the worker that drives the wave running to its end.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def descendants(pid):
    """Every process below ``pid`` (from /proc), children before grandchildren."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


class Run:
    def __init__(self, proc, report):
        self.proc = proc
        self.report_path = report
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self):
        return "".join(self.lines)

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)

    def wait(self, timeout=300):
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.kill()
        self._reader.join(10)
        report = json.loads(self.report_path.read_text()) if self.report_path.exists() else None
        return self.proc.returncode, self.output, report


def start_playbook(playbook, inventory, tmp_path, *args, ledger=None, username=None, password=None,
                   extra_env=None):
    report = tmp_path / f"report-{time.monotonic_ns()}.json"
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "infoscreen.fleet.rollout_report",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "INFOSCREEN_ROLLOUT_JSON": str(report),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    if username is not None:
        env["INFOSCREEN_MQTT_USERNAME"] = username
    if password is not None:
        env["INFOSCREEN_MQTT_PASSWORD"] = password
    if ledger is not None:
        env["INFOSCREEN_LEDGER"] = str(ledger)
    env.update(extra_env or {})
    cmd = ["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / playbook), *args]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, start_new_session=True)
    return Run(proc, report)


def run_playbook(playbook, inventory, tmp_path, *args, timeout=300, **kwargs):
    return start_playbook(playbook, inventory, tmp_path, *args, **kwargs).wait(timeout)


def fleet_run(fleet, playbook, tmp_path, *args, **kwargs):
    """start_playbook on a simulated fleet's inventory with its controller account."""
    return start_playbook(playbook, fleet.inventory_path, tmp_path, *args,
                          username=fleet.manifest["controller"]["username"],
                          password=fleet.manifest["controller"]["password"], **kwargs)
