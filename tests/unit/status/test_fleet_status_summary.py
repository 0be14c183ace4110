"""fleet_status.summarise / sort_rows / console_table and the HTML page: findings in, rows out (pure)."""

import re
from html.parser import HTMLParser

from ansible_collections.infoscreen.fleet.plugins.module_utils import lockout
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import (
    console_table,
    counts,
    iso,
    sort_rows,
    summarise,
)
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status_html import SCRIPT_HASH, render_status_html

NOW = 1_800_000_000.0
UUID = "3f2a3c1e-8d8b-4a8e-9a3b-1c2d3e4f5a6b"


def seen(**kw):
    base = {"client_uuid": UUID, "seen": True, "heartbeat_age_s": 1.5, "boot_id": "boot-a", "app_state": "running",
            "agent_version": "1.0.0", "release": "1.0.0+s1", "service_failed": None, "identity_conflict": False,
            "boot_ids_seen": [],
            "extra": {"broker_connection": {"reconnect_count": 2, "last_disconnect_at": "2027-01-15T08:00:00Z"}}}
    base.update(kw)
    return base


def facts(issued=(), last_failure=None, commands=(), ack=None, limit=3):
    decision = lockout.evaluate(NOW, list(issued), last_failure_at=last_failure, limit=limit)
    return {"lockout": decision.as_dict(), "commands": list(commands), "last_ack": ack}


def command(action, state, at, error_code=None):
    return {"command_id": f"c-{action}-{at}", "action": action, "state": state, "issued_at": iso(at),
            "finished_at": iso(at + 5), "issued_at_epoch": at, "error_code": error_code, "error_message": None,
            "reason": None, "wave_id": None}


def row(host, record, ledger=None, **kw):
    return summarise(host, record, ledger, now=NOW, listened_s=10.0, max_heartbeat_age_s=90.0, **kw)


def test_healthy_client_is_ok_with_budget_and_broker_connection():
    r = row("a", seen(), facts(issued=[NOW - 100], commands=[command("restart_app", "completed", NOW - 100)]))
    assert r["severity"] == "ok" and r["online"] and r["liveness"] == "online"
    assert (r["reconnect_count"], r["last_disconnect_at"]) == (2, "2027-01-15T08:00:00Z")
    assert r["lockout"]["budget_left"] == 2 and r["lockout"]["allowed"] and r["lockout"]["eligible_at"] is None
    assert r["last_command"]["action"] == "restart_app" and r["last_command"]["state"] == "completed"
    assert r["problems"] == []


def test_locked_out_client_is_a_problem_with_the_time_it_becomes_eligible():
    issued = [NOW - 600, NOW - 300, NOW - 60]
    r = row("locked", seen(), facts(issued=issued, commands=[command("reboot_host", "completed", NOW - 60)]))
    assert r["severity"] == "problem"
    lock = r["lockout"]
    assert lock["code"] == "lockout" and lock["budget_left"] == 0 and not lock["allowed"]
    assert lock["eligible_at_epoch"] == NOW - 600 + 900  # the oldest leaves the 15 min window
    assert lock["eligible_at"] == iso(NOW + 300) and lock["eligible_in_s"] == 300.0
    assert f"next reboot-class command at {iso(NOW + 300)}" in lock["text"]
    assert any("LOCKED OUT" in p for p in r["problems"])


def test_cooldown_is_attention_not_a_problem():
    r = row("cool", seen(), facts(issued=[NOW - 30], last_failure=NOW - 20,
                                  commands=[command("restart_app", "failed", NOW - 30, "helper_failed")]))
    assert r["severity"] == "attention"
    assert r["lockout"]["code"] == "cooldown" and r["lockout"]["eligible_at_epoch"] == NOW - 20 + 60
    assert "last command restart_app failed (helper_failed)" in r["problems"]


def test_crashed_client_with_service_failed_of_this_boot_is_a_problem():
    report = {"unit": "signage.service", "failed_at": "2027-01-15T09:00:00Z", "boot_id": "boot-a"}
    r = row("crashed", seen(app_state="crashed", service_failed=report))
    assert r["severity"] == "problem"
    assert r["service_failed"] == {"unit": "signage.service", "since": "2027-01-15T09:00:00Z", "boot_id": "boot-a",
                                   "current_boot": True, "service_result": None}
    assert "app crashed" in r["problems"]
    assert "service_failed signage.service since 2027-01-15T09:00:00Z" in r["problems"]


def test_report_of_an_earlier_boot_is_open_but_only_attention():
    report = {"unit": "signage.service", "failed_at": "2027-01-15T09:00:00Z", "boot_id": "boot-old"}
    r = row("old", seen(service_failed=report))
    assert r["severity"] == "attention" and r["service_failed"]["current_boot"] is False


