"""The real agent process under systemd's notify protocol (a datagram socket the test binds):
READY=1 after the first connection and WATCHDOG=1 keep-alives while its MQTT and handler
threads run; a command flood does not stop the keep-alives."""

import socket
import subprocess
import sys
import time

import pytest
from infoscreen_agent.contract import make_command
from infoscreen_sim.controller import SimController
from infoscreen_sim.sim_client import runner_command, runner_env

pytestmark = pytest.mark.integration


def test_agent_feeds_the_watchdog_while_its_threads_run(tmp_path, fleet_broker):
    """READY=1, then WATCHDOG=1 keep-alives (every WATCHDOG_USEC/2) keep coming while 300 commands arrive."""
    fleet = fleet_broker.fleet(tmp_path / "fleet", ["w1"])
    try:
        client = fleet.clients["w1"]
        fleet.power_off("w1")  # the fleet's own process goes; this test runs the agent itself
        address = str(tmp_path / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(address)
        sock.settimeout(0.5)
        env = dict(runner_env(), NOTIFY_SOCKET=address, WATCHDOG_USEC="1000000")
        # The real agent on the simulated machine (the restart_apps run no host helper).
        command = [*runner_command([sys.executable, "-m", "infoscreen_agent"]), "--power-request",
                   str(client.request_path), "--app-state", str(client.app_state_path),
                   "--config", str(client.config_path), "run"]
        with open(tmp_path / "agent.log", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(command, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        messages = []
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(m.startswith("READY=1") for m in messages):
                try:
                    messages.append(sock.recv(4096).decode())
                except TimeoutError:
                    pass
            assert any(m.startswith("READY=1") for m in messages), (tmp_path / "agent.log").read_text()
            with SimController(fleet.manifest) as ctl:
                for _unused in range(300):
                    ctl.publish_raw(client.client_uuid, make_command(client.client_uuid, "restart_app"))
                deadline, beats = time.monotonic() + 30, 0
                while beats < 3 and time.monotonic() < deadline:
                    try:
                        beats += sock.recv(4096).decode() == "WATCHDOG=1"
                    except TimeoutError:
                        pass
            assert beats >= 3, beats
            assert proc.poll() is None
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            sock.close()
    finally:
        fleet.stop()
