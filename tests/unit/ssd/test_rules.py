"""Every tuning rule (plugins/module_utils/ssd_rules.py); the README's rule table mirrors these."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_kernel_log, ssd_rules

JMICRON_UAS = {"id": "152d:0578", "driver": "uas"}


def _counts(**kwargs):
    counts = ssd_kernel_log.empty_counts()
    counts.update(kwargs)
    return counts


# --- UAS quirk ---------------------------------------------------------------------------

def test_no_evidence_no_uas_quirk():
    decision = ssd_rules.uas_quirk(JMICRON_UAS, _counts())
    assert decision["apply"] is False
    assert decision["token_value"] is None
    assert "no evidence" in decision["reason"]


def test_io_errors_and_disconnects_alone_are_not_uas_evidence():
    decision = ssd_rules.uas_quirk(JMICRON_UAS, _counts(io_error=5, usb_disconnect=3, usb_reset=2))
    assert decision["apply"] is False


def test_uas_evidence_for_the_bridge_applies_the_quirk():
    decision = ssd_rules.uas_quirk(JMICRON_UAS, _counts(uas_abort=2, uas_reset=1))
    assert decision["apply"] is True
    assert decision["token_value"] == "152d:0578:u"
    assert "3 UAS abort/reset events" in decision["reason"]


def test_evidence_threshold_is_honoured():
    assert ssd_rules.uas_quirk(JMICRON_UAS, _counts(uas_abort=2), min_events=3)["apply"] is False
    assert ssd_rules.uas_quirk(JMICRON_UAS, _counts(uas_abort=3), min_events=3)["apply"] is True


def test_evidence_for_a_bridge_not_on_uas_gives_no_quirk():
    decision = ssd_rules.uas_quirk({"id": "152d:0578", "driver": "usb-storage"}, _counts(uas_abort=4))
    assert decision["apply"] is False


def test_allow_list_applies_without_evidence_and_merges_other_quirks():
    decision = ssd_rules.uas_quirk(JMICRON_UAS, _counts(), current_quirks="174c:55aa:u", allow_list=["152D:0578"])
    assert decision["apply"] is True
    assert decision["token_value"] == "174c:55aa:u,152d:0578:u"


def test_allow_list_of_another_bridge_does_not_count():
    assert ssd_rules.uas_quirk(JMICRON_UAS, _counts(), allow_list=["174c:55aa"])["apply"] is False


def test_deny_list_wins_over_evidence():
    decision = ssd_rules.uas_quirk(JMICRON_UAS, _counts(uas_abort=9), deny_list=["152d:0578"])
    assert decision["apply"] is False
    assert "deny list" in decision["reason"]


def test_existing_quirk_is_kept_not_rewritten():
    decision = ssd_rules.uas_quirk(JMICRON_UAS, _counts(), current_quirks="152d:0578:u")
    assert decision["apply"] is False
    assert decision["present"] is True


def test_no_bridge_no_quirk():
    assert ssd_rules.uas_quirk(None, _counts(uas_abort=9), allow_list=["152d:0578"])["apply"] is False


def test_malformed_allow_list_names_the_variable():
    with pytest.raises(ssd_rules.RuleInputError, match="ssd_timeouts_uas_quirk_allow_list"):
        ssd_rules.uas_quirk(JMICRON_UAS, _counts(), allow_list=["jmicron"])


# --- USB current (PoE) ---------------------------------------------------------------------

def test_not_poe_powered_no_current_advice():
    assert ssd_rules.usb_current(False, 600) == []


def test_poe_powered_with_600ma_cap_advises_both_settings():
    advice = ssd_rules.usb_current(True, 600, {}, {})
    assert [(a["file"], a["key"], a["proposed"]) for a in advice] == [
        ("config.txt", "usb_max_current_enable", "1"),
        ("eeprom", "PSU_MAX_CURRENT", "5000"),
    ]


def test_poe_powered_already_configured_needs_nothing():
    assert ssd_rules.usb_current(True, None, {"usb_max_current_enable": "1"}, {"PSU_MAX_CURRENT": "5000"}) == []


def test_poe_powered_but_5a_negotiated_needs_nothing():
    assert ssd_rules.usb_current(True, 5000) == []


# --- bootloader ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("before", "after"),
    [("0xf461", "0xf614"), ("0xf14", "0xf14"), ("0xf41", "0xf14"), ("0xf1", "0xf14"), ("0xF461", "0xf614")],
)
def test_usb_first_boot_order(before, after):
    assert ssd_rules.usb_first_boot_order(before) == after


def test_bad_boot_order_is_an_input_error():
    with pytest.raises(ssd_rules.RuleInputError, match="BOOT_ORDER"):
        ssd_rules.usb_first_boot_order("sd-first")


def test_bootloader_proposals_for_a_usb_boot():
    proposals = ssd_rules.bootloader(
        "usb", {"BOOT_ORDER": "0xf461", "USB_MSD_DISCOVER_TIMEOUT": "5000"}, _counts(usb_reset=2)
    )
    assert proposals["BOOT_ORDER"]["proposed"] == "0xf614"
    assert proposals["USB_MSD_DISCOVER_TIMEOUT"]["proposed"] == "20000"
    assert proposals["USB_MSD_STARTUP_DELAY"]["proposed"] == "3000"


def test_bootloader_quiet_when_already_tuned_and_no_trouble():
    settings = {"BOOT_ORDER": "0xf14", "USB_MSD_DISCOVER_TIMEOUT": "20000", "USB_MSD_STARTUP_DELAY": "0"}
    assert ssd_rules.bootloader("usb", settings, _counts()) == {}


def test_bootloader_nothing_for_sd_boot_but_psu_advice_passes_through():
    advice = ssd_rules.usb_current(True, 600, {}, {})
    proposals = ssd_rules.bootloader("sd", {"BOOT_ORDER": "0xf41"}, _counts(usb_reset=5), advice)
    assert list(proposals) == ["PSU_MAX_CURRENT"]


# --- reconnect times -------------------------------------------------------------------------

def test_reconnect_no_data():
    assert ssd_rules.reconnect([])["status"] == "no_data"


def test_reconnect_p95_at_baseline_is_ok_strictly_greater_warns():
    assert ssd_rules.reconnect([90.0] * 20)["status"] == "ok"
    result = ssd_rules.reconnect([60.0] * 18 + [90.5, 91.0])
    assert result["p95_s"] == 90.5
    assert result["status"] == "warn"


def test_reconnect_nearest_rank_percentiles():
    result = ssd_rules.reconnect(list(range(1, 101)))
    assert (result["p50_s"], result["p95_s"], result["max_s"]) == (50.0, 95.0, 100.0)


def test_reconnect_above_ceiling_fails_and_proposes_concrete_knobs():
    facts = {"kernel_log": {"uas_trouble": 3}, "bridge": {"id": "152d:0578"}}
    profile = {"stop_timeout_s": 15, "uas_quirk_applied": False, "boot_order_proposed": True}
    result = ssd_rules.reconnect([160.0, 170.0], facts=facts, profile=profile)
    assert result["status"] == "fail"
    knobs = [p["knob"] for p in result["proposals"]]
    assert knobs == ["ssd_timeouts_default_timeout_stop_s", "ssd_timeouts_uas_quirk_allow_list",
                     "ssd_timeouts_eeprom_write"]


def test_reconnect_slow_without_known_cause_still_says_where_to_look():
    result = ssd_rules.reconnect([120.0], profile={"stop_timeout_s": 10})
    assert result["status"] == "warn"
    assert result["proposals"][0]["knob"] is None
    assert "systemd-analyze blame" in result["proposals"][0]["reason"]


def test_reconnect_ok_proposes_nothing():
    assert ssd_rules.reconnect([40.0, 55.0], profile={"stop_timeout_s": 90})["proposals"] == []


@pytest.mark.parametrize("bad", ["90", [90, "x"], [True], [-1], [float("nan")], {"a": 1}, [float("inf")]])
def test_reconnect_bad_input_names_the_variable(bad):
    with pytest.raises(ssd_rules.RuleInputError, match="ssd_timeouts_reconnect_seconds"):
        ssd_rules.reconnect(bad)


def test_reconnect_bad_thresholds():
    with pytest.raises(ssd_rules.RuleInputError):
        ssd_rules.reconnect([1.0], baseline_s=100, ceiling_s=90)


# --- budget checks used by the role's asserts -----------------------------------------------------

def test_baseline_values_fit_the_budget():
    assert ssd_rules.scsi_timeout_fits(20)
    assert not ssd_rules.scsi_timeout_fits(30)
    assert ssd_rules.stop_timeout_fits(15, 10)
    assert not ssd_rules.stop_timeout_fits(90, 10)
