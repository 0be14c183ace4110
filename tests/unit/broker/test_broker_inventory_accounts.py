"""Account building and the inventory problems it reports (messages name host and variable)."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.filter.mosquitto import FilterModule
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mosquitto_auth import collect_accounts

FILTERS = FilterModule().filters()
A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


def _collect(hostvars, controller_password="ctl", extra=None, controller_username="infoscreen-controller"):
    return collect_accounts(list(hostvars), hostvars, controller_username, controller_password, extra)


def test_good_inventory_gives_controller_then_clients():
    accounts, problems = _collect({"pi-1": {"client_uuid": A, "infoscreen_mqtt_password": "p1"},
                                   "pi-2": {"client_uuid": B, "infoscreen_mqtt_password": "p2"}})
    assert problems == []
    assert [(a["username"], a["controller"]) for a in accounts] == [
        ("infoscreen-controller", True), (A, False), (B, False)]
    assert [a["name"] for a in accounts[1:]] == ["pi-1", "pi-2"]


@pytest.mark.parametrize(
    ("hostvars", "expected"),
    [
        ({"pi-1": {"infoscreen_mqtt_password": "p"}}, "host pi-1: client_uuid is not set"),
        ({"pi-1": {"client_uuid": "not-a-uuid", "infoscreen_mqtt_password": "p"}},
         "host pi-1: client_uuid 'not-a-uuid' is not a lower-case 8-4-4-4-12 UUID"),
        ({"pi-1": {"client_uuid": A.upper(), "infoscreen_mqtt_password": "p"}}, "(use lower case)"),
        ({"pi-1": {"client_uuid": A + "/#", "infoscreen_mqtt_password": "p"}}, "host pi-1: client_uuid"),
        ({"pi-1": {"client_uuid": A}}, "host pi-1: infoscreen_mqtt_password is not set"),
        ({"pi-1": {"client_uuid": A, "infoscreen_mqtt_password": "p"},
          "pi-2": {"client_uuid": A, "infoscreen_mqtt_password": "q"}},
         f"host pi-2: client_uuid {A} is already used by host pi-1"),
    ],
    ids=["missing-uuid", "malformed", "upper-case", "wildcard", "missing-password", "duplicate"],
)
def test_bad_client_is_reported_by_host(hostvars, expected):
    _accounts, problems = _collect(hostvars)
    assert len(problems) == 1
    assert expected in problems[0]
    assert "'p'" not in problems[0] and "'q'" not in problems[0]  # never a password in a message


def test_every_problem_is_reported_not_only_the_first():
    problems = _collect({"pi-1": {}, "pi-2": {"client_uuid": "x", "infoscreen_mqtt_password": "p"},
                         "pi-3": {"client_uuid": A, "infoscreen_mqtt_password": "p"}}, controller_password="")[1]
    assert len(problems) == 3
    assert any("mqtt_broker_controller_password" in p for p in problems)
    assert any("pi-1" in p for p in problems) and any("pi-2" in p for p in problems)


@pytest.mark.parametrize("username", ["", "bad:name", "has space", "wild#", A])
def test_bad_controller_username_is_refused(username):
    problems = _collect({}, controller_username=username)[1]
    assert problems and all("mqtt_broker_controller_username" in p for p in problems)


def test_explicit_clients_join_and_collide_with_inventory():
    extra = [{"name": "kiosk", "client_uuid": B, "password": "k"}, {"name": "dup", "client_uuid": A, "password": "d"}]
    accounts, problems = _collect({"pi-1": {"client_uuid": A, "infoscreen_mqtt_password": "p"}}, extra=extra)
    assert [a["username"] for a in accounts] == ["infoscreen-controller", A, B]
    assert problems == [
        f"dup (mqtt_broker_clients): client_uuid {A} is already used by host pi-1; UUIDs must be unique"
    ]


def test_accounts_filter_refuses_a_bad_inventory():
    from ansible.errors import AnsibleFilterError

    hostvars = {"pi-9": {"client_uuid": "nope", "infoscreen_mqtt_password": "p"}}
    with pytest.raises(AnsibleFilterError, match="host pi-9"):
        FILTERS["mosquitto_accounts"](list(hostvars), hostvars, "infoscreen-controller", "ctl")
