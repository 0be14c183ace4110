"""report_html.render_html: summary data in, one self-contained HTML page out."""

import re
from html.parser import HTMLParser

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.report_html import render_html
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import (
    build_report,
    gate_decision,
    host_record,
    wave_counts,
)


def result(host, state, *, wave=1, wave_id="w1", reconnect=None, error_code=None, error_message=None):
    transitions = [{"state": "queued", "elapsed_s": 0.0}, {"state": "published", "elapsed_s": 0.01}]
    if state in ("completed", "failed", "timed_out"):
        transitions.append({"state": "accepted", "elapsed_s": 0.05})
        transitions.append({"state": "execution_started", "elapsed_s": 0.06})
        transitions.append({"state": state, "elapsed_s": (reconnect or 0.5) + 0.06})
    return {"host": host, "client_uuid": None, "command_id": f"c-{host}-{wave_id}", "action": "reboot_host",
            "state": state, "ok": state == "completed" and (reconnect or 0) <= 150, "executed": True,
            "transitions": transitions if state != "blocked" else [], "reconnect_s": reconnect,
            "reconnect_verdict": None, "error_code": error_code, "error_message": error_message,
            "wave": wave, "wave_id": wave_id}


def summary(results_by_wave, canary_waves, *, play_hosts=()):
    records, waves, lifecycle = {}, [], []
    for number, (wave_id, results) in enumerate(results_by_wave, start=1):
        counts = wave_counts(results)
        waves.append({"number": number, "wave_id": wave_id, "action": "reboot_host", "counts": counts,
                      "gate": gate_decision(counts)})
        lifecycle.append({"wave_id": wave_id, "number": number, "action": "reboot_host", "results": results})
        records.update({host: host_record(host, res) for host, res in results.items()})
    report = build_report(records, waves, play_hosts=play_hosts)
    return {"title": "canary rollout of release 2.0", "report": report, "canary_waves": canary_waves,
            "lifecycle_waves": lifecycle}


def canary_wave(number, name, hosts, drill, *, rolled_back=False, confirm=None, gate=None, p=(3, 4, 5)):
    return {"number": number, "name": name, "hosts": hosts, "release": "2.0", "recorded": dict.fromkeys(hosts, "1.0"),
            "drill_wave_id": drill, "gate": gate or {"decision": "continue", "reason": "ok", "executed": len(hosts),
                                                     "ratio_pct": 0.0, "threshold_pct": 5.0, "failed_count": 0,
                                                     "timed_out_count": 0},
            "reconnect": {"clients": len(hosts), "p50_s": p[0], "p95_s": p[1], "max_s": p[2], "baseline_s": 90.0,
                          "ceiling_s": 150.0},
            "rolled_back": rolled_back, "confirm_wave_id": confirm,
            "confirm_counts": {"states": {"completed": len(hosts) - 1, "blocked": 1}} if confirm else None,
            "check_mode": False}


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.urls, self.tags = [], [], [], set()

    void = {"meta", "br", "hr", "img", "input", "link", "line", "circle", "rect"}

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href") or (value and re.match(r"^\w+://", value) and name != "xmlns"):
                self.urls.append((tag, name, value))
        if tag not in self.void:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.add(tag)

    def handle_endtag(self, tag):
        if tag in self.void:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def parse(page):
    collector = Collector()
    collector.feed(page)
    return collector


def rolled_back_summary():
    hosts = [f"client-{i:03d}" for i in range(1, 5)]
    drill = {h: result(h, "completed", reconnect=60.0 + i) for i, h in enumerate(hosts)}
    drill["client-002"] = result("client-002", "failed", error_code="helper_failed",
                                 error_message="simulated helper failure for reboot")
    confirm = {h: result(h, "completed", wave=2, wave_id="w2", reconnect=61.0) for h in hosts}
    confirm["client-002"] = result("client-002", "blocked", wave=2, wave_id="w2", error_code="cooldown")
    gate = {"decision": "stop", "reason": "(failed 1 + timed_out 0) / executed 4 = 25.0 % > 5 %", "executed": 4,
            "ratio_pct": 25.0, "threshold_pct": 5.0, "failed_count": 1, "timed_out_count": 0}
    return summary([("w1", drill), ("w2", confirm)],
                   [canary_wave(1, "canary", hosts, "w1", rolled_back=True, confirm="w2", gate=gate)],
                   play_hosts=hosts + ["client-005", "client-006"])


