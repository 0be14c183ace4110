"""Wave counts, the gate and the rollout report (pure functions)."""

import json
import xml.etree.ElementTree as ET

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import (
    build_report,
    gate_decision,
    host_record,
    render_junit,
    render_table,
    wave_counts,
)


def res(state, ok=None, executed=True, **extra):
    base = {"state": state, "ok": state == "completed" if ok is None else ok, "executed": executed,
            "action": "reboot_host", "wave": 1, "wave_id": "w1"}
    base.update(extra)
    return base


def test_wave_counts_split_executed_from_refused():
    counts = wave_counts({
        "a": res("completed"), "b": res("failed"), "c": res("timed_out"), "d": res("expired"),
        "e": res("blocked", executed=False), "f": res("failed", executed=False, error_code="invalid_inventory"),
        "g": res("completed", ok=False, error_code="reconnect_ceiling_exceeded"),
    })
    assert counts == {"hosts": 7, "states": {"blocked": 1, "completed": 2, "expired": 1, "failed": 2, "timed_out": 1},
                      "executed": 5, "failed": 3, "timed_out": 1, "ok": 1, "unreachable": 0,
                      "not_executed": {"blocked": 1, "invalid_inventory": 1}}


def counts(executed, failed, timed_out):
    return {"executed": executed, "failed": failed, "timed_out": timed_out}


def test_gate_is_strictly_greater_than_the_threshold():
    assert gate_decision(counts(20, 1, 0))["decision"] == "continue"  # exactly 5 %
    assert gate_decision(counts(20, 1, 1))["decision"] == "stop"      # 10 %
    assert gate_decision(counts(100, 3, 2))["decision"] == "continue"
    assert gate_decision(counts(100, 3, 3))["decision"] == "stop"
    gate = gate_decision(counts(19, 0, 1))
    assert gate["decision"] == "stop"
    assert gate["ratio_pct"] == pytest.approx(5.263, abs=1e-3)


def test_gate_counts_timeouts_as_failures():
    assert gate_decision(counts(5, 0, 1), min_executed=5)["decision"] == "stop"
    assert gate_decision(counts(5, 0, 0), min_executed=5)["decision"] == "continue"


def test_fewer_executed_than_min_executed_is_a_stop_never_a_pass():
    """Nothing sent is never a pass: executed < min_executed (zero included) stops the rollout,
    and the reason says what was not executed."""
    gate = gate_decision(dict(counts(0, 0, 0), not_executed={"broker_unreachable": 4}))
    assert gate["decision"] == "stop"
    assert gate["reason"].startswith("nothing executed: executed 0 < min_executed 1")
    assert "broker_unreachable 4" in gate["reason"]
    gate = gate_decision(dict(counts(3, 0, 0), not_executed={"blocked": 7}), min_executed=5)
    assert gate["decision"] == "stop"
    assert "too few executed: executed 3 < min_executed 5 (not executed: blocked 7)" in gate["reason"]


def test_check_mode_is_not_judged():
    gate = gate_decision(counts(0, 0, 0), check_mode=True)
    assert gate["decision"] == "continue" and "check mode" in gate["reason"]


def test_hosts_that_dropped_out_of_the_play_count_against_the_wave():
    """An Ansible-unreachable host never vanishes from the wave: it counts as a failure."""
    results = {"a": res("completed"), "b": res("completed"), "c": res("unreachable", executed=False,
                                                                      error_code="host_unreachable")}
    wave = wave_counts(results)
    assert (wave["executed"], wave["unreachable"], wave["not_executed"]) == (2, 1, {"host_unreachable": 1})
    gate = gate_decision(wave)
    assert gate["decision"] == "stop" and gate["ratio_pct"] == pytest.approx(33.333, abs=1e-3)
    assert "unreachable 1" in gate["reason"]


