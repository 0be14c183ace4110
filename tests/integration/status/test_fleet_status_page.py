"""playbooks/fleet_status.yml end to end: real mosquitto (the broker role's files), real agents in the
simulated fleet, real ansible-playbook, the page checked in headless Chromium.

client-001 healthy, one completed restart_app in the ledger     -> ok, budget 2/3
client-002 app crashed + its own service_failed report          -> problem: crashed, open service_failed
client-003 three reboot_host in the last 15 min (ledger)        -> problem: locked out, eligible at oldest + 900 s
client-004 powered off                                          -> problem: silent
client-005 held by a technician (infoscreen-agent hold)         -> attention: "held by OWNER: REASON"
"""

import json
import shutil
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from integration.status.status_helpers import ARTIFACTS, chromium, hold, iso, report_service_failed

pytestmark = pytest.mark.integration

STATUS_VARS = {"infoscreen_status_listen_s": 7, "infoscreen_status_max_heartbeat_age_s": 8}


@pytest.fixture
def status_fleet(fleet_factory):
    fleet = fleet_factory(5, shared_broker=True, groups=[("lobby", None)], faults={"client-002": ["app_crashed"]},
                          agent_options={"agent.lockout_max": 0})
    report_service_failed(fleet, "client-002", "signage-player.service")
    fleet.power_off("client-004")
    hold(fleet, "client-005", "ops-anna", "replacing the display")
    return fleet


def seed_ledger(path, fleet, now):
    with Ledger(str(path)) as db:
        row, _decision = db.reserve(fleet.clients["client-001"].client_uuid, "restart_app", host="client-001",
                                    now=now - 1200)
        db.record_transition(row["command_id"], "completed", at=now - 1190)
        for ago in (600, 300, 60):  # client-003: the lockout's three reboot-class commands in 15 min
            row, _decision = db.reserve(fleet.clients["client-003"].client_uuid, "reboot_host", host="client-003",
                                        now=now - ago)
            db.record_transition(row["command_id"], "completed", at=now - ago + 40)


def test_status_page_shows_crashed_locked_out_and_silent_clients_problems_first(status_fleet, run_playbook, tmp_path):
    fleet = status_fleet
    ledger = tmp_path / "ledger.sqlite3"
    now = time.time()
    seed_ledger(ledger, fleet, now)
    html_file, json_file = tmp_path / "status.html", tmp_path / "status.json"
    code, out, _report = run_playbook(
        fleet, "fleet_status.yml", "-e", json.dumps(dict(STATUS_VARS, infoscreen_status_html_file=str(html_file),
                                                         infoscreen_status_json_file=str(json_file))),
        ledger=ledger, timeout=180)
    assert code == 0, out
    status = json.loads(json_file.read_text())
    rows = {r["host"]: r for r in status["clients"]}
    assert [r["severity"] for r in status["clients"]] == ["problem", "problem", "problem", "attention", "ok"], out
    assert [r["host"] for r in status["clients"]][-2:] == ["client-005", "client-001"]

    healthy = rows["client-001"]
    assert healthy["online"] and healthy["app_state"] == "running" and healthy["release"]
    assert healthy["boot_id"] == fleet.clients["client-001"].boot_id
    assert healthy["reconnect_count"] == 0 and "last_disconnect_at" in healthy
    assert healthy["lockout"]["budget_left"] == 3 and healthy["lockout"]["allowed"]  # the restart_app is 20 min old
    assert (healthy["last_command"]["action"], healthy["last_command"]["state"]) == ("restart_app", "completed")

    crashed = rows["client-002"]
    assert crashed["online"] and crashed["app_state"] == "crashed"
    assert crashed["service_failed"]["unit"] == "signage-player.service"
    assert crashed["service_failed"]["current_boot"] is True and crashed["service_failed"]["since"]
    assert "app crashed" in crashed["problems"]

    locked = rows["client-003"]
    eligible = iso(now - 600 + 900)
    assert locked["online"] and locked["lockout"]["code"] == "lockout" and locked["lockout"]["budget_left"] == 0
    assert locked["lockout"]["eligible_at"] == eligible
    assert (locked["last_command"]["action"], locked["last_command"]["state"]) == ("reboot_host", "completed")

    silent = rows["client-004"]
    assert silent["liveness"] == "silent" and not silent["online"] and silent["heartbeat_age_s"] is None

    held = rows["client-005"]
    assert held["online"] and held["held"]["owner"] == "ops-anna" and held["held"]["since"]
    assert held["held"]["text"].startswith("held by ops-anna: replacing the display")

    # console table: header, then problems first
    table = [line for line in out.splitlines() if line.startswith(("HOST ", "client-0"))]
    assert table[0].startswith("HOST") and table[-1].startswith("client-001"), out
    assert "LOCKED OUT" in next(line for line in table if line.startswith("client-003"))
    assert oct(json_file.stat().st_mode & 0o777) == "0o640"

    # the page as a browser renders it (CSP on, no network), with its screenshot as a test artifact
    page = html_file.read_text()
    assert "<link" not in page and " src=" not in page and "http" not in page.split("</style>")[1]
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(html_file, ARTIFACTS / "fleet-status.html")
    shot = ARTIFACTS / "fleet-status.png"
    shot.unlink(missing_ok=True)
    dom = chromium(html_file, tmp_path / "chromium", screenshot=shot)
    assert 'data-sortable="ready"' in dom  # the inline script ran under the page's own CSP
    order = [part.split('"')[0] for part in dom.split('data-host="')[1:]]
    severities = [part.split('"')[0] for part in dom.split('data-severity="')[1:]]
    assert order[-2:] == ["client-005", "client-001"], dom
    assert severities == ["problem", "problem", "problem", "attention", "ok"], dom
    locked_row = dom.split('data-host="client-003"')[1].split("</tr>")[0]
    assert f'data-eligible-at="{eligible}"' in locked_row and "LOCKED OUT" in locked_row
    assert f'<time class="eligible-at" datetime="{eligible}">{eligible}</time>' in locked_row
    crashed_row = dom.split('data-host="client-002"')[1].split("</tr>")[0]
    assert 'data-unit="signage-player.service"' in crashed_row and ">crashed<" in crashed_row
    held_row = dom.split('data-host="client-005"')[1].split("</tr>")[0]
    assert "held by ops-anna: replacing the display" in held_row
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

    # sorting works in the browser: by host name, from the address
    by_host = chromium(html_file, tmp_path / "chromium", fragment="#sort=host")
    assert [part.split('"')[0] for part in by_host.split('data-host="')[1:]] == sorted(order)
    assert 'data-sorted-by="host:asc"' in by_host
