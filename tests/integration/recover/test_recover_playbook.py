"""recover.yml end to end: real broker, real agents (simulated fleet), real SNMP agent (snmpsim),
real ansible-playbook. One run covers the ladder's outcomes for six clients:

client-001 poe tier, hangs until power-cycled  -> recovered by poe_cycle (restart_app and reboot_host fail first)
client-002 reboot tier, same fault             -> failed, "needs hands on site", never power-cycled
client-003 healthy                             -> left alone
client-004 poe tier, hung, 3 steps in 15 min   -> lockout blocks restart_app, the ladder stops there
client-005 soft tier, app crashed              -> recovered by restart_app, nothing more
client-006 poe tier without a switch/port      -> refused by the inventory check, nothing sent
client-007 poe tier, app crashed, helper fails -> restart_app and reboot_host sent and failed on the
                                                  client (tried), so the ladder escalates: poe_cycle
client-008 poe tier, hung, its port's DetectionStatus never changes -> recovered by poe_cycle, but the
                                                  step and the ledger say power_cut_unverified
"""

import json
import os
import subprocess
import sys
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from fixtures.switch import ROOT, poe_module_env
from integration.recover.ladder_run import hang

pytestmark = pytest.mark.integration

PORTS = {"client-001": 3, "client-004": 4, "client-007": 5, "client-008": 6}


