"""The cycle's guarantees, against an in-memory switch and a fake clock (no waiting)."""

import json
import os
import signal
import stat

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import poe_cycle
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_intent import PortBusy, PortIntent
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_profiles import get_profile
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_snmp import SnmpTimeout
from unit.poe.fake_switch import FakeSwitch

KEY = ("sw1", 161)


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


def controller_for(switch, clock, profile="standard"):
    return poe_cycle.PortController(switch.factory, get_profile(profile), "sw1:161", 1, 5, poll_interval=1.0,
                                    sleep=clock.sleep, clock=clock)


def intent_for(tmp_path):
    return PortIntent(str(tmp_path / "intent"), *KEY, 1, 5)


def test_cycle_writes_off_then_on_and_waits_the_off_time(tmp_path, clock):
    switch = FakeSwitch()
    result = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "cycle",
                                       off_time=8)
    assert switch.writes == [2, 1]
    assert result["changed"] and result["off_time_s"] == 8
    assert result["after"]["detection_status"] == "deliveringPower"
    assert not os.path.exists(intent_for(tmp_path).marker_path)


def test_cisco_cycle_writes_disable_then_auto(tmp_path, clock):
    switch = FakeSwitch()
    poe_cycle.run_port_action(controller_for(switch, clock, "cisco"), str(tmp_path / "i"), KEY, "cycle", off_time=5)
    assert switch.writes == [4, 1]


def test_marker_exists_while_the_port_is_off(tmp_path, clock):
    switch = FakeSwitch()
    seen = []

    def on_write(value):
        if value == 2:
            with open(intent_for(tmp_path).marker_path) as fh:
                seen.append(json.load(fh))

    switch.on_write = on_write
    poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "cycle", off_time=5)
    assert seen and seen[0]["operation"] == "cycle" and seen[0]["port"] == 5 and seen[0]["pid"] == os.getpid()


def test_marker_and_dir_are_private(tmp_path):
    with intent_for(tmp_path) as intent:
        intent.write("cycle")
        assert stat.S_IMODE(os.stat(intent.marker_path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(intent.directory).st_mode) == 0o700


def test_failure_after_off_switches_the_port_back_on(tmp_path, clock):
    switch = FakeSwitch(detection_when_on=2)  # no powered device: verify times out
    with pytest.raises(poe_cycle.PoeVerifyTimeout) as err:
        poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "cycle",
                                  off_time=5, verify_timeout=10)
    assert "did not reach deliveringPower within 10 s" in str(err.value)
    assert "searching" in str(err.value) and "switched back on" in str(err.value)
    assert switch.admin == 1
    assert not os.path.exists(intent_for(tmp_path).marker_path)


def test_signal_during_the_off_time_restores_power(tmp_path, clock):
    switch = FakeSwitch()

    def sleep_and_get_terminated(seconds):
        clock.now += seconds
        os.kill(os.getpid(), signal.SIGTERM)

    controller = poe_cycle.PortController(switch.factory, get_profile("standard"), "sw1:161", 1, 5,
                                          sleep=sleep_and_get_terminated, clock=clock)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(poe_cycle.Interrupted, match="interrupted by SIGTERM.*switched back on"):
        poe_cycle.run_port_action(controller, str(tmp_path / "intent"), KEY, "cycle", off_time=5)
    assert switch.writes == [2, 1] and switch.admin == 1
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored


def test_restore_failure_names_the_dark_port_and_keeps_the_marker(tmp_path, clock):
    switch = FakeSwitch()
    switch.fail_writes_on = True
    with pytest.raises(poe_cycle.PortLeftDark) as err:
        poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "cycle",
                                  off_time=5, verify_timeout=4)
    message = str(err.value)
    assert "PoE port 1.5 on switch sw1:161 IS LEFT DARK" in message
    assert "The cycle had failed with" in message
    assert switch.admin == 2
    assert os.path.exists(intent_for(tmp_path).marker_path)


def test_next_run_heals_a_port_left_by_a_dead_run(tmp_path, clock):
    switch = FakeSwitch(admin=2)
    with intent_for(tmp_path) as intent:
        intent.write("cycle", port=5)
    result = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "query")
    assert result["healed_interrupted_run"] and result["changed"]
    assert result["interrupted_run"]["operation"] == "cycle"
    assert result["before"]["admin_enabled"] is False and result["after"]["admin_enabled"] is True
    assert switch.writes == [1]
    assert not os.path.exists(intent_for(tmp_path).marker_path)


