# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tuning rules for Pi 5 USB-SATA boot SSDs, as pure functions over facts.

Each rule returns plain data saying what it proposes and why; applying anything is the
role's job and is gated by explicit variables. The README of roles/ssd_timeouts has the
table of these rules. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_cmdline, ssd_kernel_log

RECONNECT_BASELINE_S = 90.0
RECONNECT_CEILING_S = 150.0
UAS_EVIDENCE_MIN_EVENTS = 1
USB_BOOT_MODE = "4"
_BRIDGE_ID = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")
MSD_DISCOVER_TIMEOUT_MS = 20000
MSD_STARTUP_DELAY_MS = 3000
FULL_CURRENT_MA = 5000


class RuleInputError(ValueError):
    """An input to a rule is malformed; the message names it and what to do."""


def normalize_bridge_ids(ids, name="ssd_timeouts_uas_quirk_allow_list"):
    out = []
    for raw in ids or ():
        ident = str(raw).strip().lower()
        if not _BRIDGE_ID.match(ident):
            raise RuleInputError("%s: %r is not VID:PID (4 hex digits each, e.g. 152d:0578)" % (name, raw))
        out.append(ident)
    return out


def _quirk(apply, ident, reason, token_value=None, present=False):
    return {"apply": apply, "bridge_id": ident, "token_value": token_value, "present": present, "reason": reason}


def uas_quirk(bridge, evidence_counts, *, current_quirks=None, allow_list=None, deny_list=None,
              min_events=UAS_EVIDENCE_MIN_EVENTS):
    """Decide whether the boot bridge gets ``usb-storage.quirks=VID:PID:u``.

    Only with evidence for *that* bridge (UAS aborts/resets attributed to it while it runs on
    ``uas``) or when the operator allow-lists its id; never for a bridge on the deny list;
    never without a bridge. An existing quirk for the bridge is kept (with it UAS is off, so
    the evidence is gone). Returns ``{apply, bridge_id, token_value, present, reason}``;
    ``token_value`` is the merged value of the quirks token to write when ``apply``.
    """
    allow = normalize_bridge_ids(allow_list)
    deny = normalize_bridge_ids(deny_list, "ssd_timeouts_uas_quirk_deny_list")
    if not bridge or not bridge.get("id"):
        return _quirk(False, None, "boot disk is not behind a USB bridge: no UAS quirk")
    ident = bridge["id"].lower()
    existing = dict(ssd_cmdline.parse_quirks(current_quirks)) if current_quirks else {}
    if "u" in existing.get(ident, ""):
        return _quirk(False, ident, "quirk for %s already on the kernel command line: kept as is" % ident,
                      present=True)
    if ident in deny:
        return _quirk(False, ident, "%s is on the deny list: no UAS quirk whatever the evidence" % ident)
    events = ssd_kernel_log.uas_trouble(evidence_counts or {})
    threshold = max(1, int(min_events))
    if ident in allow:
        reason = "%s is on the allow list" % ident
    elif events >= threshold and bridge.get("driver") == "uas":
        reason = "%d UAS abort/reset events for %s in the kernel log (threshold %d)" % (events, ident, threshold)
    elif events >= threshold:
        return _quirk(False, ident, "UAS events logged but %s is not driven by uas now (driver %s): no quirk"
                      % (ident, bridge.get("driver")))
    else:
        return _quirk(False, ident, "no evidence of UAS trouble for %s (%d events, threshold %d) and not"
                      " allow-listed: no UAS quirk" % (ident, events, threshold))
    return _quirk(True, ident, reason, token_value=ssd_cmdline.merge_quirk(current_quirks, ident))


