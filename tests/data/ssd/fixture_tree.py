"""Build a fixture Pi 5 tree (sysfs, procfs, /dev, /boot/firmware, kernel log, EEPROM config).

Laid out like the real thing (a Pi 5 with Raspberry Pi OS Bookworm) so the facts code walks
real symlinks: ``sys/block/sda`` -> ``../devices/.../4-1/4-1:1.0/host0/.../block/sda``.
Standard library only: pytest imports it and molecule's prepare.yml runs it inside the
instance. Usage: ``fixture_tree.py SCENARIO DEST`` (scenarios: see SCENARIOS).
"""

import os
import struct
import sys

USB3_BUS = "devices/platform/axi/1000120000.pcie/1f00300000.usb/xhci-hcd.1/usb4"
MMC_HOST = "devices/platform/axi/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa"
NVME_CTRL = "devices/platform/axi/1000110000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/nvme/nvme0"

CONFIG_TXT = """# For more options and information see
# http://rptl.io/configtxt
dtparam=audio=on
camera_auto_detect=1
display_auto_detect=1
auto_initramfs=1
dtoverlay=vc4-kms-v3d
max_framebuffers=2
disable_fw_kms_setup=1
arm_64bit=1
disable_overscan=1
arm_boost=1

[cm4]
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
"""
EEPROM = """[all]
BOOT_UART=1
POWER_OFF_ON_HALT=0
BOOT_ORDER=0xf461
"""

BOOT_ID = "3c1f0a52-6d0e-4a55-9e53-1f2a7b9d0001"
JMICRON = ("152d", "0578", "JMicron", "USB to ATA/ATAPI Bridge")
ASMEDIA = ("174c", "55aa", "ASMedia", "ASM1051E SATA 6Gb/s bridge")
TROUBLE_LOG = """[    1.321000] usb 4-1: new SuperSpeed USB device number 2 using xhci-hcd
[    1.342000] usb 4-1: New USB device found, idVendor=152d, idProduct=0578, bcdDevice=31.08
[    1.342100] usb 4-1: Product: USB to ATA/ATAPI Bridge
[    1.350000] scsi host0: uas
[    1.351000] scsi 0:0:0:0: Direct-Access     JMicron  Tech             3108 PQ: 0 ANSI: 6
[    1.360000] sd 0:0:0:0: [sda] 976773168 512-byte logical blocks: (500 GB/466 GiB)
[  312.104000] sd 0:0:0:0: [sda] tag#2 uas_eh_abort_handler 0 uas-tag 3 inflight: CMD OUT
[  312.104100] sd 0:0:0:0: [sda] tag#2 CDB: opcode=0x2a 2a 00 02 3c 44 00 00 04 00 00
[  312.120000] scsi host0: uas_eh_device_reset_handler start
[  312.260000] usb 4-1: reset SuperSpeed USB device number 2 using xhci-hcd
[  312.290000] scsi host0: uas_eh_device_reset_handler success
[  640.500000] sd 0:0:0:0: [sda] tag#5 uas_eh_abort_handler 0 uas-tag 6 inflight: CMD IN
[  640.700000] blk_update_request: I/O error, dev sda, sector 37487616 op 0x0:(READ) flags 0x80700
[  700.000000] usb 2-1: USB disconnect, device number 3
"""
CLEAN_LOG = """[    1.321000] usb 4-1: new SuperSpeed USB device number 2 using xhci-hcd
[    1.342000] usb 4-1: New USB device found, idVendor=174c, idProduct=55aa, bcdDevice= 1.00
[    1.350000] scsi host0: uas
[    1.360000] sd 0:0:0:0: [sda] 976773168 512-byte logical blocks: (500 GB/466 GiB)
[    9.100000] usb 2-1: new high-speed USB device number 3 using xhci-hcd
[    9.200000] scsi host1: usb-storage 2-1:1.0
[  420.000000] sd 1:0:0:0: [sdb] tag#0 uas_eh_abort_handler 0 uas-tag 1 inflight: CMD
[  421.000000] Buffer I/O error on dev sdb1, logical block 0, async page read
[  430.000000] usb 2-1: USB disconnect, device number 3
"""


