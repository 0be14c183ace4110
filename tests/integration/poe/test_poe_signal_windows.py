"""Signals in the two windows the PoE drill found unguarded (docs/drills.md findings 3 and 4).

Both hold the real module process at a known point with real means, no patching: a FIFO in
place of the intent marker's temp file blocks the marker write; SIGSTOP on the simulated
switch keeps an SNMP request in flight.
"""

import os
import signal
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_intent import port_key
from fixtures.switch import finish_poe_module, poe_module_args, start_poe_module

pytestmark = pytest.mark.integration

OPENAT = "257"  # x86_64 syscall number, as /proc/<pid>/syscall shows it


def intent_files(intent_dir):
    return sorted(p.name for p in intent_dir.glob("*.intent")) if intent_dir.exists() else []


def wait_for(predicate, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, finish_poe_module(proc)
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    raise AssertionError(f"the module never reached: {what}")


def blocked_in_open(pid):
    try:
        with open(f"/proc/{pid}/syscall") as fh:
            return fh.read().split()[0] == OPENAT
    except (OSError, IndexError):
        return False


def test_signal_while_the_intent_marker_is_written_still_returns_a_result(sim_switch, tmp_path):
    intent_dir = tmp_path / "intent"
    intent_dir.mkdir(mode=0o700)
    fifo = intent_dir / (port_key(sim_switch.host, sim_switch.port, 1, 5) + ".intent.tmp")
    os.mkfifo(fifo)  # opening it for writing blocks until a reader comes: the module sits in the marker step
    proc = start_poe_module(poe_module_args(sim_switch, intent_dir, state="cycle", off_time=5))
    wait_for(lambda: blocked_in_open(proc.pid), proc, "the intent marker write")
    assert sim_switch.port_state(5)["admin_enabled"] is True
    proc.send_signal(signal.SIGTERM)
    result = finish_poe_module(proc, timeout=30)  # before the fix: killed by SIGTERM, no JSON
    assert result["error_code"] == "interrupted", result
    assert "SIGTERM" in result["msg"] and "switched back on" in result["msg"], result
    assert sim_switch.port_state(5)["admin_enabled"] is True
    assert intent_files(intent_dir) == []


def test_sigterm_during_an_snmp_request_in_the_verify_step_is_not_lost(sim_switch, tmp_path):
    sim_switch.set_port(8, pd=False)  # no powered device: the module keeps polling in the verify step
    args = poe_module_args(sim_switch, tmp_path / "intent", state="cycle", port=8, off_time=0.5,
                           verify_timeout=20, poll_interval=0.2, snmp_timeout=3, snmp_retries=0)
    proc = start_poe_module(args)
    wait_for(lambda: intent_files(tmp_path / "intent"), proc, "the intent marker")
    wait_for(lambda: sim_switch.port_state(8)["admin_enabled"] is False, proc, "the off write")
    wait_for(lambda: sim_switch.port_state(8)["admin_enabled"] is True, proc, "the on write")
    os.kill(sim_switch.pid, signal.SIGSTOP)  # the next poll stays unanswered, i.e. in flight
    try:
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        os.kill(sim_switch.pid, signal.SIGCONT)
    started = time.monotonic()
    # before the fix the verify loop swallowed the interrupt: verify_timeout after 20 s instead
    result = finish_poe_module(proc, timeout=40)
    print(f"result {time.monotonic() - started + 0.3:.2f} s after SIGTERM")
    assert result["error_code"] == "interrupted", result
    assert "SIGTERM" in result["msg"] and "switched back on" in result["msg"], result
    assert sim_switch.port_state(8)["admin_enabled"] is True
    assert intent_files(tmp_path / "intent") == []
