"""The status's ledger reads and the acknowledgement note go through the ledger's public API only, so they
work the same on both backends (SQLite file, PostgreSQL URL on a throwaway cluster)."""

import json
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import ACK_ACTION, iso, ledger_facts

UUID = "3f2a3c1e-8d8b-4a8e-9a3b-1c2d3e4f5a6b"


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_spec(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    return request.getfixturevalue("pg_ledger_url")


def test_lockout_last_command_and_ack_note_from_either_backend(ledger_spec):
    now = time.time()
    with Ledger(ledger_spec) as db:
        for ago in (600, 300, 60):
            row, _decision = db.reserve(UUID, "reboot_host", host="pi-1", now=now - ago)
            db.record_transition(row["command_id"], "completed", at=now - ago + 40)
        # what fleet_status_ack.acknowledge writes: a note queued before clearing, completed after
        report = {"unit": "signage.service", "failed_at": "2027-01-15T09:00:00Z", "boot_id": "b1"}
        note = db.record_step(UUID, ACK_ACTION, "queued", host="pi-1", detail="clearing the retained report",
                              reason="cable replaced", payload=json.dumps(report, sort_keys=True), at=now - 5)
        db.record_step(UUID, ACK_ACTION, "completed", host="pi-1", command_id=note, detail="acknowledged", at=now - 4)
    with Ledger(ledger_spec) as db:
        facts = ledger_facts(db, UUID, now, limit=3, window_s=900.0, cooldown_s=60.0)
    assert facts["lockout"]["code"] == "lockout" and facts["lockout"]["eligible_at"] == pytest.approx(now + 300)
    assert [c["action"] for c in facts["commands"]] == ["reboot_host"] * 3  # the ack is not a "last command"
    assert facts["commands"][0]["issued_at"] == iso(now - 60) and facts["commands"][0]["state"] == "completed"
    ack = facts["last_ack"]
    assert ack["state"] == "completed" and ack["reason"] == "cable replaced" and ack["report"] == report
    # an acknowledgement is no reboot-class command: the lockout count is the three reboots
    assert facts["lockout"]["recent_count"] == 3
