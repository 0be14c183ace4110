#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Query, switch or power-cycle one PoE port over SNMP (RFC 3621 / Cisco)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: poe_port
short_description: Query, switch on/off or power-cycle a PoE switch port over SNMP
description:
  - Reads and writes RFC 3621 C(pethPsePortAdminEnable) (or Cisco C(cpeExtPsePortEnable)) for one
    PSE group/port and verifies power with C(pethPsePortDetectionStatus).
  - O(state=cycle) switches the port off, waits O(off_time), switches it on and succeeds only when
    AdminEnable reads back on and DetectionStatus reaches C(deliveringPower) within O(verify_timeout).
  - During the off time of a cycle DetectionStatus is read every O(poll_interval) (at most every 0.5 s); if it never
    leaves C(deliveringPower) the cycle returns RV(power_cut_unverified=true) with a warning instead of a clean success.
  - After any "off" of a cycle the port is switched back on on every exit path (errors, SIGTERM,
    SIGINT, SIGHUP). If that fails the module fails with C(error_code=port_left_dark), naming the
    switch and port left dark.
  - Before the "off" an intent marker is written in O(intent_dir) and removed after the verified "on".
    A run killed with SIGKILL leaves the marker; the next run for that port (any state except
    C(off), O(heal_interrupted=true)) switches the port back on first and reports
    RV(interrupted_run). Always run this module on the controller (C(delegate_to=localhost)) with
    the same O(intent_dir).
  - Check mode reads the port and reports what would change; it never writes.
version_added: "0.1.0"
author: infoscreen-fleet maintainers (!UNKNOWN)
extends_documentation_fragment:
  - infoscreen.fleet.snmp
  - infoscreen.fleet.ledger
options:
  switch:
    description:
      - Address or DNS name of the switch's SNMP agent (inventory C(infoscreen_poe_switch)).
      - C(host:port) (one colon) sets the SNMP port too, overriding O(snmp_port).
    type: str
    required: true
  port:
    description: PSE port index, C(pethPsePortIndex) (inventory C(infoscreen_poe_port)).
    type: int
    required: true
  group:
    description: PSE group index, C(pethPsePortGroupIndex), usually the stack member (C(infoscreen_poe_group)).
    type: int
    default: 1
  state:
    description:
      - C(query) reads the port; C(on)/C(off) set AdminEnable (idempotent); C(cycle) is off, wait, on, verify.
      - C(off) leaves the port dark on purpose and removes a stale intent marker for it.
    type: str
    choices: [query, 'on', 'off', cycle]
    default: query
  profile:
    description:
      - C(standard) writes RFC 3621 C(pethPsePortAdminEnable) true(1)/false(2).
      - C(cisco) writes C(cpeExtPsePortEnable) auto(1)/disable(4) (CISCO-POWER-ETHERNET-EXT-MIB).
    type: str
    choices: [standard, cisco]
    default: standard
  off_time:
    description: Seconds the port stays off during a cycle. Operators use 5 to 10 s so the client fully loses power.
    type: float
    default: 8.0
  verify_timeout:
    description:
      - Seconds to wait after power-on for AdminEnable on and DetectionStatus C(deliveringPower);
        also the time allowed for switching a port back on after a failure.
    type: float
    default: 30.0
  poll_interval:
    description: Seconds between reads while verifying.
    type: float
    default: 1.0
  intent_dir:
    description:
      - Directory on the controller for the per-port intent markers and locks (mode 0700).
      - Default E(INFOSCREEN_POE_INTENT_DIR), else C($XDG_STATE_HOME/infoscreen-fleet/poe-intent)
        (C(~/.local/state/infoscreen-fleet/poe-intent)).
    type: path
  heal_interrupted:
    description: Switch the port back on first when an earlier run left its intent marker (it died between off and on).
    type: bool
    default: true
  client_uuid:
    description:
      - UUID of the client the port feeds. When set, O(state=cycle) is a reboot-class step C(poe_cycle) in the
        controller's ledger - checked against the safety lockout first (a refused cycle never reaches the
        switch and fails with C(error_code=blocked)), then recorded with its transitions.
    type: str
  client_host:
    description: Inventory hostname recorded with the ledger step.
    type: str
  reason:
    description: Why the cycle is done, recorded in the ledger.
    type: str
  override_lockout_reason:
    description: Cycle even where the lockout refuses, for this stated reason (logged in the ledger).
    type: str
  lockout_limit:
    description: Reboot-class steps allowed per client in O(lockout_window_s).
    type: int
    default: 3
  lockout_window_s:
    description: The rolling lockout window in seconds.
    type: float
    default: 900
  cooldown_s:
    description: Seconds a client waits after a failed reboot-class step before this one may run.
    type: float
    default: 60
notes:
  - Supports check mode (reads only).
  - A timeout means the switch is unreachable or the community/credentials are wrong; SNMP cannot tell these apart.