def test_check_mode_reports_the_heal_but_writes_nothing(tmp_path, clock):
    switch = FakeSwitch(admin=2)
    with intent_for(tmp_path) as intent:
        intent.write("cycle")
    for state, changes in (("query", True), ("on", True), ("off", False), ("cycle", True)):
        result = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, state,
                                           check_mode=True)
        assert result["changed"] is changes, state
    assert switch.writes == []
    assert os.path.exists(intent_for(tmp_path).marker_path)


def test_explicit_off_keeps_the_port_off_and_drops_the_marker(tmp_path, clock):
    switch = FakeSwitch(admin=2)
    with intent_for(tmp_path) as intent:
        intent.write("cycle")
    result = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "off")
    assert result["changed"] is False and switch.writes == []
    assert not os.path.exists(intent_for(tmp_path).marker_path)


def test_on_and_off_are_idempotent(tmp_path, clock):
    switch = FakeSwitch()
    first = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "i"), KEY, "on")
    assert first["changed"] is False and switch.writes == []
    off = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "i"), KEY, "off")
    again = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "i"), KEY, "off")
    assert off["changed"] and not again["changed"] and switch.writes == [2]


def test_verify_keeps_polling_through_dropped_replies(tmp_path, clock):
    switch = FakeSwitch()
    controller = controller_for(switch, clock)
    switch.fail_reads = 2
    state, _unused = controller.wait_delivering(10)
    assert state.delivering and len(clock.slept) == 2


def test_verify_timeout_keeps_the_last_error(clock):
    switch = FakeSwitch()
    switch.fail_reads = 100
    with pytest.raises(poe_cycle.PoeVerifyTimeout, match="last error: fake: no response"):
        controller_for(switch, clock).wait_delivering(3)


def test_a_second_run_on_the_same_port_is_refused(tmp_path):
    with intent_for(tmp_path), pytest.raises(PortBusy, match="PoE port 1.5 on switch sw1 is being switched"):
        with intent_for(tmp_path):
            pass


def test_unreachable_switch_fails_before_any_write_or_marker(tmp_path, clock):
    switch = FakeSwitch()
    switch.fail_reads = 1
    with pytest.raises(SnmpTimeout):
        poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "cycle")
    assert switch.writes == []
    assert not os.path.exists(intent_for(tmp_path).marker_path)


def test_stuck_detection_during_the_off_time_is_power_cut_unverified(tmp_path, clock):
    """DetectionStatus never leaves deliveringPower while off: the cycle still switches the port
    back on and verifies it, but reports power_cut_unverified with a warning text, not a clean pass."""
    switch = FakeSwitch()
    switch.detection_stuck = True
    result = poe_cycle.run_port_action(controller_for(switch, clock), str(tmp_path / "intent"), KEY, "cycle",
                                       off_time=5)
    assert switch.writes == [2, 1] and switch.admin == 1
    assert result["power_cut_unverified"] is True
    assert result["power_cut"] == {"verified": False, "reads": result["power_cut"]["reads"],
                                   "seen": ["deliveringPower"]} and result["power_cut"]["reads"] >= 5
    assert "power_cut_unverified" in result["power_cut_warning"]
    assert result["off_time_s"] == 5  # the reads do not shorten the off time


def test_a_status_change_during_the_off_time_verifies_the_cut(tmp_path, clock):
    """Any read showing the port not delivering power during the off time is the evidence."""
    result = poe_cycle.run_port_action(controller_for(FakeSwitch(), clock), str(tmp_path / "intent"), KEY, "cycle",
                                       off_time=5)
    assert result["power_cut_unverified"] is False and result["power_cut"]["seen"] == ["disabled"]
    assert "power_cut_warning" not in result


def test_spellings_of_one_switch_share_the_marker(tmp_path):
    """localhost and 127.0.0.1 (any case) resolve to one address: one lock and one marker."""
    paths = {PortIntent(str(tmp_path), name, 161, 1, 5).marker_path for name in ("localhost", "127.0.0.1", "LOCALHOST")}
    assert len(paths) == 1
    assert PortIntent(str(tmp_path), "127.0.0.1", 162, 1, 5).marker_path not in paths  # another SNMP port


def test_a_marker_under_the_spelled_name_is_still_found_and_cleared(tmp_path):
    """A marker keyed by the switch as spelled (written before keys were resolved) still heals."""
    from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_intent import port_key

    spelled = tmp_path / (port_key("localhost", 161, 1, 5) + ".intent")
    spelled.write_text(json.dumps({"operation": "cycle", "pid": 1}))
    with PortIntent(str(tmp_path), "localhost", 161, 1, 5) as intent:
        assert intent.read()["operation"] == "cycle"
        intent.clear()
    assert not spelled.exists()
