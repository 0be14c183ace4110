# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions that summarise lifecycle waves: counts, the wave gate, the rollout report.

Used by the wave driver, the wave_gate action and the rollout_report callback (and meant for
any later renderer, e.g. HTML). No Ansible, no I/O except the returned strings.

Report data structure (``build_report``; "schema": "infoscreen.rollout_report/1"):

    {
      "schema": "infoscreen.rollout_report/1",
      "generated_at": "<RFC 3339>",
      "thresholds": {"reconnect_warn_s": 90.0, "reconnect_ceiling_s": 150.0},
      "hosts": [                       # every host the play targeted, never dropped
        {"host", "wave", "wave_id", "client_uuid", "action", "command_id",
         "state",                      # completed|failed|timed_out|expired|blocked|not_sent|
                                       # unreachable|not_run (gate stopped / play ended first)
         "ok",                         # bool: the host did what was asked
         "reconnect_s", "reconnect_verdict",   # ok|slow|over_ceiling|None
         "error_code", "error_message", "eligible_at",
         "stability",                  # "really back": {window_s, verdict, running_s, stable_s, ...} | None
         "hold", "held_s"}             # the client's local hold while the command waited | None
      ],
      "waves": [
        {"number", "wave_id", "action", "hosts", "states": {state: n}, "executed", "failed",
         "timed_out", "ok", "gate": {...gate_decision...} | None}
      ],
      "totals": {"hosts": n, "states": {state: n}, "ok": n, "not_ok": n},
      "gate_stopped": bool, "stopped_after_wave": n | None
    }
"""

import datetime
import math
from xml.sax.saxutils import quoteattr

REPORT_SCHEMA = "infoscreen.rollout_report/1"
DEFAULT_THRESHOLD_PCT = 5.0
DEFAULT_MIN_EXECUTED = 1
FAILURE_STATES = ("failed", "expired")


def wave_counts(results):
    """Counts of one wave from ``{host: result}`` (results of the wave driver).

    executed = commands actually sent (the broker acknowledged the publish; not blocked, not
    refused for bad inventory, not left unsent by a broker outage);
    failed = executed and failed/expired, or completed above the reconnect ceiling;
    timed_out = executed and no terminal ack in time;
    unreachable = hosts of the wave that dropped out of the play before its command
    (Ansible-unreachable or failed in an earlier task): never sent, they count against the wave;
    not_executed = {error_code or state: n} of every host that got no command.
    """
    states = {}
    not_executed = {}
    executed = failed = timed_out = ok = unreachable = 0
    for result in results.values():
        state = result.get("state")
        states[state] = states.get(state, 0) + 1
        if result.get("ok"):
            ok += 1
        if not result.get("executed"):
            if state == "unreachable":
                unreachable += 1
            key = result.get("error_code") or state
            not_executed[key] = not_executed.get(key, 0) + 1
            continue
        executed += 1
        if state == "timed_out":
            timed_out += 1
        elif state in FAILURE_STATES or (state == "completed" and not result.get("ok")):
            failed += 1
    return {"hosts": len(results), "states": dict(sorted(states.items())), "executed": executed,
            "failed": failed, "timed_out": timed_out, "ok": ok, "unreachable": unreachable,
            "not_executed": dict(sorted(not_executed.items()))}


def check_gate_options(threshold_pct, min_executed):
    """Raise ValueError naming the option unless 0 <= threshold_pct <= 100 and min_executed >= 1."""
    if isinstance(threshold_pct, bool) or not isinstance(threshold_pct, (int, float)) \
            or math.isnan(threshold_pct) or threshold_pct < 0 or threshold_pct > 100:
        raise ValueError(f"threshold_pct must be a number between 0 and 100, got {threshold_pct!r}")
    if isinstance(min_executed, bool) or not isinstance(min_executed, int) or min_executed < 1:
        raise ValueError(f"min_executed must be an integer of at least 1, got {min_executed!r}")


def gate_decision(counts, threshold_pct=DEFAULT_THRESHOLD_PCT, min_executed=DEFAULT_MIN_EXECUTED, *,
                  check_mode=False):
    """Stop the remaining waves when the wave proved too little or failed too much.

    - fewer than ``min_executed`` commands executed (zero included: broker unreachable, every
      client blocked, nothing valid) is a STOP: nothing sent is never a pass;
    - otherwise STOP when (failed + timed_out + unreachable) / (executed + unreachable) >
      threshold_pct (strictly); hosts that dropped out of the play count against the wave.
    In check mode nothing is sent by design: the gate is not judged (continue, said so).
    """
    check_gate_options(threshold_pct, min_executed)
    # A wave smaller than min_executed (the last batch) needs all its hosts executed, never zero;
    # a first wave smaller than min_executed is refused before the rollout (wave_plan.py).
    needed = min(int(min_executed), max(1, counts.get("hosts", min_executed)))
    executed = counts["executed"]
    unreachable = counts.get("unreachable", 0)
    bad = counts["failed"] + counts["timed_out"] + unreachable
    judged = executed + unreachable
    ratio = (100.0 * bad / judged) if judged else 0.0
    gate = {"executed": executed, "failed": counts["failed"], "timed_out": counts["timed_out"],
            "unreachable": unreachable, "ratio_pct": round(ratio, 3), "threshold_pct": float(threshold_pct),
            "min_executed": int(min_executed)}
    missing = ", ".join(f"{key} {n}" for key, n in (counts.get("not_executed") or {}).items())
    missing = f" (not executed: {missing})" if missing else ""
    formula = (f"(failed {counts['failed']} + timed_out {counts['timed_out']}"
               + (f" + unreachable {unreachable}) / (executed {executed} + unreachable {unreachable})"
                  if unreachable else f") / executed {executed}")
               + f" = {ratio:.1f} %")
    if check_mode:
        gate.update(decision="continue", reason="check mode: nothing was sent, the gate is not judged")
    elif executed < needed:
        what = "nothing executed" if executed == 0 else "too few executed"
        of = f" (all {needed} host(s) of this wave)" if needed < min_executed else ""
        gate.update(decision="stop", reason=f"{what}: executed {executed} < min_executed {needed}{of}{missing}; "
                                            "a wave that proved nothing is never a pass")
    elif ratio > threshold_pct:
        gate.update(decision="stop", reason=f"{formula} > {threshold_pct:g} %")
    else:
        gate.update(decision="continue", reason=f"{formula} <= {threshold_pct:g} %")
    return gate


def host_record(host, result=None, state=None, error_message=None, wave=None):
    """One row of the report from a wave result, or a bare state (unreachable, not_run)."""
    result = result or {}
    return {
        "host": host,
        "wave": result.get("wave", wave),
        "wave_id": result.get("wave_id"),
        "client_uuid": result.get("client_uuid"),
        "action": result.get("action"),
        "command_id": result.get("command_id"),
        "state": state or result.get("state"),
        "ok": bool(result.get("ok")) if state is None else False,
        "reconnect_s": result.get("reconnect_s"),
        "reconnect_verdict": result.get("reconnect_verdict"),
        "error_code": result.get("error_code") if state is None else state,
        "error_message": error_message if error_message is not None else result.get("error_message"),
        "eligible_at": result.get("eligible_at"),
        "stability": result.get("stability"),
        "hold": result.get("hold"),
        "held_s": result.get("held_s"),
    }


def phase_text(record):
    """The held and stability phases of one record, for the table's APP column ('' if none)."""
    parts = []
    hold = record.get("hold")
    if hold:
        held = record.get("held_s")
        owner = hold.get("owner")
        parts.append(f"held {held:.0f} s by {owner}" if held is not None else f"held by {owner}")
    stability = record.get("stability")
    if stability:
        verdict = stability.get("verdict")
        if verdict == "stable":
            parts.append(f"app stable {stability.get('running_s', 0):g} s")
        else:
            parts.append(f"app {verdict} (window {stability.get('window_s', 0):g} s)")
    return "; ".join(parts)


