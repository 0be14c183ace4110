"""One UUID rule and one set of topic names: the contract package is their only home, and the
product code (plugins, agent, roles) takes both from it instead of keeping its own copy."""

import re
from pathlib import Path

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import mosquitto_auth

REPO = Path(__file__).resolve().parents[3]
CONTRACT = REPO / "plugins" / "module_utils" / "contract"
CLIENT = "9b2f7c1e-4a3d-4e5f-8a6b-1c2d3e4f5a6b"
# A hex-run of 8 in a character class, or the topic root followed by a separator: either is a
# copy of a contract rule (the UUID regex, a topic name or wildcard).
UUID_COPY = re.compile(r"\[0-9a-f(A-F)?\]\{8\}")
TOPIC_COPY = re.compile(r"[\"'`]infoscreen/")


def _product_files():
    # roles/pi_agent keeps a Jinja copy of the rule in vars/main.yml (another change owns that
    # role); the broker role takes its ACL topics from the contract.
    for top in ("plugins", "agent", "roles/mqtt_broker"):
        for path in sorted((REPO / top).rglob("*")):
            if path.suffix in {".py", ".j2", ".yml", ".yaml"} and CONTRACT not in path.parents:
                yield path


@pytest.mark.parametrize("value", [CLIENT, CLIENT.upper()])
def test_uuid_rule_accepts_any_case_and_canonical_is_lower(value):
    """Ids are 8-4-4-4-12 hex in any case; only lower case is canonical (broker usernames)."""
    assert contract.is_uuid(value)
    assert contract.is_canonical_uuid(value) is (value == CLIENT)


@pytest.mark.parametrize("bad", ["+", "#", "", None, 7, CLIENT + "/x", CLIENT[:-1], " " + CLIENT, CLIENT + "\n"])
def test_uuid_rule_refuses_wildcards_and_garbage(bad):
    """Anything else (wildcards, slashes, whitespace, short ids, non-strings) is not an id."""
    assert not contract.is_uuid(bad)
    assert not contract.is_canonical_uuid(bad)
    with pytest.raises(ValueError, match="not a UUID"):
        contract.command_topic(bad)


def test_wildcard_subscriptions_match_the_per_client_topics():
    """Each wildcard subscription is the per-client topic with '+' in place of the UUID."""
    for kind, topics in contract.client_topics(CLIENT).items():
        assert contract.wildcard_topic(kind) == topics[0].replace(CLIENT, "+")
        if len(topics) > 1:
            assert contract.wildcard_topic(kind, transitional=True) == topics[1].replace(CLIENT, "+")
    assert contract.wildcard_topic("ack") == "infoscreen/+/commands/ack"
    assert contract.ALL_TOPICS == "infoscreen/#"
    with pytest.raises(ValueError, match="no transitional alias"):
        contract.wildcard_topic("heartbeat", transitional=True)


def test_broker_acl_of_a_client_is_its_contract_topics():
    """A client account reads exactly its two command topics and writes exactly its acks and
    reports; the controller reads and writes every contract topic."""
    accounts, problems = mosquitto_auth.collect_accounts(
        ["pi-1"], {"pi-1": {"client_uuid": CLIENT, "infoscreen_mqtt_password": "x"}}, "ctl", "pw")
    assert problems == []
    controller, client = accounts
    assert controller["readwrite_topics"] == ["infoscreen/#"]
    assert client["read_topics"] == contract.command_topics(CLIENT)
    assert set(client["write_topics"]) == {*contract.ack_topics(CLIENT), contract.heartbeat_topic(CLIENT),
                                           contract.health_topic(CLIENT), contract.service_failed_topic(CLIENT),
                                           contract.logs_topic(CLIENT)}
    assert client["readwrite_topics"] == []


def test_no_product_file_keeps_its_own_copy_of_the_uuid_rule_or_a_topic_name():
    """grep guard: the UUID regex and quoted topic names live only in the contract package."""
    copies = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
              for path in _product_files()
              for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
              if UUID_COPY.search(line) or TOPIC_COPY.search(line)]
    assert copies == []
