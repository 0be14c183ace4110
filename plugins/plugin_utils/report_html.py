# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout report as ONE self-contained HTML page (inline CSS and SVG, no network resources).

``render_html(summary)`` is a pure function: summary data in, HTML string out. The
rollout_report callback builds the summary (option ``html_file``); tests feed it directly.

Summary data (every key optional except ``report``):

    {
      "title": "canary 1.1.0+b",
      "report": <rollout_summary.build_report() output>,       # hosts, waves, totals, thresholds
      "lifecycle_waves": [                                      # one per lifecycle_wave task result
        {"wave_id", "number", "action", "started_at" (RFC 3339),
         "results": {host: wave driver result with "transitions": [{"state", "elapsed_s", "at"}]}}
      ],
      "canary_waves": [                                         # playbooks/canary.yml, one per wave
        {"number", "name", "hosts", "release", "recorded": {host: label}, "drill_wave_id",
         "gate": {"decision", "reason", "executed", "ratio_pct", "threshold_pct", "failed_count",
                  "timed_out_count"},
         "reconnect": {"clients", "p50_s", "p95_s", "max_s", "baseline_s", "ceiling_s"},
         "rolled_back", "confirm_wave_id", "confirm_counts", "check_mode"}
      ]
    }

Times in the timeline are seconds from the wave's start, the unit of the reconnect figures,
drawn against the reconnect baseline and ceiling lines.
"""

import html

TERMINAL_COLOURS = {"completed": "#2e7d32", "failed": "#c62828", "timed_out": "#ef6c00", "expired": "#ad1457",
                    "blocked": "#6a1b9a", "not_sent": "#607d8b", "not_run": "#9e9e9e", "unreachable": "#4e342e"}
PHASE_COLOURS = {"published": "#90a4ae", "accepted": "#42a5f5", "held": "#8d6e63", "execution_started": "#ffb300",
                 "stabilizing": "#26a69a"}
# Controller-side phases drawn as bands (issue 18): waiting for the client's local hold, and
# the "really back" window between the agent's completed ack and the app judged stable.
BAND_PHASES = {"held": ("released", "execution_started"), "stabilizing": ()}
ROW_H = 18
LABEL_W = 150
PLOT_W = 640
RIGHT_W = 210

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#212121;background:#fafafa}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #ccc}
.verdict{display:inline-block;padding:.35em .8em;border-radius:4px;color:#fff;font-weight:bold}
.pass{background:#2e7d32}.stop{background:#c62828}.check{background:#607d8b}
table{border-collapse:collapse;background:#fff;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#eceff1}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#2e7d32}.warn{color:#ef6c00;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.meta{color:#555;font-size:.9em}.legend span{display:inline-block;margin-right:1em}
.sw{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.3em;border-radius:2px}
svg{background:#fff;border:1px solid #ddd}
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _num(value, digits=1):
    if value is None or value == "":
        return "-"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return _e(value)


def _reconnect_class(seconds, baseline, ceiling):
    if seconds is None or seconds == "":
        return ""
    seconds = float(seconds)
    if seconds > ceiling:
        return "bad"
    return "warn" if seconds > baseline else "ok"


def _verdict(summary, report):
    canary = summary.get("canary_waves") or []
    if canary and all(w.get("check_mode") for w in canary):
        return "check", "CHECK MODE - plan only, nothing was sent or changed"
    rolled = [w for w in canary if w.get("rolled_back")]
    if rolled:
        wave = rolled[0]
        reason = (wave.get("gate") or {}).get("reason")
        return "stop", (f"ROLLED BACK at wave {wave.get('number')} ({wave.get('name')}) - remaining waves not touched"
                        + (f"; gate STOP: {reason}" if reason else ""))
    if report.get("gate_stopped"):
        stopped = [w for w in report.get("waves") or [] if (w.get("gate") or {}).get("decision") == "stop"]
        reason = stopped[0]["gate"].get("reason") if stopped else None
        return "stop", (f"STOPPED by the gate after wave {report.get('stopped_after_wave')}"
                        + (f": {reason}" if reason else ""))
    not_ok = (report.get("totals") or {}).get("not_ok", 0)
    if canary:
        return "pass", f"PASSED - all {len(canary)} wave(s) passed the gate" + (
            f" ({not_ok} client(s) not ok, within the threshold)" if not_ok else "")
    return ("pass", "COMPLETED") if not not_ok else ("stop", f"COMPLETED with {not_ok} client(s) not ok")


def _canary_table(summary, baseline, ceiling):
    rows = []
    for wave in summary.get("canary_waves") or []:
        gate = wave.get("gate") or {}
        rec = wave.get("reconnect") or {}
        decision = (gate.get("decision") or "-").upper()
        confirm = wave.get("confirm_counts") or {}
        confirm_text = ", ".join(f"{k} {v}" for k, v in (confirm.get("states") or {}).items()) or "-"
        rows.append(
            "<tr>"
            f"<td class=num>{_e(wave.get('number'))}</td><td>{_e(wave.get('name'))}</td>"
            f"<td class=num>{len(wave.get('hosts') or [])}</td>"
            f"<td>{_e(', '.join(sorted(set((wave.get('recorded') or {}).values()))) or '-')} &rarr; "
            f"{_e(wave.get('release'))}</td>"
            f"<td class=num>{_e(gate.get('executed'))}</td><td class=num>{_e(gate.get('failed_count'))}</td>"
            f"<td class=num>{_e(gate.get('timed_out_count'))}</td>"
            f"<td class=num>{_num(gate.get('ratio_pct'))} % / {_num(gate.get('threshold_pct'), 0)} %</td>"
            f"<td class='{'bad' if decision == 'STOP' else 'ok'}' title='{_e(gate.get('reason'))}'>{_e(decision)}"
            + (f"<br><span class=meta>{_e(gate.get('reason'))}</span>" if decision == "STOP" else "") + "</td>"
            + "".join(f"<td class='num {_reconnect_class(rec.get(k), baseline, ceiling)}'>{_num(rec.get(k))}</td>"
                      for k in ("p50_s", "p95_s", "max_s"))
            + ("<td class=bad>yes</td>" if wave.get("rolled_back") else "<td>no</td>")
            + f"<td>{_e(confirm_text)}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Waves</h2><table id=waves><tr><th>#</th><th>wave</th><th>clients</th><th>release</th>"
            "<th>executed</th><th>failed</th><th>timed out</th><th>failure rate / threshold</th><th>gate</th>"
            "<th>reconnect p50 s</th><th>p95 s</th><th>max s</th><th>rolled back</th><th>confirm drill</th></tr>"
            + "".join(rows) + "</table>"
            + f"<p class=meta>Reconnect against the {baseline:g} s baseline (orange above) and the {ceiling:g} s "
              "ceiling (red above).</p>")


def _lifecycle_table(report):
    rows = []
    for wave in report.get("waves") or []:
        gate = wave.get("gate") or {}
        states = ", ".join(f"{k} {v}" for k, v in (wave.get("states") or {}).items())
        rows.append(f"<tr><td class=num>{_e(wave.get('number'))}</td><td>{_e(wave.get('action'))}</td>"
                    f"<td class=num>{_e(wave.get('hosts'))}</td><td>{_e(states)}</td>"
                    f"<td class=num>{_e(wave.get('executed'))}</td><td class=num>{_e(wave.get('failed'))}</td>"
                    f"<td class=num>{_e(wave.get('timed_out'))}</td>"
                    f"<td>{_e((gate.get('decision') or 'not judged').upper())}: "
                    f"{_e(gate.get('reason') or '')}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Command waves</h2><table id=command-waves><tr><th>#</th><th>action</th><th>hosts</th>"
            "<th>states</th><th>executed</th><th>failed</th><th>timed out</th><th>gate</th></tr>"
            + "".join(rows) + "</table>")


def _failed_clients(summary, report):
    """Every (host, wave) that was not ok, from the per-wave results, else from the report."""
    names = _wave_names(summary)
    rows = []
    for wave in summary.get("lifecycle_waves") or []:
        for host, res in sorted((wave.get("results") or {}).items()):
            if res.get("ok"):
                continue
            rows.append((host, names.get(wave.get("wave_id"), f"wave {wave.get('number')}"), res.get("state"),
                         res.get("error_code"), res.get("error_message")))
    if not summary.get("lifecycle_waves"):
        for rec in report.get("hosts") or []:
            if not rec.get("ok"):
                rows.append((rec["host"], f"wave {rec.get('wave')}", rec.get("state"), rec.get("error_code"),
                             rec.get("error_message")))
    body = "".join(f"<tr class=failed-client><td>{_e(h)}</td><td>{_e(w)}</td>"
                   f"<td style='color:{TERMINAL_COLOURS.get(s, '#000')}'><b>{_e(s)}</b></td>"
                   f"<td>{_e(c)}</td><td>{_e(m)}</td></tr>" for h, w, s, c, m in rows)
    if not rows:
        return "<h2>Clients not ok</h2><p id=failed-clients class=ok>None: every client did what was asked.</p>"
    return ("<h2>Clients not ok</h2><table id=failed-clients><tr><th>client</th><th>wave</th><th>state</th>"
            "<th>error code</th><th>error</th></tr>" + body + "</table>")


def _not_touched(report):
    hosts = [rec["host"] for rec in report.get("hosts") or [] if rec.get("state") == "not_run"]
    if not hosts:
        return ""
    return (f"<p id=not-touched class=meta><b>Not touched</b> (the rollout stopped before their wave): "
            f"{len(hosts)} client(s): {_e(', '.join(hosts))}</p>")


def _wave_names(summary):
    names = {}
    for wave in summary.get("canary_waves") or []:
        if wave.get("drill_wave_id"):
            names[wave["drill_wave_id"]] = f"wave {wave.get('number')} ({wave.get('name')}): drill"
        if wave.get("confirm_wave_id"):
            names[wave["confirm_wave_id"]] = f"wave {wave.get('number')} ({wave.get('name')}): rollback confirm drill"
    return names


def _timeline(wave, title, baseline, ceiling):
    results = sorted((wave.get("results") or {}).items())
    if not results:
        return ""
    longest = 0.0
    for _host, res in results:
        for t in res.get("transitions") or []:
            longest = max(longest, float(t.get("elapsed_s") or 0))
    span = max(ceiling * 1.1, longest * 1.05, 1.0)

    def x(seconds):
        return LABEL_W + PLOT_W * min(seconds, span) / span

    height = ROW_H * len(results) + 34
    width = LABEL_W + PLOT_W + RIGHT_W
    parts = [f"<svg class=timeline xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"role='img' aria-label='{_e(title)}'>"]
    step = 30 if span <= 300 else 60
    tick = 0
    while tick <= span:
        parts.append(f"<line x1='{x(tick):.1f}' y1='14' x2='{x(tick):.1f}' y2='{height - 4}' stroke='#eee'/>"
                     f"<text x='{x(tick):.1f}' y='11' font-size='9' text-anchor='middle' fill='#777'>{tick}s</text>")
        tick += step
    for limit, colour, name in ((baseline, "#ef6c00", "baseline"), (ceiling, "#c62828", "ceiling")):
        parts.append(f"<line class='limit-{name}' x1='{x(limit):.1f}' y1='14' x2='{x(limit):.1f}' y2='{height - 4}' "
                     f"stroke='{colour}' stroke-dasharray='4 3' stroke-width='1.5'/>"
                     f"<text x='{x(limit) + 3:.1f}' y='{height - 6}' font-size='9' fill='{colour}'>"
                     f"{limit:g}s {name}</text>")
    for row, (host, res) in enumerate(results):
        y = 18 + row * ROW_H
        state = res.get("state") or "?"
        colour = TERMINAL_COLOURS.get(state, "#000")
        times = {t.get("state"): float(t.get("elapsed_s") or 0) for t in res.get("transitions") or []}
        end = max(times.values()) if times else 0.0
        weight = "bold" if not res.get("ok") else "normal"
        stability = (res.get("stability") or {}).get("verdict")
        extra = (f" data-stability='{_e(stability)}'" if stability else "") + (
            f" data-held-by='{_e((res.get('hold') or {}).get('owner'))}'" if res.get("hold") else "")
        parts.append(f"<g class='client {'not-ok' if not res.get('ok') else 'ok'}' data-host='{_e(host)}' "
                     f"data-state='{_e(state)}'{extra}><title>{_e(host)}: {_e(state)} "
                     f"{_e(res.get('error_code') or '')} "
                     f"{_e(res.get('error_message') or '')}</title>"
                     f"<text x='4' y='{y + 12}' font-size='11' font-weight='{weight}' fill='{colour}'>"
                     f"{_e(host)}</text>")
        start = times.get("published", times.get("queued", 0.0))
        if "execution_started" in times:
            phase_end = times.get(state, end) if state in times else end
            parts.append(f"<rect x='{x(times['execution_started']):.1f}' y='{y + 4}' "
                         f"width='{max(1.0, x(phase_end) - x(times['execution_started'])):.1f}' height='9' "
                         f"fill='{colour}' opacity='0.35'/>")
        parts.append(f"<line x1='{x(start):.1f}' y1='{y + 8.5}' x2='{x(end):.1f}' y2='{y + 8.5}' stroke='{colour}'/>")
        for phase, phase_colour in PHASE_COLOURS.items():
            if phase in times:
                parts.append(f"<circle cx='{x(times[phase]):.1f}' cy='{y + 8.5}' r='3' fill='{phase_colour}'/>")
        for phase, ends in BAND_PHASES.items():
            if phase not in times:
                continue
            stop = next((times[e] for e in ends if e in times), times.get(state, end))
            parts.append(f"<rect class='phase-{phase}' x='{x(times[phase]):.1f}' y='{y + 1}' "
                         f"width='{max(1.0, x(stop) - x(times[phase])):.1f}' height='3' fill='{PHASE_COLOURS[phase]}'>"
                         f"<title>{_e(phase)} {stop - times[phase]:.1f} s</title></rect>")
        if state in times:
            parts.append(f"<rect x='{x(times[state]) - 3:.1f}' y='{y + 3}' width='6' height='11' fill='{colour}'/>")
        reconnect = res.get("reconnect_s")
        detail = f"{state}" + (f" {float(reconnect):.1f}s" if reconnect is not None else "") + (
            f" {res.get('error_code')}" if res.get("error_code") and not res.get("ok") else "") + (
            f" app {stability}" if stability else "")
        parts.append(f"<text x='{LABEL_W + PLOT_W + 6}' y='{y + 12}' font-size='11' font-weight='{weight}' "
                     f"fill='{colour}'>{_e(detail)}</text></g>")
    parts.append("</svg>")
    return f"<h3>{_e(title)}</h3>" + "".join(parts)


def _legend():
    items = [f"<span><i class=sw style='background:{c}'></i>{_e(p.replace('_', ' '))}</span>"
             for p, c in PHASE_COLOURS.items()]
    items += [f"<span><i class=sw style='background:{TERMINAL_COLOURS[s]}'></i>{s.replace('_', ' ')}</span>"
              for s in ("completed", "failed", "timed_out", "blocked")]
    return "<p class='legend meta'>" + "".join(items) + "</p>"


def render_html(summary):
    """Return the whole report page as a string (UTF-8 text, nothing fetched from anywhere)."""
    report = summary.get("report") or {}
    thresholds = report.get("thresholds") or {}
    canary = summary.get("canary_waves") or []
    first_rec = (canary[0].get("reconnect") or {}) if canary else {}
    baseline = float(first_rec.get("baseline_s") or thresholds.get("reconnect_warn_s") or 90.0)
    ceiling = float(first_rec.get("ceiling_s") or thresholds.get("reconnect_ceiling_s") or 150.0)
    kind, verdict = _verdict(summary, report)
    title = summary.get("title") or "infoscreen rollout report"
    totals = report.get("totals") or {}
    names = _wave_names(summary)
    timelines = "".join(
        _timeline(wave, names.get(wave.get("wave_id"), f"wave {wave.get('number')} ({wave.get('action')})"),
                  baseline, ceiling)
        for wave in sorted(summary.get("lifecycle_waves") or [], key=lambda w: w.get("number") or 0))
    unit = "Times in seconds from the wave's start."
    states = ", ".join(f"{k} {v}" for k, v in (totals.get("states") or {}).items())
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p><span id=verdict class='verdict {kind}'>{_e(verdict)}</span></p>"
        f"<p class=meta>generated {_e(report.get('generated_at'))}; {_e(totals.get('hosts', 0))} client(s): "
        f"{_e(states)}</p>"
        + _canary_table(summary, baseline, ceiling)
        + ("" if canary else _lifecycle_table(report))
        + _not_touched(report)
        + _failed_clients(summary, report)
        + ("<h2>Per-client timeline</h2><p class=meta>Phases of each client's command (published, accepted, "
           "held while the client's local hold lasted, execution started, stabilizing while the app had to run "
           f"for the stability window on the new boot, terminal) and its reconnect time. {_e(unit)}</p>"
           + _legend() + timelines
           if timelines else "")
        + "</body></html>\n")


__all__ = ["render_html"]