def build_report(hosts, waves, *, play_hosts=(), warn_s=90.0, ceiling_s=150.0, now=None):
    """Assemble the report.

    hosts: ``{host: record}`` (see host_record); waves: list of wave dicts with "number",
    "wave_id", "action", "counts" and "gate"; play_hosts: every host the play targeted, so
    hosts that were never reached appear as ``not_run`` instead of being dropped.
    """
    records = dict(hosts)
    for host in play_hosts:
        if host not in records:
            records[host] = host_record(host, state="not_run",
                                        error_message="not reached: the play ended before this host's wave")
    ordered = sorted(records.values(), key=lambda r: (r["wave"] is None, r["wave"] or 0, r["host"]))
    wave_rows = []
    stopped_after = None
    for wave in sorted(waves, key=lambda w: w.get("number") or 0):
        counts = wave.get("counts") or {}
        gate = wave.get("gate")
        wave_rows.append({"number": wave.get("number"), "wave_id": wave.get("wave_id"), "action": wave.get("action"),
                          "hosts": counts.get("hosts", 0), "states": counts.get("states", {}),
                          "executed": counts.get("executed", 0), "failed": counts.get("failed", 0),
                          "timed_out": counts.get("timed_out", 0), "ok": counts.get("ok", 0), "gate": gate})
        if gate and gate.get("decision") == "stop" and stopped_after is None:
            stopped_after = wave.get("number")
    states = {}
    for record in ordered:
        states[record["state"]] = states.get(record["state"], 0) + 1
    ok = sum(1 for record in ordered if record["ok"])
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "thresholds": {"reconnect_warn_s": float(warn_s), "reconnect_ceiling_s": float(ceiling_s)},
        "hosts": ordered,
        "waves": wave_rows,
        "totals": {"hosts": len(ordered), "states": dict(sorted(states.items())), "ok": ok,
                   "not_ok": len(ordered) - ok},
        "gate_stopped": stopped_after is not None,
        "stopped_after_wave": stopped_after,
    }


