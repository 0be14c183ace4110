"""The fleet_watch event source's options and inventory reading (no broker needed)."""

import json
import runpy
import uuid
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[3] / "extensions" / "eda" / "plugins" / "event_source" / "fleet_watch.py"


@pytest.fixture(scope="module")
def source():
    return runpy.run_path(str(SOURCE))  # as ansible-rulebook loads it


def inventory(tmp_path, **group_vars):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    data = {"all": {"vars": {"infoscreen_mqtt_host": "broker.example", "infoscreen_ledger": "/srv/ledger.sqlite3",
                             "infoscreen_recover_cooldown_s": 5, "uuid_of_b": b},
                    "children": {"infoscreen_clients": {"children": {
                        "lobby": {"hosts": {"pi-a": {"client_uuid": a, "infoscreen_mqtt_password": "client-secret",
                                                     "infoscreen_recovery_tier": "poe"}}},
                        "kiosk": {"hosts": {"pi-b": {"client_uuid": "{{ uuid_of_b }}"}}, "vars": group_vars}}}},
                    "hosts": {"switch-1": {}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps(data))
    return path, a, b


def test_inventory_gives_clients_tiers_group_switch_and_shared_settings(source, tmp_path):
    path, a, b = inventory(tmp_path, infoscreen_fleet_watch_auto_recover=False)
    clients, settings = source["watched_clients"]({"inventory": str(path)})
    assert clients == {"pi-a": {"client_uuid": a, "tier": "poe", "auto_recover": True},
                       "pi-b": {"client_uuid": b, "tier": "reboot", "auto_recover": False}}
    assert settings == {"mqtt_host": "broker.example", "ledger": "/srv/ledger.sqlite3", "cooldown_s": 5}
    assert "client-secret" not in json.dumps([clients, settings])


def test_bad_inventory_values_are_refused_with_the_host(source, tmp_path):
    path, _a, _b = inventory(tmp_path, infoscreen_fleet_watch_auto_recover="perhaps")
    with pytest.raises(source["FleetWatchError"], match="pi-b: infoscreen_fleet_watch_auto_recover"):
        source["watched_clients"]({"inventory": str(path)})
    with pytest.raises(source["FleetWatchError"], match="needs the fleet's inventory"):
        source["watched_clients"]({})
    with pytest.raises(source["FleetWatchError"], match="is not a UUID"):
        source["watched_clients"]({"clients": {"pi-x": "not-a-uuid"}})


def test_connection_options_arguments_then_inventory_then_environment(source, monkeypatch):
    monkeypatch.setenv("INFOSCREEN_MQTT_HOST", "env.example")
    monkeypatch.setenv("INFOSCREEN_MQTT_PORT", "8883")
    monkeypatch.setenv("INFOSCREEN_MQTT_PASSWORD", "from-env")
    params = source["mqtt_params"]({"mqtt_host": "", "mqtt_username": "watcher"}, {"mqtt_host": "inv.example"})
    assert (params["mqtt_host"], params["mqtt_port"], params["mqtt_username"]) == ("inv.example", 8883, "watcher")
    assert params["mqtt_password"] == "from-env"
    given = source["mqtt_params"]({"mqtt_host": "arg.example"}, {"mqtt_host": "inv.example"})
    assert given["mqtt_host"] == "arg.example"
    with pytest.raises(source["FleetWatchError"], match="mqtt_port"):
        source["mqtt_params"]({"mqtt_port": "eighty"}, {})
    with pytest.raises(source["FleetWatchError"], match="silent_after_s must be positive"):
        source["options"]({"silent_after_s": 0})
