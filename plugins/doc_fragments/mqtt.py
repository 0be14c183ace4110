# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment infoscreen.fleet.mqtt: the controller's broker connection options."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  mqtt_host:
    description:
      - Broker host name or address.
      - Falls back to the environment variable E(INFOSCREEN_MQTT_HOST).
    type: str
    default: 127.0.0.1
  mqtt_port:
    description:
      - Broker port. Falls back to E(INFOSCREEN_MQTT_PORT).
    type: int
    default: 1883
  mqtt_username:
    description:
      - The controller's broker account (the broker role's C(mqtt_broker_controller_username)).
      - Falls back to E(INFOSCREEN_MQTT_USERNAME).
    type: str
    default: infoscreen-controller
  mqtt_password:
    description:
      - Password of O(mqtt_username). Never logged. Falls back to E(INFOSCREEN_MQTT_PASSWORD).
    type: str
  mqtt_tls:
    description:
      - Use TLS (certificate verification always on). Implied by O(mqtt_ca_cert).
    type: bool
    default: false
  mqtt_ca_cert:
    description:
      - CA certificate file to verify the broker. Falls back to E(INFOSCREEN_MQTT_CA_CERT).
    type: path
  mqtt_keepalive:
    description:
      - MQTT keepalive in seconds.
    type: int
    default: 30
requirements:
  - paho-mqtt >= 2.1 on the controller
"""