def test_silent_client_and_identity_conflict():
    silent = row("silent", seen(seen=False, heartbeat_age_s=None, boot_id=None, app_state=None, extra=None))
    assert silent["severity"] == "problem" and silent["liveness"] == "silent" and not silent["online"]
    assert silent["problems"][0].startswith("silent: no heartbeat or health for 10 s")
    stale = row("stale", seen(heartbeat_age_s=120.0))
    assert stale["liveness"] == "silent" and "last heartbeat 120 s ago" in stale["problems"][0]
    clone = row("clone", seen(identity_conflict=True, boot_ids_seen=["boot-a", "boot-b", "boot-a"]))
    assert clone["severity"] == "problem" and clone["identity_conflict"]
    assert "two machines share client_uuid" in clone["identity_detail"]


def test_hold_is_shown_and_is_attention_and_a_missing_hold_is_nothing():
    hold = {"owner": "ops-anna", "reason": "replacing the display", "since": "2027-01-15T07:00:00Z"}
    r = row("held", seen(extra={"hold": hold}))
    assert r["severity"] == "attention"
    assert r["held"]["text"] == "held by ops-anna: replacing the display (since 2027-01-15T07:00:00Z)"
    assert row("free", seen())["held"] is None
    assert row("weird", seen(extra={"hold": "yes"}))["held"] is None  # not an object: not a hold


def test_bad_inventory_is_a_problem_row_without_mqtt_data():
    r = row("nouuid", None, inventory_error="inventory: client_uuid is missing or not a UUID (None); fix it")
    assert r["severity"] == "problem" and r["liveness"] == "not_checked"
    assert r["problems"] == ["inventory: client_uuid is missing or not a UUID (None); fix it"]


def test_problems_first_then_attention_then_ok_by_host():
    rows = [row("b-ok", seen()), row("a-ok", seen()), row("z-crash", seen(app_state="crashed")),
            row("m-held", seen(extra={"hold": {"owner": "x", "reason": "y"}})),
            row("c-crash", seen(app_state="stopped"))]
    ordered = [r["host"] for r in sort_rows(rows)]
    assert ordered == ["c-crash", "z-crash", "m-held", "a-ok", "b-ok"]
    totals = counts(rows)
    assert (totals["problem"], totals["attention"], totals["ok"], totals["clients"]) == (2, 1, 2, 5)


def test_console_table_has_a_header_and_one_line_per_client_in_order():
    rows = sort_rows([row("ok-1", seen()), row("bad-1", seen(app_state="crashed"))])
    lines = console_table(rows)
    assert lines[0].split()[:3] == ["HOST", "STATE", "LIVE"]
    assert lines[1].startswith("bad-1") and "PROBLEM" in lines[1] and "crashed" in lines[1]
    assert lines[2].startswith("ok-1")
    assert len(lines) == 3


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.urls, self.scripts, self.csp = [], [], [], None
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-host" in attrs:
            self.rows.append(attrs)
        for name in ("href", "src"):
            if name in attrs:
                self.urls.append(attrs[name])
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            self.csp = attrs["content"]
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def test_page_is_self_contained_problems_first_and_its_script_is_the_one_the_policy_allows():
    import base64
    import hashlib

    rows = sort_rows([row("ok-1", seen()),
                      row("locked", seen(), facts(issued=[NOW - 600, NOW - 300, NOW - 60])),
                      row("<b>x</b>", seen(app_state="crashed"))])
    page = render_status_html({"generated_at": iso(NOW), "listened_s": 5.0, "counts": counts(rows), "clients": rows,
                               "lockout": {"limit": 3, "window_s": 900.0, "cooldown_s": 60.0},
                               "max_heartbeat_age_s": 90.0})
    parsed = Page()
    parsed.feed(page)
    assert parsed.urls == []  # nothing fetched: no href/src anywhere
    assert [r["data-host"] for r in parsed.rows] == ["<b>x</b>", "locked", "ok-1"]
    assert [r["data-severity"] for r in parsed.rows] == ["problem", "problem", "ok"]
    assert parsed.rows[1]["data-eligible-at"] == iso(NOW + 300)
    assert "<b>x</b>" not in page  # escaped
    (script,) = parsed.scripts
    digest = "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert digest == SCRIPT_HASH and f"script-src '{SCRIPT_HASH}'" in parsed.csp
    assert "default-src 'none'" in parsed.csp
    assert re.search(r"<span id=verdict class='verdict stop'>2 of 3 client\(s\)", page)
