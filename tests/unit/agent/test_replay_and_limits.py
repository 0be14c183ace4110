"""No repeat after state loss, no command from a retained message, and input limits
(out-of-range dates, reused or upper-case command_ids, unwritable state, own heartbeat)."""

import datetime
import errno
import json
import shutil
import time

import pytest
from agent_doubles import UUID, RecordingBackend, RecordingClient, run_main, write_config
from infoscreen_agent import cli
from infoscreen_agent.agent import Agent
from infoscreen_agent.contract import make_command, utcnow, validate


def new_agent(tmp_path, boot="boot-1", **extra):
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "run" / "boot_id").write_text(boot + "\n")
    client = RecordingClient()
    agent = Agent(write_config(tmp_path, **extra), client=client, backend=RecordingBackend())
    client.puback_to = agent
    return agent


def raw(cmd):
    return json.dumps(cmd).encode()


def test_wiped_state_dir_does_not_rerun_a_redelivered_reboot(tmp_path):
    """A reboot executed, the state dir wiped, the same command redelivered: failed/state_lost, no second run."""
    agent = new_agent(tmp_path)
    cmd = make_command(UUID, "reboot_host")
    assert agent.handle_command(raw(cmd)) == "queued"
    run_main(agent)
    assert len(agent.backend.calls) == 1
    agent.store.close()
    time.sleep(1.1)  # the reboot takes time; the command was issued before the new boot
    shutil.rmtree(tmp_path / "state")
    after = new_agent(tmp_path, boot="boot-2")
    assert after.handle_command(raw(cmd)) == "rejected"
    run_main(after)
    assert after.backend.calls == []
    ack = after.client.acks()[-1]
    assert (ack["status"], ack["error_code"]) == ("failed", "state_lost")
    # A command issued after this start is served as usual.
    fresh = make_command(UUID, "reboot_host")
    assert after.handle_command(raw(fresh)) == "queued"


def test_state_lost_at_every_boot_runs_a_retained_reboot_at_most_once(tmp_path):
    """Read-only overlay root: the state dir is empty at each boot; a command re-delivered every boot runs once."""
    cmd = make_command(UUID, "reboot_host", validity_s=3600)
    runs = 0
    for boot in range(4):
        shutil.rmtree(tmp_path / "state", ignore_errors=True)
        agent = new_agent(tmp_path, boot=f"boot-{boot}")
        # live delivery at boot 0 (retain flag 0), then as a retained message after each reboot
        agent.handle_command(raw(cmd), retained=boot > 0)
        run_main(agent)
        runs += len(agent.backend.calls)
        agent.store.close()
        time.sleep(1.05)
    assert runs == 1


def test_retained_command_is_refused_with_its_own_code(tmp_path):
    """A command that arrives retained is never executed: failed/retained, and remembered."""
    agent = new_agent(tmp_path)
    cmd = make_command(UUID, "reboot_host")
    assert agent.handle_command(raw(cmd), retained=True) == "rejected"
    run_main(agent)
    assert agent.backend.calls == []
    assert agent.client.acks()[-1]["error_code"] == "retained"
    validate("ack", agent.client.acks()[-1])


def test_retained_command_without_readable_id_is_dropped(tmp_path):
    agent = new_agent(tmp_path)
    assert agent.handle_command(b'{"action": "reboot_host"}', retained=True) == "dropped"
    assert agent.client.acks() == []


@pytest.mark.parametrize("field,value", [
    ("expires_at", "9999-12-31T23:59:59.999Z"),
    ("expires_at", "9999-12-31T23:59:59-05:00"),
    ("issued_at", "0001-01-01T00:00:00Z"),
    ("issued_at", "1970-01-01T00:00:00+14:00"),
    ("expires_at", "2300-01-01T00:00:00Z"),
])
def test_out_of_range_dates_are_invalid_payload(tmp_path, field, value):
    """Dates datetime cannot do arithmetic with (or absurdly far) get failed/invalid_payload, not an exception."""
    agent = new_agent(tmp_path)
    cmd = make_command(UUID, "reboot_host")
    cmd[field] = value
    assert agent.handle_command(raw(cmd)) == "rejected"
    ack = agent.client.acks()[-1]
    assert (ack["status"], ack["error_code"]) == ("failed", "invalid_payload")
    assert agent.backend.calls == []


