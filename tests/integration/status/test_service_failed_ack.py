"""Acknowledging service_failed reports: real mosquitto (the broker role's files and ACL), real agents
reporting through their own notifier, real ansible-playbook; "cleared" is judged by a fresh subscriber.

- playbooks/ack_service_failed.yml: refuses without a reason (nothing cleared), --check clears nothing,
  then clears exactly the named hosts' reports and notes each in the ledger with the reason;
- playbooks/recover.yml: a client recovered from a service_failed of its current boot has its report
  cleared and the ledger notes it.
"""

import json
import types

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import read_status
from integration.recover.ladder_run import run_recover_playbook
from integration.status.status_helpers import report_service_failed, retained_reports

pytestmark = pytest.mark.integration

NAMES = ("client-001", "client-002", "client-003")


def ack_notes(ledger, fleet, name):
    with Ledger(str(ledger)) as db:
        return db.commands(client_uuid=fleet.clients[name].client_uuid, action="service_failed_ack")


def test_ack_playbook_clears_the_named_reports_with_a_reason_and_notes_them(fleet_factory, run_playbook, tmp_path):
    fleet = fleet_factory(3, shared_broker=True, groups=[("lobby", None)])
    report_service_failed(fleet, "client-001", "signage-player.service")
    report_service_failed(fleet, "client-002", "kiosk-browser.service")
    assert set(retained_reports(fleet, NAMES)) == {"client-001", "client-002"}
    ledger = tmp_path / "ledger.sqlite3"

    code, out, _err = run_playbook(fleet, "ack_service_failed.yml", "-l", "client-001", ledger=ledger)
    assert code != 0 and "say why" in out, out
    code, out, _err = run_playbook(fleet, "ack_service_failed.yml", "-e", "infoscreen_ack_reason='cable replaced'",
                                   ledger=ledger)
    assert code != 0 and "name the hosts" in out, out  # no -l: the whole fleet only on request
    code, out, _err = run_playbook(fleet, "ack_service_failed.yml", "-l", "client-001", "--check",
                                   "-e", "infoscreen_ack_reason='cable replaced'", ledger=ledger)
    assert code == 0 and "would clear: client-001" in out, out
    assert set(retained_reports(fleet, NAMES)) == {"client-001", "client-002"}
    assert not ledger.exists()  # check mode writes nothing

    code, out, _err = run_playbook(fleet, "ack_service_failed.yml", "-l", "client-001,client-003",
                                   "-e", "infoscreen_ack_reason='display cable replaced, ticket 4711'", ledger=ledger)
    assert code == 0, out
    assert "cleared: client-001" in out and "no report: client-003" in out, out
    # a fresh subscriber sees no report of client-001; client-002 (not named) keeps its own
    remaining = retained_reports(fleet, NAMES)
    assert set(remaining) == {"client-002"} and json.loads(remaining["client-002"])["unit"] == "kiosk-browser.service"
    (note,) = ack_notes(ledger, fleet, "client-001")
    assert note["state"] == "completed" and note["reason"] == "display cable replaced, ticket 4711"
    assert note["host"] == "client-001" and note["payload"]["unit"] == "signage-player.service"
    assert any("signage-player.service" in (t["detail"] or "") and "acknowledged" in t["detail"]
               for t in note["transitions"]), note["transitions"]
    assert ack_notes(ledger, fleet, "client-003") == [] and ack_notes(ledger, fleet, "client-002") == []


def test_recover_clears_the_report_of_the_client_it_recovered(fleet_factory, tmp_path):
    fleet = fleet_factory(2, shared_broker=True, groups=[("lobby", None)])
    report_service_failed(fleet, "client-001", "signage-player.service")  # during its current boot
    assert set(retained_reports(fleet, ("client-001", "client-002"))) == {"client-001"}
    no_switch = types.SimpleNamespace(community="unused")  # soft tier: no PoE step can run
    code, out, rows = run_recover_playbook(
        fleet, no_switch, tmp_path, extra_vars={"infoscreen_recover_listen_s": 7},
        extra_inventory={name: {"infoscreen_recovery_tier": "soft"} for name in ("client-001", "client-002")})
    assert code == 0, out
    recovered = rows["client-001"]
    assert (recovered["state"], recovered["recovered_by"]) == ("recovered", "restart_app"), recovered
    assert "service_failed" in recovered["reason"] or recovered["steps"][0]["state"] == "completed"
    assert recovered["service_failed_ack"]["cleared"] is True, recovered
    assert rows["client-002"]["state"] == "healthy" and rows["client-002"]["service_failed_ack"] is None
    assert retained_reports(fleet, ("client-001", "client-002")) == {}
    (note,) = ack_notes(tmp_path / "ledger.sqlite3", fleet, "client-001")
    assert note["state"] == "completed" and note["reason"] == "recover.yml recovered the client"

    # the status shows what happened and when: the restart_app that recovered it, the acknowledgement
    broker, controller = fleet.manifest["broker"], fleet.manifest["controller"]
    params = {"mqtt_host": broker["host"], "mqtt_port": broker["port"], "mqtt_username": controller["username"],
              "mqtt_password": controller["password"], "mqtt_tls": False, "mqtt_ca_cert": None, "mqtt_keepalive": 30}
    status = read_status(params, {n: fleet.clients[n].client_uuid for n in ("client-001", "client-002")},
                         ledger_factory=lambda: Ledger(str(tmp_path / "ledger.sqlite3")), listen_s=8,
                         max_heartbeat_age_s=8)
    row = {r["host"]: r for r in status["clients"]}["client-001"]
    assert row["severity"] == "ok" and row["service_failed"] is None, row
    assert (row["last_command"]["action"], row["last_command"]["state"]) == ("restart_app", "completed")
    assert row["last_command"]["finished_at"] and row["last_ack"]["reason"] == "recover.yml recovered the client"
