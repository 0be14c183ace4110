"""Issue 18: the rollout report and the HTML timeline show the held and stability phases."""

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.report_html import render_html
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import (
    build_report,
    host_record,
    render_table,
)


def result(host, state, ok, *, stability=None, hold=None, held_s=None, error_code=None, transitions=()):
    return {"host": host, "wave": 1, "wave_id": "w1", "client_uuid": None, "action": "reboot_host",
            "command_id": None, "state": state, "ok": ok, "reconnect_s": 4.2, "reconnect_verdict": "ok",
            "error_code": error_code, "error_message": "app crashed" if error_code else None, "eligible_at": None,
            "stability": stability, "hold": hold, "held_s": held_s,
            "transitions": [{"state": s, "elapsed_s": t} for s, t in transitions]}


STABLE = {"window_s": 45.0, "verdict": "stable", "running_s": 46.0, "stable_s": 47.0}
CRASHED = {"window_s": 45.0, "verdict": "crashed", "running_s": 0.0, "stable_s": None}
HOLD = {"owner": "signage-app", "reason": "live announcement", "since": "2026-12-02T03:00:00Z"}
RESULTS = {
    "lobby-01": result("lobby-01", "completed", True, stability=STABLE,
                       transitions=[("published", 0.0), ("accepted", 0.1), ("execution_started", 0.2),
                                    ("stabilizing", 30.0), ("completed", 77.0)]),
    "lobby-02": result("lobby-02", "failed", False, stability=CRASHED, error_code="app_not_stable",
                       transitions=[("published", 0.0), ("accepted", 0.1), ("execution_started", 0.2),
                                    ("stabilizing", 31.0), ("failed", 33.0)]),
    "lobby-03": result("lobby-03", "completed", True, hold=HOLD, held_s=120.0,
                       transitions=[("published", 0.0), ("accepted", 0.1), ("held", 1.0),
                                    ("execution_started", 121.0), ("released", 121.0), ("completed", 150.0)]),
}


def report():
    return build_report({h: host_record(h, r) for h, r in RESULTS.items()}, [])


def test_table_has_an_app_column_with_the_phases():
    lines = render_table(report())
    assert "APP" in lines[0].split()
    text = "\n".join(lines)
    assert "app stable 46 s" in text
    assert "app crashed (window 45 s)" in text
    assert "held 120 s by signage-app" in text


def test_table_without_phases_keeps_its_columns():
    plain = {"x": dict(RESULTS["lobby-01"], stability=None)}
    lines = render_table(build_report({h: host_record(h, r) for h, r in plain.items()}, []))
    assert lines[0].split() == ["HOST", "WAVE", "STATE", "RECONNECT", "ERROR"]


def test_html_timeline_draws_the_stability_and_held_bands():
    page = render_html({"report": report(), "lifecycle_waves": [{"wave_id": "w1", "number": 1,
                                                                 "action": "reboot_host", "results": RESULTS}]})
    assert "data-host='lobby-02' data-state='failed' data-stability='crashed'" in page
    assert "data-host='lobby-01' data-state='completed' data-stability='stable'" in page
    assert page.count("class='phase-stabilizing'") == 2
    assert "data-held-by='signage-app'" in page and page.count("class='phase-held'") == 1
    assert "<title>held 120.0 s</title>" in page