def test_gate_rejects_bad_settings():
    with pytest.raises(ValueError, match="threshold_pct"):
        gate_decision(counts(1, 0, 0), threshold_pct=120)
    with pytest.raises(ValueError, match="min_executed"):
        gate_decision(counts(1, 0, 0), min_executed=0)
    with pytest.raises(ValueError, match="threshold_pct"):
        gate_decision(counts(1, 0, 0), threshold_pct=float("nan"))
    with pytest.raises(ValueError, match="threshold_pct"):
        gate_decision(counts(1, 0, 0), threshold_pct=-1)


def _report():
    hosts = {
        "h1": host_record("h1", res("completed", reconnect_s=42.0, reconnect_verdict="ok", command_id="c1")),
        "h2": host_record("h2", res("completed", reconnect_s=120.0, reconnect_verdict="slow")),
        "h3": host_record("h3", res("blocked", executed=False, error_code="lockout", error_message="3 in 900 s",
                                    eligible_at="2026-11-27T18:00:00.000Z")),
        "h4": host_record("h4", state="unreachable", error_message="ssh: no route"),
        "h5": host_record("h5", res("timed_out", error_code="timeout", error_message="no terminal ack")),
    }
    waves = [{"number": 1, "wave_id": "w1", "action": "reboot_host",
              "counts": wave_counts({"h1": res("completed"), "h2": res("completed"), "h5": res("timed_out"),
                                     "h3": res("blocked", executed=False)}),
              "gate": gate_decision(counts(3, 0, 1))}]
    return build_report(hosts, waves, play_hosts=["h1", "h2", "h3", "h4", "h5", "h6"])


def test_report_never_drops_a_host():
    report = _report()
    by_host = {r["host"]: r for r in report["hosts"]}
    assert set(by_host) == {"h1", "h2", "h3", "h4", "h5", "h6"}
    assert by_host["h4"]["state"] == "unreachable"
    assert by_host["h3"]["state"] == "blocked"
    assert by_host["h3"]["eligible_at"] == "2026-11-27T18:00:00.000Z"
    assert by_host["h6"]["state"] == "not_run"
    assert report["totals"] == {"hosts": 6, "states": {"blocked": 1, "completed": 2, "not_run": 1, "timed_out": 1,
                                                       "unreachable": 1}, "ok": 2, "not_ok": 4}
    assert report["gate_stopped"] is True
    assert report["stopped_after_wave"] == 1
    json.dumps(report)  # plain data, ready for the JSON file


def test_table_shows_reconnect_verdicts_errors_and_gate():
    text = "\n".join(render_table(_report()))
    assert "42.0 s (<= 90)" in text
    assert "120.0 s (> 90 WARN)" in text
    assert "eligible at 2026-11-27T18:00:00.000Z" in text
    assert "unreachable" in text
    assert "gate STOP" in text
    assert "STOPPED by the gate after wave 1" in text


def test_junit_has_one_case_per_host_and_failures():
    root = ET.fromstring(render_junit(_report()))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert set(cases) == {"h1", "h2", "h3", "h4", "h5", "h6", "gate"}
    assert cases["h1"].find("failure") is None
    assert cases["gate"].find("failure").get("type") == "gate_stop"
    assert cases["h5"].find("failure").get("type") == "timed_out"
    assert cases["h4"].find("failure").get("type") == "unreachable"
    assert cases["h6"].find("skipped") is not None
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["wave 1"].get("failures") == "3"  # h2 is ok (slow), h5 timed out, h3 blocked, and the gate


def test_junit_fails_a_wave_whose_gate_stopped_with_the_reason():
    """A wave that executed nothing is a failed JUnit testcase 'gate' naming why, not a green suite."""
    records = {"h1": host_record("h1", res("failed", executed=False, error_code="broker_unreachable"))}
    wave = wave_counts({"h1": res("failed", executed=False, error_code="broker_unreachable")})
    report = build_report(records, [{"number": 1, "wave_id": "w1", "action": "reboot_host", "counts": wave,
                                     "gate": gate_decision(wave)}])
    root = ET.fromstring(render_junit(report))
    gate = next(case for case in root.iter("testcase") if case.get("name") == "gate")
    assert "nothing executed" in gate.find("failure").get("message")
    assert "gate STOP: nothing executed" in "\n".join(render_table(report))
