"""A simulated managed PoE switch: a real SNMP agent (snmpsim) on a loopback UDP port.

The agent serves RFC 3621 `pethPsePortAdminEnable` / `pethPsePortDetectionStatus` and Cisco
`cpeExtPsePortEnable` for group 1 ports 1-24 and group 2 ports 1-8 (data file
`snmpsim_data/poe-switch.snmprec`), through the variation module
`snmpsim_data/variation/infoscreen_poe.py`, which keeps the port state in `<workdir>/state/`.

Power hook for the simulated fleet: every AdminEnable change is appended by the agent to
`<workdir>/state/events.jsonl`; a watcher thread here calls the callbacks registered with
`on_power_event(fn)` as `fn(event)` with `event = {"event": "power_off"|"power_on",
"group": int, "port": int, "at": float, "off_for_s": float (power_on only)}`. See
docs/poe-recovery.md.

    with SimSwitch(tmp_path / "switch", community="private") as sw:
        sw.port_state(5)          # {"admin_enabled": True, "detection": "deliveringPower", ...}
        sw.set_port(5, pd=False)  # no powered device behind the port
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

DATA_DIR = pathlib.Path(__file__).with_name("snmpsim_data")
DATA_FILE = DATA_DIR / "poe-switch.snmprec"
VARIATION_DIR = DATA_DIR / "variation"
ADMIN_COLUMN = "1.3.6.1.2.1.105.1.1.1.3."
DETECTION_NAMES = {1: "disabled", 2: "searching", 3: "deliveringPower", 4: "fault", 5: "test", 6: "otherFault"}

PowerCallback = Callable[[dict], Any]


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _responder_command() -> list[str]:
    exe = pathlib.Path(sys.executable).with_name("snmpsim-command-responder")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("snmpsim-command-responder")
    if not found:
        raise RuntimeError("snmpsim-command-responder not found: run scripts/bootstrap.sh (it installs snmpsim)")
    return [found]


class SimSwitch:
    """Start/stop a simulated PoE switch and read or change its ports from the test side."""

    def __init__(
        self,
        workdir: os.PathLike | str,
        *,
        community: str = "public",
        host: str = "127.0.0.1",
        port: int | None = None,
        v3_user: str | None = None,
        v3_auth_key: str | None = None,
        v3_auth_proto: str = "SHA",
        v3_priv_key: str | None = None,
        v3_priv_proto: str = "AES",
        power_up_delay_s: float = 0.5,
    ) -> None:
        self.workdir = pathlib.Path(workdir)
        self.community = community
        self.host = host
        self.port = port
        self.v3_user = v3_user
        self.v3_auth_key = v3_auth_key
        self.v3_auth_proto = v3_auth_proto
        self.v3_priv_key = v3_priv_key
        self.v3_priv_proto = v3_priv_proto
        self.power_up_delay_s = power_up_delay_s
        self.state_dir = self.workdir / "state"
        self.log_path = self.workdir / "snmpsim.log"
        self._proc: subprocess.Popen | None = None
        self._callbacks: list[PowerCallback] = []
        self._watcher: threading.Thread | None = None
        self._stop_watch = threading.Event()
        self._events_seen = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> SimSwitch:
        if self._proc is not None:
            raise RuntimeError("switch already started")
        self.port = self.port or free_udp_port(self.host)
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # snmpsim: the data file's name is the v2c community and the SNMPv3 context name
        shutil.copyfile(DATA_FILE, data / f"{self.community}.snmprec")
        if not (self.state_dir / "state.json").exists():  # keep state across restarts
            self._write_state(self._initial_state())
        cmd = _responder_command() + [
            f"--data-dir={data}",
            f"--cache-dir={self.workdir / 'cache'}",
            f"--variation-modules-dir={VARIATION_DIR}",
            f"--variation-module-options=infoscreen_poe:{self.state_dir}",
            f"--agent-udpv4-endpoint={self.host}:{self.port}",
            "--log-level=info",
        ]
        if self.v3_user:
            cmd += [f"--v3-user={self.v3_user}"]
            if self.v3_auth_key:
                cmd += [f"--v3-auth-key={self.v3_auth_key}", f"--v3-auth-proto={self.v3_auth_proto}"]
            if self.v3_priv_key:
                cmd += [f"--v3-priv-key={self.v3_priv_key}", f"--v3-priv-proto={self.v3_priv_proto}"]
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        finally:
            log.close()
        self._wait_listening(timeout_s)
        self._stop_watch.clear()
        self._watcher = threading.Thread(target=self._watch_events, name="sim-switch-events", daemon=True)
        self._watcher.start()
        return self

    def stop(self) -> None:
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def __enter__(self) -> SimSwitch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _wait_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        marker = f"Listening at UDP/IPv4 endpoint {self.host}:{self.port}"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                raise RuntimeError(f"snmpsim exited with {code}; see {self.log_path}:\n{self._log_tail()}")
            if marker in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"snmpsim did not listen on {self.address} within {timeout_s} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- port state (shared with the variation module under a file lock) -------------------
    @staticmethod
    def _initial_state() -> dict:
        ports = {}
        for line in DATA_FILE.read_text().splitlines():
            oid = line.split("|", 1)[0]
            if oid.startswith(ADMIN_COLUMN):
                ports[oid[len(ADMIN_COLUMN) :]] = {"admin": 1, "enabled_at": 0.0, "pd": True, "writable": True}
        return {"ports": ports}

    @contextlib.contextmanager
    def _locked_state(self, write: bool = True):
        with open(self.state_dir / "state.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads((self.state_dir / "state.json").read_text())
            state["power_up_delay_s"] = self.power_up_delay_s
            yield state
            if write:
                self._write_state(state)

    def _write_state(self, state: dict) -> None:
        state["power_up_delay_s"] = self.power_up_delay_s
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(tmp, self.state_dir / "state.json")

    def port_state(self, port: int, group: int = 1) -> dict:
        """What the switch holds for a port: AdminEnable and the DetectionStatus it reports now."""
        with self._locked_state(write=False) as state:
            entry = state["ports"][f"{group}.{port}"]
        admin = entry["admin"] == 1
        powered_for = time.time() - entry.get("enabled_at", 0)
        delivering = entry.get("detection_stuck") or (admin and entry.get("pd", True)
                                                      and powered_for >= self.power_up_delay_s)
        detection = 3 if delivering else (2 if admin else 1)
        return {"admin_enabled": admin, "detection": DETECTION_NAMES[detection], **entry}

    def set_port(
        self,
        port: int,
        group: int = 1,
        *,
        admin_enabled: bool | None = None,
        pd: bool | None = None,
        writable: bool | None = None,
        value_type: str | None = None,
        detection_stuck: bool | None = None,
    ) -> None:
        """Change a port behind the agent's back (test setup): power, device present, writable, type.

        ``detection_stuck=True`` is the fault "DetectionStatus never changes": the port reports
        deliveringPower(3) whatever AdminEnable says (a switch that ignores the off, or a stale
        status object)."""
        with self._locked_state() as state:
            entry = state["ports"][f"{group}.{port}"]
            if admin_enabled is not None:
                entry["admin"] = 1 if admin_enabled else 2
                entry.pop("cisco", None)
                entry["enabled_at" if admin_enabled else "disabled_at"] = time.time()
            if pd is not None:
                entry["pd"] = pd
            if writable is not None:
                entry["writable"] = writable
            if value_type is not None:
                entry["value_type"] = value_type
            if detection_stuck is not None:
                entry["detection_stuck"] = detection_stuck

    # -- power hook ------------------------------------------------------------------------
    def on_power_event(self, callback: PowerCallback) -> None:
        """Call `callback(event)` for each AdminEnable change made over SNMP (see module doc)."""
        self._callbacks.append(callback)

    def events(self) -> list[dict]:
        path = self.state_dir / "events.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            event = json.loads(line)
            group, port = event["port"].split(".")
            out.append({**event, "group": int(group), "port": int(port)})
        return out

    def _watch_events(self) -> None:
        while not self._stop_watch.wait(0.05):
            self._dispatch_new_events()
        self._dispatch_new_events()

    def _dispatch_new_events(self) -> None:
        events = self.events()
        for event in events[self._events_seen :]:
            for callback in list(self._callbacks):
                try:
                    callback(event)
                except Exception as exc:  # noqa: BLE001 - a broken callback must not stop the switch
                    print(f"sim switch: power callback {callback!r} failed: {exc}", file=sys.stderr)
        self._events_seen = len(events)


def fleet_control_forwarder(manifest_path: os.PathLike | str) -> PowerCallback:
    """A power callback for a fleet running in another process (``python -m infoscreen_sim.fleet up``):
    it drops ``<fleet workdir>/control/<client>.power`` files (verb off/on), which that supervisor reads."""
    manifest = json.loads(pathlib.Path(manifest_path).read_text())
    control = pathlib.Path(manifest["workdir"]) / "control"
    by_port = {(int(c["poe"].get("group", 1)), int(c["poe"]["port"])): c["name"]
               for c in manifest["clients"] if c.get("poe")}

    def forward(event: dict) -> None:
        name = by_port.get((event["group"], event["port"]))
        if name:
            control.mkdir(parents=True, exist_ok=True)
            tmp = control / f".{name}.power.tmp"
            tmp.write_text("off\n" if event["event"] == "power_off" else "on\n")
            os.replace(tmp, control / f"{name}.power")

    return forward


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a simulated PoE switch (snmpsim) until interrupted.")
    parser.add_argument("--workdir", default="/tmp/infoscreen-sim-switch")
    parser.add_argument("--community", default="public")
    parser.add_argument("--port", type=int, default=16161)
    parser.add_argument("--fleet-manifest", help="forward port power changes to this simulated fleet")
    args = parser.parse_args(argv)
    with SimSwitch(args.workdir, community=args.community, port=args.port) as sw:
        if args.fleet_manifest:
            sw.on_power_event(fleet_control_forwarder(args.fleet_manifest))
        print(f"simulated PoE switch on udp {sw.address}, community {args.community!r}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