def usb_current(poe_powered, max_current_ma=None, config_settings=None, eeprom_settings=None):
    """Advice for the Pi 5 USB current cap (600 mA unless a 5 A supply is negotiated).

    A PoE HAT does not negotiate USB-PD, so the firmware assumes a weak supply and caps USB
    at 600 mA, which a USB-SATA SSD can exceed under load (brown-outs look like disconnects).
    Returns a list of ``{file, key, current, proposed, reason}``; empty when nothing to advise.
    """
    if not poe_powered:
        return []
    if max_current_ma is not None and int(max_current_ma) >= FULL_CURRENT_MA:
        return []
    config_settings = config_settings or {}
    eeprom_settings = eeprom_settings or {}
    advice = []
    if str(config_settings.get("usb_max_current_enable", "0")).strip() != "1":
        advice.append({
            "file": "config.txt", "key": "usb_max_current_enable",
            "current": config_settings.get("usb_max_current_enable"), "proposed": "1",
            "reason": "PoE-powered: lift the 600 mA USB cap so the SSD does not brown out"
                      " (only with a PoE+ HAT able to deliver 5 A)",
        })
    if str(eeprom_settings.get("PSU_MAX_CURRENT", "")).strip() != str(FULL_CURRENT_MA):
        advice.append({
            "file": "eeprom", "key": "PSU_MAX_CURRENT",
            "current": eeprom_settings.get("PSU_MAX_CURRENT"), "proposed": str(FULL_CURRENT_MA),
            "reason": "PoE-powered: tell the bootloader the supply is 5 A so USB boot gets full current",
        })
    return advice


def usb_first_boot_order(boot_order):
    """``0xf461`` -> ``0xf614``: USB MSD (4) tried first, the other modes kept in order."""
    text = str(boot_order).strip().lower()
    if not re.match(r"^0x[0-9a-f]{1,8}$", text):
        raise RuleInputError("BOOT_ORDER %r is not a hex value like 0xf461" % boot_order)
    modes = list(reversed(text[2:]))  # the lowest nibble is tried first
    if modes and modes[0] == USB_BOOT_MODE:
        return text
    if USB_BOOT_MODE in modes:
        modes.remove(USB_BOOT_MODE)
    modes.insert(0, USB_BOOT_MODE)
    return "0x" + "".join(reversed(modes))


def _int_setting(settings, key):
    raw = settings.get(key)
    if raw is None:
        return None
    try:
        return int(str(raw), 0)
    except ValueError:
        raise RuleInputError("EEPROM %s=%r is not a number" % (key, raw)) from None


def bootloader(transport, eeprom_settings, evidence_counts=None, usb_advice=None):
    """Proposed bootloader EEPROM settings for a USB-booting Pi 5: ``{key: {current, proposed, reason}}``.

    - BOOT_ORDER: USB first, so a USB boot does not first wait for SD/NVMe probes.
    - USB_MSD_DISCOVER_TIMEOUT: never below the 20 s default for a USB boot.
    - USB_MSD_STARTUP_DELAY: 3 s when the bridge logs resets/disconnects (slow to come up).
    - PSU_MAX_CURRENT: from the USB current advice (PoE-powered Pis).
    """
    settings = eeprom_settings or {}
    counts = evidence_counts or {}
    out = {}
    if transport == "usb":
        current = settings.get("BOOT_ORDER")
        proposed = usb_first_boot_order(current if current else "0xf461")
        if current is None or proposed != str(current).strip().lower():
            out["BOOT_ORDER"] = {"current": current, "proposed": proposed,
                                 "reason": "boot disk is on USB: try USB mass storage first"}
        discover = _int_setting(settings, "USB_MSD_DISCOVER_TIMEOUT")
        if discover is not None and discover < MSD_DISCOVER_TIMEOUT_MS:
            out["USB_MSD_DISCOVER_TIMEOUT"] = {
                "current": settings.get("USB_MSD_DISCOVER_TIMEOUT"), "proposed": str(MSD_DISCOVER_TIMEOUT_MS),
                "reason": "below the 20 s default: a slow bridge is given up on and the boot falls through"}
        delay = _int_setting(settings, "USB_MSD_STARTUP_DELAY") or 0
        flaky = counts.get("usb_reset", 0) + counts.get("usb_disconnect", 0)
        if flaky and delay < MSD_STARTUP_DELAY_MS:
            out["USB_MSD_STARTUP_DELAY"] = {
                "current": settings.get("USB_MSD_STARTUP_DELAY"), "proposed": str(MSD_STARTUP_DELAY_MS),
                "reason": "%d USB resets/disconnects of the boot bridge: give it time to power up" % flaky}
    for item in usb_advice or ():
        if item["file"] == "eeprom":
            out[item["key"]] = {"current": item["current"], "proposed": item["proposed"], "reason": item["reason"]}
    return out


