# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge what the fleet says over MQTT and turn it into fleet-watch events (docs/fleet-watch.md).

Pure and clock-free: every call takes ``now`` (monotonic seconds, for ages and thresholds) and
``wall`` (epoch seconds, for timestamps and command expiry), so tests drive it with a fake clock.
The EDA event source extensions/eda/plugins/event_source/fleet_watch.py feeds it MQTT messages
and calls ``tick`` on a timer; the fleet status reader may use the same judging.

Events (``event["fleet_watch"]``, one per incident, de-duplicated):
- ``app_crashed`` / ``app_stopped``: a live health message says so (once per incident: while the
  app stays crashed, ``repeat`` reminders follow every ``retry_after_s``);
- ``service_failed``: a report from the client's current boot (once per report; a report from an
  earlier boot is history);
- ``client_silent``: no live heartbeat/health for ``silent_after_s``, timed here (reminders while
  silent); ``client_back`` when it speaks again;
- ``unexpected_reboot``: the boot id changed and no reboot-class command of ours could explain it;
- ``identity_conflict``: heartbeats return to a boot id the client had left (two machines behind
  one client_uuid; recover_health.ClientSeen judges it, as for recover.yml).

Proof of life is a heartbeat or health published while we listen: a retained one (left on the
broker by anyone; the contract never retains them) is ignored and counted.

