#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: set one key of a Raspberry Pi config.txt for all models, with validation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pi_config_txt
short_description: Set one C(key=value) of a Raspberry Pi C(config.txt) for every model
version_added: "0.1.0"
description:
  - Makes C(key=value) effective under C([all]) in C(config.txt), rewriting the existing
    C([all]) line in place or appending C([all]) and the line at the end.
  - Refuses, naming the file and line, and leaving the file untouched, when the file is
    missing or has a line that is not a comment, a C([section]), C(key=value), C(include) or
    C(initramfs).
  - Writes atomically and keeps a timestamped backup when O(backup=true).
options:
  path:
    description: The firmware configuration file.
    type: path
    default: /boot/firmware/config.txt
  key:
    description: The setting name, for example C(usb_max_current_enable).
    type: str
    required: true
  value:
    description: The value to set.
    type: str
    required: true
  backup:
    description: Keep a timestamped copy of the previous file next to it before changing it.
    type: bool
    default: true
author:
  - infoscreen-fleet maintainers (!UNKNOWN)
notes:
  - Supports check mode and diff mode. Takes effect after a reboot; the module never reboots.
seealso:
  - module: infoscreen.fleet.pi_cmdline
"""

EXAMPLES = r"""
- name: Lift the Pi 5 USB current cap (PoE+ HAT able to deliver 5 A)
  infoscreen.fleet.pi_config_txt:
    key: usb_max_current_enable
    value: "1"
"""

RETURN = r"""
backup_file:
  description: The backup made of the previous file.
  returned: changed and O(backup=true) and not in check mode
  type: str
  sample: /boot/firmware/config.txt.12345.2026-11-27@18:00:00~
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_config_txt
from ansible_collections.infoscreen.fleet.plugins.module_utils.ssd_files import finish_edit, read_text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/boot/firmware/config.txt"),
            key=dict(type="str", required=True, no_log=False),
            value=dict(type="str", required=True),
            backup=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    path, key, value = module.params["path"], module.params["key"], module.params["value"]
    if not re.match(r"^[A-Za-z0-9_.\-]+$", key) or "\n" in value:
        module.fail_json(msg="key %r / value %r cannot form one config.txt line; nothing was changed" % (key, value))
    text = read_text(module, path, "config.txt")
    try:
        changed, new_text = ssd_config_txt.set_value(text, key, value, path)
    except ssd_config_txt.ConfigTxtError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    finish_edit(module, path, text, new_text, changed)


if __name__ == "__main__":
    main()
