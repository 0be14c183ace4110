# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive one wave of lifecycle commands over ONE MQTT connection.

Why one connection: a per-host Ansible task costs ~0.2 s before it does anything, so 1,000
clients would spend minutes in tooling. Here one persistent MQTT v5 session publishes every
command (QoS 1, canonical topic, transitional alias optional) and collects the acks of all
clients concurrently; the session survives a broker restart, so acks published meanwhile are
queued by the broker and still counted. Acks arrive on both ack topics; the per-command
tracker counts each status once. All deadlines use time.monotonic().

``run_wave`` is the entry point (used by the lifecycle_wave action plugin and the benchmark).
The wave's inputs and inventory check are in wave_options.py, the paho callbacks in
wave_events.py; this file orders the work: reserve in the ledger, connect, publish, collect
acks and heartbeats until every command is terminal or its deadline passed, record.
"""

import json
import queue
import time
import uuid

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import LedgerError, iso
from ansible_collections.infoscreen.fleet.plugins.module_utils.lockout import REBOOT_CLASS_ACTIONS
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import maintenance_window as mw
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.command_tracker import (
    Clock,
    CommandTracker,
)
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import (
    MqttConnectError,
    build_client,
    connect_client,
    disconnect_and_forget,
    wait_connected,
)
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import wave_counts
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_events import WaveEvents
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_options import (
    WaveOptions,
    check_inventory,
    not_executed,
)

# WaveOptions and check_inventory are part of this module's interface (run_wave's callers).
__all__ = ["INVALID_ACK_WARNINGS", "SENT_STATES", "WaveOptions", "WaveRun", "check_inventory", "run_wave"]

INVALID_ACK_WARNINGS = 10  # per wave; a client flooding its ack topic must not flood the play output
# A command that reached one of these states left the controller (broker PUBACK or an ack).
SENT_STATES = frozenset(("published", "accepted", "execution_started", "completed", "failed"))


class WaveRun:
    """State of one running wave. Create, then ``run()``; results in ``results``."""

    def __init__(self, hosts, options, ledger, mqtt_params, *, wave_id=None, progress=None, warn=None, absent=()):
        self.hosts = list(hosts)
        self.absent = list(absent)
        self.options = options
        self.ledger = ledger
        self.mqtt_params = mqtt_params
        self.wave_id = wave_id or str(uuid.uuid4())
        self.progress = progress or (lambda line: None)
        self.warn = warn or (lambda line: None)
        self.results = {}
        self.trackers = {}
        self.by_command = {}
        self.stats = {"acks": 0, "duplicate_acks": 0, "invalid_acks": 0, "foreign_acks": 0, "reconnects": 0,
                      "published": 0, "republished": 0, "heartbeats": 0, "health": 0}
        self.timing = {}
        self._raw_acks_seen = {}
        self._budget_second = float("-inf")
        self._budget_left = 0
        self._window_notes = {}
        self.judged_now = self._window_clock()

    # -- maintenance windows (docs/policy.md) ----------------------------------------------

    def _window_clock(self):
        """The time the windows are judged at: the controller clock, or window_now running on."""
        opts = self.options
        if opts.window_clock is not None:
            return opts.window_clock
        if opts.window_now is None:
            return time.time
        base, mono0 = float(opts.window_now), time.monotonic()
        return lambda: base + (time.monotonic() - mono0)

    def _window_verdict(self, host):
        windows = self.options.windows.get(host)
        if windows is None or self.options.action not in REBOOT_CLASS_ACTIONS:
            return None
        now = self.judged_now()
        verdict = mw.judge(windows, now)
        verdict["judged_at"] = now
        verdict["windows"] = windows
        return verdict

    def _wait_for_windows(self, valid):
        """Policy wait: sleep until the windows of the wave's outside clients open, for those
        that open within window_max_wait_s (the others are blocked when the wave sends)."""
        opts = self.options
        now = self.judged_now()
        opening = []
        for host, _client_uuid in valid:
            verdict = self._window_verdict(host)
            if verdict is not None and not verdict["inside"] and verdict["eligible_at"] is not None \
                    and verdict["eligible_at"] - now <= opts.window_max_wait_s:
                opening.append(verdict["eligible_at"])
        if not opening:
            return 0.0
        until = max(opening)
        self.progress(f"wave: waiting {until - now:.0f} s for the maintenance windows of {len(opening)} host(s) "
                      f"(until {iso(until)}; infoscreen_window_policy=wait, at most {opts.window_max_wait_s:g} s)")
        sleep = opts.sleep or time.sleep
        while self.judged_now() < until:
            sleep(min(30.0, max(0.0, until - self.judged_now())))
        self.timing["window_wait_s"] = round(until - now, 3)
        return until - now

    def _outside_window(self, host, client_uuid, now_wall):
        """None when ``host`` may get its command now; else its blocked result (recorded in
        the ledger, never published). An override or the allow policy sends it, logged."""
        opts = self.options
        verdict = self._window_verdict(host)
        if verdict is None:
            return None
        if opts.window_now is not None:
            self._window_notes.setdefault(host, {})["window_judged_at"] = iso(verdict["judged_at"])
        if verdict["inside"]:
            return None
        windows_text = mw.describe(verdict["windows"])
        if opts.window_override_reason or opts.window_policy == "allow":
            why = (f"override: {opts.window_override_reason}" if opts.window_override_reason
                   else "policy allow (recover.yml emergency step, docs/policy.md)")
            self.warn(f"host {host}: outside its maintenance windows ({windows_text}) at "
                      f"{iso(verdict['judged_at'])}; sent anyway, {why}")
            self._window_notes.setdefault(host, {})["window_override"] = why
            return None
        eligible = verdict["eligible_at"]
        message = (f"host {host}: blocked, outside its maintenance windows ({windows_text}) at "
                   f"{iso(verdict['judged_at'])}; never sent; "
                   + (f"eligible at {iso(eligible)}" if eligible is not None else "no window opens within 2 weeks"))
        command_id = str(uuid.uuid4())
        if not opts.check_mode:
            row, _decision = self.ledger.reserve(
                client_uuid, opts.action, host=host, command_id=command_id, wave_id=self.wave_id,
                request_key=opts.request_key, requested_by=opts.requested_by, reason=opts.reason, now=now_wall,
                check_lockout=False)
            self.ledger.record_transition(row["command_id"], "blocked", at=now_wall, detail=message,
                                          error_code=mw.OUTSIDE_CODE, error_message=message, eligible_at=eligible)
        return not_executed(host, client_uuid, opts.action, "blocked", error_code=mw.OUTSIDE_CODE,
                            error_message=message, command_id=command_id, eligible_at=iso(eligible),
                            extra=self._window_notes.get(host))

    # -- preparation ----------------------------------------------------------------------

    def _prepare(self, clock, start_mono, valid):
        """Reuse or reserve one command per valid host (one ledger transaction for the wave)."""
        with self.ledger.batch():
            return self._prepare_in_tx(clock, start_mono, valid)

    def _prepare_in_tx(self, clock, start_mono, valid):
        opts = self.options
        now_wall = clock.wall(start_mono)
        to_publish = []
        if valid and not opts.check_mode:
            # One lock-and-read for the whole wave instead of one per host (docs/ledger.md, "Scale").
            self.ledger.prefetch_lockout([client_uuid for _host, client_uuid in valid], now=now_wall,
                                         window_s=opts.lockout_window_s)
        for host, client_uuid in valid:
            reused = None
            if opts.request_key and not opts.check_mode:
                reused = self.ledger.find_reusable(opts.request_key, client_uuid, opts.action, now=now_wall)
            if not (reused is not None and reused["state"] == "completed"):
                # Judged here, at the moment of sending; a retry whose command completed sends nothing.
                blocked = self._outside_window(host, client_uuid, now_wall)
                if blocked is not None:
                    self.results[host] = blocked
                    continue
            if reused is not None and reused["state"] != "failed":
                # A retry of the same request: keep the command_id. Completed stays completed
                # (nothing is sent); anything not known to be done is re-published unchanged,
                # and the agent de-duplicates by command_id, so a retry cannot reboot twice.
                initial = "published" if reused["state"] in ("timed_out", "expired") else reused["state"]
                tracker = CommandTracker(host, client_uuid, reused["command_id"], opts.action, clock=clock,
                                         start_mono=start_mono,
                                         validity_s=reused["expires_at_epoch"] - now_wall, timeout_s=opts.timeout_s,
                                         reconnect_warn_s=opts.reconnect_warn_s,
                                         reconnect_ceiling_s=opts.reconnect_ceiling_s,
                                         state=initial, reused=True, stability_s=opts.stability_for(host),
                                         stability_timeout_s=opts.stability_timeout_s)
                if reused.get("reconnect_s") is not None:
                    tracker.state_mono["execution_started"] = start_mono - reused["reconnect_s"]
                    tracker.state_mono["completed"] = start_mono
                self.trackers[host] = tracker
                self.by_command[tracker.command_id] = tracker
                if not tracker.terminal:
                    tracker.events.append((initial, now_wall, "retry: same command_id published again", {}))
                    to_publish.append((tracker, reused["payload"]))
                continue
            payload = contract.make_command(client_uuid, opts.action, validity_s=opts.validity_s,
                                            requested_by=opts.requested_by, reason=opts.reason)
            contract.validate("command", payload)
            if opts.check_mode:
                decision = self.ledger.lockout_decision(client_uuid, now=now_wall, limit=opts.lockout_limit,
                                                        window_s=opts.lockout_window_s, cooldown_s=opts.cooldown_s)
                if not decision.allowed and not opts.override_reason:
                    self.results[host] = not_executed(host, client_uuid, opts.action, "blocked",
                                                      error_code=decision.code,
                                                      error_message=decision.message,
                                                      eligible_at=iso(decision.eligible_at))
                else:
                    self.results[host] = not_executed(
                        host, client_uuid, opts.action, "not_sent", command_id=payload["command_id"],
                        extra={"ok": True, "would_send": {"topic": contract.command_topic(client_uuid),
                                                          "payload": payload}})
                continue
            row, decision = self.ledger.reserve(
                client_uuid, opts.action, host=host, command_id=payload["command_id"], wave_id=self.wave_id,
                request_key=opts.request_key, expires_at=contract.parse_ts(payload["expires_at"]).timestamp(),
                payload=payload, requested_by=opts.requested_by, reason=opts.reason,
                override_reason=opts.override_reason, now=contract.parse_ts(payload["issued_at"]).timestamp(),
                # The sweep of another run leaves the command alone until this run stops waiting.
                deadline_at=now_wall + opts.wait_bound_s(),
                limit=opts.lockout_limit, window_s=opts.lockout_window_s, cooldown_s=opts.cooldown_s)
            if row["state"] == "blocked":
                self.results[host] = not_executed(
                    host, client_uuid, opts.action, "blocked", error_code=decision.code,
                    error_message=f"host {host}: blocked by the safety lockout ({decision.message}); eligible at "
                    f"{iso(decision.eligible_at)}", command_id=row["command_id"], eligible_at=iso(decision.eligible_at))
                continue
            if row.get("overridden"):
                self.warn(f"host {host}: safety lockout overridden ({decision.message}); "
                          f"reason: {opts.override_reason}")
            tracker = CommandTracker(host, client_uuid, payload["command_id"], opts.action, clock=clock,
                                     start_mono=start_mono,
                                     validity_s=opts.validity_s, timeout_s=opts.timeout_s,
                                     reconnect_warn_s=opts.reconnect_warn_s,
                                     reconnect_ceiling_s=opts.reconnect_ceiling_s,
                                     stability_s=opts.stability_for(host),
                                     stability_timeout_s=opts.stability_timeout_s)
            self.trackers[host] = tracker
            self.by_command[tracker.command_id] = tracker
            to_publish.append((tracker, payload))
        return to_publish

    # -- the wave -------------------------------------------------------------------------

    def run(self):
        opts = self.options
        valid, errors = check_inventory(self.hosts)
        for host, client_uuid in self.absent:
            # Dropped out of the play before this command (unreachable, or failed in an earlier
            # task): never sent, and kept in the wave so that it counts against it.
            self.results[host] = not_executed(
                host, client_uuid if isinstance(client_uuid, str) else None, opts.action, "unreachable",
                error_code="host_unreachable",
                error_message=f"host {host}: not sent: it dropped out of the play before this wave's command "
                              "(unreachable, or failed in an earlier task); it counts against the wave")
        for host, message in errors.items():
            client_uuid = dict(self.hosts).get(host)
            self.results[host] = not_executed(host, client_uuid if isinstance(client_uuid, str) else None,
                                              opts.action, "failed", error_code="invalid_inventory",
                                              error_message=message)
        if opts.window_now is not None and opts.windows:
            self.warn(f"maintenance windows judged at {iso(self.judged_now())} (infoscreen_wave_window_now, a drill "
                      "or test option), not at the controller clock")
        if valid and not opts.check_mode and opts.window_policy == "wait" and not opts.window_override_reason:
            # Before the wave is in the ledger: a wave open and idle for long would look abandoned.
            self._wait_for_windows(valid)
        clock = Clock(time.monotonic(), time.time())
        self.timing["started_at"] = iso(clock.wall0)
        number = self.ledger.start_wave(self.wave_id, opts.rollout_id or self.wave_id, opts.action,
                                        check_mode=opts.check_mode, now=clock.wall0)
        self.number = number
        client = None
        events = WaveEvents()
        if valid and not opts.check_mode:
            client = self._connect(events, clock)
            if client is None:
                # Once for the wave, in full: the per-host results repeat it, but the report
                # table truncates it and wave_summary.yml has no per-host task.
                self.warn(f"nothing sent to {len(valid)} host(s): {events.last_error}")
                for host, client_uuid in valid:
                    self.results[host] = not_executed(
                        host, client_uuid, opts.action, "failed", error_code="broker_unreachable",
                        error_message=f"host {host}: not sent: {events.last_error}")
                valid = []
        try:
            start_mono = time.monotonic()
            to_publish = self._prepare(clock, start_mono, valid)
            self.timing["prepared_s"] = round(time.monotonic() - clock.mono0, 3)
            if to_publish:
                self._publish_and_wait(client, events, clock, to_publish)
        except BaseException as exc:
            # Never leave the wave open: its summary says why it ended (best effort; a ledger
            # that cannot be written is closed by a later run's sweep).
            try:
                self.ledger.close_wave(self.wave_id, f"aborted: {exc or type(exc).__name__}")
            except LedgerError:
                pass
            raise
        finally:
            if client is not None:
                disconnect_and_forget(client)
                client.loop_stop()
        for host, tracker in self.trackers.items():
            self.results[host] = result = tracker.result()
            # Executed means sent: the broker acknowledged the publish (or the client answered).
            # A command that never left the controller (broker gone before its PUBACK) was not tried.
            result["executed"] = any(t["state"] in SENT_STATES for t in result["transitions"])
            result.update(self._window_notes.get(host) or {})
        for result in self.results.values():
            result["wave"] = number
            result["wave_id"] = self.wave_id
        self.timing["wall_s"] = round(time.monotonic() - clock.mono0, 3)
        self.stats["reconnects"] = max(0, events.connects - 1)
        self.counts = wave_counts(self.results)
        try:
            self.ledger.finish_wave(self.wave_id, self.results, {"counts": self.counts, "stats": self.stats,
                                                                 "timing": self.timing})
        except LedgerError as exc:
            exc.wave = self  # the caller still reports every published command's outcome
            raise
        return self.results

    def _connect(self, events, clock):
        try:
            client = build_client(self.mqtt_params, client_id=f"infoscreen-ctl-{self.wave_id}", persistent=True)
        except MqttConnectError as exc:
            events.last_error = str(exc)
            return None
        # Health: the held phase and the stability phase ("really back") read it.
        client.user_data_set({"heartbeats": self.options.track_heartbeats, "health": self.options.track_health})
        client.on_connect = events.on_connect
        client.on_subscribe = events.on_subscribe
        client.on_disconnect = events.on_disconnect
        client.on_publish = events.on_publish
        client.on_message = events.on_message
        connect_client(client, self.mqtt_params)
        client.loop_start()
        problem = wait_connected(client, self.mqtt_params, lambda: events.connected and events.subscribed,
                                 self.options.connect_timeout_s)
        if problem is None:
            self.timing["connected_s"] = round(time.monotonic() - clock.mono0, 3)
            return client
        client.loop_stop()
        events.last_error = problem
        return None

    def _publish_and_wait(self, client, events, clock, to_publish):
        opts = self.options
        by_mid = {}
        payloads = {}

        def publish(tracker, data):
            topics = [contract.command_topic(tracker.client_uuid)]
            if opts.transitional_topic:
                topics.append(contract.command_topic(tracker.client_uuid, transitional=True))
            for topic in topics:
                info = client.publish(topic, data, qos=1, retain=False)  # never retained: docs/design.md, "Topics"
                by_mid[info.mid] = tracker

        for tracker, payload in to_publish:
            payloads[tracker.command_id] = json.dumps(payload, separators=(",", ":"))
            publish(tracker, payloads[tracker.command_id])
        self.stats["published"] = len(to_publish)
        self.timing["published_s"] = round(time.monotonic() - clock.mono0, 3)
        # Let paho's network thread push every command out (it holds at most 20 in flight)
        # before this thread starts validating acks: both need the GIL. Acks arriving
        # meanwhile wait in the queue with their arrival times, so nothing is lost or skewed.
        expected = sum(2 if opts.transitional_topic else 1 for _tracker in to_publish)
        settle = time.monotonic() + 10.0
        while events.pubacks < expected and time.monotonic() < settle:
            time.sleep(0.005)
        self.timing["pubacked_s"] = round(time.monotonic() - clock.mono0, 3)
        pending_ledger = []
        next_flush = time.monotonic() + 0.5
        next_progress = time.monotonic() + opts.progress_interval_s
        open_trackers = {t.command_id: t for t, _payload in to_publish if not t.terminal}
        next_scan = 0.0
        while open_trackers:
            # Drain every queued event first: with 1,000 clients thousands of acks arrive in a
            # burst, and the O(clients) deadline scan must not run once per message.
            batch = []
            try:
                batch.append(events.queue.get(timeout=0.1))
                while len(batch) < 5000:
                    batch.append(events.queue.get_nowait())
            except queue.Empty:
                pass
            touched = set()
            for kind, mono, first, second in batch:
                if kind == "puback":
                    tracker = by_mid.get(first)
                    if tracker is not None and tracker.on_published(mono):
                        touched.add(tracker)
                elif kind == "message":
                    tracker = self._on_message(first, second, mono)
                    if tracker is not None:
                        touched.add(tracker)
                elif kind == "disconnect":
                    self.progress(f"wave {self.wave_id[:8]}: broker connection lost, reconnecting "
                                  f"(persistent session keeps the acks) at {clock.elapsed(mono):.1f} s")
                elif kind == "reconnect" and opts.reannounce_s:
                    # Our session's queue is shared by every client's acks: one client's flood
                    # can crowd others out while we were away. Ask again for what is still open.
                    for tracker in open_trackers.values():
                        tracker.reannounce_now(mono, opts.reannounce_s)
            now = time.monotonic()
            if now >= next_scan:
                next_scan = now + 0.2
                touched.update(self._scan(open_trackers.values(), now, publish, payloads))
            for tracker in touched:
                if tracker.events:
                    pending_ledger.extend((tracker.command_id, state, wall, detail, fields)
                                          for state, wall, detail, fields in tracker.events)
                    tracker.events = []
                if tracker.terminal:
                    open_trackers.pop(tracker.command_id, None)
            if now >= next_flush or not open_trackers:
                # A ledger locked by another process must not stop the ack tracking: the
                # ledger keeps the batch and writes it later (finish_wave waits, bounded).
                self.ledger.record_transitions(pending_ledger, defer_when_busy=True)
                pending_ledger = []
                next_flush = now + 0.5
            if now >= next_progress or not open_trackers:
                self.progress(self.progress_line(clock, now))
                next_progress = now + opts.progress_interval_s

    def _scan(self, trackers, now, publish, payloads):
        """Deadlines and re-announces for every open command; returns the ones that changed."""
        opts = self.options
        changed = []
        self._refill_reannounce_budget(now)
        for tracker in trackers:
            if tracker.check_deadline(now):
                changed.append(tracker)
            elif (self._budget_left > 0 and opts.reannounce_s and tracker.phase != "stabilizing"
                  and now - tracker.last_change_mono >= opts.reannounce_s * 2 ** tracker.republished):
                # (A stabilizing command has its agent's outcome; only health is awaited.)
                # An ack can be lost at the broker (its per-client queue limit, a restart
                # without persistence). The same command again is safe: the agent
                # de-duplicates by command_id and re-announces its status.
                publish(tracker, payloads[tracker.command_id])
                tracker.republished += 1
                self.stats["republished"] += 1
                self._budget_left -= 1
        return changed

    def _refill_reannounce_budget(self, now):
        """At most reannounce_per_s re-publishes per second, so re-asking cannot flood the broker."""
        if now - self._budget_second >= 1.0:
            self._budget_second = now
            self._budget_left = self.options.reannounce_per_s

    def _on_message(self, topic, payload, mono):
        parsed = contract.parse_topic(topic)
        if parsed is None:
            return None
        client_uuid, kind, _transitional = parsed
        if kind == "heartbeat":
            self.stats["heartbeats"] += 1
            try:
                beat = json.loads(payload)
            except ValueError:
                return None
            boot_id = beat.get("boot_id") if isinstance(beat, dict) else None
            for tracker in self._trackers_for_client(client_uuid):
                if boot_id:
                    tracker.on_heartbeat(boot_id, mono)
            return None
        if kind == "health":
            self.stats["health"] += 1
            try:
                body = json.loads(payload)
            except ValueError:
                return None
            changed = None
            for tracker in self._trackers_for_client(client_uuid):
                if tracker.on_health(body, mono):
                    changed = tracker
            return changed
        if kind != "ack":
            return None
        key = (client_uuid, bytes(payload))
        if key in self._raw_acks_seen:
            # The same bytes again (the alias topic, a redelivery): already validated and applied.
            tracker = self._raw_acks_seen[key]
            self.stats["acks"] += 1
            self.stats["duplicate_acks"] += 1
            tracker.duplicate_acks += 1
            return None
        try:
            ack = contract.parse_payload("ack", payload)
        except contract.ContractError as exc:
            self.stats["invalid_acks"] += 1
            if self.stats["invalid_acks"] <= INVALID_ACK_WARNINGS:  # one client may flood: the rest are counted
                self.warn(f"ignored an invalid ack on {topic}: {exc}"
                          + ("; further invalid acks are only counted (stats.invalid_acks)"
                             if self.stats["invalid_acks"] == INVALID_ACK_WARNINGS else ""))
            return None
        tracker = self.by_command.get(ack["command_id"])
        if tracker is None:
            self.stats["foreign_acks"] += 1  # another play's command, or an old one
            return None
        if tracker.client_uuid != client_uuid:
            self.stats["foreign_acks"] += 1
            self.warn(f"ignored an ack for {tracker.host}'s command on another client's topic {topic}")
            return None
        self.stats["acks"] += 1
        self._raw_acks_seen[key] = tracker
        before = tracker.duplicate_acks
        changed = tracker.on_ack(ack, mono)
        self.stats["duplicate_acks"] += tracker.duplicate_acks - before
        return tracker if changed else None

    def _trackers_for_client(self, client_uuid):
        if not hasattr(self, "_by_client"):
            self._by_client = {}
            for tracker in self.trackers.values():
                self._by_client.setdefault(tracker.client_uuid, []).append(tracker)
        return self._by_client.get(client_uuid, [])

    def progress_line(self, clock, now):
        counts = {"accepted": 0, "held": 0, "started": 0, "stabilizing": 0, "completed": 0, "failed": 0, "waiting": 0}
        for tracker in self.trackers.values():
            state = tracker.state
            if tracker.phase in ("held", "stabilizing"):
                counts[tracker.phase] += 1
            elif state == "accepted":
                counts["accepted"] += 1
            elif state == "execution_started":
                counts["started"] += 1
            elif state == "completed":
                counts["completed"] += 1
            elif state in ("failed", "timed_out", "expired"):
                counts["failed"] += 1
            else:
                counts["waiting"] += 1
        text = " ".join(f"{name} {value}" for name, value in counts.items())
        return f"wave {self.number or '-'} ({self.options.action}): {text}; elapsed {clock.elapsed(now):.1f} s"


def run_wave(hosts, options, ledger, mqtt_params, *, wave_id=None, progress=None, warn=None, absent=()):
    """Run one wave for ``[(inventory_hostname, client_uuid), ...]``; returns the WaveRun.

    ``absent``: ``[(host, client_uuid), ...]`` of the wave that dropped out of the play before
    the command; they get no command and count against the wave (state ``unreachable``).
    """
    wave = WaveRun(hosts, options, ledger, mqtt_params, wave_id=wave_id, progress=progress, warn=warn,
                   absent=absent)
    wave.run()
    return wave
