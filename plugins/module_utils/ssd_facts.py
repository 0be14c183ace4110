# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about a Pi's boot SSD, read from configurable roots so tests can use fixture trees.

``gather(paths, kernel_log_text, eeprom_text)`` reads sysfs, procfs, /dev and the boot
partition below the given roots; the caller (the module) decides where the kernel log and
EEPROM texts come from, because running ``dmesg``/``rpi-eeprom-config`` is the module's job.

Unreadable optional sources are reported in ``warnings``; a missing or unparsable
cmdline.txt/config.txt raises (``SsdFactsError``) when ``require_boot_files`` is true,
because the role must not edit anything on doubt.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import struct

from ansible_collections.infoscreen.fleet.plugins.module_utils import (
    ssd_cmdline,
    ssd_config_txt,
    ssd_kernel_log,
)

DEFAULT_PATHS = {
    "sysfs_root": "/sys",
    "proc_root": "/proc",
    "dev_root": "/dev",
    "boot_dir": "/boot/firmware",
}
CONFIG_KEYS = ("usb_max_current_enable", "dtparam", "dtoverlay", "auto_initramfs")
EEPROM_KEYS = (
    "BOOT_ORDER",
    "USB_MSD_DISCOVER_TIMEOUT",
    "USB_MSD_STARTUP_DELAY",
    "USB_MSD_PWR_OFF_TIME",
    "USB_MSD_LUN_TIMEOUT",
    "PSU_MAX_CURRENT",
    "POWER_OFF_ON_HALT",
)
_PARTITION = re.compile(r"^(mmcblk\d+|nvme\d+n\d+)p\d+$|^(sd[a-z]+)\d+$")
_USB_DEVICE_DIR = re.compile(r"^\d+-[\d.]+$")
_USB_INTERFACE_DIR = re.compile(r"^\d+-[\d.]+:\d+\.\d+$")
_SCSI_HOST_DIR = re.compile(r"^host(\d+)$")


