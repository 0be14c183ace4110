# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preamble every MQTT action plugin of the collection shares (the ``mqtt`` action group
in meta/runtime.yml): validated arguments, the paho-mqtt check, positive timings, the targeted
hosts and their client UUIDs from the inventory. One place, so a rule changes once.
"""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import missing_libraries


def inventory_clients(hosts, hostvars, client_uuid_var):
    """``({host: client_uuid}, {host: problem})`` - a host whose variable is missing or not a
    UUID is a problem (the contract's one UUID rule), never a client."""
    clients, problems = {}, {}
    for host in hosts:
        value = hostvars.get(host, {}).get(client_uuid_var)
        try:
            contract.heartbeat_topic(value)  # refuses anything that is not a UUID
        except (TypeError, ValueError):
            problems[host] = f"{client_uuid_var} is missing or not a UUID ({value!r})"
        else:
            clients[host] = value
    return clients, problems


class MqttAction(ActionBase):
    """Base of the MQTT action plugins; subclasses set PLUGIN, ARGUMENT_SPEC and _supports_check_mode."""

    TRANSFERS_FILES = False
    _supports_async = False
    PLUGIN = ""
    ARGUMENT_SPEC = {}

    def _mqtt_args(self, positive=()):
        """The validated arguments; fails before anything is touched when paho-mqtt is missing
        or a timing named in ``positive`` is not above 0."""
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        missing = missing_libraries()
        if missing:
            raise AnsibleActionFail(missing)
        for name in positive:
            if args[name] <= 0:
                raise AnsibleActionFail(f"{self.PLUGIN}: {name} must be above 0, got {args[name]}")
        return args

    @staticmethod
    def _target_hosts(args, task_vars):
        """The ``hosts`` option, else the play's current batch."""
        return args["hosts"] if args["hosts"] is not None else list(task_vars.get("ansible_play_batch") or [])