"""

EXAMPLES = r"""
- name: Power-cycle the client's PoE port
  infoscreen.fleet.poe_port:
    switch: "{{ infoscreen_poe_switch }}"
    group: "{{ infoscreen_poe_group | default(1) }}"
    port: "{{ infoscreen_poe_port }}"
    state: cycle
    off_time: 8
    snmp_community: "{{ vault_poe_community }}"
  delegate_to: localhost

- name: Read a port over SNMPv3 on a Cisco switch
  infoscreen.fleet.poe_port:
    switch: sw-lobby.example
    port: 12
    profile: cisco
    snmp_version: "3"
    snmp_v3_user: poe-ops
    snmp_v3_auth_key: "{{ vault_snmp_auth }}"
    snmp_v3_priv_key: "{{ vault_snmp_priv }}"
  delegate_to: localhost
  register: poe
"""

RETURN = r"""
switch:
  description: The switch and SNMP port the module talked to.
  returned: always
  type: str
  sample: "sw-lobby.example:161"
group:
  description: PSE group index.
  returned: always
  type: int
port:
  description: PSE port index.
  returned: always
  type: int
profile:
  description: Vendor profile used.
  returned: always
  type: str
state:
  description: The requested state.
  returned: always
  type: str
before:
  description: The port as read before any write.
  returned: success
  type: dict
  contains:
    admin_enabled: {description: AdminEnable reads on, type: bool}
    admin_value: {description: Raw value of the admin object, type: int}
    detection_status: {description: "pethPsePortDetectionStatus name, e.g. deliveringPower", type: str}
    detection_value: {description: Raw DetectionStatus value, type: int}
  sample: {admin_enabled: true, admin_value: 1, detection_status: deliveringPower, detection_value: 3}
after:
  description: The port as read at the end (same keys as RV(before)); equals RV(before) in check mode.
  returned: success
  type: dict
off_time_s:
  description: Measured seconds between the off and the on write of a cycle.
  returned: when state=cycle and not in check mode
  type: float
power_on_s:
  description: Seconds from the on write until DetectionStatus read deliveringPower.
  returned: when the module switched a port on and verified it
  type: float
power_cut:
  description:
    - Evidence that a cycle cut the power, from C(pethPsePortDetectionStatus) read during the off time.
    - C(verified) is true when some read showed a status other than C(deliveringPower).
  returned: when state=cycle and not in check mode
  type: dict
  contains:
    verified: {description: Some read during the off time showed the power cut, type: bool}
    reads: {description: Successful reads during the off time, type: int}
    seen: {description: DetectionStatus names read during the off time, type: list, elements: str}
  sample: {verified: true, reads: 8, seen: [disabled]}
power_cut_unverified:
  description:
    - True when DetectionStatus never left C(deliveringPower) during the off time, so there is no evidence
      that the client lost power (a warning C(power_cut_unverified) is shown and the ledger step's
      C(error_code) says so); the port is still switched back on and verified.
  returned: when state=cycle and not in check mode
  type: bool
duration_s:
  description: Wall time of the module's work.
  returned: success
  type: float
interrupted_run:
  description: The intent marker of an earlier run that died between off and on (null when none).
  returned: always
  type: dict
ledger_command_id:
  description: The ledger's id of the C(poe_cycle) step (with O(client_uuid), when a step was recorded).
  returned: when a cycle was recorded in the ledger
  type: str
lockout:
  description: The lockout decision the cycle would meet (check mode with O(client_uuid)).
  returned: check mode with client_uuid
  type: dict
healed_interrupted_run:
  description: True when this run found such a marker and switched the port back on (or would, in check mode).
  returned: always
  type: bool
error_code:
  description: >-
    On failure: snmp_timeout, snmp_auth, snmp_not_writable, snmp_wrong_type, snmp_no_such_instance,
    snmp_error, verify_timeout, interrupted, port_busy, port_left_dark, blocked, ledger_error, invalid_argument.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.infoscreen.fleet.plugins.module_utils import poe_snmp
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import (
    LedgerError,
    default_path,
    display_spec,
    url_password,
)
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_cycle import PortController, run_port_action
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_intent import default_intent_dir
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_ledger import LedgerStep
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_profiles import get_profile


