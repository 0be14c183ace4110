# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the mqtt_broker role uses to build mosquitto's accounts and password file.

Documentation for each filter lives next to this file (mosquitto_*.yml) for ansible-doc.
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mosquitto_auth import (
    collect_accounts,
    hash_password,
    password_file_lines,
)


def mosquitto_inventory_problems(client_hosts, hostvars, controller_username, controller_password, extra_clients=None):
    """Messages (no secrets) naming each host/variable that stops the broker accounts being built."""
    return collect_accounts(client_hosts, hostvars, controller_username, controller_password, extra_clients)[1]


def mosquitto_accounts(client_hosts, hostvars, controller_username, controller_password, extra_clients=None):
    """The controller account then one account per client; refuses a bad inventory."""
    accounts, problems = collect_accounts(
        client_hosts, hostvars, controller_username, controller_password, extra_clients
    )
    if problems:
        raise AnsibleFilterError("broker inventory is not usable: " + "; ".join(problems))
    return accounts


def mosquitto_passwd_lines(accounts, existing_content=""):
    """``user:$7$...`` lines, reusing each current line that still verifies (idempotent)."""
    try:
        return password_file_lines(accounts, existing_content or "")
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(
            f"mosquitto_passwd_lines needs a list of {{username, password}} mappings: {exc}"
        ) from exc


def mosquitto_passwd_hash(password):
    """One fresh ``$7$`` hash with a random salt, as mosquitto_passwd writes it."""
    return hash_password(str(password))


class FilterModule:
    def filters(self):
        return {
            "mosquitto_inventory_problems": mosquitto_inventory_problems,
            "mosquitto_accounts": mosquitto_accounts,
            "mosquitto_passwd_lines": mosquitto_passwd_lines,
            "mosquitto_passwd_hash": mosquitto_passwd_hash,
        }
