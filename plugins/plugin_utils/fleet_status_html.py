# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet status as ONE self-contained HTML page: inline CSS and one inline script, nothing fetched.

``render_status_html(status)`` is a pure function (the document of fleet_status.read_status in, HTML
out), in the house style of plugins/plugin_utils/report_html.py. Rows come problems first; clicking a
column heading sorts by it (again: reverse), and ``#sort=COLUMN`` in the address sorts on load. The
Content-Security-Policy allows only this page's own script, by its SHA-256, and inline styles.
"""

import base64
import hashlib
import html

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import cells, duration

SEVERITY_COLOURS = {"problem": "#c62828", "attention": "#ef6c00", "ok": "#2e7d32"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#212121;background:#fafafa}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #ccc}
.verdict{display:inline-block;padding:.35em .8em;border-radius:4px;color:#fff;font-weight:bold}
.pass{background:#2e7d32}.stop{background:#c62828}.check{background:#ef6c00}
table{border-collapse:collapse;background:#fff;font-size:.85em}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eceff1;cursor:pointer;user-select:none;white-space:nowrap}th.sorted-asc::after{content:" \\25B2"}
th.sorted-desc::after{content:" \\25BC"}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.sev-problem td:first-child{border-left:5px solid #c62828}
tr.sev-attention td:first-child{border-left:5px solid #ef6c00}
tr.sev-ok td:first-child{border-left:5px solid #2e7d32}
.ok{color:#2e7d32}.warn{color:#ef6c00;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.meta{color:#555;font-size:.9em}details{font-size:.9em}summary{cursor:pointer}
ul.problems{margin:0;padding-left:1.1em;min-width:16em}code{font-size:.95em}
td[data-column=host],td[data-column=state],td[data-column=boot]{white-space:nowrap}
"""

# Sorts the table by the data-sort values of a column (numbers numerically); the initial order
# (problems first) is the page's own, so the page reads the same without the script.
SCRIPT = """
(function () {
  var table = document.getElementById("fleet-status");
  if (!table) { return; }
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function key(row, index) {
    var cell = row.cells[index];
    var value = cell.getAttribute("data-sort");
    if (value === null) { value = cell.textContent; }
    var number = Number(value);
    return value !== "" && !isNaN(number) ? number : value.toLowerCase();
  }
  function sortBy(index, descending) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, index), y = key(b, index);
      var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
      if (order === 0) { order = Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order")); }
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < heads.length; i++) { heads[i].className = ""; }
    heads[index].className = descending ? "sorted-desc" : "sorted-asc";
    table.setAttribute("data-sorted-by", heads[index].getAttribute("data-column") + (descending ? ":desc" : ":asc"));
  }
  for (var i = 0; i < heads.length; i++) {
    (function (index) {
      heads[index].addEventListener("click", function () {
        sortBy(index, heads[index].className === "sorted-asc");
      });
    })(i);
  }
  var wanted = /sort=([a-z_]+)(:desc)?/.exec(window.location.hash || "");
  if (wanted) {
    for (var j = 0; j < heads.length; j++) {
      if (heads[j].getAttribute("data-column") === wanted[1]) { sortBy(j, !!wanted[2]); }
    }
  }
  table.setAttribute("data-sortable", "ready");
})();
"""

SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")