class SsdFactsError(ValueError):
    """A file the role must be able to trust is missing or unparsable."""


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _read_text(path):
    data = _read(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _strip(path):
    text = _read_text(path)
    return text.strip().strip("\x00").strip() if text is not None else None


def _int(path):
    text = _strip(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _join(root, *parts):
    return os.path.join(root, *[p.lstrip("/") for p in parts])


def _root_source(proc_root, dev_root):
    """The device mounted on / from mounts, falling back to root= on the kernel command line."""
    source = None
    mounts = _read_text(_join(proc_root, "mounts")) or ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "/":
            source = fields[0]
    if source and source.startswith("/dev/") and source != "/dev/root":
        return source, "mounts"
    cmdline = _read_text(_join(proc_root, "cmdline")) or ""
    for token in cmdline.split():
        if token.startswith("root="):
            value = token[len("root=") :]
            if value.startswith("PARTUUID="):
                link = _join(dev_root, "disk/by-partuuid", value[len("PARTUUID=") :])
                if os.path.lexists(link):
                    return "/dev/" + os.path.basename(os.path.realpath(link)), "cmdline"
                return value, "cmdline"
            return value, "cmdline"
    return source, "mounts" if source else None


def _disk_of(sysfs_root, partition):
    class_dir = _join(sysfs_root, "class/block", partition)
    if os.path.exists(os.path.join(class_dir, "partition")):
        return os.path.basename(os.path.dirname(os.path.realpath(class_dir)))
    if os.path.exists(_join(sysfs_root, "block", partition)):
        return partition
    match = _PARTITION.match(partition)
    if match:
        return match.group(1) or match.group(2)
    return partition


def _usb_chain(sysfs_root, disk):
    """Walk up from the disk's sysfs device to its USB device, interface and SCSI host."""
    info = {"usb_dir": None, "interface_dir": None, "scsi_host": None}
    path = os.path.realpath(_join(sysfs_root, "block", disk))
    top = os.path.realpath(sysfs_root)
    while path.startswith(top) and path != top:
        name = os.path.basename(path)
        host = _SCSI_HOST_DIR.match(name)
        if host and info["scsi_host"] is None:
            info["scsi_host"] = int(host.group(1))
        if _USB_INTERFACE_DIR.match(name) and info["interface_dir"] is None:
            info["interface_dir"] = path
        if _USB_DEVICE_DIR.match(name) and os.path.exists(os.path.join(path, "idVendor")):
            info["usb_dir"] = path
            break
        path = os.path.dirname(path)
    return info


def transport_of(disk, usb_dir):
    if disk.startswith("mmcblk"):
        return "sd"
    if disk.startswith("nvme"):
        return "nvme"
    if usb_dir:
        return "usb"
    return "unknown"


def disk_facts(sysfs_root, disk):
    """Transport, bridge id, driver and SCSI timeout of one block device."""
    chain = _usb_chain(sysfs_root, disk)
    facts = {
        "disk": disk,
        "transport": transport_of(disk, chain["usb_dir"]),
        "scsi_timeout_s": _int(_join(sysfs_root, "block", disk, "device/timeout")),
        "bridge": None,
    }
    usb_dir = chain["usb_dir"]
    if usb_dir:
        vendor = (_strip(os.path.join(usb_dir, "idVendor")) or "").lower()
        product = (_strip(os.path.join(usb_dir, "idProduct")) or "").lower()
        driver = None
        if chain["interface_dir"]:
            link = os.path.join(chain["interface_dir"], "driver")
            if os.path.lexists(link):
                driver = os.path.basename(os.path.realpath(link))
        facts["bridge"] = {
            "id": "%s:%s" % (vendor, product),
            "vendor_id": vendor,
            "product_id": product,
            "manufacturer": _strip(os.path.join(usb_dir, "manufacturer")),
            "product": _strip(os.path.join(usb_dir, "product")),
            "usb_port": os.path.basename(usb_dir),
            "speed_mbps": _int(os.path.join(usb_dir, "speed")),
            "driver": driver,
            "scsi_host": chain["scsi_host"],
        }
    return facts


def _usb_disks(sysfs_root):
    block = _join(sysfs_root, "block")
    try:
        names = sorted(os.listdir(block))
    except OSError:
        return []
    out = []
    for name in names:
        if name.startswith(("loop", "ram", "zram", "dm-", "md")):
            continue
        facts = disk_facts(sysfs_root, name)
        if facts["transport"] == "usb":
            out.append(facts)
    return out


def _watchdog(sysfs_root, dev_root):
    sys_dir = _join(sysfs_root, "class/watchdog/watchdog0")
    device = _join(dev_root, "watchdog0")
    present = os.path.exists(sys_dir) or os.path.lexists(device)
    return {
        "present": present,
        "device": "/dev/watchdog0" if present else None,
        "identity": _strip(os.path.join(sys_dir, "identity")),
        "timeout_s": _int(os.path.join(sys_dir, "timeout")),
        "max_timeout_s": _int(os.path.join(sys_dir, "max_timeout")),
    }


def _power(proc_root):
    tree = _join(proc_root, "device-tree")
    raw = _read(os.path.join(tree, "chosen/power/max_current"))
    max_current = struct.unpack(">I", raw[:4])[0] if raw is not None and len(raw) >= 4 else None
    hat_product = _strip(os.path.join(tree, "hat/product"))
    return {
        "max_current_ma": max_current,
        "hat_product": hat_product,
        "poe_hat": bool(hat_product and "poe" in hat_product.lower()),
    }


def cmdline_facts(text, path):
    tokens = ssd_cmdline.parse_cmdline(text, path)
    values = dict((ssd_cmdline.token_key(t), t.split("=", 1)[1] if "=" in t else True) for t in tokens)
    return {
        "path": path,
        "tokens": tokens,
        "root": values.get("root"),
        "rootwait": "rootwait" in values,
        "uas_quirks": values.get(ssd_cmdline.UAS_QUIRKS_KEY),
    }


def config_facts(text, path):
    entries = ssd_config_txt.parse(text, path)
    settings = ssd_config_txt.effective(entries)
    return {"path": path, "settings": dict((k, settings[k]) for k in CONFIG_KEYS if k in settings)}


def eeprom_facts(text, source):
    if text is None:
        return {"available": False, "source": None, "settings": {}}
    settings = ssd_config_txt.effective(ssd_config_txt.parse(text, source or "EEPROM config"))
    return {
        "available": True,
        "source": source,
        "settings": dict((k, settings[k]) for k in EEPROM_KEYS if k in settings),
    }


def _boot_file(boot_dir, name, parse, require, warnings):
    path = os.path.join(boot_dir, name)
    text = _read_text(path)
    try:
        return parse(text, path)
    except (ssd_cmdline.CmdlineError, ssd_config_txt.ConfigTxtError) as exc:
        if require:
            raise SsdFactsError(str(exc)) from None
        warnings.append(str(exc))
        return None


def gather(paths=None, *, kernel_log_text=None, kernel_log_source=None, eeprom_text=None, eeprom_source=None,
           require_boot_files=True):
    """All SSD facts as one JSON-ready dict (see the pi_ssd_facts module's RETURN)."""
    roots = dict(DEFAULT_PATHS)
    roots.update(dict((k, v) for k, v in (paths or {}).items() if v))
    warnings = []
    source, source_from = _root_source(roots["proc_root"], roots["dev_root"])
    boot = {"source": source, "source_from": source_from, "partition": None, "disk": None, "transport": "unknown"}
    disk = None
    if source and source.startswith("/dev/"):
        boot["partition"] = os.path.basename(source)
        disk = _disk_of(roots["sysfs_root"], boot["partition"])
        boot["disk"] = disk
    else:
        warnings.append("cannot tell the boot device from %s/mounts or the kernel command line" % roots["proc_root"])
    boot_disk = disk_facts(roots["sysfs_root"], disk) if disk else None
    if boot_disk:
        boot["transport"] = boot_disk["transport"]
    bridge = boot_disk["bridge"] if boot_disk else None
    log = ssd_kernel_log.scan(
        kernel_log_text,
        disk=disk,
        port=bridge["usb_port"] if bridge else None,
        host=bridge["scsi_host"] if bridge else None,
    )
    if kernel_log_text is None:
        warnings.append("no kernel log read: trouble evidence is unknown, so no evidence-based tuning applies")
    eeprom = None
    try:
        eeprom = eeprom_facts(eeprom_text, eeprom_source)
    except ssd_config_txt.ConfigTxtError as exc:
        warnings.append("EEPROM config not understood: %s" % exc)
        eeprom = {"available": False, "source": eeprom_source, "settings": {}}
    require = require_boot_files
    return {
        "boot": boot,
        "bridge": bridge,
        "scsi_timeout_s": boot_disk["scsi_timeout_s"] if boot_disk else None,
        "usb_disks": _usb_disks(roots["sysfs_root"]),
        "kernel_log": {
            "source": kernel_log_source if kernel_log_text is not None else None,
            "bridge": log["bridge"],
            "other": log["other"],
            "uas_trouble": ssd_kernel_log.uas_trouble(log["bridge"]),
            "samples": log["samples"],
            "bridge_id_in_log": log["usb_ids"].get(bridge["usb_port"]) if bridge else None,
        },
        "cmdline": _boot_file(roots["boot_dir"], "cmdline.txt", cmdline_facts, require, warnings),
        "config_txt": _boot_file(roots["boot_dir"], "config.txt", config_facts, require, warnings),
        "eeprom": eeprom,
        "watchdog": _watchdog(roots["sysfs_root"], roots["dev_root"]),
        "power": _power(roots["proc_root"]),
        "boot_id": _strip(_join(roots["proc_root"], "sys/kernel/random/boot_id")),
        "paths": roots,
        "warnings": warnings,
    }
