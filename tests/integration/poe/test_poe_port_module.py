"""poe_port against a real SNMP agent (snmpsim with the infoscreen_poe variation module).

Each test runs the real module as its own process, the way Ansible runs it on the controller.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from fixtures.switch import ROOT, SWITCH_V3, finish_poe_module, poe_module_args, poe_module_env, start_poe_module
from infoscreen_sim.switch import free_udp_port

pytestmark = pytest.mark.integration


def intent_files(intent_dir):
    return sorted(p.name for p in intent_dir.glob("*.intent")) if intent_dir.exists() else []


def test_cycle_happy_path_reads_back_on_and_delivering(sim_switch, run_poe_module, tmp_path):
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", port=3, off_time=1.0))
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    assert result["before"]["detection_status"] == "deliveringPower"
    assert result["after"] == {"admin_enabled": True, "admin_value": 1,
                               "detection_status": "deliveringPower", "detection_value": 3}
    assert result["off_time_s"] >= 1.0
    events = [(e["event"], e["port"]) for e in sim_switch.events()]
    assert events == [("power_off", 3), ("power_on", 3)]
    assert sim_switch.events()[1]["off_for_s"] >= 1.0
    assert sim_switch.port_state(3)["detection"] == "deliveringPower"
    assert intent_files(tmp_path / "intent") == []


def test_power_events_reach_a_registered_callback(sim_switch, run_poe_module, tmp_path):
    seen = []
    sim_switch.on_power_event(seen.append)
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", port=4))
    assert result["_rc"] == 0, result
    deadline = time.monotonic() + 15
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(e["event"], e["group"], e["port"]) for e in seen] == [("power_off", 1, 4), ("power_on", 1, 4)]


def test_cycle_over_snmpv3_authpriv_with_the_cisco_profile(sim_switch, run_poe_module, tmp_path):
    args = poe_module_args(sim_switch, tmp_path / "intent", state="cycle", port=7, group=2, profile="cisco",
                           snmp_version="3", snmp_v3_user=SWITCH_V3["user"], snmp_v3_auth_key=SWITCH_V3["auth_key"],
                           snmp_v3_priv_key=SWITCH_V3["priv_key"], snmp_v3_context=sim_switch.community)
    del args["snmp_community"]
    result = run_poe_module(args)
    assert result["_rc"] == 0, result
    assert result["after"]["admin_value"] == 1 and result["after"]["detection_status"] == "deliveringPower"
    assert [(e["event"], e["group"], e["port"]) for e in sim_switch.events()] == [
        ("power_off", 2, 7), ("power_on", 2, 7)]
    assert sim_switch.port_state(7, group=2)["cisco"] == 1  # written as auto(1)


def test_wrong_community_times_out_with_both_causes_and_changes_nothing(sim_switch, run_poe_module, tmp_path):
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", snmp_community="guess"))
    assert result["_rc"] == 1 and result["failed"]
    assert result["error_code"] == "snmp_timeout"
    assert "unreachable" in result["msg"] and "community" in result["msg"]
    assert sim_switch.address in result["msg"]
    assert "guess" not in str(result)  # never echo the community
    assert sim_switch.events() == []
    assert sim_switch.port_state(5)["admin_enabled"] is True
    assert intent_files(tmp_path / "intent") == []


def test_unreachable_switch_times_out_without_partial_state(run_poe_module, tmp_path):
    class Nowhere:
        host, port, community = "127.0.0.1", free_udp_port(), "poe-rw"

    result = run_poe_module(poe_module_args(Nowhere, tmp_path / "intent", state="cycle"))
    assert result["error_code"] == "snmp_timeout"
    assert f"127.0.0.1:{Nowhere.port}" in result["msg"]
    assert intent_files(tmp_path / "intent") == []


def test_wrong_v3_key_is_an_auth_error(sim_switch, run_poe_module, tmp_path):
    args = poe_module_args(sim_switch, tmp_path / "intent", snmp_version="3", snmp_v3_user=SWITCH_V3["user"],
                           snmp_v3_auth_key="not-the-auth-key", snmp_v3_priv_key=SWITCH_V3["priv_key"],
                           snmp_v3_context=sim_switch.community)
    result = run_poe_module(args)
    assert result["error_code"] == "snmp_auth", result
    assert "poe-ops" in result["msg"] and "not-the-auth-key" not in str(result)


def test_read_only_port_is_not_writable_and_stays_on(sim_switch, run_poe_module, tmp_path):
    sim_switch.set_port(5, writable=False)
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle"))
    assert result["error_code"] == "snmp_not_writable", result
    assert "notWritable" in result["msg"] and "pethPsePortAdminEnable" in result["msg"]
    assert sim_switch.port_state(5)["admin_enabled"] is True
    assert intent_files(tmp_path / "intent") == []


def test_missing_port_is_no_such_instance(sim_switch, run_poe_module, tmp_path):
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="on", port=99))
    assert result["error_code"] == "snmp_no_such_instance", result
    assert "noSuchInstance" in result["msg"] and ".1.99" in result["msg"] and "infoscreen_poe_port" in result["msg"]


def test_object_of_the_wrong_type_is_reported(sim_switch, run_poe_module, tmp_path):
    sim_switch.set_port(5, value_type="octets")
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle"))
    assert result["error_code"] == "snmp_wrong_type", result
    assert "expected INTEGER" in result["msg"] and "vendor profile" in result["msg"]
    assert sim_switch.events() == []


def test_check_mode_reads_but_never_writes(sim_switch, run_poe_module, tmp_path):
    sim_switch.set_port(6, admin_enabled=False)
    for state in ("cycle", "on"):
        result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state=state, port=6), check_mode=True)
        assert result["_rc"] == 0 and result["changed"] is True, result
        assert result["before"]["admin_enabled"] is False
    assert sim_switch.events() == []
    assert sim_switch.port_state(6)["admin_enabled"] is False


def test_no_powered_device_fails_verification_but_leaves_the_port_enabled(sim_switch, run_poe_module, tmp_path):
    sim_switch.set_port(8, pd=False)
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", port=8, verify_timeout=1.5))
    assert result["error_code"] == "verify_timeout", result
    assert "searching" in result["msg"] and "switched back on" in result["msg"]
    assert sim_switch.port_state(8)["admin_enabled"] is True
    assert intent_files(tmp_path / "intent") == []


def wait_for_port_off(switch, port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not switch.port_state(port)["admin_enabled"]:
            return
        assert proc.poll() is None, finish_poe_module(proc)
        time.sleep(0.02)
    raise AssertionError("the module never switched the port off")


def test_sigterm_between_off_and_on_switches_the_port_back_on(sim_switch, tmp_path):
    proc = start_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", off_time=30))
    wait_for_port_off(sim_switch, 5, proc)
    proc.send_signal(signal.SIGTERM)
    result = finish_poe_module(proc, timeout=30)
    assert result["error_code"] == "interrupted", result
    assert "SIGTERM" in result["msg"] and "switched back on" in result["msg"]
    assert sim_switch.port_state(5)["admin_enabled"] is True
    assert intent_files(tmp_path / "intent") == []


def test_sigkill_between_off_and_on_is_healed_by_the_next_run(sim_switch, run_poe_module, tmp_path):
    proc = start_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", off_time=30))
    wait_for_port_off(sim_switch, 5, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    time.sleep(0.5)
    assert sim_switch.port_state(5)["admin_enabled"] is False  # really left dark
    assert len(intent_files(tmp_path / "intent")) == 1

    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="query"))
    assert result["_rc"] == 0, result
    assert result["interrupted_run"]["operation"] == "cycle"
    assert result["interrupted_run"]["pid"] == proc.pid
    assert result["healed_interrupted_run"] is True and result["changed"] is True
    assert result["before"]["admin_enabled"] is False
    assert result["after"]["detection_status"] == "deliveringPower"
    assert "interrupted run" in str(result.get("warnings"))
    assert sim_switch.port_state(5)["admin_enabled"] is True
    assert intent_files(tmp_path / "intent") == []


def test_switch_gone_during_off_fails_loudly_and_the_next_run_heals(sim_switch, run_poe_module, tmp_path):
    proc = start_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", off_time=8,
                                            verify_timeout=2))
    wait_for_port_off(sim_switch, 5, proc)
    sim_switch.stop()  # the switch stops answering while the port is off
    result = finish_poe_module(proc, timeout=30)
    assert result["error_code"] == "port_left_dark", result
    assert f"PoE port 1.5 on switch {sim_switch.address} IS LEFT DARK" in result["msg"]
    assert len(intent_files(tmp_path / "intent")) == 1

    sim_switch.start()  # AdminEnable persisted: still off after the "switch reboot"
    assert sim_switch.port_state(5)["admin_enabled"] is False
    healed = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle"))
    assert healed["_rc"] == 0 and healed["healed_interrupted_run"] is True, healed
    assert healed["after"]["detection_status"] == "deliveringPower"
    assert intent_files(tmp_path / "intent") == []


def test_second_run_on_a_port_being_cycled_is_refused(sim_switch, run_poe_module, tmp_path):
    proc = start_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", off_time=120))
    wait_for_port_off(sim_switch, 5, proc)
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="on"))
    assert result["error_code"] == "port_busy", result
    assert sim_switch.port_state(5)["admin_enabled"] is False  # the refused run did not touch the port
    proc.send_signal(signal.SIGTERM)
    first = finish_poe_module(proc)
    assert first["error_code"] == "interrupted", first
    assert sim_switch.port_state(5)["admin_enabled"] is True


def test_ansible_playbook_heals_a_killed_cycle_and_never_shows_the_community(sim_switch, tmp_path):
    intent_dir = tmp_path / "intent"
    proc = start_poe_module(poe_module_args(sim_switch, intent_dir, state="cycle", off_time=30))
    wait_for_port_off(sim_switch, 5, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)

    args = poe_module_args(sim_switch, intent_dir, state="query")
    del args["snmp_community"]  # from the environment, as an operator would pass a vaulted secret
    playbook = tmp_path / "heal.yml"
    playbook.write_text(json.dumps([{
        "name": "Safety step after an interrupted recovery", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Query (and heal) the port", "infoscreen.fleet.poe_port": args, "register": "poe"},
                  {"name": "Show", "ansible.builtin.debug": {"var": "poe"}}],
    }]))
    env = dict(poe_module_env(), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               INFOSCREEN_SNMP_COMMUNITY=sim_switch.community, ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    run = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-vvv", str(playbook)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r'healed_interrupted_run"?: true', run.stdout), run.stdout
    assert sim_switch.community not in run.stdout + run.stderr
    assert sim_switch.port_state(5)["admin_enabled"] is True
    assert intent_files(intent_dir) == []


CLIENT = "5b0c3f7e-2f4e-4d47-9a52-6f1f0f1c2d3e"


def test_cycle_with_a_client_is_a_poe_cycle_step_in_the_ledger(sim_switch, run_poe_module, tmp_path):
    from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger

    ledger = tmp_path / "ledger.sqlite3"
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", client_uuid=CLIENT,
                                            client_host="lobby-1", reason="test", ledger=str(ledger)))
    assert result["_rc"] == 0, result
    with Ledger(str(ledger)) as db:
        (step,) = db.commands(client_uuid=CLIENT)
        assert step["command_id"] == result["ledger_command_id"]
        assert (step["action"], step["state"], step["host"]) == ("poe_cycle", "completed", "lobby-1")
        assert [t["state"] for t in db.transitions(step["command_id"])] == ["queued", "execution_started",
                                                                            "completed"]


def test_lockout_blocks_the_cycle_before_the_switch_is_touched(sim_switch, run_poe_module, tmp_path):
    import time as _time

    from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger

    ledger = tmp_path / "ledger.sqlite3"
    with Ledger(str(ledger)) as db:
        for minutes_ago, action in ((12, "restart_app"), (8, "reboot_host"), (4, "reboot_host")):
            row, _unused = db.reserve(CLIENT, action, now=_time.time() - 60 * minutes_ago)
            db.record_transition(row["command_id"], "completed", at=_time.time() - 60 * minutes_ago + 30)
    result = run_poe_module(poe_module_args(sim_switch, tmp_path / "intent", state="cycle", client_uuid=CLIENT,
                                            ledger=str(ledger)))
    assert result["error_code"] == "blocked", result
    assert "lockout" in result["msg"] and "Nothing was" in result["msg"]
    assert sim_switch.events() == []
    with Ledger(str(ledger)) as db:
        states = [c["state"] for c in db.commands(client_uuid=CLIENT, action="poe_cycle")]
    assert states == ["blocked"]
