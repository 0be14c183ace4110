"""Inventory checks before anything is sent, and the ledger lookup's duration parser."""

import pytest
from ansible.errors import AnsibleError
from ansible_collections.infoscreen.fleet.plugins.lookup.ledger import parse_since
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import check_inventory

GOOD = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_missing_malformed_and_shared_uuids_are_refused_by_name():
    valid, errors = check_inventory([
        ("ok-1", GOOD), ("none", None), ("blank", " "), ("bad", "not-a-uuid"), ("wild", "+/#"),
        ("dup-a", "7c9e6679-7425-40de-944b-e07fc1f90ae7"), ("dup-b", "7C9E6679-7425-40DE-944B-E07FC1F90AE7"),
    ])
    assert valid == [("ok-1", GOOD)]
    assert set(errors) == {"none", "blank", "bad", "wild", "dup-a", "dup-b"}
    assert "host none: client_uuid is not set" in errors["none"]
    assert "inventory variable client_uuid" in errors["none"]
    assert "'not-a-uuid' is not a UUID" in errors["bad"]
    assert "also used by dup-b" in errors["dup-a"]


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800),
                                               (None, None)])
def test_parse_since(text, seconds):
    assert parse_since(text) == seconds


def test_parse_since_rejects_garbage():
    with pytest.raises(AnsibleError, match="not a duration"):
        parse_since("yesterday")
