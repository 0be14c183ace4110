# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which clients the fleet watch looks after, from an Ansible inventory (docs/fleet-watch.md).

Per host of the pattern (default ``infoscreen_clients``, as recover.yml) that has a client_uuid:
the recovery tier (``infoscreen_recovery_tier``, default reboot) and whether automatic recovery
is on (``infoscreen_fleet_watch_auto_recover``, default true; set it false on a group to only
watch it). Also the broker and ledger settings recover.yml takes from the inventory
(``infoscreen_mqtt_host``/``_port``/``_ca_cert``, ``infoscreen_ledger``) and the escalation
cooldown (``infoscreen_recover_cooldown_s``), so the watch and the runs it starts talk to the
same broker and ledger and judge the cooldown alike. Nothing else is read: passwords in the
inventory stay there.
"""

from ansible.inventory.manager import InventoryManager
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.manager import VariableManager
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

TIERS = ("soft", "reboot", "poe")
AUTO_VAR = "infoscreen_fleet_watch_auto_recover"
# inventory variable -> source option (the rulebook's args win, then these, then the environment)
SHARED_SETTINGS = {"infoscreen_mqtt_host": "mqtt_host", "infoscreen_mqtt_port": "mqtt_port",
                   "infoscreen_mqtt_ca_cert": "mqtt_ca_cert", "infoscreen_ledger": "ledger",
                   "infoscreen_recover_cooldown_s": "cooldown_s"}


class InventoryProblem(ValueError):
    """The inventory cannot be used; the message says which host and what to set."""


def _boolean(value, host):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise InventoryProblem(f"host {host}: {AUTO_VAR} must be true or false, got {value!r}") from None


def clients_from_specs(specs):
    """``specs``: {host: client_uuid} or {host: {client_uuid, tier, auto_recover}} (the source's
    ``clients`` option, for a controller without an inventory file). Returns the judge's clients."""
    out = {}
    for host, given in specs.items():
        spec = given if isinstance(given, dict) else {"client_uuid": given}
        out[str(host)] = check_client(str(host), spec.get("client_uuid"), spec.get("tier", "reboot"),
                                      _boolean(spec.get("auto_recover", True), host))
    return out


def check_client(host, client_uuid, tier, auto_recover):
    if not isinstance(client_uuid, str) or not contract.is_uuid(client_uuid):
        raise InventoryProblem(f"host {host}: client_uuid {client_uuid!r} is not a UUID; set client_uuid to the "
                               "client's UUID (or leave the host out of the watched pattern)")
    if tier not in TIERS:
        raise InventoryProblem(f"host {host}: infoscreen_recovery_tier {tier!r} must be one of {', '.join(TIERS)}")
    return {"client_uuid": client_uuid.lower(), "tier": tier, "auto_recover": auto_recover}


def load_inventory(sources, pattern="infoscreen_clients"):
    """(clients, settings): the judge's clients and the shared broker/ledger settings found."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=list(sources))
    variables = VariableManager(loader=loader, inventory=inventory)
    hosts = inventory.get_hosts(pattern)
    if not hosts:
        raise InventoryProblem(f"no host of the inventory {', '.join(sources)} matches {pattern!r}: point the watch "
                               "at the fleet's inventory and its clients' group")
    clients, settings = {}, {}
    for host in hosts:
        hostvars = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=hostvars)

        def value(name, default=None, _vars=hostvars, _templar=templar):
            found = _vars.get(name, default)
            return _templar.template(found) if isinstance(found, str) and "{{" in found else found

        if value("client_uuid") is None:
            continue  # not a signage client (a switch, the controller)
        clients[host.name] = check_client(host.name, value("client_uuid"), value("infoscreen_recovery_tier", "reboot"),
                                          _boolean(value(AUTO_VAR, True), host.name))
        for var, option in SHARED_SETTINGS.items():
            if option not in settings and value(var) is not None:
                settings[option] = value(var)
    if not clients:
        raise InventoryProblem(f"no host matching {pattern!r} in {', '.join(sources)} has a client_uuid")
    return clients, settings
