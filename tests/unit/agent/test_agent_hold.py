"""Issue 18, deferral while busy: the agent honours a local hold (agent/infoscreen_agent/hold.py).

An accepted reboot-class command waits while the hold file holds - within its validity and
hold_max_wait_s - then executes, or ends failed/busy naming the hold; the acks stay
accepted -> (wait) -> execution_started | failed. Fake monotonic time is passed in; no sleeping.
"""

import datetime
import json
import time

import pytest
from agent_doubles import UUID, RecordingBackend, RecordingClient, write_config
from infoscreen_agent import cli
from infoscreen_agent.agent import Agent
from infoscreen_agent.config import ConfigError
from infoscreen_agent.contract import make_command, validate
from infoscreen_agent.hold import HoldError, read_hold, release_hold, set_hold

HOLD = {"owner": "signage-app", "reason": "live announcement", "since": "2026-12-02T03:00:00Z"}


def make_agent(tmp_path, **extra):
    hold_path = tmp_path / "run" / "hold.json"
    config = write_config(tmp_path, hold_path=hold_path, **extra)
    return Agent(config, client=RecordingClient(), backend=RecordingBackend()), hold_path


def accept(agent, action="reboot_host", validity_s=240):
    cmd = make_command(UUID, action, validity_s=validity_s)
    assert agent.handle_command(json.dumps(cmd).encode()) == "queued"
    kind, item = agent._work.get_nowait()
    assert kind == "command"
    agent._queued -= 1
    return item


def statuses(agent):
    return [(a["status"], a["error_code"]) for a in agent.client.acks()]


def healths(agent):
    return [p["payload"] for p in agent.client.published if p["topic"].endswith("/health")]


def test_held_command_waits_then_executes_when_the_hold_clears(tmp_path):
    agent, hold_path = make_agent(tmp_path)
    hold_path.write_text(json.dumps(HOLD))
    cmd = accept(agent)

    agent._take(cmd, now_mono=1000.0)
    agent._check_held(1200.0)
    assert agent.backend.calls == []
    assert statuses(agent) == [("accepted", None)]
    health = healths(agent)[-1]  # published at once, so the controller shows "held"
    validate("health", health)
    assert health["hold"] == HOLD

    hold_path.unlink()
    agent._check_held(1201.0)
    assert agent.backend.calls == [("reboot_host", cmd["command_id"])]
    assert statuses(agent) == [("accepted", None), ("execution_started", None)]


def test_hold_that_does_not_clear_within_hold_max_wait_fails_busy_naming_it(tmp_path):
    agent, hold_path = make_agent(tmp_path, hold_max_wait_s=60)
    hold_path.write_text(json.dumps(HOLD))
    cmd = accept(agent)
    agent._take(cmd, now_mono=1000.0)
    agent._check_held(1059.9)
    assert statuses(agent) == [("accepted", None)]
    agent._check_held(1060.0)
    assert agent.backend.calls == []
    acks = agent.client.acks()
    assert [(a["status"], a["error_code"]) for a in acks] == [("accepted", None), ("failed", "busy")]
    assert "held by signage-app" in acks[-1]["error_message"] and "live announcement" in acks[-1]["error_message"]
    assert "hold_max_wait_s 60" in acks[-1]["error_message"]
    validate("ack", acks[-1])
    assert agent.store.get(cmd["command_id"])["status"] == "failed"
    assert agent._held is None


def test_the_wait_never_outlasts_the_commands_validity(tmp_path):
    agent, hold_path = make_agent(tmp_path, hold_max_wait_s=3600)
    hold_path.write_text(json.dumps(HOLD))
    cmd = accept(agent, validity_s=30)
    agent._take(cmd, now_mono=1000.0, now_wall=time.time())
    agent._check_held(1029.0)
    assert statuses(agent) == [("accepted", None)]
    agent._check_held(1031.0)
    acks = agent.client.acks()
    assert acks[-1]["error_code"] == "busy" and "its expiry" in acks[-1]["error_message"]