def run_recover(fleet_factory, sim_switch, tmp_path):
    poe = {name: {"switch": sim_switch.address, "group": 1, "port": port} for name, port in PORTS.items()}
    fleet = fleet_factory(clients=8, poe=poe, groups=[("lobby", None)],
                          faults={"client-001": ["needs_power_cycle"], "client-002": ["needs_power_cycle"],
                                  "client-004": ["needs_power_cycle"], "client-005": ["app_crashed"],
                                  "client-007": ["app_crashed", "helper_fails"], "client-008": ["needs_power_cycle"]})
    sim_switch.set_port(PORTS["client-008"], detection_stuck=True)
    sim_switch.on_power_event(fleet.handle_power_event)
    ledger = tmp_path / "ledger.sqlite3"
    uuid_of = {c["name"]: c["client_uuid"] for c in fleet.manifest["clients"]}
    with Ledger(str(ledger)) as db:  # client-004 already had three reboot-class steps in 15 min
        for minutes_ago in (10, 6, 2):  # inside the 15 min window for the whole test
            row, _unused = db.reserve(uuid_of["client-004"], "reboot_host", now=time.time() - 60 * minutes_ago)
            db.record_transition(row["command_id"], "completed", at=time.time() - 60 * minutes_ago + 40)
    for name in ("client-001", "client-002", "client-004", "client-008"):
        hang(fleet, name)
    boot_before = {name: fleet.status()[name]["boot_id"] for name in fleet.clients}

    extra_inventory = tmp_path / "recovery.yml"
    extra_inventory.write_text(json.dumps({"all": {"hosts": {
        "client-005": {"infoscreen_recovery_tier": "soft"},
        "client-006": {"infoscreen_recovery_tier": "poe"},
    }}}))
    report = tmp_path / "report.json"
    extra_vars = {
        "infoscreen_ledger": str(ledger), "infoscreen_recover_report_file": str(report),
        "infoscreen_recover_cooldown_s": 1, "infoscreen_recover_listen_s": 8,
        "infoscreen_recover_max_heartbeat_age_s": 8,
        "infoscreen_recover_restart_app_timeout_s": 8, "infoscreen_recover_reboot_timeout_s": 6,
        "infoscreen_recover_reconnect_timeout_s": 60, "infoscreen_recover_poe_off_time_s": 1,
        "infoscreen_recover_poe_verify_timeout_s": 5, "infoscreen_recover_poe_poll_interval_s": 0.2,
        "infoscreen_poe_intent_dir": str(tmp_path / "intent"),
    }
    env = dict(poe_module_env(), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               INFOSCREEN_MQTT_USERNAME=fleet.manifest["controller"]["username"],
               INFOSCREEN_MQTT_PASSWORD=fleet.manifest["controller"]["password"],
               INFOSCREEN_SNMP_COMMUNITY=sim_switch.community, ANSIBLE_PYTHON_INTERPRETER=sys.executable)

    def playbook(*options):
        started = time.monotonic()
        run = subprocess.run(
            ["ansible-playbook", "-i", str(fleet.inventory_path), "-i", str(extra_inventory),
             "-e", json.dumps(extra_vars), *options, str(ROOT / "playbooks" / "recover.yml")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        print(f"recover.yml {' '.join(options)} took {time.monotonic() - started:.1f} s")
        assert report.exists(), run.stdout + run.stderr
        return run, {r["host"]: r for r in json.loads(report.read_text())}

    check_run, check_results = playbook("--check")
    check_events = sim_switch.events()
    with Ledger(str(ledger)) as db:
        check_results["_ledger_rows"] = len(db.commands())
    report.unlink()
    run, results = playbook()
    return {"run": run, "results": results, "fleet": fleet, "switch": sim_switch, "ledger": ledger,
            "uuid_of": uuid_of, "boot_before": boot_before, "report": report, "check_run": check_run,
            "check_results": check_results, "check_events": check_events}


def steps(result):
    # A hung client never accepts: the controller ends the step expired (validity = step timeout) or
    # timed_out; both are the same failure for the ladder.
    return [(s["step"], "no_answer" if s["state"] in ("expired", "timed_out") else s["state"]) for s in result["steps"]]


def test_recover_ladder_outcomes_and_ledger(fleet_factory, sim_switch, tmp_path):
    # one playbook run (about a minute) serves every assertion below
    recover_run = run_recover(fleet_factory, sim_switch, tmp_path)
    # check mode first: it reads health and the switch, sends and records nothing
    check = recover_run["check_results"]
    assert recover_run["check_events"] == []
    assert check["_ledger_rows"] == 3  # only client-004's three earlier steps
    assert check["client-001"]["state"] == "check_mode" and "poe_cycle" in check["client-001"]["reason"]
    assert check["client-003"]["state"] == "healthy"

    run, results = recover_run["run"], recover_run["results"]
    fleet, switch = recover_run["fleet"], recover_run["switch"]
    out = run.stdout + run.stderr
    assert run.returncode == 2, out  # hosts that could not be recovered fail the play
    assert os.stat(recover_run["report"]).st_mode & 0o777 == 0o600

    poe = results["client-001"]
    assert (poe["state"], poe["recovered_by"]) == ("recovered", "poe_cycle"), poe
    assert steps(poe) == [("restart_app", "no_answer"), ("reboot_host", "no_answer"), ("poe_cycle", "completed")]
    assert poe["steps"][-1]["reconnected"] is True and poe["steps"][-1]["reconnect_s"] is not None
    status = fleet.status()["client-001"]
    assert status["state"] == "running" and status["boot_id"] != recover_run["boot_before"]["client-001"]

    hands = results["client-002"]
    assert hands["state"] == "failed" and hands["recovered_by"] is None
    assert steps(hands) == [("restart_app", "no_answer"), ("reboot_host", "no_answer")]
    assert "hands on site" in hands["reason"] and "infoscreen_recovery_tier=reboot" in hands["reason"]
    assert "client-002 (reboot tier) not recovered" in out

    assert results["client-003"]["state"] == "healthy" and results["client-003"]["steps"] == []

    locked = results["client-004"]
    assert locked["state"] == "failed" and steps(locked) == [("restart_app", "blocked")]
    assert "safety lockout" in locked["reason"] and "ladder stops" in locked["reason"]

    soft = results["client-005"]
    assert (soft["state"], soft["recovered_by"]) == ("recovered", "restart_app"), soft
    assert steps(soft) == [("restart_app", "completed")]

    refused = results["client-006"]
    assert refused["state"] == "failed" and "infoscreen_poe_switch" in refused["reason"]

    # positive control: a soft path that genuinely fails (sent, and failed on the client) still escalates
    helper = results["client-007"]
    assert (helper["state"], helper["recovered_by"]) == ("recovered", "poe_cycle"), helper
    assert steps(helper) == [("restart_app", "failed"), ("reboot_host", "failed"), ("poe_cycle", "completed")]
    assert [s["error_code"] for s in helper["steps"][:2]] == ["helper_failed", "helper_failed"]
    assert all(s["tried"] for s in helper["steps"][:2])

    # no evidence of the power cut (DetectionStatus stuck at deliveringPower): reported, not a clean pass
    stuck = results["client-008"]
    assert (stuck["state"], stuck["recovered_by"]) == ("recovered", "poe_cycle"), stuck
    assert stuck["steps"][-1]["power_cut_unverified"] is True
    assert poe["steps"][-1]["power_cut_unverified"] is False
    assert "power_cut_unverified" in out

    # only the ports of client-001, -007 and -008 were switched, each once off and once on
    events = [(e["event"], e["port"]) for e in switch.events()]
    for port in (3, 5, 6):
        assert [e for e in events if e[1] == port] == [("power_off", port), ("power_on", port)], events
    assert {e[1] for e in events} == {3, 5, 6}
    assert switch.port_state(4)["admin_enabled"] is True

    uuid_of = recover_run["uuid_of"]
    with Ledger(str(recover_run["ledger"])) as db:
        def actions(name):
            return sorted((c["action"], "no_answer" if c["state"] in ("expired", "timed_out") else c["state"])
                          for c in db.commands(client_uuid=uuid_of[name]))

        assert actions("client-001") == [("poe_cycle", "completed"), ("reboot_host", "no_answer"),
                                         ("restart_app", "no_answer")]
        assert actions("client-002") == [("reboot_host", "no_answer"), ("restart_app", "no_answer")]
        assert actions("client-003") == []
        assert actions("client-004") == [("reboot_host", "completed")] * 3 + [("restart_app", "blocked")]
        assert actions("client-005") == [("restart_app", "completed")]
        assert actions("client-006") == []
        assert actions("client-007") == [("poe_cycle", "completed"), ("reboot_host", "failed"),
                                         ("restart_app", "failed")]
        (cycle,) = db.commands(client_uuid=uuid_of["client-008"], action="poe_cycle")
        assert (cycle["state"], cycle["error_code"]) == ("completed", "power_cut_unverified")