def test_rolled_back_rollout_shows_the_verdict_the_wave_and_the_failed_client():
    page = render_html(rolled_back_summary())
    assert "ROLLED BACK at wave 1 (canary)" in page
    assert "<td>canary</td>" in page and "STOP" in page and "25.0 % / 5 %" in page
    failed_rows = page.split("<tr class=failed-client>")[1:]
    assert len(failed_rows) == 2
    assert "client-002" in failed_rows[0] and "helper_failed" in failed_rows[0] and "drill" in failed_rows[0]
    assert "blocked" in failed_rows[1] and "rollback confirm drill" in failed_rows[1]
    assert "data-host='client-002' data-state='failed'" in page
    assert "Not touched" in page and "client-005, client-006" in page
    assert page.count("<svg") == 2


def test_passing_rollout_says_passed_and_lists_no_failed_client():
    hosts = ["a", "b"]
    page = render_html(summary([("w1", {h: result(h, "completed", reconnect=5.0) for h in hosts})],
                               [canary_wave(1, "canary", hosts, "w1")]))
    assert "PASSED - all 1 wave(s) passed the gate" in page
    assert "failed-client" not in page.replace("id=failed-clients", "")
    assert "None: every client did what was asked." in page
    assert "Not touched" not in page


def test_page_is_self_contained_and_well_formed():
    parsed = parse(render_html(rolled_back_summary()))
    assert parsed.errors == [] and parsed.stack == []
    assert parsed.urls == []
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert {"svg", "table", "style"} <= parsed.tags


def test_every_text_from_the_run_is_escaped():
    nasty = "<script>alert(1)</script>"
    data = rolled_back_summary()
    data["lifecycle_waves"][0]["results"]["client-002"]["error_message"] = nasty
    data["canary_waves"][0]["name"] = "wave & <b>"
    page = render_html(data)
    assert nasty not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "wave &amp; &lt;b&gt;" in page


def test_reconnect_times_are_shown_in_seconds_and_judged_against_baseline_and_ceiling():
    """Reconnect times are real seconds (the product never rescales them): 50 s is ok, 100 s is
    above the 90 s baseline (warn), 160 s above the 150 s ceiling (bad); the page says nothing
    of any other time unit."""
    hosts = ["fast", "slow", "over"]
    drill = {"fast": result("fast", "completed", reconnect=50.0),
             "slow": result("slow", "completed", reconnect=100.0),
             "over": result("over", "completed", reconnect=160.0)}
    page = render_html(summary([("w1", drill)], [canary_wave(1, "canary", hosts, "w1", p=(100.0, 100.0, 160.0))]))
    assert "Times in seconds from the wave" in page
    assert "simulated" not in page.lower()
    assert "completed 50.0s" in page and "completed 100.0s" in page and "completed 160.0s" in page
    assert "<td class='num warn'>100.0</td>" in page and "<td class='num bad'>160.0</td>" in page
    base = float(re.search(r"class='limit-baseline' x1='([0-9.]+)'", page).group(1))
    ceiling = float(re.search(r"class='limit-ceiling' x1='([0-9.]+)'", page).group(1))
    assert base < ceiling


def test_check_mode_and_plain_lifecycle_runs():
    hosts = ["a"]
    data = summary([("w1", {"a": result("a", "not_sent")})], [dict(canary_wave(1, "canary", hosts, "w1"),
                                                                   check_mode=True)])
    assert "CHECK MODE - plan only" in render_html(data)
    plain = summary([("w1", {"a": result("a", "completed", reconnect=4.0)})], [])
    page = render_html(plain)
    assert "COMPLETED" in page and "Command waves" in page
