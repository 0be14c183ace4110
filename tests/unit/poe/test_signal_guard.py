"""The signal guard defers interrupts during SNMP requests; every request has its own deadline."""

import asyncio
import os
import signal
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import poe_cycle, poe_snmp


def test_a_signal_during_a_request_is_deferred_to_the_next_checkpoint():
    with poe_cycle._signals() as guard:
        poe_snmp._in_flight[0] += 1
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # must not raise inside the "request"
            time.sleep(0)
        finally:
            poe_snmp._in_flight[0] -= 1
        assert guard.deferred == "SIGTERM"
        with pytest.raises(poe_cycle.Interrupted, match="SIGTERM"):
            poe_cycle._checkpoint()
        poe_cycle._checkpoint()  # raised once only


def test_outside_a_request_the_signal_raises_at_once_and_the_handlers_are_restored():
    before = signal.getsignal(signal.SIGHUP)
    with pytest.raises(poe_cycle.Interrupted, match="SIGHUP"), poe_cycle._signals():
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(1)
    assert signal.getsignal(signal.SIGHUP) is before


def test_a_request_that_never_ends_is_cut_at_its_own_deadline(monkeypatch):
    monkeypatch.setattr(poe_snmp, "REQUEST_DEADLINE_SLACK", 0.0)
    session = poe_snmp.SnmpSession("127.0.0.1", poe_snmp.SnmpCredentials(community="x"), timeout=0.2, retries=1)
    try:
        start = time.monotonic()
        with pytest.raises(poe_snmp.SnmpTimeout, match="did not end within 0.4 s"):
            session._run(asyncio.sleep(30))
        assert time.monotonic() - start < 20  # cut, not the 30 s sleep
        assert not poe_snmp.request_in_flight()
    finally:
        session.close()
