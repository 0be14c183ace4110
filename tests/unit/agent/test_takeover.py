"""Repeated session take-overs (a cloned identity) are noticed, logged and reported in health."""

import logging

from agent_doubles import RecordingBackend, RecordingClient, write_config
from infoscreen_agent.agent import TAKEOVER_ALARM, Agent
from infoscreen_agent.contract import validate


class _Success:
    is_failure = False


def _agent(tmp_path):
    return Agent(write_config(tmp_path), client=RecordingClient(), backend=RecordingBackend())


def _health(agent):
    agent.publish_health()
    body = [p["payload"] for p in agent.client.published if p["topic"].endswith("/health")][-1]
    return validate("health", body)


def test_broker_drops_with_instant_reconnects_are_reported_as_identity_conflict(tmp_path, caplog):
    """Dropped by a reachable broker TAKEOVER_ALARM times: health says identity_conflict_suspected, log says why."""
    agent = _agent(tmp_path)
    agent._on_connect(agent.client, None, None, _Success())
    assert _health(agent)["agent_state"]["identity_conflict_suspected"] is False
    with caplog.at_level(logging.WARNING, logger="infoscreen_agent"):
        for _unused in range(TAKEOVER_ALARM):
            agent._on_disconnect(agent.client, None, None, "connection lost")
            agent._on_connect(agent.client, None, None, _Success())
    state = _health(agent)["agent_state"]
    assert state["session_takeovers"] == TAKEOVER_ALARM
    assert state["identity_conflict_suspected"] is True
    assert "another client is probably connecting with client id" in caplog.text


def test_a_broker_outage_is_not_a_takeover(tmp_path):
    """A drop followed by a failed reconnect attempt (broker down) does not count."""
    agent = _agent(tmp_path)
    agent._on_connect(agent.client, None, None, _Success())
    for _unused in range(TAKEOVER_ALARM + 2):
        agent._on_disconnect(agent.client, None, None, "connection lost")
        agent._first_attempt = False  # what _network_loop records when reconnect() raises
        agent._on_connect(agent.client, None, None, _Success())
    state = _health(agent)["agent_state"]
    assert state["session_takeovers"] == 0
    assert state["identity_conflict_suspected"] is False
