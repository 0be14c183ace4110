"""PoE evidence (issue 12, item 7), against the real snmpsim agent and real module processes.

- A cycle whose DetectionStatus never leaves deliveringPower during the off time has no
  evidence that power was cut: it is reported (power_cut_unverified, a warning, the ledger
  step says so), not a clean success; the port is still re-enabled and verified.
- Intent markers are keyed by the resolved switch address: a run killed between off and on
  under one spelling of the switch (localhost:P) is healed by a run under another (127.0.0.1:P).
"""

import os
import signal
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from fixtures.switch import finish_poe_module, poe_module_args, start_poe_module

pytestmark = pytest.mark.integration

CLIENT = "0b7f6a52-3c1d-4e8f-9a2b-5c6d7e8f9a10"


def test_stuck_detection_status_is_power_cut_unverified(sim_switch, run_poe_module, tmp_path):
    """DetectionStatus stays deliveringPower while AdminEnable is off: the cycle ends re-enabled
    and verified, but flagged power_cut_unverified with a warning, and the ledger step says so."""
    sim_switch.set_port(6, detection_stuck=True)
    ledger = tmp_path / "ledger.sqlite3"
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", port=6, off_time=1.0,
                                            client_uuid=CLIENT, client_host="lobby-6", ledger=str(ledger)))
    assert result["_rc"] == 0, result
    assert [(e["event"], e["port"]) for e in sim_switch.events()] == [("power_off", 6), ("power_on", 6)]
    assert sim_switch.port_state(6)["admin_enabled"] is True
    assert result["after"]["admin_enabled"] is True and result["after"]["detection_status"] == "deliveringPower"
    assert result.get("power_cut_unverified") is True, result
    assert result["power_cut"]["verified"] is False and result["power_cut"]["reads"] >= 1, result
    assert "power_cut_unverified" in str(result.get("warnings")), result
    with Ledger(str(ledger)) as db:
        (step,) = db.commands(client_uuid=CLIENT)
        assert step["state"] == "completed" and step["error_code"] == "power_cut_unverified", step
        assert "not verified" in (step["error_message"] or ""), step


def test_a_cycle_with_evidence_is_verified(sim_switch, run_poe_module, tmp_path):
    """Control: on a normal port DetectionStatus leaves deliveringPower while off: verified, no warning."""
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", port=6, off_time=1.0))
    assert result["_rc"] == 0, result
    assert result.get("power_cut_unverified") is False, result
    assert result["power_cut"]["verified"] is True and "disabled" in result["power_cut"]["seen"], result
    assert "power_cut_unverified" not in str(result.get("warnings"))


def test_marker_written_as_localhost_is_healed_by_a_run_as_127_0_0_1(sim_switch, run_poe_module, tmp_path):
    """A cycle to localhost:P killed (SIGKILL) while the port is off leaves its marker; a query to
    127.0.0.1:P - the same switch - finds it and switches the port back on."""
    intent = tmp_path / "intent"
    args = poe_module_args(sim_switch, intent, state="cycle", off_time=30)
    args.pop("snmp_port")
    proc = start_poe_module(dict(args, switch=f"localhost:{sim_switch.port}"))
    deadline = time.monotonic() + 60
    while sim_switch.port_state(5)["admin_enabled"]:
        assert proc.poll() is None, finish_poe_module(proc)
        assert time.monotonic() < deadline, "the module never switched the port off"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    assert sim_switch.port_state(5)["admin_enabled"] is False  # really left dark

    result = run_poe_module(dict(args, switch=f"127.0.0.1:{sim_switch.port}", state="query"))
    assert result["_rc"] == 0, result
    assert result["interrupted_run"] and result["interrupted_run"]["pid"] == proc.pid, result
    assert result["healed_interrupted_run"] is True, result
    assert sim_switch.port_state(5)["admin_enabled"] is True
    assert sorted(p.name for p in intent.glob("*.intent")) == []