def argument_spec():
    return dict(
        switch=dict(type="str", required=True),
        port=dict(type="int", required=True),
        group=dict(type="int", default=1),
        state=dict(type="str", default="query", choices=["query", "on", "off", "cycle"]),
        profile=dict(type="str", default="standard", choices=["standard", "cisco"]),
        off_time=dict(type="float", default=8.0),
        verify_timeout=dict(type="float", default=30.0),
        poll_interval=dict(type="float", default=1.0),
        intent_dir=dict(type="path"),
        heal_interrupted=dict(type="bool", default=True),
        client_uuid=dict(type="str"),
        client_host=dict(type="str"),
        reason=dict(type="str"),
        override_lockout_reason=dict(type="str"),
        lockout_limit=dict(type="int", default=3),
        lockout_window_s=dict(type="float", default=900.0),
        cooldown_s=dict(type="float", default=60.0),
        ledger=dict(type="path"),
        snmp_port=dict(type="int", default=161),
        snmp_version=dict(type="str", default="2c", choices=["2c", "3"]),
        snmp_community=dict(type="str", no_log=True, fallback=(env_fallback, ["INFOSCREEN_SNMP_COMMUNITY"])),
        snmp_v3_user=dict(type="str", fallback=(env_fallback, ["INFOSCREEN_SNMP_V3_USER"])),
        snmp_v3_auth_key=dict(type="str", no_log=True, fallback=(env_fallback, ["INFOSCREEN_SNMP_V3_AUTH_KEY"])),
        snmp_v3_auth_protocol=dict(type="str", default="sha", choices=list(poe_snmp.AUTH_PROTOCOLS)),
        snmp_v3_priv_key=dict(type="str", no_log=True, fallback=(env_fallback, ["INFOSCREEN_SNMP_V3_PRIV_KEY"])),
        snmp_v3_priv_protocol=dict(type="str", default="aes", choices=list(poe_snmp.PRIV_PROTOCOLS)),
        snmp_v3_context=dict(type="str", default=""),
        snmp_timeout=dict(type="float", default=2.0),
        snmp_retries=dict(type="int", default=1),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    ledger_secret = url_password(p["ledger"] or default_path())
    if ledger_secret:  # a PostgreSQL ledger URL with its password: never in the result or the log
        module.no_log_values.add(ledger_secret)
    host, snmp_port = poe_snmp.split_switch_address(p["switch"], p["snmp_port"])
    label = "%s:%d" % (host, snmp_port)
    base = dict(switch=label, group=p["group"], port=p["port"], profile=p["profile"], state=p["state"])
    if not poe_snmp.HAS_PYSNMP:
        module.fail_json(msg=missing_required_lib("pysnmp>=7.1"), exception=str(poe_snmp.PYSNMP_IMPORT_ERROR), **base)

    problems = [name for name in ("port", "group") if p[name] < 1]
    problems += [name for name in ("verify_timeout", "poll_interval", "snmp_timeout") if p[name] <= 0]
    problems += [name for name in ("off_time", "snmp_retries") if p[name] < 0]
    if problems:
        module.fail_json(msg="invalid value for %s on %s: indexes must be >= 1, times > 0, retries >= 0" % (
            ", ".join(problems), label), error_code="invalid_argument", **base)
    try:
        credentials = poe_snmp.SnmpCredentials(
            version=p["snmp_version"], community=p["snmp_community"], user=p["snmp_v3_user"],
            auth_key=p["snmp_v3_auth_key"], auth_protocol=p["snmp_v3_auth_protocol"], priv_key=p["snmp_v3_priv_key"],
            priv_protocol=p["snmp_v3_priv_protocol"], context=p["snmp_v3_context"])
    except ValueError as exc:
        module.fail_json(msg="switch %s: %s" % (label, exc), error_code="invalid_argument", **base)
    if p["state"] == "cycle" and not 5 <= p["off_time"] <= 10:
        module.warn("off_time %.1f s is outside the recommended 5-10 s" % p["off_time"])

    def session_factory():
        return poe_snmp.SnmpSession(host, credentials, port=snmp_port, timeout=p["snmp_timeout"],
                                    retries=p["snmp_retries"], label=label)

    ledger_step = None
    if p["client_uuid"]:
        ledger_step = LedgerStep(p["ledger"], p["client_uuid"], host=p["client_host"], reason=p["reason"],
                                 override_reason=p["override_lockout_reason"], limit=p["lockout_limit"],
                                 window_s=p["lockout_window_s"], cooldown_s=p["cooldown_s"])

    controller = PortController(session_factory, get_profile(p["profile"]), label, p["group"], p["port"],
                                poll_interval=p["poll_interval"])
    try:
        result = run_port_action(
            controller, p["intent_dir"] or default_intent_dir(), (host, snmp_port), p["state"],
            check_mode=module.check_mode, off_time=p["off_time"], verify_timeout=p["verify_timeout"],
            heal_interrupted=p["heal_interrupted"], ledger_step=ledger_step)
    except poe_snmp.PoeError as exc:
        extra = {"ledger_command_id": ledger_step.command_id} if ledger_step and ledger_step.command_id else {}
        module.fail_json(msg=str(exc), error_code=exc.code, **dict(base, **extra))
    except LedgerError as exc:
        module.fail_json(msg="%s: ledger %s: %s" % (controller.where, display_spec(p["ledger"]) or "(default)", exc),
                         error_code="ledger_error", **base)
    finally:
        controller.close()
    if result["interrupted_run"]:
        module.warn("%s: found the intent marker of an interrupted run (%s); %s" % (
            controller.where, result["interrupted_run"].get("operation", "?"),
            "switched the port back on" if result["healed_interrupted_run"] else "left as is"))
    if result.get("power_cut_warning"):
        module.warn(result.pop("power_cut_warning"))
    result.update(base)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
