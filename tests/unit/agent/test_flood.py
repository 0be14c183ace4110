"""A flood of commands against the real on-disk store: the lockout holds, the store stays
bounded, recording costs O(that command), and paho's network thread does no disk I/O."""

import json
import os

from agent_doubles import UUID, Message, RecordingBackend, RecordingClient, run_main, write_config
from infoscreen_agent.agent import Agent
from infoscreen_agent.contract import make_command


def flood_agent(tmp_path, **extra):
    client = RecordingClient()
    agent = Agent(write_config(tmp_path, **extra), client=client, backend=RecordingBackend())
    client.puback_to = agent  # the broker PUBACKs every ack at once
    return agent


def test_lockout_holds_however_many_commands_the_store_evicts(tmp_path):
    """500 distinct valid commands with a 10-entry dedupe store: still only lockout_max run."""
    agent = flood_agent(tmp_path, lockout_max=3, dedupe_max_entries=10)
    for _unused in range(500):
        agent.handle_command(json.dumps(make_command(UUID, "restart_app")).encode())
        run_main(agent)
    assert len(agent.backend.calls) == 3
    assert len(agent.store) <= 10
    # ... and after a restart of the agent (the executions are on disk, not only in memory).
    again = flood_agent(tmp_path, lockout_max=3, dedupe_max_entries=10)
    for _unused in range(20):
        again.handle_command(json.dumps(make_command(UUID, "restart_app")).encode())
        run_main(again)
    assert again.backend.calls == []
    assert again.client.acks()[-1]["error_code"] == "lockout"


def test_store_files_stay_bounded_under_a_flood(tmp_path):
    """Journal lines never exceed dedupe_max_entries; the snapshot holds at most that many entries."""
    agent = flood_agent(tmp_path, lockout_max=3, dedupe_max_entries=50)
    for _unused in range(400):
        agent.handle_command(json.dumps(make_command(UUID, "reboot_host", reason="r" * 1500)).encode())
        run_main(agent)
    state = tmp_path / "state"
    lines = (state / "commands.journal").read_text().count("\n")
    assert lines <= 50
    assert len(json.loads((state / "commands.json").read_text())) <= 50
    total = sum(p.stat().st_size for p in state.iterdir())
    assert total < 200_000, total


def test_recording_a_command_appends_instead_of_rewriting_the_store(tmp_path):
    """With 300 entries recorded, one more command leaves the snapshot file untouched and adds a few lines."""
    agent = flood_agent(tmp_path, lockout_max=0, dedupe_max_entries=2000)
    for _unused in range(300):
        agent.handle_command(json.dumps(make_command(UUID, "restart_app", validity_s=1)).encode(), now=None)
        run_main(agent)
    snapshot = tmp_path / "state" / "commands.json"
    before = os.stat(snapshot)
    journal = tmp_path / "state" / "commands.journal"
    size = journal.stat().st_size
    agent.handle_command(json.dumps(make_command(UUID, "restart_app")).encode())
    run_main(agent)
    after = os.stat(snapshot)
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert 0 < journal.stat().st_size - size < 4000  # accepted, execution_started, completed: 3 short lines


def test_network_thread_only_queues_the_message(tmp_path, monkeypatch):
    """on_message (paho's thread) neither validates, records nor fsyncs: the handler thread does."""
    agent = flood_agent(tmp_path)
    syncs = []
    monkeypatch.setattr(os, "fsync", syncs.append)
    cmd = make_command(UUID, "restart_app")
    agent._on_message(agent.client, None, Message(json.dumps(cmd).encode(), mid=7))
    assert syncs == []
    assert cmd["command_id"] not in agent.store
    assert agent.client.acks() == []
    assert agent._inbox.qsize() == 1


def test_evicted_future_dated_refusals_do_not_block_new_commands(tmp_path):
    """Refused commands issued a year ahead, evicted by a flood, must not make every new
    command look forgotten (state_lost): a fresh valid command still runs."""
    import datetime  # noqa: PLC0415

    from infoscreen_agent.contract import utcnow  # noqa: PLC0415

    agent = flood_agent(tmp_path, lockout_max=3, dedupe_max_entries=10)
    ahead = utcnow() + datetime.timedelta(days=365)
    for _unused in range(30):
        agent.handle_command(json.dumps(make_command(UUID, "reboot_host", issued_at=ahead)).encode())
    assert agent.client.acks()[-1]["error_code"] == "issued_in_future"
    fresh = make_command(UUID, "restart_app")
    assert agent.handle_command(json.dumps(fresh).encode()) == "queued"
    run_main(agent)
    assert agent.backend.calls == [("restart_app", fresh["command_id"])]


def test_evicted_executed_command_is_not_run_again(tmp_path):
    """An executed command evicted by a flood of refusals and then redelivered: state_lost, not a second run."""
    agent = flood_agent(tmp_path, lockout_max=0, dedupe_max_entries=10)
    first = make_command(UUID, "restart_app")
    agent.handle_command(json.dumps(first).encode())
    run_main(agent)
    for _unused in range(30):
        agent.handle_command(json.dumps(make_command(UUID, "restart_app", validity_s=1,
                                                     issued_at=None)).encode(), now=None)
        run_main(agent)
    assert first["command_id"] not in agent.store
    assert agent.handle_command(json.dumps(first).encode()) == "rejected"
    assert agent.client.acks()[-1]["error_code"] == "state_lost"
    assert agent.backend.calls.count(("restart_app", first["command_id"])) == 1
