#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: token-exact edits of a Raspberry Pi cmdline.txt with backup and validation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pi_cmdline
short_description: Token-exact edits of a Raspberry Pi C(cmdline.txt)
version_added: "0.1.0"
description:
  - Ensures kernel command-line tokens are present (C(key=value) or a bare flag such as
    C(rootwait)) or absent in C(cmdline.txt), which must stay a single line.
  - An existing token with the same key is replaced in place and later duplicates of a managed
    key are dropped; every other token keeps its text and order. When nothing changes the file
    is not rewritten.
  - Refuses, naming the file and the problem, and leaving it untouched, when the file is
    missing, empty, not a single line, has unbalanced quotes, has no or several C(root=)
    tokens or several C(usb-storage.quirks) tokens, or when the edit would produce such a line.
  - Writes atomically and keeps a timestamped backup when O(backup=true).
options:
  path:
    description: The command-line file.
    type: path
    default: /boot/firmware/cmdline.txt
  present:
    description: Tokens to ensure, C(key -> value); a null value means a bare flag (C(rootwait)).
    type: dict
    default: {}
  absent:
    description: Keys whose tokens are removed (all occurrences).
    type: list
    elements: str
    default: []
  backup:
    description: Keep a timestamped copy of the previous file next to it before changing it.
    type: bool
    default: true
author:
  - infoscreen-fleet maintainers (!UNKNOWN)
notes:
  - Supports check mode and diff mode.
  - A changed command line takes effect only after a reboot; the module never reboots.
seealso:
  - module: infoscreen.fleet.pi_ssd_facts
"""

EXAMPLES = r"""
- name: Keep rootwait and add the UAS quirk for a JMicron bridge
  infoscreen.fleet.pi_cmdline:
    present:
      rootwait: null
      usb-storage.quirks: "152d:0578:u"
  register: cmdline

- name: Remove a stale rootdelay
  infoscreen.fleet.pi_cmdline:
    absent: [rootdelay]
"""

RETURN = r"""
before:
  description: Tokens before the edit.
  returned: success
  type: list
  elements: str
  sample: ["console=tty1", "root=PARTUUID=4e639091-02", "rootwait"]
after:
  description: Tokens after the edit (equal to RV(before) when unchanged).
  returned: success
  type: list
  elements: str
backup_file:
  description: The backup made of the previous file.
  returned: changed and O(backup=true) and not in check mode
  type: str
  sample: /boot/firmware/cmdline.txt.12345.2026-11-27@18:00:00~
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_cmdline
from ansible_collections.infoscreen.fleet.plugins.module_utils.ssd_files import finish_edit, read_text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/boot/firmware/cmdline.txt"),
            present=dict(type="dict", default={}),
            absent=dict(type="list", elements="str", default=[]),
            backup=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    present = dict(
        (str(key), None if value is None else str(value)) for key, value in module.params["present"].items()
    )
    for key, value in present.items():
        if not key or "=" in key or any(c.isspace() for c in key) or (value is not None and (
                not value or any(c.isspace() for c in value))):
            module.fail_json(msg="present: %r=%r is not a single kernel parameter token; nothing was changed"
                             % (key, value))
    text = read_text(module, path, "cmdline.txt")
    try:
        changed, new_text, before, after = ssd_cmdline.plan_edit(text, present, module.params["absent"], path)
    except ssd_cmdline.CmdlineError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    finish_edit(module, path, text, new_text, changed, before=before, after=after)


if __name__ == "__main__":
    main()
