# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet at a glance: one MQTT listen plus the ledger, one row per client.

``read_status`` listens once (one connection for every client, plugins/plugin_utils/recover_health.py's
HealthWatcher, so "silent", "crashed", "identity conflict" and "service_failed of the current boot" are
judged exactly as recover.yml judges them) and reads the ledger (lockout decision, last command, last
service_failed acknowledgement). ``summarise`` turns one client's findings into a status row and
``sort_rows``/``console_table`` are pure, so the unit tests feed them directly.

Severity of a row (the page and the table show problems first):
- ``problem``: silent, app crashed/stopped, service_failed reported during the current boot, identity
  conflict, locked out by the safety lockout, an inventory that names no valid client_uuid;
- ``attention``: held by someone (health's optional ``hold`` object), an open service_failed report of an
  earlier boot (not acknowledged), escalation cooldown or a command in flight, last command failed;
- ``ok``: everything else.
"""

import datetime
import json
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.module_utils import lockout as _lockout
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_health import (
    BAD_APP_STATES,
    HealthWatcher,
    assess,
)

SEVERITIES = ("problem", "attention", "ok")
# The ledger action under which an acknowledged service_failed report is noted (fleet_status_ack.py).
ACK_ACTION = "service_failed_ack"
# Commands that count as "last command" (an acknowledgement is shown in its own column).
COMMAND_ACTIONS = tuple(contract.ACTIONS) + tuple(a for a in _lockout.REBOOT_CLASS_ACTIONS if a not in contract.ACTIONS)
RECENT_COMMANDS = 5


def iso(epoch):
    """RFC 3339 UTC, whole seconds; None stays None."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(float(epoch), tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds):
    """'42 s', '7 min 5 s', '2 h 3 min' for a count of seconds (None: '-')."""
    if seconds is None:
        return "-"
    seconds = max(0, int(round(float(seconds))))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class StatusWatcher(HealthWatcher):
    """HealthWatcher that also keeps the parts of health the status shows and recover does not use:
    the broker_connection block, agent_state and the optional ``hold`` object."""

    def __init__(self, params, clients, connect_timeout_s=15.0):
        super().__init__(params, clients, connect_timeout_s=connect_timeout_s)
        self.health_extra = {}  # client_uuid -> {"broker_connection", "agent_state", "hold", "sent_at"}

    def _on_message(self, client, userdata, message):
        invalid_before, retained_before = self.invalid, self.retained_ignored
        super()._on_message(client, userdata, message)
        if self.invalid != invalid_before or self.retained_ignored != retained_before or not message.payload:
            return  # rejected by the health judging: nothing of it is shown either
        parsed = contract.parse_topic(message.topic)
        if parsed is None or parsed[1] != "health" or parsed[0] not in self.by_uuid:
            return
        body = json.loads(message.payload)  # valid JSON: the contract validation above accepted it
        with self._cond:
            self.health_extra[parsed[0]] = {"broker_connection": body.get("broker_connection"),
                                            "agent_state": body.get("agent_state"), "hold": body.get("hold"),
                                            "sent_at": body.get("sent_at")}


def ledger_facts(ledger, client_uuid, now, *, limit, window_s, cooldown_s):
    """What the ledger says about one client: lockout decision, recent commands, last acknowledgement."""
    decision = ledger.lockout_decision(client_uuid, now=now, limit=limit, window_s=window_s, cooldown_s=cooldown_s)
    rows = ledger.commands(client_uuid=client_uuid, limit=4 * RECENT_COMMANDS, with_transitions=False, now=now)
    commands = [_command(r) for r in rows if r.get("action") in COMMAND_ACTIONS][:RECENT_COMMANDS]
    acks = [r for r in rows if r.get("action") == ACK_ACTION]
    last_ack = None
    if acks:
        ack = acks[0]
        last_ack = {"at": iso(ack.get("finished_at_epoch") or ack.get("issued_at_epoch")), "state": ack.get("state"),
                    "reason": ack.get("reason"), "command_id": ack.get("command_id"),
                    "report": ack.get("payload")}
    return {"lockout": decision.as_dict(), "commands": commands, "last_ack": last_ack}


def _command(row):
    return {"command_id": row.get("command_id"), "action": row.get("action"), "state": row.get("state"),
            "issued_at": iso(row.get("issued_at_epoch")), "finished_at": iso(row.get("finished_at_epoch")),
            "issued_at_epoch": row.get("issued_at_epoch"), "error_code": row.get("error_code"),
            "error_message": row.get("error_message"), "reason": row.get("reason"),
            "wave_id": row.get("wave_id")}


def _lockout_view(decision, now, limit):
    if not decision:
        return None
    recent = int(decision.get("recent_count") or 0)
    eligible = decision.get("eligible_at")
    code = decision.get("code")
    view = {"allowed": bool(decision.get("allowed")), "code": code, "limit": limit, "recent_count": recent,
            "budget_left": max(0, limit - recent), "eligible_at": iso(eligible), "eligible_at_epoch": eligible,
            "eligible_in_s": None if eligible is None else round(max(0.0, eligible - now), 1),
            "message": decision.get("message")}
    if view["allowed"]:
        view["text"] = f"{view['budget_left']}/{limit} left, allowed now"
    else:
        what = {"lockout": "LOCKED OUT", "cooldown": "cooldown", "in_flight": "command in flight"}.get(code, code)
        view["text"] = (f"{what}: {view['budget_left']}/{limit} left, next reboot-class command at "
                        f"{view['eligible_at']} (in {duration(view['eligible_in_s'])})")
    return view


def _hold_view(hold):
    if not isinstance(hold, dict):
        return None
    owner, reason, since = hold.get("owner"), hold.get("reason"), hold.get("since")
    return {"owner": owner, "reason": reason, "since": since,
            "text": f"held by {owner or 'unknown'}: {reason or 'no reason given'}"
                    + (f" (since {since})" if since else "")}


def summarise(host, seen, ledger_info, *, now, listened_s, max_heartbeat_age_s, lockout_limit=_lockout.DEFAULT_LIMIT,
              inventory_error=None, ledger_error=None):
    """One client's status row (a dict) from what the listen saw and what the ledger says.

    seen: ``HealthWatcher``'s ``ClientSeen.as_dict()`` plus ``health_extra`` merged in as ``extra``
    (None when the inventory gave no usable client_uuid); ledger_info: ``ledger_facts`` or None.
    ``now`` is epoch seconds.
    """
    problems, attention = [], []
    seen = dict(seen or {})
    extra = seen.get("extra") or {}
    row = {"host": host, "client_uuid": seen.get("client_uuid"), "online": False, "liveness": "unknown",
           "heartbeat_age_s": seen.get("heartbeat_age_s"), "boot_id": seen.get("boot_id"),
           "release": seen.get("release"), "agent_version": seen.get("agent_version"),
           "app_state": seen.get("app_state"), "reconnect_count": None, "last_disconnect_at": None,
           "service_failed": None, "lockout": None, "last_command": None, "recent_commands": [],
           "last_ack": None, "identity_conflict": bool(seen.get("identity_conflict")), "identity_detail": None,
           "held": _hold_view(extra.get("hold")), "agent_state": extra.get("agent_state")}
    if inventory_error:
        row["liveness"] = "not_checked"
        problems.append(inventory_error)
    else:
        reasons = assess({"seen": False, "heartbeat_age_s": None, "app_state": None, "service_failed": None,
                          "boot_id": None, "identity_conflict": False, "boot_ids_seen": [],
                          "client_uuid": row["client_uuid"], **seen}, listened_s, max_heartbeat_age_s)
        silent = [r for r in reasons if r.startswith("silent")]
        row["online"] = bool(seen.get("seen")) and not silent
        row["liveness"] = "online" if row["online"] else "silent"
        if row["identity_conflict"]:
            row["identity_detail"] = reasons[0] if reasons else "identity conflict"
            problems.append("identity conflict (two machines share this client_uuid)")
        problems.extend(silent)
        if row["app_state"] in BAD_APP_STATES:
            problems.append(f"app {row['app_state']}")
    connection = extra.get("broker_connection") or {}
    row["reconnect_count"] = connection.get("reconnect_count")
    row["last_disconnect_at"] = connection.get("last_disconnect_at")
    report = seen.get("service_failed")
    if report:
        boot = report.get("boot_id")
        current = None if boot is None or row["boot_id"] is None else boot == row["boot_id"]
        row["service_failed"] = {"unit": report.get("unit"), "since": report.get("failed_at"), "boot_id": boot,
                                 "current_boot": current, "service_result": report.get("service_result")}
        if current is False:
            attention.append(f"service_failed {report.get('unit')} from an earlier boot, not acknowledged")
        else:
            problems.append(f"service_failed {report.get('unit')} since {report.get('failed_at')}")
    if ledger_error:
        attention.append(f"ledger not read: {ledger_error}")
    if ledger_info:
        row["lockout"] = _lockout_view(ledger_info.get("lockout"), now, lockout_limit)
        row["recent_commands"] = list(ledger_info.get("commands") or [])
        row["last_command"] = row["recent_commands"][0] if row["recent_commands"] else None
        row["last_ack"] = ledger_info.get("last_ack")
        lock = row["lockout"]
        if lock and not lock["allowed"]:
            (problems if lock["code"] == "lockout" else attention).append(lock["text"])
        last = row["last_command"]
        if last and last["state"] in _lockout.FAILURE_STATES:
            attention.append(f"last command {last['action']} {last['state']}"
                             + (f" ({last['error_code']})" if last.get("error_code") else ""))
    if row["held"]:
        attention.append(row["held"]["text"])
    severity = "problem" if problems else ("attention" if attention else "ok")
    row.update(severity=severity, rank=SEVERITIES.index(severity), problems=problems + attention)
    return row


def sort_rows(rows):
    """Problems first, then attention, then ok; by host name within each."""
    return sorted(rows, key=lambda r: (r["rank"], r["host"]))


def counts(rows):
    out = {name: 0 for name in SEVERITIES}
    for row in rows:
        out[row["severity"]] += 1
    out.update(clients=len(rows), online=sum(1 for r in rows if r["online"]),
               silent=sum(1 for r in rows if r["liveness"] == "silent"),
               locked_out=sum(1 for r in rows if (r.get("lockout") or {}).get("code") == "lockout"),
               service_failed=sum(1 for r in rows if r.get("service_failed")),
               held=sum(1 for r in rows if r.get("held")))
    return out


def _last_command_text(last):
    if not last:
        return "-"
    code = f" ({last['error_code']})" if last.get("error_code") else ""
    return f"{last['action']} {last['state']}{code} at {last['issued_at']}"


def cells(row):
    """The columns of one row as short texts (console table and HTML share them)."""
    failed = row.get("service_failed")
    last = row.get("last_command")
    lock = row.get("lockout")
    age = row.get("heartbeat_age_s")
    return {
        "host": row["host"],
        "state": row["severity"].upper() if row["severity"] != "ok" else "ok",
        "liveness": row["liveness"],
        "age": "-" if age is None else f"{age:.0f} s",
        "app": row.get("app_state") or "-",
        "boot": (row.get("boot_id") or "-")[:8],
        "release": row.get("release") or "-",
        "reconnects": "-" if row.get("reconnect_count") is None else str(row["reconnect_count"]),
        "last_disconnect": row.get("last_disconnect_at") or "-",
        "service_failed": (f"{failed['unit']} since {failed['since']}"
                           + (" (earlier boot)" if failed.get("current_boot") is False else "")) if failed else "-",
        "lockout": lock["text"] if lock else "-",
        "last_command": _last_command_text(last),
        "identity": "CONFLICT" if row.get("identity_conflict") else "-",
        "held": row["held"]["text"] if row.get("held") else "-",
    }


COLUMNS = (("host", "HOST"), ("state", "STATE"), ("liveness", "LIVE"), ("age", "HB AGE"), ("app", "APP"),
           ("boot", "BOOT"), ("release", "RELEASE"), ("reconnects", "RECONN"), ("last_disconnect", "LAST DISCONNECT"),
           ("service_failed", "SERVICE_FAILED"), ("lockout", "LOCKOUT"), ("last_command", "LAST COMMAND"),
           ("identity", "IDENTITY"), ("held", "HELD"))


def console_table(rows, width_limit=48):
    """The rows as aligned text lines (problems first, as given); long cells are cut with '...'."""
    def cut(text):
        return text if len(text) <= width_limit else text[:width_limit - 3] + "..."
    table = [[title for _key, title in COLUMNS]]
    for row in rows:
        values = cells(row)
        table.append([cut(values[key]) for key, _title in COLUMNS])
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return ["  ".join(value.ljust(widths[i]) for i, value in enumerate(line)).rstrip() for line in table]


def read_status(params, clients, *, ledger_factory, listen_s, max_heartbeat_age_s, connect_timeout_s=15.0,
                lockout_limit=_lockout.DEFAULT_LIMIT, lockout_window_s=_lockout.DEFAULT_WINDOW_S,
                cooldown_s=_lockout.DEFAULT_COOLDOWN_S, inventory_errors=None):
    """Listen once and read the ledger; returns the status document (rows sorted, problems first).

    clients: {host: client_uuid}; inventory_errors: {host: message} for hosts without a usable UUID;
    ledger_factory(): an open Ledger (context manager) - a ledger error leaves the MQTT part standing.
    Raises recover_health.HealthError when the broker cannot be reached (nothing to show then).
    """
    started_wall = time.time()
    with StatusWatcher(params, clients, connect_timeout_s=connect_timeout_s) as watcher:
        seen, listened = watcher.snapshot(listen_s, max_heartbeat_age_s, wait_for="health")
        with watcher._cond:
            extras = dict(watcher.health_extra)
        invalid, retained_ignored = watcher.invalid, watcher.retained_ignored
    now = time.time()
    facts, ledger_error = {}, None
    try:
        with ledger_factory() as ledger:
            for host, client_uuid in clients.items():
                facts[host] = ledger_facts(ledger, str(client_uuid).lower(), now, limit=lockout_limit,
                                           window_s=lockout_window_s, cooldown_s=cooldown_s)
    except Exception as exc:  # noqa: BLE001 - any ledger fault: show the broker's view and say why the rest is missing
        ledger_error = str(exc)
        facts = {}
    rows = []
    for host, record in seen.items():
        merged = dict(record, extra=extras.get(record["client_uuid"]))
        rows.append(summarise(host, merged, facts.get(host), now=now, listened_s=listened,
                              max_heartbeat_age_s=max_heartbeat_age_s, lockout_limit=lockout_limit,
                              ledger_error=ledger_error))
    for host, message in (inventory_errors or {}).items():
        rows.append(summarise(host, None, None, now=now, listened_s=listened, max_heartbeat_age_s=max_heartbeat_age_s,
                              lockout_limit=lockout_limit, inventory_error=message))
    rows = sort_rows(rows)
    return {"generated_at": iso(now), "generated_at_epoch": now, "started_at": iso(started_wall),
            "listened_s": round(listened, 1), "max_heartbeat_age_s": max_heartbeat_age_s,
            "lockout": {"limit": lockout_limit, "window_s": lockout_window_s, "cooldown_s": cooldown_s},
            "ledger_error": ledger_error, "invalid_payloads": invalid, "retained_ignored": retained_ignored,
            "counts": counts(rows), "clients": rows}
