#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: facts about a Raspberry Pi 5 boot SSD plus the tuning rules' decisions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pi_ssd_facts
short_description: Facts about a Raspberry Pi 5 boot SSD (USB-SATA bridge, timeouts, kernel-log trouble)
version_added: "0.1.0"
description:
  - Reports the boot device and its transport (C(usb), C(sd), C(nvme)), the USB-SATA bridge's
    C(vendor:product) id and driver (C(uas) or C(usb-storage)), the SCSI command timeout,
    evidence of trouble in the kernel log (UAS aborts and resets, command time-outs, I/O errors,
    USB resets and disconnects) attributed to the boot bridge or to other devices, the relevant
    C(config.txt), C(cmdline.txt) and bootloader EEPROM settings, the hardware watchdog and the
    negotiated power-supply current.
  - Also evaluates the SSD tuning rules (UAS quirk, USB current advice, bootloader proposals,
    reconnect-time adjustments) over those facts and returns their decisions in C(tuning). It
    changes nothing.
  - Every source is read below a configurable path so tests can point it at fixture trees.
  - Fails, naming the file, when C(cmdline.txt) or C(config.txt) is missing or unparsable and
    O(require_boot_files=true), so a role using it never edits on doubt.
options:
  sysfs_root:
    description: Where sysfs is mounted.
    type: path
    default: /sys
  proc_root:
    description: Where procfs is mounted (C(mounts), C(cmdline), C(device-tree)).
    type: path
    default: /proc
  dev_root:
    description: The device directory (C(watchdog0), C(disk/by-partuuid)).
    type: path
    default: /dev
  boot_dir:
    description: The boot partition holding C(cmdline.txt) and C(config.txt).
    type: path
    default: /boot/firmware
  kernel_log_path:
    description:
      - A file with kernel log text (C(dmesg) output or C(kern.log)).
      - When unset, C(dmesg) is run if it exists; when neither is available the evidence is
        unknown and no evidence-based rule fires.
    type: path
  eeprom_config_path:
    description:
      - A file with C(rpi-eeprom-config) output. When unset, C(rpi-eeprom-config) is run where it
        exists; elsewhere C(eeprom.available) is false.
    type: path
  require_boot_files:
    description: Fail when C(cmdline.txt) or C(config.txt) is missing or unparsable.
    type: bool
    default: true
  uas_quirk_allow_list:
    description: Bridge ids (C(vid:pid)) that get the UAS quirk without kernel-log evidence.
    type: list
    elements: str
    default: []
  uas_quirk_deny_list:
    description: Bridge ids that never get the UAS quirk, whatever the evidence.
    type: list
    elements: str
    default: []
  uas_evidence_min_events:
    description: UAS abort/reset events for the boot bridge needed before the quirk is proposed.
    type: int
    default: 1
  poe_powered:
    description:
      - Whether the Pi is powered over Ethernet. C(auto) trusts the HAT product string in the
        device tree (contains C(PoE)).
    type: str
    choices: [auto, "true", "false"]
    default: auto
  reconnect_seconds:
    description:
      - Measured reconnect times in seconds (for example from the controller's ledger). The p95
        is compared with O(reconnect_baseline_s) and adjustments are proposed above it.
    type: list
    elements: raw
    default: []
  reconnect_baseline_s:
    description: Reconnect baseline; p95 above it proposes adjustments (status C(warn)).
    type: float
    default: 90
  reconnect_ceiling_s:
    description: Cold-boot ceiling; p95 above it is status C(fail).
    type: float
    default: 150
  stop_timeout_s:
    description: The systemd DefaultTimeoutStopSec the profile applies, so proposals can name it.
    type: int
author:
  - infoscreen-fleet maintainers (!UNKNOWN)
notes:
  - Read-only; supports check mode.
  - Kernel-log lines count for the boot bridge only when they name its disk, USB port or SCSI host.
seealso:
  - module: infoscreen.fleet.pi_cmdline
"""

EXAMPLES = r"""
- name: Read SSD facts and tuning decisions
  infoscreen.fleet.pi_ssd_facts:
    uas_quirk_allow_list: ["152d:0578"]
    poe_powered: "true"
    reconnect_seconds: [62.5, 71.0, 95.2]
  register: ssd

- name: Show the boot bridge
  ansible.builtin.debug:
    msg: "{{ ansible_facts.infoscreen_ssd.bridge.id }} via {{ ansible_facts.infoscreen_ssd.bridge.driver }}"

- name: Read a fixture tree instead of the live system
  infoscreen.fleet.pi_ssd_facts:
    sysfs_root: /srv/fixture/sys
    proc_root: /srv/fixture/proc
    dev_root: /srv/fixture/dev
    boot_dir: /srv/fixture/boot/firmware
    kernel_log_path: /srv/fixture/kern.log
"""

RETURN = r"""
ansible_facts:
  description: Facts, under the key C(infoscreen_ssd).
  returned: always
  type: dict
  contains:
    infoscreen_ssd:
      description:
        - C(boot) (C(source), C(partition), C(disk), C(transport)); C(bridge) (C(id), C(vendor_id),
          C(product_id), C(manufacturer), C(product), C(usb_port), C(speed_mbps), C(driver),
          C(scsi_host)) or null; C(scsi_timeout_s); C(usb_disks); C(kernel_log) (C(source),
          C(bridge) and C(other) event counts, C(uas_trouble), C(samples), C(bridge_id_in_log));
          C(cmdline) (C(tokens), C(root), C(rootwait), C(uas_quirks)); C(config_txt) (C(settings));
          C(eeprom) (C(available), C(settings)); C(watchdog) (C(present), C(identity),
          C(timeout_s), C(max_timeout_s)); C(power) (C(max_current_ma), C(hat_product), C(poe_hat));
          C(boot_id); C(paths); C(warnings).
      type: dict
      returned: always
      sample:
        boot: {source: /dev/sda2, partition: sda2, disk: sda, transport: usb}
        bridge: {id: "152d:0578", driver: uas, usb_port: "4-1", scsi_host: 0}
        scsi_timeout_s: 30
        watchdog: {present: true, max_timeout_s: 15}
systemd_running:
  description: Whether systemd runs the host (C(/run/systemd/system) exists; false in a chroot).
  returned: always
  type: bool
tuning:
  description: The tuning rules' decisions over these facts.
  returned: always
  type: dict
  contains:
    uas_quirk:
      description:
        - C(apply), C(bridge_id), C(token_value) (merged C(usb-storage.quirks) value to write),
          C(present) (the quirk is already on the command line) and C(reason).
      type: dict
      returned: always
    usb_current:
      description:
        - List of advice items (C(file), C(key), C(current), C(proposed), C(reason)).
        - Empty when the Pi is not PoE-powered or already negotiates 5 A.
      type: list
      returned: always
    poe_powered:
      description: The PoE decision used (from O(poe_powered) or the HAT product string).
      type: bool
      returned: always
    bootloader:
      description: Proposed EEPROM settings, C(key -> {current, proposed, reason}).
      type: dict
      returned: always
    reconnect:
      description: C(count), C(p50_s), C(p95_s), C(max_s), C(status) (no_data/ok/warn/fail) and C(proposals).
      type: dict
      returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_facts, ssd_rules

RULE_ERRORS = (ssd_facts.SsdFactsError, ssd_rules.RuleInputError)


def _read_optional(module, path, command, label, warnings):
    """Text from ``path`` or from running ``command`` when present; ``(text, source)``."""
    if path:
        try:
            with open(path) as handle:
                return handle.read(), path
        except (IOError, OSError) as exc:
            module.fail_json(msg="%s: cannot read %s: %s; fix the path or unset it" % (label, path, exc))
    binary = module.get_bin_path(command[0])
    if not binary:
        return None, None
    rc, out, err = module.run_command([binary] + command[1:])
    if rc != 0:
        warnings.append("%s: %s exited %d: %s" % (label, command[0], rc, err.strip()[:200]))
        return None, None
    return out, command[0]


def tuning(facts, params):
    bridge = facts["bridge"]
    log = facts["kernel_log"]
    cmdline = facts["cmdline"] or {}
    poe = params["poe_powered"]
    poe_powered = facts["power"]["poe_hat"] if poe == "auto" else poe == "true"
    quirk = ssd_rules.uas_quirk(
        bridge,
        log["bridge"],
        current_quirks=cmdline.get("uas_quirks"),
        allow_list=params["uas_quirk_allow_list"],
        deny_list=params["uas_quirk_deny_list"],
        min_events=params["uas_evidence_min_events"],
    )
    advice = ssd_rules.usb_current(
        poe_powered,
        facts["power"]["max_current_ma"],
        (facts["config_txt"] or {}).get("settings"),
        facts["eeprom"]["settings"],
    )
    boot = ssd_rules.bootloader(facts["boot"]["transport"], facts["eeprom"]["settings"], log["bridge"], advice)
    profile = {
        "stop_timeout_s": params["stop_timeout_s"],
        "uas_quirk_applied": quirk["apply"] or quirk["present"],
        "boot_order_proposed": "BOOT_ORDER" in boot,
    }
    reconnect = ssd_rules.reconnect(
        params["reconnect_seconds"],
        baseline_s=params["reconnect_baseline_s"],
        ceiling_s=params["reconnect_ceiling_s"],
        facts=facts,
        profile=profile,
    )
    return {"uas_quirk": quirk, "usb_current": advice, "poe_powered": poe_powered, "bootloader": boot,
            "reconnect": reconnect}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysfs_root=dict(type="path", default="/sys"),
            proc_root=dict(type="path", default="/proc"),
            dev_root=dict(type="path", default="/dev"),
            boot_dir=dict(type="path", default="/boot/firmware"),
            kernel_log_path=dict(type="path"),
            eeprom_config_path=dict(type="path"),
            require_boot_files=dict(type="bool", default=True),
            uas_quirk_allow_list=dict(type="list", elements="str", default=[]),
            uas_quirk_deny_list=dict(type="list", elements="str", default=[]),
            uas_evidence_min_events=dict(type="int", default=1),
            poe_powered=dict(type="str", choices=["auto", "true", "false"], default="auto"),
            reconnect_seconds=dict(type="list", elements="raw", default=[]),
            reconnect_baseline_s=dict(type="float", default=90),
            reconnect_ceiling_s=dict(type="float", default=150),
            stop_timeout_s=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    warnings = []
    log_text, log_source = _read_optional(module, params["kernel_log_path"], ["dmesg"], "kernel log", warnings)
    eeprom_text, eeprom_source = _read_optional(
        module, params["eeprom_config_path"], ["rpi-eeprom-config"], "EEPROM config", warnings
    )
    paths = dict((key, params[key]) for key in ssd_facts.DEFAULT_PATHS)
    try:
        facts = ssd_facts.gather(
            paths,
            kernel_log_text=log_text,
            kernel_log_source=log_source,
            eeprom_text=eeprom_text,
            eeprom_source=eeprom_source,
            require_boot_files=params["require_boot_files"],
        )
        facts["warnings"] = warnings + facts["warnings"]
        decisions = tuning(facts, params)
    except RULE_ERRORS as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    for warning in facts["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"infoscreen_ssd": facts}, tuning=decisions,
                     systemd_running=os.path.isdir("/run/systemd/system"))


if __name__ == "__main__":
    main()
