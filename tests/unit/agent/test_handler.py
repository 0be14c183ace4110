"""The agent's message handler and reboot continuity, with a recording client and backend."""

import json

from agent_doubles import OTHER, UUID, RecordingBackend, RecordingClient, write_config
from infoscreen_agent.agent import Agent
from infoscreen_agent.contract import make_command, validate


def make_agent(tmp_path, backend=None, **extra):
    config = write_config(tmp_path, **extra)
    return Agent(config, client=RecordingClient(), backend=backend or RecordingBackend())


def raw(cmd):
    return json.dumps(cmd).encode()


def drain(agent):
    """Run what the main thread would: execute queued commands and process PUBACKs."""
    while not agent._work.empty():
        kind, item = agent._work.get()
        if kind == "command":
            agent._queued -= 1
            agent._execute(item)


def test_valid_command_is_accepted_then_executed_with_acks_on_both_topics(tmp_path):
    agent = make_agent(tmp_path)
    cmd = make_command(UUID, "reboot_host")
    assert agent.handle_command(raw(cmd)) == "queued"
    drain(agent)
    assert agent.backend.calls == [("reboot_host", cmd["command_id"])]
    assert [a["status"] for a in agent.client.acks()] == ["accepted", "execution_started"]
    assert [a["status"] for a in agent.client.acks("command/ack")] == ["accepted", "execution_started"]
    for pub in agent.client.published:
        assert pub["retain"] is False
        if pub.get("subscribe"):
            continue
        if "ack" in pub["topic"]:
            assert pub["qos"] == 1
            validate("ack", pub["payload"])
    assert agent.store.pending()["boot_id"] == "boot-1"


def test_pending_command_and_boot_id_are_on_disk_before_the_helper_runs(tmp_path):
    seen = []

    class PeekingBackend(RecordingBackend):
        def invoke(self, action, command_id):
            seen.append(agent.store.__class__(agent.cfg.state_dir, 3600, 100).pending())
            super().invoke(action, command_id)

    agent = make_agent(tmp_path, backend=PeekingBackend())
    cmd = make_command(UUID, "reboot_host")
    agent.handle_command(raw(cmd))
    drain(agent)
    assert seen[0]["command_id"] == cmd["command_id"]
    assert seen[0]["boot_id"] == "boot-1"


def test_execution_started_is_delivered_before_the_helper_runs(tmp_path):
    waited_before_invoke = []

    class PeekingBackend(RecordingBackend):
        def invoke(self, action, command_id):
            waited_before_invoke.extend(agent.client.waits)
            super().invoke(action, command_id)

    agent = make_agent(tmp_path, backend=PeekingBackend())
    agent.handle_command(raw(make_command(UUID, "reboot_host")))
    drain(agent)
    # Both ack topics' execution_started PUBACKs were awaited, within the bounded flush time.
    assert [(status, 0 < timeout <= 2.0) for _topic, status, timeout in waited_before_invoke] == [
        ("execution_started", True), ("execution_started", True)]


def test_duplicate_is_reannounced_not_executed(tmp_path):
    agent = make_agent(tmp_path)
    cmd = make_command(UUID, "restart_app")
    agent.handle_command(raw(cmd))
    drain(agent)
    assert agent.handle_command(raw(cmd)) == "duplicate"
    drain(agent)
    assert len(agent.backend.calls) == 1
    assert agent.client.acks()[-1]["status"] == "execution_started"


def test_rejected_command_gets_failed_ack_and_is_not_executed(tmp_path):
    agent = make_agent(tmp_path)
    cmd = make_command(OTHER, "reboot_host")
    assert agent.handle_command(raw(cmd)) == "rejected"
    drain(agent)
    ack = agent.client.acks()[-1]
    assert (ack["status"], ack["error_code"]) == ("failed", "wrong_client")
    assert agent.backend.calls == []


def test_unreadable_command_is_dropped_without_ack(tmp_path):
    agent = make_agent(tmp_path)
    assert agent.handle_command(b'{"action": "reboot_host"') == "dropped"
    assert agent.client.published == []


def test_busy_while_a_command_is_pending(tmp_path):
    agent = make_agent(tmp_path)
    agent.handle_command(raw(make_command(UUID, "reboot_host")))
    drain(agent)
    second = make_command(UUID, "restart_app")
    assert agent.handle_command(raw(second)) == "rejected"
    assert agent.client.acks()[-1]["error_code"] == "busy"


def test_client_lockout(tmp_path):
    agent = make_agent(tmp_path, lockout_max=2)
    for _unused in range(2):
        agent.handle_command(raw(make_command(UUID, "restart_app")))
        drain(agent)
        agent._check_pending()  # app running -> completed
        agent._pending = None
        agent.store.clear_pending()
    assert agent.handle_command(raw(make_command(UUID, "restart_app"))) == "rejected"
    assert agent.client.acks()[-1]["error_code"] == "lockout"
    assert len(agent.backend.calls) == 2


def test_helper_failure_is_a_failed_ack(tmp_path):
    agent = make_agent(tmp_path, backend=RecordingBackend(fail=True))
    agent.handle_command(raw(make_command(UUID, "shutdown_host")))
    drain(agent)
    ack = agent.client.acks()[-1]
    assert (ack["status"], ack["error_code"]) == ("failed", "helper_failed")


def test_reboot_continuity_new_boot_id_completes_first(tmp_path):
    agent = make_agent(tmp_path)
    cmd = make_command(UUID, "reboot_host")
    agent.handle_command(raw(cmd))
    drain(agent)
    (tmp_path / "run" / "boot_id").write_text("boot-2\n")
    offline = RecordingClient()
    offline.connected = False  # as at start-up, before the first CONNACK
    after = Agent(agent.cfg, client=offline, backend=RecordingBackend())
    assert after._pending["terminal"]["status"] == "completed"
    assert offline.published == []
    offline.connected = True
    after._on_connect(after.client, None, None, _Success())
    assert after.client.published[0]["payload"] == {"command_id": cmd["command_id"], "status": "completed",
                                                    "error_code": None, "error_message": None}
    first_subscribe = next(i for i, p in enumerate(after.client.published) if p.get("subscribe"))
    assert first_subscribe == 2  # completed on both ack topics, then the subscriptions
    assert after.backend.calls == []


def test_reboot_not_observed_after_deadline_with_same_boot_id(tmp_path):
    agent = make_agent(tmp_path, reboot_deadline_s=0.01)
    agent.handle_command(raw(make_command(UUID, "reboot_host")))
    drain(agent)
    import time

    time.sleep(0.05)
    after = Agent(agent.cfg, client=RecordingClient(), backend=RecordingBackend())
    assert after._pending["terminal"]["error_code"] == "reboot_not_observed"


def test_shutdown_completes_when_the_agent_is_stopped(tmp_path):
    agent = make_agent(tmp_path)
    cmd = make_command(UUID, "shutdown_host")
    agent.handle_command(raw(cmd))
    drain(agent)
    agent.client.puback_to = agent
    agent._on_stop()
    assert agent.client.acks()[-1]["status"] == "completed"
    assert agent.store.pending() is None  # cleared once both acks were PUBACKed


def test_restart_app_waits_for_the_app(tmp_path):
    backend = RecordingBackend(app="crashed")
    agent = make_agent(tmp_path, backend=backend)
    agent.handle_command(raw(make_command(UUID, "restart_app")))
    drain(agent)
    agent._check_pending()
    assert agent.client.acks()[-1]["status"] == "execution_started"
    backend.app = "running"
    agent._check_pending()
    assert agent.client.acks()[-1]["status"] == "completed"


class _Success:
    is_failure = False