def test_a_second_command_while_one_is_held_is_refused_busy(tmp_path):
    agent, hold_path = make_agent(tmp_path)
    hold_path.write_text(json.dumps(HOLD))
    agent._take(accept(agent), now_mono=1000.0)
    other = make_command(UUID, "restart_app")
    assert agent.handle_command(json.dumps(other).encode()) == "rejected"
    last = agent.client.acks()[-1]
    assert (last["command_id"], last["error_code"]) == (other["command_id"], "busy")
    assert "waiting for the local hold" in last["error_message"]


@pytest.mark.parametrize("action", ["shutdown_host", "restart_app"])
def test_every_reboot_class_action_is_held(tmp_path, action):
    agent, hold_path = make_agent(tmp_path)
    hold_path.write_text(json.dumps(HOLD))
    agent._take(accept(agent, action), now_mono=1.0)
    assert agent.backend.calls == []


def test_without_a_hold_the_command_runs_at_once_and_health_says_null(tmp_path):
    agent, _hold_path = make_agent(tmp_path)
    cmd = accept(agent)
    agent._take(cmd, now_mono=1.0)
    assert agent.backend.calls == [("reboot_host", cmd["command_id"])]
    agent.publish_health()
    assert healths(agent)[-1]["hold"] is None
    validate("health", healths(agent)[-1])


def test_hold_max_wait_zero_refuses_at_once(tmp_path):
    agent, hold_path = make_agent(tmp_path, hold_max_wait_s=0)
    hold_path.write_text(json.dumps(HOLD))
    agent._take(accept(agent), now_mono=1.0)
    assert statuses(agent)[-1] == ("failed", "busy")


def test_a_hold_past_its_until_no_longer_holds(tmp_path):
    path = tmp_path / "hold.json"
    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(dict(HOLD, until=past)))
    assert read_hold(str(path)) is None


def test_an_unreadable_hold_file_still_holds_and_says_why(tmp_path):
    path = tmp_path / "hold.json"
    path.write_text("{not json")
    hold = read_hold(str(path))
    assert hold["owner"] == "unknown" and "not a valid hold" in hold["reason"]
    validate("health", {"client_uuid": UUID, "sent_at": "2026-12-02T03:00:00Z", "boot_id": "b", "agent_version": "1",
                        "uptime_s": 1, "broker_connection": {"reconnect_count": 0, "last_disconnect_at": None},
                        "hold": hold})


def test_set_and_release_with_owner_check(tmp_path):
    path = str(tmp_path / "hold.json")
    body = set_hold(path, "tech-anna", "replacing the HDMI cable", for_s=600)
    assert read_hold(path)["owner"] == "tech-anna" and "until" in body
    with pytest.raises(HoldError, match="belongs to 'tech-anna'"):
        release_hold(path, owner="signage-app")
    assert release_hold(path, owner="tech-anna")["reason"] == "replacing the HDMI cable"
    assert read_hold(path) is None
    with pytest.raises(HoldError, match="--reason"):
        set_hold(path, "x", " ")
    with pytest.raises(HoldError, match="in the past"):
        set_hold(path, "x", "y", until="2001-01-01T00:00:00Z")


def test_cli_hold_release_and_status(tmp_path, capsys):
    config = tmp_path / "agent.ini"
    write_config(tmp_path, hold_path=tmp_path / "run" / "hold.json")
    assert cli.main(["--config", str(config), "hold", "--owner", "tech", "--reason", "cable swap"]) == 0
    assert cli.main(["--config", str(config), "hold-status"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["owner"] == "tech"
    assert cli.main(["--config", str(config), "release", "--owner", "someone-else"]) == 2
    assert cli.main(["release", "--path", str(tmp_path / "run" / "hold.json")]) == 0
    assert not (tmp_path / "run" / "hold.json").exists()


def test_config_checks_the_hold_settings(tmp_path):
    with pytest.raises(ConfigError, match="hold_path 'run/hold.json' must be an absolute path"):
        write_config(tmp_path, hold_path="run/hold.json")
    with pytest.raises(ConfigError, match="hold_max_wait_s must be between 0"):
        write_config(tmp_path, hold_max_wait_s=-1)
    assert write_config(tmp_path, hold_path="").hold_path == ""