def test_reused_command_id_with_another_payload_is_refused(tmp_path):
    """Same command_id, other action: failed/command_id_reused, nothing runs, the original's status is kept."""
    agent = new_agent(tmp_path, lockout_max=0)
    cmd = make_command(UUID, "restart_app")
    agent.handle_command(raw(cmd))
    run_main(agent)
    other = dict(cmd, action="reboot_host")
    assert agent.handle_command(raw(other)) == "rejected"
    run_main(agent)
    assert agent.backend.calls == [("restart_app", cmd["command_id"])]
    ack = agent.client.acks()[-1]
    assert (ack["status"], ack["error_code"]) == ("failed", "command_id_reused")
    # The exact same command again (key order and spacing differ) is still a plain duplicate.
    same = json.dumps(dict(reversed(list(cmd.items()))), indent=2).encode()
    assert agent.handle_command(same) == "duplicate"
    assert agent.client.acks()[-1]["status"] == "completed"


def test_command_ids_are_compared_case_insensitively(tmp_path):
    """The schema accepts upper-case UUIDs: the same id in upper case is the same command, not a second run."""
    agent = new_agent(tmp_path, lockout_max=0)
    cmd = make_command(UUID, "restart_app")
    agent.handle_command(raw(cmd))
    run_main(agent)
    upper = dict(cmd, command_id=cmd["command_id"].upper())
    assert agent.handle_command(raw(upper)) == "duplicate"
    run_main(agent)
    assert len(agent.backend.calls) == 1
    assert agent.client.acks()[-1]["command_id"] == upper["command_id"]  # echoed as received


def test_unwritable_state_dir_answers_failed_and_health_says_so(tmp_path):
    """A state dir that refuses writes: failed/state_unwritable, nothing runs, health can_record false."""
    from infoscreen_agent.store import StoreUnwritable  # noqa: PLC0415

    agent = new_agent(tmp_path)

    def refuse(*_args, **_kwargs):
        raise StoreUnwritable(errno.EROFS, "Read-only file system")

    agent.store._append = refuse
    cmd = make_command(UUID, "reboot_host")
    assert agent.handle_command(raw(cmd)) == "rejected"
    run_main(agent)
    assert agent.backend.calls == []
    ack = agent.client.acks()[-1]
    assert (ack["status"], ack["error_code"]) == ("failed", "state_unwritable")
    agent.store.writable = False  # what _append sets when the OS refuses
    agent.publish_health()
    health = [p["payload"] for p in agent.client.published if p["topic"].endswith("/health")][-1]
    assert health["agent_state"]["can_record"] is False


def test_state_dir_that_cannot_be_created_is_reported_not_fatal(tmp_path):
    """state_dir under a regular file (ENOTDIR even for root): the agent starts, refuses, reports."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "boot_id").write_text("boot-1\n")
    config = write_config(tmp_path)
    config.state_dir = str(blocker / "state")
    agent = Agent(config, client=RecordingClient(), backend=RecordingBackend())
    assert agent.store.writable is False
    cmd = make_command(UUID, "reboot_host")
    assert agent.handle_command(raw(cmd)) == "rejected"
    assert agent.client.acks()[-1]["error_code"] == "state_unwritable"
    assert agent.agent_state()["can_record"] is False
    assert agent.agent_state()["state_problems"]


def test_own_heartbeat_never_raises_with_a_label_the_schema_refuses(tmp_path):
    """A too-long release label (config bypassed) costs the label, not the heartbeat or the process."""
    agent = new_agent(tmp_path)
    agent.cfg.release = "x" * 500
    agent.publish_heartbeat()
    agent.publish_health()
    beats = [p["payload"] for p in agent.client.published if p["topic"].endswith(("/heartbeat", "/health"))]
    assert len(beats) == 2
    assert all(b["release"] is None for b in beats)


@pytest.mark.parametrize("line,words", [
    ("release = " + "r" * 129, "at most 128"),
    ("app_unit = not a unit", "app_unit"),
])
def test_check_config_refuses_strings_the_contract_refuses(tmp_path, capsys, line, words):
    """check-config exits 2 and names the key for a release label over the schema's 128 characters."""
    write_config(tmp_path)
    path = tmp_path / "agent.ini"
    text = path.read_text().replace("[agent]", f"[agent]\n{line}")
    path.write_text(text)
    assert cli.main(["--config", str(path), "check-config"]) == 2
    assert words in capsys.readouterr().err


def test_command_issued_just_after_a_fresh_start_is_served(tmp_path):
    """The state-loss rule does not refuse what the controller sends to a freshly started agent."""
    agent = new_agent(tmp_path)
    cmd = make_command(UUID, "restart_app", issued_at=utcnow() - datetime.timedelta(milliseconds=500))
    assert agent.handle_command(raw(cmd)) == "queued"