def _reconnect_text(record, warn_s, ceiling_s):
    seconds = record.get("reconnect_s")
    if seconds is None:
        return "-"
    mark = {"ok": f"<= {warn_s:g}", "slow": f"> {warn_s:g} WARN", "over_ceiling": f"> {ceiling_s:g} FAIL"}
    return f"{seconds:.1f} s ({mark.get(record.get('reconnect_verdict'), '?')})"


def render_table(report, max_error=60):
    """Plain-text lines: per-host table, per-wave totals with the gate decision, totals."""
    warn_s = report["thresholds"]["reconnect_warn_s"]
    ceiling_s = report["thresholds"]["reconnect_ceiling_s"]
    # The APP column (held / stability phases) only when some host had one: older reports
    # keep their shape.
    phases = any(phase_text(record) for record in report["hosts"])
    rows = [("HOST", "WAVE", "STATE", "RECONNECT") + (("APP",) if phases else ()) + ("ERROR",)]
    for record in report["hosts"]:
        error = ""
        if record.get("error_code") or record.get("error_message"):
            error = f"{record.get('error_code') or ''}: {record.get('error_message') or ''}".strip(": ")
        if record.get("state") == "blocked" and record.get("eligible_at"):
            error = f"{error} (eligible at {record['eligible_at']})" if "eligible at" not in error else error
        if len(error) > max_error:
            error = error[: max_error - 3] + "..."
        rows.append((record["host"], "-" if record.get("wave") is None else str(record["wave"]), record["state"],
                     _reconnect_text(record, warn_s, ceiling_s)) + ((phase_text(record) or "-",) if phases else ())
                    + (error,))
    fixed = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(fixed)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:fixed])) + "  " + row[fixed]
             for row in rows]
    lines = [line.rstrip() for line in lines]
    lines.append("")
    for wave in report["waves"]:
        states = ", ".join(f"{state} {count}" for state, count in wave["states"].items())
        gate = wave.get("gate")
        gate_text = f"gate {gate['decision'].upper()}: {gate['reason']}" if gate else "gate not judged"
        lines.append(f"wave {wave['number']} ({wave['action']}): {wave['hosts']} hosts [{states}]; "
                     f"executed {wave['executed']}, failed {wave['failed']}, timed_out {wave['timed_out']}; "
                     f"{gate_text}")
    totals = report["totals"]
    states = ", ".join(f"{state} {count}" for state, count in totals["states"].items())
    lines.append(f"total: {totals['hosts']} hosts [{states}]; ok {totals['ok']}, not ok {totals['not_ok']}"
                 + (f"; remaining waves STOPPED by the gate after wave {report['stopped_after_wave']}"
                    if report["gate_stopped"] else ""))
    return lines


def render_junit(report):
    """JUnit XML: one testsuite per wave (plus one for hosts without a wave), one testcase per
    host, and per judged wave a testcase "gate" that fails when the gate said stop (with why)."""
    groups = {}
    for record in report["hosts"]:
        groups.setdefault(record.get("wave"), []).append(record)
    gates = {wave.get("number"): wave["gate"] for wave in report.get("waves") or [] if wave.get("gate")}
    for number in gates:
        groups.setdefault(number, [])
    suites = []
    for wave, records in sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        name = f"wave {wave}" if wave is not None else "not in a wave"
        failures = sum(1 for r in records if not r["ok"] and r["state"] not in ("not_run", "not_sent"))
        skipped = sum(1 for r in records if r["state"] in ("not_run", "not_sent"))
        cases = []
        for record in records:
            body = ""
            message = f"{record['state']}: {record.get('error_code') or ''} {record.get('error_message') or ''}".strip()
            if record["state"] in ("not_run", "not_sent"):
                body = f"<skipped message={quoteattr(message)}/>"
            elif not record["ok"]:
                body = f"<failure type={quoteattr(record['state'])} message={quoteattr(message)}/>"
            seconds = record.get("reconnect_s") or 0.0
            cases.append(f'    <testcase classname={quoteattr("infoscreen." + (record.get("action") or "lifecycle"))} '
                         f'name={quoteattr(record["host"])} time="{seconds:.3f}">{body}</testcase>')
        gate = gates.get(wave)
        if gate:
            body = ""
            if gate.get("decision") == "stop":
                failures += 1
                body = f"<failure type=\"gate_stop\" message={quoteattr('gate STOP: ' + str(gate.get('reason')))}/>"
            cases.append(f'    <testcase classname="infoscreen.gate" name="gate" time="0.000">{body}</testcase>')
        suites.append(f'  <testsuite name={quoteattr(name)} tests="{len(cases)}" failures="{failures}" '
                      f'errors="0" skipped="{skipped}">\n' + "\n".join(cases) + "\n  </testsuite>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="infoscreen rollout">\n'
            + "\n".join(suites) + "\n</testsuites>\n") if suites else \
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="infoscreen rollout"/>\n'


__all__ = ["REPORT_SCHEMA", "build_report", "check_gate_options", "gate_decision", "host_record", "phase_text",
           "render_junit", "render_table", "wave_counts"]
