"""The installed agent carries no fault switches: settings it does not know change nothing.

Issue 14: a stray ``[sim] drop_acks = true`` (or ``helper_fails``) line in a real Pi's
agent.ini used to stop every ack (or fail every command) silently. Now such lines are
ignored, and reported by name (``config.ignored``, logged by ``run``, shown by check-config).
"""

import json
import logging

from agent_doubles import UUID, RecordingBackend, RecordingClient, run_main, write_config
from infoscreen_agent import cli
from infoscreen_agent.agent import Agent
from infoscreen_agent.config import load
from infoscreen_agent.contract import make_command


def _stray(tmp_path):
    write_config(tmp_path)
    path = tmp_path / "agent.ini"
    path.write_text(path.read_text() + "power_backend = sim\n[sim]\ndrop_acks = true\nhelper_fails = true\n"
                    f"request_path = {tmp_path / 'req.json'}\n")
    return path


def test_stray_fault_lines_do_not_stop_acks_or_fail_the_helper(tmp_path):
    """With the old fault lines present, a command is still acked through to completed via the backend."""
    config = load(str(_stray(tmp_path)))
    client, backend = RecordingClient(), RecordingBackend()
    agent = Agent(config, client=client, backend=backend)
    client.puback_to = agent
    cmd = make_command(UUID, "restart_app")
    assert agent.handle_command(json.dumps(cmd).encode()) == "queued"
    run_main(agent)
    assert [a["status"] for a in client.acks()] == ["accepted", "execution_started", "completed"]
    assert backend.calls == [("restart_app", cmd["command_id"])]
    assert not (tmp_path / "req.json").exists()


def test_unknown_settings_are_named(tmp_path, capsys, caplog):
    """check-config succeeds and names every ignored setting, so the operator can remove them."""
    caplog.set_level(logging.WARNING, logger="infoscreen_agent")  # other tests may have silenced it
    path = _stray(tmp_path)
    assert load(str(path)).ignored == ["[agent] power_backend", "[sim] drop_acks", "[sim] helper_fails",
                                       "[sim] request_path"]
    assert cli.main(["--config", str(path), "check-config"]) == 0
    out = capsys.readouterr()
    assert "ignored: [agent] power_backend, [sim] drop_acks" in out.out
    assert "ignoring setting(s) the agent does not know: [agent] power_backend" in caplog.text


def test_the_default_backend_is_the_helper(tmp_path):
    """Without an injected backend the agent runs the helper: there is no other backend to select."""
    from infoscreen_agent.power import HelperBackend  # noqa: PLC0415

    agent = Agent(load(str(_stray(tmp_path))), client=RecordingClient())
    assert isinstance(agent.backend, HelperBackend)
