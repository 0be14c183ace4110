"""Kernel-log evidence attribution (plugins/module_utils/ssd_kernel_log.py)."""

from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_kernel_log as kl

LOG = """[  312.104000] sd 0:0:0:0: [sda] tag#2 uas_eh_abort_handler 0 uas-tag 3 inflight: CMD OUT
[  312.120000] scsi host0: uas_eh_device_reset_handler start
[  312.260000] usb 4-1: reset SuperSpeed USB device number 2 using xhci-hcd
[  400.000000] sd 1:0:0:0: [sdb] tag#0 uas_eh_abort_handler 0 uas-tag 1 inflight: CMD
[  401.000000] Buffer I/O error on dev sdb1, logical block 0, async page read
[  402.000000] blk_update_request: I/O error, dev sda, sector 1 op 0x0:(READ)
[  403.000000] usb 4-1.2: USB disconnect, device number 4
[  404.000000] usb 4-1: USB disconnect, device number 2
[  405.000000] sd 0:0:0:0: [sda] tag#1 timing out command, waited 180s
[  406.000000] usb 4-1: New USB device found, idVendor=152D, idProduct=0578, bcdDevice=31.08
"""


def test_events_are_attributed_to_the_boot_bridge_only_when_they_name_it():
    result = kl.scan(LOG, disk="sda", port="4-1", host=0)
    assert result["bridge"] == {
        "uas_abort": 1, "uas_reset": 1, "command_timeout": 1, "io_error": 1, "usb_disconnect": 1, "usb_reset": 1,
    }
    # sdb's abort and I/O error and the hub child 4-1.2 are someone else's trouble
    assert result["other"]["uas_abort"] == 1
    assert result["other"]["io_error"] == 1
    assert result["other"]["usb_disconnect"] == 1
    assert result["usb_ids"] == {"4-1": "152d:0578"}
    assert kl.uas_trouble(result["bridge"]) == 2


def test_without_a_target_everything_is_other():
    result = kl.scan(LOG)
    assert kl.uas_trouble(result["bridge"]) == 0
    assert kl.uas_trouble(result["other"]) == 3


def test_samples_are_bounded():
    many = "sd 0:0:0:0: [sda] tag#2 uas_eh_abort_handler 0 uas-tag 3 inflight: CMD OUT\n" * 50
    result = kl.scan(many, disk="sda")
    assert result["bridge"]["uas_abort"] == 50
    assert len(result["samples"]) == kl.MAX_SAMPLES


def test_no_text_means_no_events():
    result = kl.scan(None, disk="sda")
    assert result["bridge"] == kl.empty_counts()