Every event carries ``recover``: ``decision`` (recover | alert | none), ``start_from``
(restart_app | reboot_host | null, the recover.yml ladder step to begin with) and ``why``.
The lockout/cooldown pre-check (``lockout`` callback, the ledger's read-only
``Ledger.lockout_decision``) only avoids a pointless playbook run: recover.yml and the ledger
still decide every step.
"""

import datetime

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_health import BAD_APP_STATES, ClientSeen

EVENT_TYPES = ("app_crashed", "app_stopped", "service_failed", "client_silent", "client_back",
               "unexpected_reboot", "identity_conflict")
# The recover.yml step each problem starts from; the others are news, not work.
START_FROM = {"app_crashed": "restart_app", "app_stopped": "restart_app", "service_failed": "restart_app",
              "client_silent": "reboot_host"}
ALERT_TYPES = ("identity_conflict",)
REBOOT_ACTIONS = ("reboot_host", "shutdown_host")
# A service_failed report without a boot id counts for this boot when it is newer than the boot
# start the client reports (sent_at - uptime_s), less this much clock skew.
BOOT_SKEW_S = 5.0
WATCHED_KINDS = ("heartbeat", "health", "service_failed", "command", "ack")


def _parse_epoch(text):
    try:
        return contract.parse_ts(text).timestamp()
    except (TypeError, ValueError):
        return None


def _iso(epoch):
    if epoch is None:
        return None
    return contract.format_ts(datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc))


class Watched:
    """What the watch knows of one client."""

    def __init__(self, host, client_uuid, tier="reboot", auto_recover=True):
        self.host = host
        self.client_uuid = client_uuid
        self.tier = tier
        self.auto_recover = bool(auto_recover)
        self.seen = ClientSeen(host, client_uuid)  # boot ids in order, identity conflict
        self.last_live = None  # monotonic time of the last live heartbeat/health
        self.boot_id = None
        self.boot_started_wall = None
        self.app_state = None
        self.silent_since = None  # monotonic time the client was judged silent
        self.open = {}  # incident type -> {"since", "last_emit", "repeat"}
        self.pending_report = None  # service_failed seen before the client's boot id was known
        self.reports_emitted = []  # keys of service_failed reports already emitted (bounded)
        self.conflict_emitted = None
        self.dispatched_at = None  # monotonic time the watch last asked for a recover run


class FleetJudge:
    """clients: {host: {"client_uuid", "tier", "auto_recover"}}.

    ``lockout(client_uuid, wall)`` -> None (no ledger), or a dict with ``allowed``, ``code``,
    ``eligible_at`` (epoch), ``message``; it may raise, which makes the event an alert (never
    act on doubt). ``ours(client_uuid, wall)`` -> a text naming a reboot-class command of ours
    (in the ledger) that explains a boot id change, or None.
    """

    def __init__(self, clients, *, now, silent_after_s=90.0, retry_after_s=300.0, reboot_grace_s=300.0,
                 run_hold_s=900.0, lockout=None, ours=None):
        if float(silent_after_s) <= 0 or float(retry_after_s) <= 0:
            raise ValueError("silent_after_s and retry_after_s must be positive")
        self.by_uuid = {}
        for host, spec in clients.items():
            client_uuid = str(spec["client_uuid"]).lower()
            if client_uuid in self.by_uuid:
                raise ValueError(f"hosts {self.by_uuid[client_uuid].host} and {host} share client_uuid {client_uuid}; "
                                 "give each client its own")
            self.by_uuid[client_uuid] = Watched(host, client_uuid, spec.get("tier") or "reboot",
                                                spec.get("auto_recover", True))
        self.silent_after_s = float(silent_after_s)
        self.retry_after_s = float(retry_after_s)
        self.reboot_grace_s = float(reboot_grace_s)
        self.run_hold_s = float(run_hold_s)
        self.lockout = lockout
        self.ours = ours
        self.watch_since = now  # silence is measured from here until a client speaks
        self.paused_at = None
        self.commands = {}  # command_id -> {"client_uuid", "action", "until"} (wall), seen on the command topic
        self.counters = {"messages": 0, "invalid": 0, "retained_ignored": 0, "unknown_client": 0, "events": 0}

    # -- connection ----------------------------------------------------------------------

    def pause(self, now):
        """The broker connection is lost: silence cannot be judged until it is back."""
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now):
        """Connected again: every client gets a full silence threshold from now."""
        self.paused_at = None
        self.watch_since = now

    # -- messages ------------------------------------------------------------------------

    def observe(self, topic, payload, retained, now, wall):
        """One MQTT message; returns the events it causes (a list of event dicts)."""
        parsed = contract.parse_topic(topic)
        if parsed is None:
            return []
        client_uuid, kind, _transitional = parsed
        client = self.by_uuid.get(client_uuid)
        if kind not in WATCHED_KINDS:
            return []
        if client is None:
            self.counters["unknown_client"] += 1
            return []
        self.counters["messages"] += 1
        if kind in ("command", "ack"):
            self._note_command(kind, client, payload, wall)
            return []
        if kind == "service_failed":
            return self._service_failed(client, payload, now, wall)
        if retained:
            self.counters["retained_ignored"] += 1  # history on the broker, not a live client
            return []
        try:
            body = contract.parse_payload(kind, payload)
        except contract.ContractError:
            self.counters["invalid"] += 1
            return []
        if str(body["client_uuid"]).lower() != client_uuid:
            self.counters["invalid"] += 1  # a client speaking on another's topic: not its evidence
            return []
        return self._live(client, kind, body, now, wall)

    def _note_command(self, kind, client, payload, wall):
        try:
            body = contract.parse_payload("command" if kind == "command" else "ack", payload)
        except contract.ContractError:
            self.counters["invalid"] += 1
            return
        if kind == "command":
            until = _parse_epoch(body["expires_at"]) or wall
            self.commands[body["command_id"]] = {"client_uuid": client.client_uuid, "action": body["action"],
                                                 "until": until + self.reboot_grace_s, "issued": wall}
        elif body["status"] == "failed" and body["command_id"] in self.commands:
            self.commands.pop(body["command_id"])  # refused or not executed: it explains nothing
        if len(self.commands) > 4 * max(1, len(self.by_uuid)):
            for command_id in [k for k, v in self.commands.items() if v["until"] < wall]:
                self.commands.pop(command_id)

    def _our_reboot(self, client, wall):
        for command in self.commands.values():
            if (command["client_uuid"] == client.client_uuid and command["action"] in REBOOT_ACTIONS
                    and command["issued"] - 1.0 <= wall <= command["until"]):
                return f"{command['action']} seen on the command topic"
        if self.ours is not None:
            try:
                return self.ours(client.client_uuid, wall)
            except Exception as exc:  # noqa: BLE001 - the ledger cannot tell: say so, do not guess
                return f"unknown (the ledger could not be read: {exc})"
        return None

    def _live(self, client, kind, body, now, wall):
        events = []
        boot_id = body["boot_id"]
        previous = client.boot_id
        conflict_before = client.seen.identity_conflict is not None
        conflict = client.seen.note_boot_id(boot_id)
        back = client.silent_since is not None
        silent_for = round(now - max(client.last_live or self.watch_since, self.watch_since), 1)
        client.last_live = now
        client.boot_id = boot_id
        uptime = body.get("uptime_s")
        sent = _parse_epoch(body.get("sent_at"))
        if sent is not None and isinstance(uptime, (int, float)):
            client.boot_started_wall = sent - float(uptime)
        if back:
            client.silent_since = None
            client.open.pop("client_silent", None)
            self._release(client)
            events.append(self._event(client, "client_back", now, wall, {
                "silent_for_s": silent_for, "boot_changed": previous is not None and previous != boot_id}))
        if conflict:
            if not conflict_before or self._due(client.conflict_emitted, now):
                client.conflict_emitted = now
                left, back = client.seen.identity_conflict
                events.append(self._event(client, "identity_conflict", now, wall, {
                    "boot_ids": client.seen.boot_ids_seen[-4:], "left": left, "returned_to": back}))
        elif previous is not None and previous != boot_id:
            for incident in ("app_crashed", "app_stopped", "service_failed"):
                client.open.pop(incident, None)  # a new boot ends the old boot's incidents
            self._release(client)
            cause = self._our_reboot(client, wall)
            if cause is None:
                events.append(self._event(client, "unexpected_reboot", now, wall, {
                    "boot_id_before": previous, "boot_id_after": boot_id, "uptime_s": uptime}))
        if kind == "health":
            events.extend(self._app_state(client, body.get("app_state"), now, wall))
        if client.pending_report is not None:
            report, client.pending_report = client.pending_report, None
            events.extend(self._judge_report(client, report, now, wall))
        return events

    def _app_state(self, client, state, now, wall):
        client.app_state = state
        events = []
        for incident in ("app_crashed", "app_stopped"):
            if incident != f"app_{state}":
                client.open.pop(incident, None)
        self._release(client)
        if state in BAD_APP_STATES and f"app_{state}" not in client.open:
            client.open[f"app_{state}"] = {"since": now, "last_emit": now, "repeat": 0}
            events.append(self._event(client, f"app_{state}", now, wall, {"app_state": state}))
        return events

    def _service_failed(self, client, payload, now, wall):
        if not payload:
            client.open.pop("service_failed", None)  # the retained report was cleared (acknowledged)
            client.pending_report = None
            self._release(client)
            return []
        try:
            report = contract.parse_payload("service_failed", payload)
        except contract.ContractError:
            self.counters["invalid"] += 1
            return []
        if str(report["client_uuid"]).lower() != client.client_uuid:
            self.counters["invalid"] += 1
            return []
        if client.boot_id is None:  # judged once the client's live boot id is known
            client.pending_report = report
            return []
        return self._judge_report(client, report, now, wall)

    def _judge_report(self, client, report, now, wall):
        key = (report["unit"], report["failed_at"], report.get("boot_id"))
        if key in client.reports_emitted:
            return []
        failed_boot = report.get("boot_id")
        if failed_boot is not None:
            current = failed_boot == client.boot_id
        else:
            failed_at = _parse_epoch(report["failed_at"])
            current = (failed_at is not None and client.boot_started_wall is not None
                       and failed_at >= client.boot_started_wall - BOOT_SKEW_S)
        if not current:
            return []  # from an earlier boot: history, not a reason
        client.reports_emitted = (client.reports_emitted + [key])[-16:]
        client.open["service_failed"] = {"since": now, "last_emit": now, "repeat": 0, "no_reminder": True}
        detail = {name: report.get(name) for name in ("unit", "failed_at", "boot_id", "service_result", "exit_code",
                                                      "exit_status")}
        return [self._event(client, "service_failed", now, wall, detail)]

    @staticmethod
    def _release(client):
        """The problems that asked for a recover run are over (the run worked, or the client did):
        the next problem may ask again at once."""
        if not any(incident in client.open for incident in START_FROM):
            client.dispatched_at = None

    # -- the timer -----------------------------------------------------------------------

    def _due(self, last, now):
        return last is None or now - last >= self.retry_after_s

    def tick(self, now, wall):
        """Silence and reminders; call every second or so."""
        if self.paused_at is not None:
            return []
        events = []
        for client in self.by_uuid.values():
            reference = client.last_live if client.last_live is not None else None
            reference = max(reference or self.watch_since, self.watch_since)
            if client.silent_since is None and now - reference >= self.silent_after_s:
                client.silent_since = now
                client.open["client_silent"] = {"since": now, "last_emit": now, "repeat": 0}
                events.append(self._event(client, "client_silent", now, wall, self._silence(client, now)))
                continue
            for incident, record in list(client.open.items()):
                if record.get("no_reminder") or not self._due(record["last_emit"], now):
                    continue
                if incident != "client_silent" and client.silent_since is not None:
                    continue  # a silent client's app state is not known
                record["last_emit"] = now
                record["repeat"] += 1
                detail = self._silence(client, now) if incident == "client_silent" else {"app_state": client.app_state}
                detail["open_for_s"] = round(now - record["since"], 1)
                events.append(self._event(client, incident, now, wall, detail, repeat=record["repeat"]))
        return events

    def _silence(self, client, now):
        if client.last_live is None:
            return {"never_seen": True, "last_seen_s_ago": None, "silent_after_s": self.silent_after_s}
        return {"never_seen": False, "last_seen_s_ago": round(now - client.last_live, 1),
                "silent_after_s": self.silent_after_s}

    # -- events --------------------------------------------------------------------------

    def decide(self, client, kind, now, wall):
        """What the rulebook should do: {"decision", "start_from", "why", "eligible_at"}.

        Once the watch asked for a recover run for a host, it asks again only when that host's
        problems were over in between (the run worked) or after ``run_hold_s`` (a whole ladder,
        cooldowns and reconnect wait included): a run has quiet phases (listening, cooldown, the
        wait for a power-cycled client) in which the ledger shows no command in flight.
        """
        start = START_FROM.get(kind)
        if kind in ALERT_TYPES:
            return {"decision": "alert", "start_from": None, "eligible_at": None,
                    "why": "two machines share client_uuid %s (cloned SD card?): give each its own client_uuid and "
                           "password; not recovered automatically, needs hands on site" % client.client_uuid}
        if start is None:
            return {"decision": "none", "start_from": None, "eligible_at": None, "why": None}
        if client.seen.identity_conflict is not None:
            return {"decision": "alert", "start_from": None, "eligible_at": None,
                    "why": "identity conflict on this client_uuid: a command would reach whichever machine is "
                           "connected; not recovered automatically, needs hands on site"}
        if start == "reboot_host" and client.tier == "soft":
            return {"decision": "alert", "start_from": None, "eligible_at": None,
                    "why": "infoscreen_recovery_tier=soft allows only restart_app, which a silent client cannot "
                           "receive: recovery needs hands on site"}
        if not client.auto_recover:
            return {"decision": "alert", "start_from": start, "eligible_at": None,
                    "why": "auto-recovery is off for this host (infoscreen_fleet_watch_auto_recover=false): "
                           "nothing is sent; run recover.yml by hand or fix it on site"}
        if client.dispatched_at is not None and now - client.dispatched_at < self.run_hold_s:
            return {"decision": "none", "start_from": start, "eligible_at": None,
                    "why": "a recover run for this host was asked for %.0f s ago and its problem is not over: no "
                           "second run within %g s (then a reminder asks again)" % (now - client.dispatched_at,
                                                                                    self.run_hold_s)}
        found = None
        if self.lockout is not None:
            try:
                found = self.lockout(client.client_uuid, wall)
            except Exception as exc:  # noqa: BLE001 - never act on doubt
                return {"decision": "alert", "start_from": start, "eligible_at": None,
                        "why": f"the ledger could not be read for the lockout check ({exc}): nothing is sent"}
        if found is not None and not found.get("allowed", True):
            eligible = found.get("eligible_at")
            if found.get("code") == "lockout":
                return {"decision": "alert", "start_from": start, "eligible_at": _iso(eligible),
                        "why": "safety lockout: %s; the next reboot-class command is allowed at %s - no recover "
                               "run until then; if it keeps failing, it needs hands on site"
                               % (found.get("message"), _iso(eligible))}
            return {"decision": "none", "start_from": start, "eligible_at": _iso(eligible),
                    "why": "%s: %s (a reminder follows while the problem lasts)" % (found.get("code"),
                                                                                    found.get("message"))}
        return {"decision": "recover", "start_from": start, "eligible_at": None, "why": None}

    def _event(self, client, kind, now, wall, detail, *, repeat=0):
        self.counters["events"] += 1
        decision = self.decide(client, kind, now, wall)
        if decision["decision"] == "recover":
            client.dispatched_at = now
        return {
            "fleet_watch": {
                "type": kind,
                "host": client.host,
                "client_uuid": client.client_uuid,
                "tier": client.tier,
                "at": _iso(wall),
                "boot_id": client.boot_id,
                "app_state": client.app_state,
                "repeat": repeat,
                "detail": detail,
                "recover": decision,
            },
            # ansible-rulebook's run_playbook limits the run to meta.hosts
            "meta": {"hosts": client.host},
        }
