"""State files that are JSON of the wrong shape: moved aside, reported in health, and the
agent keeps serving (no exception at start, in the timers or in the MQTT callbacks)."""

import json
import threading
import time

import pytest
from agent_doubles import UUID, Message, RecordingBackend, RecordingClient, run_main, write_config
from infoscreen_agent.agent import Agent
from infoscreen_agent.contract import make_command, validate

CID = "0f0e0d0c-0b0a-4908-8706-050403020100"
GOOD_PENDING = {"command_id": CID, "action": "reboot_host", "boot_id": "boot-0", "invoked_at": 1.0,
                "deadline_at": 2.0, "phase": "invoking", "terminal": None}
GOOD_ENTRY = {"action": "reboot_host", "seen_at": 1.0, "status": "completed", "error_code": None,
              "error_message": None, "executed_at": 1.0}
BAD_FILES = {
    "dedupe list": ("commands.json", [1, 2, 3]),
    "dedupe entry string": ("commands.json", {CID: "completed"}),
    "dedupe entry wrong types": ("commands.json", {CID: dict(GOOD_ENTRY, seen_at="yesterday")}),
    "dedupe unknown status": ("commands.json", {CID: dict(GOOD_ENTRY, status="done")}),
    "dedupe executed_at string": ("commands.json", {CID: dict(GOOD_ENTRY, executed_at="x")}),
    "meta wrong format": ("commands.meta.json", {"format": 9}),
    "meta executions not list": ("commands.meta.json", {"format": 2, "trusted_since": 0, "horizon": 0,
                                                        "executions": {"a": 1}}),
    "journal garbage line": ("commands.journal", "not json\n"),
    "journal wrong shape": ("commands.journal", json.dumps({"id": CID, "e": [1]}) + "\n"),
    "pending list": ("pending.json", ["reboot_host"]),
    "pending unknown action": ("pending.json", dict(GOOD_PENDING, action="format_disk")),
    "pending missing deadline": ("pending.json", {k: v for k, v in GOOD_PENDING.items() if k != "deadline_at"}),
    "pending deadline string": ("pending.json", dict(GOOD_PENDING, deadline_at="soon")),
    "pending boot_id number": ("pending.json", dict(GOOD_PENDING, boot_id=7)),
    "pending terminal string": ("pending.json", dict(GOOD_PENDING, terminal="completed")),
    "pending terminal failed without code": ("pending.json", dict(GOOD_PENDING, terminal={"status": "failed"})),
    "pending bad command_id": ("pending.json", dict(GOOD_PENDING, command_id=12)),
}


class _Success:
    is_failure = False


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_wrong_shape_state_is_set_aside_reported_and_the_agent_serves(tmp_path, case):
    """Each wrong-shaped file: no exception anywhere, file moved aside, health names it, a new command runs."""
    name, content = BAD_FILES[case]
    state = tmp_path / "state"
    state.mkdir()
    (state / name).write_text(content if isinstance(content, str) else json.dumps(content))
    config = write_config(tmp_path)
    client = RecordingClient()
    client.puback_to = None
    agent = Agent(config, client=client, backend=RecordingBackend())
    agent._on_connect(client, None, None, _Success())  # paho's thread: must not raise either
    agent._check_pending()
    agent.publish_health()
    assert any(p.name.startswith(name + ".corrupt-") for p in state.iterdir()), sorted(p.name for p in state.iterdir())
    health = [p["payload"] for p in client.published if p["topic"].endswith("/health")][-1]
    validate("health", health)
    assert any(name in problem for problem in health["agent_state"]["state_problems"])
    cmd = make_command(UUID, "restart_app")
    assert agent.handle_command(json.dumps(cmd).encode()) == "queued"
    run_main(agent)
    assert agent.backend.calls == [("restart_app", cmd["command_id"])]


def test_a_lost_record_refuses_commands_issued_before_it(tmp_path):
    """A set-aside file means records are lost: a command issued before that is state_lost, not run."""
    state = tmp_path / "state"
    state.mkdir()
    old = make_command(UUID, "reboot_host")
    time.sleep(1.1)
    (state / "commands.json").write_text("[]")
    agent = Agent(write_config(tmp_path), client=RecordingClient(), backend=RecordingBackend())
    assert agent.handle_command(json.dumps(old).encode()) == "rejected"
    assert agent.client.acks()[-1]["error_code"] == "state_lost"
    assert agent.backend.calls == []


def test_watchdog_keepalive_needs_both_threads_alive_and_progressing(tmp_path):
    """threads_alive() is what gates WATCHDOG=1: a dead or stalled MQTT or handler thread withholds it."""
    agent = Agent(write_config(tmp_path), client=RecordingClient(), backend=RecordingBackend())
    alive = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
    alive.start()
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    now = time.monotonic()
    agent._net_thread = agent._handler_thread = alive
    agent._net_beat = agent._handler_beat = now
    assert agent.threads_alive(now) is None
    agent._net_thread = dead
    assert "MQTT network thread has died" in agent.threads_alive(now)
    agent._net_thread = alive
    assert "command handler thread has not made progress" in agent.threads_alive(now + 60) or \
        "MQTT network thread has not made progress" in agent.threads_alive(now + 60)
    agent._net_beat = now + 60
    assert "command handler" in agent.threads_alive(now + 60)


class _ExplodingClient(RecordingClient):
    """paho stand-in whose loop raises once (as a callback error would), then reports a lost connection."""

    def __init__(self, agent_ref):
        super().__init__()
        self.calls = 0
        self.agent_ref = agent_ref

    def reconnect(self):
        return 0

    def loop(self, timeout=1.0):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom in a callback")
        self.agent_ref[0]._stop.set()
        return 7  # MQTT_ERR_CONN_LOST


def test_network_loop_survives_an_exception(tmp_path):
    """An exception inside paho's loop is logged and the loop carries on (it does not die deaf)."""
    ref = []
    client = _ExplodingClient(ref)
    agent = Agent(write_config(tmp_path, reconnect_min_s=1), client=client, backend=RecordingBackend())
    ref.append(agent)
    agent._back_off = lambda: None
    agent._network_loop()
    assert client.calls == 2


def test_retained_message_via_on_message_is_refused_by_the_handler(tmp_path):
    """The retain flag travels from paho's callback to the handler: failed/retained, never executed."""
    agent = Agent(write_config(tmp_path), client=RecordingClient(), backend=RecordingBackend())
    cmd = make_command(UUID, "reboot_host")
    agent._on_message(agent.client, None, Message(json.dumps(cmd).encode(), retain=True))
    raw, retained, _mid, _qos, _topic = agent._inbox.get_nowait()
    assert agent.handle_command(raw, retained=retained) == "rejected"
    run_main(agent)
    assert agent.client.acks()[-1]["error_code"] == "retained"
    assert agent.backend.calls == []
