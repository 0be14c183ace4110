#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: per-version backups, applied-version fact and rollback of the SSD profile."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pi_ssd_versions
short_description: Versioned state of the SSD timeout profile (backups, applied version, rollback)
version_added: "0.1.0"
description:
  - O(action=snapshot) copies the files a profile version may change into
    C(<state_dir>/versions/<version>/) with a C(manifest.json), once per version (a re-run keeps
    the first copies, which hold the state before the version).
  - O(action=record) writes the local fact C(<facts_dir>/infoscreen_ssd.fact) (JSON) saying which
    version is applied, its predecessor and whether a reboot is pending. A pending reboot is
    kept while the boot id stays the same and cleared once it changes.
  - O(action=rollback) restores the files kept for the applied version byte for byte (and removes
    the ones it created), records the predecessor as applied and deletes the version's backups
    (unless an EEPROM configuration must still be restored, see RV(eeprom_before); then
    O(action=drop) deletes them afterwards). With nothing applied it changes nothing.
  - Refuses, changing nothing, when the applied version's backups are missing or incomplete.
options:
  action:
    description: What to do.
    type: str
    choices: [snapshot, record, rollback, drop]
    required: true
  state_dir:
    description: Directory holding C(versions/<n>/).
    type: path
    default: /var/lib/infoscreen-ssd
  facts_dir:
    description: Local facts directory holding C(infoscreen_ssd.fact).
    type: path
    default: /etc/ansible/facts.d
  version:
    description: The profile version (O(action=snapshot), O(action=record), O(action=drop)).
    type: int
  files:
    description: Files the version may change (O(action=snapshot)).
    type: list
    elements: path
    default: []
  boot_id:
    description: The current boot id, to keep or clear a pending reboot.
    type: str
    default: ""
  boot_files_changed:
    description: Whether boot files (cmdline.txt, config.txt, EEPROM) changed in this run (O(action=record)).
    type: bool
    default: false
  boot_dir:
    description: The boot partition; restoring a file below it requires a reboot (O(action=rollback)).
    type: path
    default: /boot/firmware
  extra:
    description: Further keys stored in the fact (O(action=record)).
    type: dict
    default: {}
author:
  - infoscreen-fleet maintainers (!UNKNOWN)
notes:
  - Supports check mode. Never reboots.
seealso:
  - module: infoscreen.fleet.pi_ssd_facts
"""

EXAMPLES = r"""
- name: Back up before applying version 3
  infoscreen.fleet.pi_ssd_versions:
    action: snapshot
    version: 3
    files: [/etc/udev/rules.d/60-infoscreen-ssd-timeout.rules, /boot/firmware/cmdline.txt]

- name: Roll the applied version back
  infoscreen.fleet.pi_ssd_versions:
    action: rollback
  register: rollback
"""

RETURN = r"""
manifest:
  description: The version's manifest (C(version), C(previous_version), C(files)).
  returned: action is snapshot
  type: dict
fact:
  description: The fact written (C(profile_version), C(previous_version), C(reboot_required), ...).
  returned: action is record, or rollback when something was applied
  type: dict
reboot_required:
  description: Whether a reboot is pending after this step.
  returned: action is record or rollback
  type: bool
profile_version:
  description: The version applied after this step (null when none).
  returned: action is rollback
  type: int
rolled_back_from:
  description: The version that was rolled back (null when none was applied).
  returned: action is rollback
  type: int
restored:
  description: Files whose content was restored.
  returned: action is rollback
  type: list
  elements: str
removed:
  description: Files removed because the version had created them.
  returned: action is rollback
  type: list
  elements: str
eeprom_before:
  description: The bootloader configuration kept before the version, to stage again; null when none.
  returned: action is rollback
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_versions


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", choices=["snapshot", "record", "rollback", "drop"], required=True),
            state_dir=dict(type="path", default="/var/lib/infoscreen-ssd"),
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            version=dict(type="int"),
            files=dict(type="list", elements="path", default=[]),
            boot_id=dict(type="str", default=""),
            boot_files_changed=dict(type="bool", default=False),
            boot_dir=dict(type="path", default="/boot/firmware"),
            extra=dict(type="dict", default={}),
        ),
        required_if=[("action", "snapshot", ["version"]), ("action", "record", ["version"]),
                     ("action", "drop", ["version"])],
        supports_check_mode=True,
    )
    p = module.params
    check = module.check_mode
    try:
        if p["action"] == "snapshot":
            if p["version"] < 1:
                module.fail_json(msg="version must be >= 1, got %d" % p["version"])
            state = ssd_versions.read_state(p["facts_dir"])
            if state.get("profile_version") == p["version"]:
                # Already applied: its "before" copies exist or were lost; never re-take them now.
                manifest = ssd_versions.read_manifest(p["state_dir"], p["version"])
                module.exit_json(changed=False, manifest=manifest)
            changed, manifest = ssd_versions.snapshot(
                p["state_dir"], p["version"], p["files"], state.get("profile_version"), check)
            module.exit_json(changed=changed, manifest=manifest)
        if p["action"] == "record":
            changed, fact = ssd_versions.record(
                p["state_dir"], p["facts_dir"], p["version"], p["boot_id"].strip(), p["boot_files_changed"],
                extra=p["extra"], check_mode=check)
            module.exit_json(changed=changed, fact=fact, reboot_required=fact["reboot_required"])
        if p["action"] == "rollback":
            result = ssd_versions.rollback(p["state_dir"], p["facts_dir"], p["boot_id"].strip(), p["boot_dir"], check)
            module.exit_json(**result)
        changed = False if check else ssd_versions.drop_version(p["state_dir"], p["version"])
        module.exit_json(changed=changed)
    except (ssd_versions.VersionStateError, IOError, OSError) as exc:
        module.fail_json(msg="ssd profile state: %s" % exc)


if __name__ == "__main__":
    main()