def _validate_seconds(values, name):
    if values is None:
        return []
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise RuleInputError("%s must be a list of seconds (numbers), got %s" % (name, type(values).__name__))
    out = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RuleInputError("%s[%d] = %r is not a number of seconds" % (name, index, value))
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise RuleInputError("%s[%d] = %r must be a finite number >= 0" % (name, index, value))
        out.append(float(value))
    return out


def percentile(values, pct):
    """Nearest-rank percentile (no interpolation: the value is one that was measured)."""
    ordered = sorted(values)
    rank = max(1, int(math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]


def reconnect(seconds, *, baseline_s=RECONNECT_BASELINE_S, ceiling_s=RECONNECT_CEILING_S, facts=None,
              profile=None, name="ssd_timeouts_reconnect_seconds"):
    """Judge measured reconnect times and propose adjustments when p95 > baseline.

    ``facts`` (pi_ssd_facts output) and ``profile`` (``{stop_timeout_s, uas_quirk_applied,
    boot_order_proposed}``) let the proposals name concrete knobs. Status: ``no_data``,
    ``ok`` (p95 <= baseline), ``warn`` (baseline < p95 <= ceiling), ``fail`` (p95 > ceiling).
    """
    values = _validate_seconds(seconds, name)
    if baseline_s <= 0 or ceiling_s < baseline_s:
        raise RuleInputError(
            "reconnect baseline %r / ceiling %r: need 0 < baseline <= ceiling" % (baseline_s, ceiling_s))
    result = {"count": len(values), "baseline_s": baseline_s, "ceiling_s": ceiling_s,
              "p50_s": None, "p95_s": None, "max_s": None, "status": "no_data", "proposals": []}
    if not values:
        return result
    p95 = percentile(values, 95)
    result.update(p50_s=percentile(values, 50), p95_s=p95, max_s=max(values))
    if p95 <= baseline_s:
        result["status"] = "ok"
        return result
    result["status"] = "fail" if p95 > ceiling_s else "warn"
    facts = facts or {}
    profile = profile or {}
    proposals = result["proposals"]
    over = p95 - baseline_s
    stop = profile.get("stop_timeout_s")
    if stop is not None and stop > 10:
        proposals.append({"knob": "ssd_timeouts_default_timeout_stop_s", "current": stop, "proposed": 10,
                          "reason": "p95 %.0f s is %.0f s over the baseline: a hung unit at shutdown waits"
                                    " up to the stop timeout" % (p95, over)})
    log = facts.get("kernel_log") or {}
    if log.get("uas_trouble") and not profile.get("uas_quirk_applied"):
        proposals.append({"knob": "ssd_timeouts_uas_quirk_allow_list", "current": None,
                          "proposed": (facts.get("bridge") or {}).get("id"),
                          "reason": "UAS errors logged for the boot bridge and reconnects are slow:"
                                    " review and allow-list the UAS quirk"})
    if profile.get("boot_order_proposed"):
        proposals.append({"knob": "ssd_timeouts_eeprom_write", "current": False, "proposed": True,
                          "reason": "BOOT_ORDER is not USB-first: the bootloader probes other media before"
                                    " the SSD on every boot"})
    if not proposals:
        proposals.append({"knob": None, "current": None, "proposed": None,
                          "reason": "p95 %.0f s over the baseline with no known SSD cause: check the app and"
                                    " network start-up (journalctl -b, systemd-analyze blame)" % p95})
    return result


def scsi_timeout_fits(scsi_timeout_s, budget_s=RECONNECT_BASELINE_S, recovery_s=10):
    """One stuck command plus a bridge reset must fit in a third of the reconnect budget."""
    return 0 < scsi_timeout_s and scsi_timeout_s + recovery_s <= budget_s / 3.0


def stop_timeout_fits(stop_timeout_s, abort_timeout_s, budget_s=RECONNECT_BASELINE_S, boot_s=45):
    """A hung unit's stop + abort time plus the boot must fit in the reconnect budget."""
    return stop_timeout_s > 0 and stop_timeout_s + abort_timeout_s + boot_s <= budget_s