def _write(path, content, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as handle:
        handle.write(content)


def _link(link, target_abs):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(os.path.relpath(target_abs, os.path.dirname(link)), link)


def _block(sys_root, parent_dir, disk, parts, sep=""):
    disk_dir = os.path.join(parent_dir, "block", disk)
    os.makedirs(disk_dir, exist_ok=True)
    _link(os.path.join(sys_root, "block", disk), disk_dir)
    _link(os.path.join(sys_root, "class/block", disk), disk_dir)
    for number in parts:
        part = f"{disk}{sep}{number}"
        part_dir = os.path.join(disk_dir, part)
        _write(os.path.join(part_dir, "partition"), f"{number}\n")
        _link(os.path.join(sys_root, "class/block", part), part_dir)
    return disk_dir


def _usb_disk(sys_root, port, host, disk, *, bridge, driver, timeout=30):
    vid, pid, manufacturer, product = bridge
    usb_dir = os.path.join(sys_root, USB3_BUS, port)
    for name, value in (("idVendor", vid), ("idProduct", pid), ("manufacturer", manufacturer),
                        ("product", product), ("speed", "5000")):
        _write(os.path.join(usb_dir, name), value + "\n")
    interface = os.path.join(usb_dir, port + ":1.0")
    driver_dir = os.path.join(sys_root, "bus/usb/drivers", driver)
    os.makedirs(driver_dir, exist_ok=True)
    _link(os.path.join(interface, "driver"), driver_dir)
    scsi = os.path.join(interface, f"host{host}", f"target{host}:0:0", f"{host}:0:0:0")
    _write(os.path.join(scsi, "timeout"), f"{timeout}\n")
    disk_dir = _block(sys_root, scsi, disk, (1, 2))
    _link(os.path.join(disk_dir, "device"), scsi)


def _proc(root, root_dev, max_current=None, hat=None):
    proc = os.path.join(root, "proc")
    _write(os.path.join(proc, "mounts"),
           f"{root_dev} / ext4 rw,noatime 0 0\n{root_dev[:-1]}1 /boot/firmware vfat rw,relatime 0 0\n")
    _write(os.path.join(proc, "cmdline"),
           "coherent_pool=1M 8250.nr_uarts=1 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 rootwait\n")
    _write(os.path.join(proc, "sys/kernel/random/boot_id"), BOOT_ID + "\n")
    if max_current is not None:
        _write(os.path.join(proc, "device-tree/chosen/power/max_current"), struct.pack(">I", max_current), "wb")
    if hat:
        _write(os.path.join(proc, "device-tree/hat/product"), hat + "\x00")


def _watchdog(root):
    wd = os.path.join(root, "sys/class/watchdog/watchdog0")
    _write(os.path.join(wd, "identity"), "Broadcom BCM2835 Watchdog timer\n")
    _write(os.path.join(wd, "timeout"), "15\n")
    _write(os.path.join(wd, "max_timeout"), "15\n")
    _write(os.path.join(root, "dev/watchdog0"), "")


def _boot(root, cmdline=None):
    boot = os.path.join(root, "boot/firmware")
    _write(os.path.join(boot, "config.txt"), CONFIG_TXT)
    _write(os.path.join(boot, "cmdline.txt"), cmdline or
           "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes"
           " rootwait quiet splash plymouth.ignore-serial-consoles cfg80211.ieee80211_regdom=DE\n")


def usb_uas_trouble(root):
    """Boot SSD behind a JMicron bridge on uas, UAS aborts in the log, PoE HAT, 600 mA cap."""
    sys_root = os.path.join(root, "sys")
    _usb_disk(sys_root, "4-1", 0, "sda", bridge=JMICRON, driver="uas")
    _proc(root, "/dev/sda2", max_current=600, hat="Raspberry Pi PoE+ HAT")
    _watchdog(root)
    _boot(root)
    _write(os.path.join(root, "kern.log"), TROUBLE_LOG)
    _write(os.path.join(root, "eeprom.conf"), EEPROM)


def usb_clean(root):
    """Boot SSD behind an ASMedia bridge, clean; trouble only on another stick (sdb), 5 A PSU."""
    sys_root = os.path.join(root, "sys")
    _usb_disk(sys_root, "4-1", 0, "sda", bridge=ASMEDIA, driver="uas")
    usb2 = ("0781", "5567", "SanDisk", "Cruzer Blade")
    _usb_disk(sys_root, "2-1", 1, "sdb", bridge=usb2, driver="usb-storage")
    _proc(root, "/dev/sda2", max_current=5000)
    _watchdog(root)
    _boot(root)
    _write(os.path.join(root, "kern.log"), CLEAN_LOG)
    _write(os.path.join(root, "eeprom.conf"), EEPROM.replace("0xf461", "0xf14"))


def sd_card(root):
    """Boot from the SD card, no watchdog device exposed."""
    sys_root = os.path.join(root, "sys")
    _block(sys_root, os.path.join(sys_root, MMC_HOST), "mmcblk0", (1, 2), sep="p")
    _proc(root, "/dev/mmcblk0p2")
    _boot(root)
    _write(os.path.join(root, "kern.log"), "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x414fd0b1]\n")


def nvme(root):
    """Boot from an NVMe HAT."""
    sys_root = os.path.join(root, "sys")
    _block(sys_root, os.path.join(sys_root, NVME_CTRL), "nvme0n1", (1, 2), sep="p")
    _proc(root, "/dev/nvme0n1p2", max_current=5000)
    _watchdog(root)
    _boot(root)
    _write(os.path.join(root, "kern.log"), "")


SCENARIOS = {"usb_uas_trouble": usb_uas_trouble, "usb_clean": usb_clean, "sd_card": sd_card, "nvme": nvme}


def build(scenario, dest):
    if scenario not in SCENARIOS:
        raise SystemExit(f"unknown scenario {scenario!r}; choose one of {', '.join(sorted(SCENARIOS))}")
    os.makedirs(dest, exist_ok=True)
    SCENARIOS[scenario](dest)
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    build(sys.argv[1], sys.argv[2])
