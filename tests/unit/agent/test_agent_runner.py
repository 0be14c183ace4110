"""The harness side of the agent seam: how the simulated fleet runs the REAL agent.

``sim_client.runner_command`` turns the agent program a Pi would run into the runner on the
same Python (so a role-installed release's agent code runs, not the checkout's), and
agent_faults.py injects helper_fails / drops_acks from outside the agent's code.
"""

import os
import sys

import pytest
from agent_doubles import write_config
from infoscreen_agent.power import HelperFailed
from infoscreen_sim import agent_faults, agent_runner
from infoscreen_sim.faults import FleetSpecError
from infoscreen_sim.sim_client import RUNNER, SIM_DIR, runner_command


def test_module_command_keeps_its_python_and_prefix():
    """``PY -m infoscreen_agent`` runs the runner on PY; an env PYTHONPATH keeps its entry first."""
    assert runner_command([sys.executable, "-m", "infoscreen_agent"]) == [sys.executable, *RUNNER]
    cmd = runner_command(["env", "PYTHONPATH=/old/agent", "/usr/bin/python3", "-m", "infoscreen_agent"])
    assert cmd == ["env", f"PYTHONPATH=/old/agent{os.pathsep}{SIM_DIR}", "/usr/bin/python3", *RUNNER]


def test_console_script_runs_through_its_shebang_interpreter(tmp_path):
    """A release's venv/bin/infoscreen-agent: the runner runs on the interpreter its #! line names."""
    script = tmp_path / "infoscreen-agent"
    script.write_text("#!/opt/infoscreen-agent/releases/1.1.0/venv/bin/python\nimport sys\n")
    assert runner_command([str(script)]) == ["/opt/infoscreen-agent/releases/1.1.0/venv/bin/python", *RUNNER]


def test_a_command_it_cannot_map_is_refused_with_what_to_give(tmp_path):
    """No guessing: an agent command with no Python to find is a FleetSpecError naming the forms."""
    binary = tmp_path / "agent"
    binary.write_bytes(b"\x7fELF")
    with pytest.raises(FleetSpecError, match="-m infoscreen_agent' or a console script"):
        runner_command([str(binary)])


def test_runner_hands_the_rest_of_its_command_line_to_the_agent(tmp_path, capsys):
    """The runner's own options are taken out; the agent's CLI sees exactly the rest (check-config)."""
    write_config(tmp_path)
    argv = ["--power-request", str(tmp_path / "req.json"), "--fault", "helper_fails",
            "--config", str(tmp_path / "agent.ini"), "check-config"]
    assert agent_runner.main(argv) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'agent.ini'}: ok"


def test_helper_fails_raises_the_agents_own_error(tmp_path):
    """The injected helper fault fails every invoke with HelperFailed and writes no power request."""
    config = write_config(tmp_path)
    backend = agent_faults.backend_factory(tmp_path / "req.json", tmp_path / "app", {"helper_fails"})(config)
    with pytest.raises(HelperFailed, match="reboot"):
        backend.invoke("reboot_host", "c1")
    assert not (tmp_path / "req.json").exists()
    healthy = agent_faults.backend_factory(tmp_path / "req.json", tmp_path / "app", set())(config)
    healthy.invoke("reboot_host", "c2")
    assert (tmp_path / "req.json").exists()


class _Paho:
    def __init__(self):
        self.sent, self.pubacks = [], []
        self.on_publish = lambda _c, _u, mid, _rc, _p: self.pubacks.append(mid)

    def publish(self, topic, payload=None, qos=0, retain=False, properties=None):
        self.sent.append(topic)
        return "real"


def test_dropped_acks_are_pubacked_to_the_agent_but_never_sent():
    """drops_acks: ack topics never reach the client's publish; the agent still gets its PUBACK."""
    assert agent_faults.client_wrapper(set()) is None
    paho = _Paho()
    client = agent_faults.client_wrapper({"drops_acks"})(paho)
    info = client.publish("infoscreen/u/commands/ack", "{}", qos=1)
    assert paho.sent == [] and paho.pubacks == [info.mid] and info.is_published() and info.mid > 65535
    assert client.publish("infoscreen/u/heartbeat", "{}", qos=0) == "real"
    assert paho.sent == ["infoscreen/u/heartbeat"]