# (column key of fleet_status.cells, heading, sort value of a row)
HTML_COLUMNS = (
    ("state", "state", lambda r: r["rank"]),
    ("host", "client", lambda r: r["host"]),
    ("liveness", "online / silent", lambda r: r["liveness"]),
    ("age", "heartbeat age", lambda r: -1 if r.get("heartbeat_age_s") is None else r["heartbeat_age_s"]),
    ("app", "app", lambda r: r.get("app_state") or ""),
    ("boot", "boot id", lambda r: r.get("boot_id") or ""),
    ("release", "release", lambda r: r.get("release") or ""),
    ("reconnects", "reconnects", lambda r: -1 if r.get("reconnect_count") is None else r["reconnect_count"]),
    ("last_disconnect", "last disconnect", lambda r: r.get("last_disconnect_at") or ""),
    ("service_failed", "service_failed", lambda r: (r.get("service_failed") or {}).get("since") or ""),
    ("lockout", "lockout budget / next allowed",
     lambda r: (r.get("lockout") or {}).get("eligible_at_epoch") or 0),
    ("last_command", "last command", lambda r: (r.get("last_command") or {}).get("issued_at_epoch") or 0),
    ("identity", "identity", lambda r: 1 if r.get("identity_conflict") else 0),
    ("held", "held", lambda r: (r.get("held") or {}).get("owner") or ""),
    ("problems", "why", lambda r: len(r.get("problems") or [])),
)


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _cell(key, row, text):
    if key == "state":
        colour = SEVERITY_COLOURS[row["severity"]]
        return f"<b style='color:{colour}'>{_e(text)}</b>"
    if key == "liveness":
        return f"<span class={'ok' if row['online'] else 'bad'}>{_e(text)}</span>"
    if key == "app" and row.get("app_state") in ("crashed", "stopped"):
        return f"<span class=bad>{_e(text)}</span>"
    if key == "service_failed" and row.get("service_failed"):
        failed = row["service_failed"]
        klass = "warn" if failed.get("current_boot") is False else "bad"
        return (f"<span class='{klass} service-failed' data-unit='{_e(failed['unit'])}'>{_e(failed['unit'])}</span>"
                f"<br><span class=meta>since {_e(failed['since'])}"
                + (" (earlier boot)" if failed.get("current_boot") is False else "") + "</span>")
    if key == "lockout" and row.get("lockout"):
        lock = row["lockout"]
        if lock["allowed"]:
            return f"<span class=ok>{_e(lock['budget_left'])}/{_e(lock['limit'])} left</span><br>" \
                   "<span class=meta>allowed now</span>"
        klass = "bad" if lock["code"] == "lockout" else "warn"
        labels = {"lockout": "LOCKED OUT", "cooldown": "cooldown", "in_flight": "in flight"}
        label = labels.get(lock["code"], lock["code"])
        return (f"<span class={klass}>{_e(label)}</span> {_e(lock['budget_left'])}/{_e(lock['limit'])} left<br>"
                f"next allowed <time class=eligible-at datetime='{_e(lock['eligible_at'])}'>"
                f"{_e(lock['eligible_at'])}</time><br><span class=meta>in {_e(duration(lock['eligible_in_s']))}"
                "</span>")
    if key == "last_command" and row.get("recent_commands"):
        last = row["recent_commands"][0]
        klass = {"completed": "ok", "failed": "bad", "timed_out": "bad", "expired": "bad", "blocked": "warn"}.get(
            last["state"], "")
        more = "".join(
            f"<li>{_e(c['issued_at'])} {_e(c['action'])} <b>{_e(c['state'])}</b>"
            + (f" {_e(c['error_code'])}" if c.get("error_code") else "")
            + (f": {_e(c['error_message'])}" if c.get("error_message") else "") + "</li>"
            for c in row["recent_commands"])
        return (f"{_e(last['action'])} <span class={klass or 'meta'}>{_e(last['state'])}</span>"
                + (f" <span class=meta>{_e(last['error_code'])}</span>" if last.get("error_code") else "")
                + f"<br><span class=meta>{_e(last['issued_at'])}</span>"
                + f"<details><summary>last {len(row['recent_commands'])}</summary><ul>{more}</ul></details>")
    if key == "identity" and row.get("identity_conflict"):
        return f"<span class=bad title='{_e(row.get('identity_detail'))}'>CONFLICT</span>"
    if key == "held" and row.get("held"):
        return f"<span class='warn held'>{_e(text)}</span>"
    if key == "problems":
        items = "".join(f"<li>{_e(p)}</li>" for p in row.get("problems") or [])
        ack = row.get("last_ack")
        if ack:
            items += (f"<li class=meta>last service_failed acknowledgement {_e(ack.get('at'))}: "
                      f"{_e(ack.get('reason'))}</li>")
        return f"<ul class=problems>{items}</ul>" if items else "<span class=ok>-</span>"
    return _e(text)


def _row(order, row):
    texts = cells(row)
    tds = []
    for key, _title, sort_value in HTML_COLUMNS:
        value = sort_value(row)
        klass = " class=num" if key in ("age", "reconnects") else ""
        tds.append(f"<td data-column='{key}' data-sort='{_e(value)}'{klass}>{_cell(key, row, texts.get(key, ''))}</td>")
    lock = row.get("lockout") or {}
    return (f"<tr class='client sev-{row['severity']}' data-order='{order}' data-host='{_e(row['host'])}' "
            f"data-severity='{row['severity']}' data-eligible-at='{_e(lock.get('eligible_at') or '')}'>"
            + "".join(tds) + "</tr>")


def _verdict(status):
    counts = status.get("counts") or {}
    if counts.get("problem"):
        return "stop", f"{counts['problem']} of {counts.get('clients', 0)} client(s) need attention now"
    if counts.get("attention"):
        return "check", f"no client down; {counts['attention']} client(s) to look at"
    return "pass", f"all {counts.get('clients', 0)} client(s) ok"


def render_status_html(status, title="infoscreen fleet status"):
    """The whole page as a string (UTF-8 text, nothing fetched from anywhere)."""
    counts = status.get("counts") or {}
    kind, verdict = _verdict(status)
    lock = status.get("lockout") or {}
    heads = "".join(f"<th data-column='{key}'>{_e(title_)}</th>" for key, title_, _sort in HTML_COLUMNS)
    rows = "".join(_row(order, row) for order, row in enumerate(status.get("clients") or []))
    ledger_note = (f"<p id=ledger-error class=bad>The ledger could not be read: {_e(status['ledger_error'])}; "
                   "lockout and command columns are empty.</p>" if status.get("ledger_error") else "")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src '{SCRIPT_HASH}'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p><span id=verdict class='verdict {kind}'>{_e(verdict)}</span></p>"
        f"<p class=meta id=summary>generated {_e(status.get('generated_at'))} after listening "
        f"{_e(status.get('listened_s'))} s: {_e(counts.get('clients', 0))} client(s), "
        f"{_e(counts.get('online', 0))} online, {_e(counts.get('silent', 0))} silent, "
        f"{_e(counts.get('locked_out', 0))} locked out, {_e(counts.get('service_failed', 0))} with service_failed, "
        f"{_e(counts.get('held', 0))} held. Silent = no heartbeat or health within the listen or the last one older "
        f"than {_e(status.get('max_heartbeat_age_s'))} s. Lockout: {_e(lock.get('limit'))} reboot-class commands per "
        f"{_e(lock.get('window_s'))} s, {_e(lock.get('cooldown_s'))} s cooldown after a failure.</p>"
        + ledger_note
        + "<p class=meta>Problems first (red), then to look at (orange), then ok. Click a heading to sort.</p>"
        f"<table id=fleet-status><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>"
        f"<script>{SCRIPT}</script></body></html>\n")


__all__ = ["render_status_html", "SCRIPT_HASH"]
