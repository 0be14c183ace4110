"""Contract v1 topics: canonical and transitional names, parsing, refusal of odd ids."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

CLIENT = "9b2f7c1e-4a3d-4e5f-8a6b-1c2d3e4f5a6b"


def test_canonical_and_transitional_topics():
    assert contract.command_topics(CLIENT) == [f"infoscreen/{CLIENT}/commands", f"infoscreen/{CLIENT}/command"]
    assert contract.ack_topics(CLIENT) == [f"infoscreen/{CLIENT}/commands/ack", f"infoscreen/{CLIENT}/command/ack"]
    assert contract.heartbeat_topic(CLIENT) == f"infoscreen/{CLIENT}/heartbeat"
    assert contract.health_topic(CLIENT) == f"infoscreen/{CLIENT}/health"
    assert contract.service_failed_topic(CLIENT) == f"infoscreen/{CLIENT}/service_failed"


def test_upper_case_uuid_is_normalised():
    assert contract.command_topic(CLIENT.upper()) == f"infoscreen/{CLIENT}/commands"


@pytest.mark.parametrize("bad", ["+", "#", "a/b", "", None, CLIENT + "/x", "not-a-uuid"])
def test_wildcards_and_garbage_are_refused(bad):
    with pytest.raises(ValueError, match="not a UUID"):
        contract.command_topic(bad)


@pytest.mark.parametrize(
    ("suffix", "kind", "transitional"),
    [
        ("commands", "command", False),
        ("command", "command", True),
        ("commands/ack", "ack", False),
        ("command/ack", "ack", True),
        ("heartbeat", "heartbeat", False),
        ("service_failed", "service_failed", False),
    ],
)
def test_parse_topic(suffix, kind, transitional):
    assert contract.parse_topic(f"infoscreen/{CLIENT}/{suffix}") == (CLIENT, kind, transitional)


@pytest.mark.parametrize("topic", ["infoscreen/x/commands", "other/" + CLIENT + "/commands",
                                   f"infoscreen/{CLIENT}/unknown", f"infoscreen/{CLIENT}"])
def test_parse_topic_rejects_non_contract_topics(topic):
    assert contract.parse_topic(topic) is None


def test_heartbeat_has_no_transitional_alias():
    with pytest.raises(ValueError):
        contract.topics._topic("heartbeat", CLIENT, transitional=True)
