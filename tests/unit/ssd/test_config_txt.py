"""config.txt / EEPROM config parsing and editing (plugins/module_utils/ssd_config_txt.py)."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_config_txt as ct

CONFIG = """# comment
dtparam=audio=on
auto_initramfs=1
include extra.txt
[pi4]
usb_max_current_enable=0
[pi5]
dtoverlay=vc4-kms-v3d
[gpio4=1]
usb_max_current_enable=1
[cm5]
dtoverlay=dwc2
"""


def test_effective_applies_all_and_pi5_only():
    settings = ct.effective(ct.parse(CONFIG))
    assert settings["dtparam"] == ["audio=on"]
    assert settings["dtoverlay"] == ["vc4-kms-v3d"]
    assert "usb_max_current_enable" not in settings
    assert settings["include"] == "extra.txt"


def test_all_resets_the_filter():
    settings = ct.effective(ct.parse("[pi4]\nfoo=1\n[all]\nbar=2\n"))
    assert settings == {"bar": "2"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "missing"),
        ("dtparam=audio=on\nthis is not config\n", "line 2"),
        ("[pi5\n", "line 1"),
        ("ok=1\x00\n", "NUL"),
    ],
)
def test_unparsable_input_names_file_and_line(text, fragment):
    with pytest.raises(ct.ConfigTxtError) as info:
        ct.parse(text, "/boot/firmware/config.txt")
    assert fragment in str(info.value)
    assert "/boot/firmware/config.txt" in str(info.value)


def test_set_value_appends_all_section_when_file_ends_in_another_filter():
    changed, text = ct.set_value(CONFIG, "usb_max_current_enable", "1")
    assert changed
    assert text == CONFIG + "[all]\nusb_max_current_enable=1\n"
    assert ct.effective(ct.parse(text))["usb_max_current_enable"] == "1"
    assert ct.set_value(text, "usb_max_current_enable", "1") == (False, text)


def test_set_value_rewrites_an_all_line_in_place():
    source = "arm_64bit=1\nusb_max_current_enable=0\n[all]\n"
    changed, text = ct.set_value(source, "usb_max_current_enable", "1")
    assert changed
    assert text == "arm_64bit=1\nusb_max_current_enable=1\n[all]\n"


def test_set_value_does_not_add_all_header_twice():
    changed, text = ct.set_value("arm_64bit=1\n[all]\n", "usb_max_current_enable", "1")
    assert changed
    assert text == "arm_64bit=1\n[all]\nusb_max_current_enable=1\n"


def test_set_value_on_file_without_trailing_newline():
    changed, text = ct.set_value("arm_64bit=1", "usb_max_current_enable", "1")
    assert changed
    assert text == "arm_64bit=1\nusb_max_current_enable=1\n"


def test_set_value_refuses_unparsable_file():
    with pytest.raises(ct.ConfigTxtError):
        ct.set_value("garbage here\n", "usb_max_current_enable", "1")


def test_eeprom_output_parses():
    settings = ct.effective(ct.parse("[all]\nBOOT_UART=1\nBOOT_ORDER=0xf461\nUSB_MSD_STARTUP_DELAY=0\n"))
    assert settings["BOOT_ORDER"] == "0xf461"
