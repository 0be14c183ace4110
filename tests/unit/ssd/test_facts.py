"""Facts gathering over fixture Pi 5 trees (plugins/module_utils/ssd_facts.py)."""

import os

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_facts


def _gather(tree, **kwargs):
    return ssd_facts.gather(
        tree["paths"],
        kernel_log_text=tree["kernel_log"].read_text() if tree["kernel_log"].exists() else None,
        kernel_log_source=str(tree["kernel_log"]),
        eeprom_text=tree["eeprom"].read_text() if tree["eeprom"].exists() else None,
        eeprom_source=str(tree["eeprom"]),
        **kwargs,
    )


def test_usb_boot_with_uas_trouble(ssd_tree):
    facts = _gather(ssd_tree("usb_uas_trouble"))
    assert facts["boot"] == {"source": "/dev/sda2", "source_from": "mounts", "partition": "sda2", "disk": "sda",
                             "transport": "usb"}
    assert facts["bridge"]["id"] == "152d:0578"
    assert facts["bridge"]["driver"] == "uas"
    assert facts["bridge"]["usb_port"] == "4-1"
    assert facts["bridge"]["scsi_host"] == 0
    assert facts["scsi_timeout_s"] == 30
    assert facts["kernel_log"]["uas_trouble"] == 4
    assert facts["kernel_log"]["bridge"]["io_error"] == 1
    assert facts["kernel_log"]["other"]["usb_disconnect"] == 1
    assert facts["kernel_log"]["bridge_id_in_log"] == "152d:0578"
    assert facts["cmdline"]["rootwait"] is True
    assert facts["cmdline"]["uas_quirks"] is None
    assert facts["eeprom"] == {"available": True, "source": str(ssd_tree("usb_uas_trouble")["eeprom"]),
                               "settings": {"BOOT_ORDER": "0xf461", "POWER_OFF_ON_HALT": "0"}}
    assert facts["watchdog"]["present"] is True
    assert facts["watchdog"]["max_timeout_s"] == 15
    assert facts["power"] == {"max_current_ma": 600, "hat_product": "Raspberry Pi PoE+ HAT", "poe_hat": True}
    assert facts["warnings"] == []


def test_trouble_on_another_usb_disk_is_not_the_boot_bridges(ssd_tree):
    facts = _gather(ssd_tree("usb_clean"))
    assert facts["bridge"]["id"] == "174c:55aa"
    assert facts["kernel_log"]["uas_trouble"] == 0
    assert facts["kernel_log"]["other"]["uas_abort"] == 1
    assert [d["disk"] for d in facts["usb_disks"]] == ["sda", "sdb"]
    assert facts["usb_disks"][1]["bridge"]["driver"] == "usb-storage"
    assert facts["power"]["poe_hat"] is False


@pytest.mark.parametrize(("scenario", "disk", "transport"), [("sd_card", "mmcblk0", "sd"), ("nvme", "nvme0n1", "nvme")])
def test_non_usb_boot_devices(ssd_tree, scenario, disk, transport):
    facts = _gather(ssd_tree(scenario))
    assert facts["boot"]["disk"] == disk
    assert facts["boot"]["transport"] == transport
    assert facts["bridge"] is None
    assert facts["usb_disks"] == []


def test_sd_card_without_watchdog_or_eeprom_tool(ssd_tree):
    facts = _gather(ssd_tree("sd_card"))
    assert facts["watchdog"]["present"] is False
    assert facts["eeprom"]["available"] is False


def test_root_from_partuuid_when_mounts_say_dev_root(ssd_tree):
    tree = ssd_tree("usb_uas_trouble")
    root = tree["root"]
    (root / "proc/mounts").write_text("/dev/root / ext4 rw 0 0\n")
    by_partuuid = root / "dev/disk/by-partuuid"
    by_partuuid.mkdir(parents=True)
    os.symlink("../../sda2", by_partuuid / "4e639091-02")
    facts = _gather(tree)
    assert facts["boot"]["source_from"] == "cmdline"
    assert facts["boot"]["disk"] == "sda"
    assert facts["boot"]["transport"] == "usb"


def test_missing_kernel_log_is_a_warning_not_evidence(ssd_tree):
    tree = ssd_tree("usb_uas_trouble")
    facts = ssd_facts.gather(tree["paths"])
    assert facts["kernel_log"]["source"] is None
    assert facts["kernel_log"]["uas_trouble"] == 0
    assert any("no kernel log" in w for w in facts["warnings"])


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("cmdline.txt", None, "missing"),
        ("cmdline.txt", "root=/dev/sda2\nrootwait\n", "single line"),
        ("config.txt", None, "missing"),
        ("config.txt", "arm_64bit=1\nnot a setting\n", "line 2"),
    ],
)
def test_missing_or_unparsable_boot_files_raise(ssd_tree, name, content, fragment):
    tree = ssd_tree("usb_uas_trouble")
    target = tree["root"] / "boot/firmware" / name
    if content is None:
        target.unlink()
    else:
        target.write_text(content)
    with pytest.raises(ssd_facts.SsdFactsError) as info:
        _gather(tree)
    assert fragment in str(info.value)
    assert name in str(info.value)
    relaxed = _gather(tree, require_boot_files=False)
    assert relaxed["cmdline" if name == "cmdline.txt" else "config_txt"] is None
    assert any(name in w for w in relaxed["warnings"])
