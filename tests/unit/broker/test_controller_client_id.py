"""The controller never connects with a bare client UUID as its MQTT client id: its account is
not bound to one id (docs/broker.md "Client ids"), so that id would take a client's session
over. Its own ids are prefixed and free."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import build_client

PARAMS = {"mqtt_host": "127.0.0.1", "mqtt_port": 1883, "mqtt_username": "infoscreen-controller",
          "mqtt_password": "x", "mqtt_tls": False, "mqtt_ca_cert": None}


@pytest.mark.parametrize("client_id", ["0f8fad5b-d9cb-469f-a165-70867728950e",
                                       "0F8FAD5B-D9CB-469F-A165-70867728950E"])
def test_a_bare_client_uuid_is_refused(client_id):
    with pytest.raises(ValueError, match="is a client's id"):
        build_client(PARAMS, client_id)


def test_prefixed_controller_ids_are_accepted():
    client = build_client(PARAMS, "infoscreen-ctl-0f8fad5b-d9cb-469f-a165-70867728950e")
    assert client._client_id == b"infoscreen-ctl-0f8fad5b-d9cb-469f-a165-70867728950e"
