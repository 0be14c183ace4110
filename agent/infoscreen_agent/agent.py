"""The agent's runtime: MQTT session, command lifecycle, reboot continuity, heartbeats.

Threads (docs/agent.md, "Threads and liveness"):
- the network thread (``_network_loop``) runs paho's loop and callbacks; it never touches
  the disk and never waits on the agent's lock: an incoming command only goes into
  ``_inbox``. Commands are acknowledged to the broker (PUBACK, paho's manual ack) only after
  the handler has recorded them, so a crash in between means a redelivery, not a loss, and
  the broker's in-flight window (20) is the flood's natural back-pressure;
- the handler thread (``_handler_loop``) validates, de-duplicates, records (an append to
  the journal, store.py) and answers ``accepted``/``failed``;
- the main thread executes commands through the power backend, runs the timers
  (heartbeat, health, pending deadlines) and feeds the systemd watchdog only while the
  other two threads are alive and making progress.
One lock guards the state store and the in-memory pending command.

Completion rules (see docs/agent.md):
- reboot_host: ``completed`` once the agent runs again with a boot id different from the
  one persisted before the helper was invoked; ``failed``/``reboot_not_observed`` when the
  boot id is unchanged after ``reboot_deadline_s``.
- shutdown_host: ``completed`` when the agent is stopped (SIGTERM) after the helper
  succeeded, i.e. the system is going down, or on the next start with a new boot id if the
  agent died before it could say so; ``failed``/``shutdown_not_observed`` when it is still
  running with the same boot id after ``shutdown_deadline_s``.
- restart_app: ``completed`` when the app reports running after the helper succeeded;
  ``failed``/``restart_not_observed`` when it does not within ``restart_deadline_s``.
- A helper that fails or cannot run: ``failed``/``helper_failed``.
- Local hold (hold.py): an accepted reboot-class command waits while ``hold_path`` holds -
  at most ``hold_max_wait_s`` and never past its ``expires_at`` - then runs; otherwise
  ``failed``/``busy`` naming the hold. The acks stay accepted -> (wait) -> execution_started.
"""

import collections
import json
import logging
import queue
import signal
import threading
import time

from . import checks, status
from .contract import (
    ack_topics,
    command_topics,
    health_topic,
    heartbeat_topic,
    make_ack,
    parse_ts,
    utcnow,
    validate,
)
from .hold import describe as describe_hold
from .hold import read_hold
from .power import HelperFailed, make_backend
from .sdnotify import Notifier
from .store import StateStore, StoreUnwritable

LOG = logging.getLogger("infoscreen_agent")
TICK_S = 1.0
_HOST_ACTIONS = {"reboot_host": "reboot_not_observed", "shutdown_host": "shutdown_not_observed"}
# Longest wait for the broker's PUBACK of execution_started before the helper runs.
EXECUTION_STARTED_FLUSH_S = 2.0
# Liveness (watchdog): the network loop returns at least once a second (loop timeout 1 s)
# and the handler polls its inbox once a second; this long without either is a hung thread.
STALL_S = 20.0
# Session take-over heuristic (docs/agent.md): a connection the broker closed, followed by
# a reconnect that succeeded at the first attempt, means the broker was up and dropped us,
# which Mosquitto does when another client connects with our client id.
TAKEOVER_WINDOW_S = 600.0
TAKEOVER_ALARM = 3
# QoS 0 commands (off-contract) are the only ones the broker does not pace: cap the inbox.
INBOX_MAX = 1000
# Commands that disrupt the screen, so a local hold defers them (docs/design.md: reboot-class).
HOLD_ACTIONS = ("reboot_host", "shutdown_host", "restart_app")


def _wait_delivered(sent, timeout_s):
    """Wait up to timeout_s in all for the PUBACKs of ``sent`` (paho MQTTMessageInfo)."""
    deadline = time.monotonic() + timeout_s
    for info in sent:
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError):  # not connected or not queued: nothing to wait for
            return


try:
    import paho.mqtt.client as mqtt

    HAS_PAHO = True
except ImportError:  # the CLI reports it; unit tests of the handler do not need paho
    mqtt = None
    HAS_PAHO = False


class Agent:
    def __init__(self, config, client=None, backend=None, notifier=None, wrap_client=None):
        """``backend``: the power backend (default: the helper, power.py); ``wrap_client``:
        called with the MQTT client the agent made, returns the client to use (the same
        methods). The installed agent passes neither (docs/agent.md "Embedding the agent")."""
        self.cfg = config
        self.uuid = config.client_uuid
        self.store = StateStore(config.state_dir, config.dedupe_retention_s, config.dedupe_max_entries,
                                execution_memory_s=config.lockout_window_s)
        self.backend = backend or make_backend(config)
        self.notifier = notifier or Notifier()
        self.boot_id = status.read_boot_id(config.boot_id_path)
        self.reconnect_count = 0
        self.last_disconnect_at = None
        self._ever_connected = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._work = queue.Queue()
        self._inbox = queue.Queue()
        self._awaiting = {}  # mid -> command_id of a terminal ack not yet PUBACKed
        self._pending = None  # persisted pending command (dict) or None
        self._deadline_mono = None
        self._queued = 0  # commands accepted but not yet taken up by the main thread
        self._held = None  # {"command", "until_mono", "started_mono", "hold"}: waiting for the local hold
        self.executions = 0  # helper invocations in this process (tests and logs)
        self._manual_ack = client is None
        self._net_beat = self._handler_beat = time.monotonic()
        self._net_thread = self._handler_thread = None
        self._reconnect_delay = config.reconnect_min_s
        self._lost_at = None  # monotonic time the broker closed our connection, if it did
        self._first_attempt = True  # the reconnect after a loss has not failed yet
        self.takeovers = collections.deque()  # monotonic times of suspected session take-overs
        self.takeover_total = 0
        self._dropped_qos0 = 0
        self.client = client if client is not None else self._make_client()
        if wrap_client is not None:
            self.client = wrap_client(self.client)
        self._resolve_pending_at_start()

    # setup ------------------------------------------------------------------------------
    def _make_client(self):
        if not HAS_PAHO:
            raise RuntimeError("paho-mqtt is required to run the agent: pip install 'paho-mqtt>=2.1,<3'")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.uuid, clean_session=False,
                             protocol=mqtt.MQTTv311, manual_ack=True)
        client.username_pw_set(self.cfg.username, self.cfg.password)
        if self.cfg.tls_ca:
            client.tls_set(ca_certs=self.cfg.tls_ca)
        client.reconnect_delay_set(self.cfg.reconnect_min_s, self.cfg.reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _resolve_pending_at_start(self):
        """Decide what a command left pending by a previous run (or boot) has come to."""
        pending = self.store.pending()  # None when missing; a wrong-shaped file is moved aside
        if not pending:
            return
        self._pending = pending
        if pending.get("terminal"):
            return  # decided before, not yet delivered: on_connect sends it first
        action = pending["action"]
        remaining = pending["deadline_at"] - time.time()
        new_boot = pending["boot_id"] != self.boot_id
        if action in _HOST_ACTIONS and new_boot:
            self._decide("completed")
        elif action in _HOST_ACTIONS and remaining <= 0:
            self._decide("failed", _HOST_ACTIONS[action],
                         f"boot id still {self.boot_id} {-remaining:.0f} s after the {action} deadline")
        else:
            remaining = min(max(0.0, remaining), self._deadline_s(action))
            self._deadline_mono = time.monotonic() + remaining
            LOG.info("command %s (%s) still pending; waiting up to %.0f s", pending["command_id"], action, remaining)

    def _deadline_s(self, action):
        return {"reboot_host": self.cfg.reboot_deadline_s, "shutdown_host": self.cfg.shutdown_deadline_s,
                "restart_app": self.cfg.restart_deadline_s}[action]

    # MQTT callbacks (network thread: no disk I/O, no blocking) --------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            LOG.error("broker refused the connection: %s (check [mqtt] username/password)", reason_code)
            self._first_attempt = False
            return
        self._reconnect_delay = self.cfg.reconnect_min_s
        with self._lock:
            if self._ever_connected:
                self.reconnect_count += 1
            self._ever_connected = True
            self._note_takeover()
            # Reboot continuity: the outcome of a pending command is the first thing said.
            if self._pending and self._pending.get("terminal"):
                self._publish_terminal()
        for topic in command_topics(self.uuid):
            client.subscribe(topic, qos=1)
        LOG.info("connected to %s:%s; listening on %s", self.cfg.host, self.cfg.port,
                 ", ".join(command_topics(self.uuid)))
        self._work.put(("health", None))  # built on the main thread: app_state may run systemctl
        self.notifier.ready()

    def _note_takeover(self):
        lost_at, self._lost_at = self._lost_at, None
        if lost_at is None or not self._first_attempt:
            return
        now = time.monotonic()
        self.takeovers.append(now)
        self.takeover_total += 1
        while self.takeovers and self.takeovers[0] < now - TAKEOVER_WINDOW_S:
            self.takeovers.popleft()
        if len(self.takeovers) >= TAKEOVER_ALARM:
            LOG.warning("the broker dropped this session %d times in %.0f min although it was reachable: another "
                        "client is probably connecting with client id %s (a cloned SD card or copied credentials); "
                        "give every Pi its own client_uuid and password", len(self.takeovers),
                        TAKEOVER_WINDOW_S / 60, self.uuid)
        else:
            LOG.info("the broker closed the session and took the reconnect at once (possible session take-over)")

    def identity_conflict_suspected(self):
        now = time.monotonic()
        return sum(1 for t in self.takeovers if t >= now - TAKEOVER_WINDOW_S) >= TAKEOVER_ALARM

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        self.last_disconnect_at = utcnow()
        if not self._stop.is_set():
            self._lost_at = time.monotonic()
            self._first_attempt = True
            LOG.warning("disconnected from broker (%s); reconnecting with back-off up to %s s",
                        reason_code, self.cfg.reconnect_max_s)

    def _on_message(self, client, userdata, message):
        qos = getattr(message, "qos", 1)
        if qos == 0 and self._inbox.qsize() >= INBOX_MAX:
            self._dropped_qos0 += 1
            if self._dropped_qos0 % 1000 == 1:
                LOG.warning("dropped %d QoS 0 commands: the inbox is full (commands must be QoS 1)",
                            self._dropped_qos0)
            return
        self._inbox.put((bytes(message.payload), bool(getattr(message, "retain", False)), message.mid, qos,
                         message.topic))

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None):
        # paho holds its outgoing-message lock here; taking ours could deadlock against a
        # publish() made under our lock, so hand the PUBACK to the main thread instead.
        self._work.put(("puback", mid))

    def _handle_puback(self, mid):
        with self._lock:
            command_id = self._awaiting.pop(mid, None)
            if command_id is None or command_id in self._awaiting.values():
                return
            if self._pending and self._pending["command_id"] == command_id and self._pending.get("terminal"):
                self._pending = None
                self._deadline_mono = None
                self.store.clear_pending()
                LOG.info("outcome of %s delivered", command_id)

    # handler thread ---------------------------------------------------------------------
    def _handler_loop(self):
        while not self._stop.is_set():
            self._handler_beat = time.monotonic()
            try:
                raw, retained, mid, qos, topic = self._inbox.get(timeout=TICK_S)
            except queue.Empty:
                self._flush_store()
                continue
            try:
                self.handle_command(raw, retained=retained)
            except Exception:  # a bad message must never take the agent down
                LOG.exception("unexpected error while handling a message on %s", topic)
            finally:
                if qos and self._manual_ack:
                    self._ack_to_broker(mid, qos)
            if self._inbox.empty():
                self._flush_store()

    def _ack_to_broker(self, mid, qos):
        """PUBACK a handled command: recorded (or refused), the broker may forget it."""
        try:
            self.client.ack(mid, qos)
        except Exception:  # offline: the broker redelivers it, the store answers it as a duplicate
            LOG.exception("could not acknowledge message %s to the broker", mid)

    def _flush_store(self):
        with self._lock:
            try:
                self.store.flush()
            except OSError as exc:
                LOG.error("cannot sync the command record: %s", exc)

    # command handling -------------------------------------------------------------------
    def handle_command(self, raw, now=None, retained=False):
        """Validate one raw command; ack and queue it, reject it, or re-announce a duplicate.

        Returns what happened: 'queued', 'duplicate', 'rejected' or 'dropped'.
        """
        try:
            payload = checks.decode(raw)
        except checks.Rejection as rej:
            LOG.warning("dropped a command with no readable command_id: %s", rej.message)
            return "dropped"
        command_id = checks.readable_command_id(payload)
        digest = checks.digest(payload)
        issued = checks.issued_epoch(payload)
        action = payload.get("action")
        with self._lock:
            if command_id and command_id in self.store:
                entry = self.store.get(command_id)
                if entry.get("digest") and entry["digest"] != digest:
                    message = (f"command_id {command_id} was already used for another command "
                               f"({entry.get('action') or 'invalid'}, {entry['status']}); use a new command_id")
                    LOG.warning("rejected command %s: command_id_reused: %s", command_id, message)
                    self._publish_ack(command_id, "failed", "command_id_reused", message)
                    return "rejected"
                LOG.info("duplicate command %s: re-announcing %s, not executing", command_id, entry["status"])
                self._publish_ack(command_id, entry["status"], entry.get("error_code"), entry.get("error_message"))
                return "duplicate"
            if retained:
                if not command_id:
                    LOG.warning("dropped a retained command with no readable command_id")
                    return "dropped"
                return self._refuse(command_id, action, "retained",
                                    "the command arrived as a retained message; commands are never retained "
                                    "(clear it: publish an empty retained message on this topic)",
                                    issued=issued, digest=digest)
            try:
                command = checks.check(payload, self.uuid, now or utcnow(), self.cfg.clock_skew_s,
                                       self.cfg.future_tolerance_s)
            except checks.Rejection as rej:
                if not rej.command_id:
                    LOG.warning("dropped a command with no readable command_id: %s", rej.message)
                    return "dropped"
                return self._refuse(rej.command_id, action, rej.error_code, rej.message, issued=issued,
                                    digest=digest)
            if self.store.forgotten(issued):
                return self._refuse(command_id, action, "state_lost",
                                    "issued before this client's record of commands begins (its state was lost or "
                                    "the oldest entries evicted): it may have run already, so it does not run; "
                                    "send a new command", issued=issued, digest=digest)
            if self._held is not None:
                return self._refuse(command_id, action, "busy",
                                    f"another command ({self._held['command']['command_id']}) is waiting for the local "
                                    f"hold to clear: {describe_hold(self._held['hold'])}", issued=issued, digest=digest)
            if (self._pending and not self._pending.get("terminal")) or self._queued:
                return self._refuse(command_id, action, "busy", "another command is still executing on this client",
                                    issued=issued, digest=digest)
            if self.cfg.lockout_max > 0:
                recent = self.store.executions_since(time.time() - self.cfg.lockout_window_s)
                if recent >= self.cfg.lockout_max:
                    return self._refuse(command_id, action, "lockout",
                                        f"{recent} reboot-class commands ran in the last "
                                        f"{self.cfg.lockout_window_s:g} s (limit {self.cfg.lockout_max})",
                                        issued=issued, digest=digest)
            try:
                self.store.record(command_id, action, "accepted", issued_at=issued, digest=digest)
            except StoreUnwritable as exc:
                return self._refuse(command_id, action, "state_unwritable",
                                    f"{exc.strerror}; the command is not executed (fix the state dir's permissions "
                                    "or free space)", issued=issued, digest=digest)
            self._publish_ack(command_id, "accepted")
            self._queued += 1
            self._work.put(("command", command))
            return "queued"

    def _refuse(self, command_id, action, code, message, *, issued=None, digest=None):
        LOG.warning("rejected command %s: %s: %s", command_id, code, message)
        self._reject(command_id, action, code, message, issued=issued, digest=digest)
        return "rejected"

    def _reject(self, command_id, action, code, message, *, issued=None, digest=None):
        try:
            # Not fsynced at once: a lost refusal is re-judged, never executed on its own
            # (the lockout's executions and the accepted records are durable).
            self.store.record(command_id, action if action in self._actions() else None, "failed", code, message,
                              issued_at=issued, digest=digest, durable=False)
        except StoreUnwritable:
            pass  # still refused; health reports that the client cannot record
        self._publish_ack(command_id, "failed", code, message)

    @staticmethod
    def _actions():
        return ("reboot_host", "shutdown_host", "restart_app")

    # local hold (main thread) ------------------------------------------------------------
    def _take(self, command, now_mono=None, now_wall=None):
        """Run an accepted command now, or wait for the local hold (checked every tick)."""
        hold = read_hold(self.cfg.hold_path) if command["action"] in HOLD_ACTIONS else None
        if hold is None:
            self._execute(command)
            return
        now_mono = time.monotonic() if now_mono is None else now_mono
        now_wall = time.time() if now_wall is None else now_wall
        try:
            validity_left = parse_ts(command["expires_at"]).timestamp() - now_wall
        except (KeyError, TypeError, ValueError):
            validity_left = 0.0
        wait_s = max(0.0, min(validity_left, self.cfg.hold_max_wait_s))
        with self._lock:
            self._held = {"command": command, "until_mono": now_mono + wait_s, "started_mono": now_mono,
                          "hold": hold, "limit": "its expiry" if validity_left <= self.cfg.hold_max_wait_s
                          else f"hold_max_wait_s {self.cfg.hold_max_wait_s:g} s"}
        LOG.info("command %s (%s) waits up to %.0f s: %s", command["command_id"], command["action"], wait_s,
                 describe_hold(hold))
        if self.client is not None and self.client.is_connected():
            self.publish_health()  # the controller shows the client as held at once
        self._check_held(now_mono)

    def _check_held(self, now_mono=None):
        with self._lock:
            held = self._held
        if held is None:
            return
        now_mono = time.monotonic() if now_mono is None else now_mono
        hold = read_hold(self.cfg.hold_path)
        command = held["command"]
        if hold is None:
            with self._lock:
                self._held = None
            LOG.info("hold cleared after %.0f s; executing %s", now_mono - held["started_mono"], command["command_id"])
            self._execute(command)
            return
        held["hold"] = hold
        if now_mono < held["until_mono"]:
            return
        waited = now_mono - held["started_mono"]
        message = (f"{describe_hold(hold)}; not executed: the hold did not clear within {waited:.0f} s "
                   f"(limit: {held['limit']}); send the command again when the hold is released")[:3900]
        with self._lock:
            self._held = None
            LOG.warning("command %s: busy: %s", command["command_id"], message)
            self._reject(command["command_id"], command["action"], "busy", message,
                         issued=checks.issued_epoch(command), digest=checks.digest(command))

    def _execute(self, command):
        command_id, action = command["command_id"], command["action"]
        deadline_s = self._deadline_s(action)
        with self._lock:
            # Persist before the helper runs: after a reboot, this is what proves continuity.
            pending = {"command_id": command_id, "action": action, "boot_id": self.boot_id,
                       "invoked_at": time.time(), "deadline_at": time.time() + deadline_s,
                       "phase": "invoking", "terminal": None}
            try:
                self.store.set_pending(pending)
                self.store.record(command_id, action, "execution_started", executed=True)
            except StoreUnwritable as exc:
                self.store.clear_pending()
                message = f"{exc.strerror}; not executed (fix the state dir's permissions or space)"
                LOG.error("command %s: state_unwritable: %s", command_id, message)
                self._reject(command_id, action, "state_unwritable", message)
                return
            self._pending = pending
            self._deadline_mono = time.monotonic() + deadline_s
            sent = self._publish_ack(command_id, "execution_started")
        # A reboot or shutdown ends this process: give the execution_started ack a moment to
        # reach the broker first (PUBACK), so the controller sees every phase. Bounded, and
        # immediate when offline: the outcome is on disk and is announced after the boot.
        _wait_delivered(sent, EXECUTION_STARTED_FLUSH_S)
        self.executions += 1
        LOG.info("executing %s for command %s", action, command_id)
        try:
            self.backend.invoke(action, command_id)
        except HelperFailed as exc:
            LOG.error("command %s: %s", command_id, exc)
            with self._lock:
                self._decide("failed", "helper_failed", str(exc)[:3900])
            return
        with self._lock:
            if self._pending and self._pending["command_id"] == command_id and not self._pending.get("terminal"):
                self._pending["phase"] = "helper_done"
                self._persist_pending()

    def _persist_pending(self):
        try:
            self.store.set_pending(self._pending)
        except StoreUnwritable as exc:
            LOG.error("cannot update %s: %s", self.cfg.state_dir, exc)

    def _decide(self, status_, code=None, message=None):
        """Fix the pending command's outcome on disk, then announce it (if connected)."""
        pending = self._pending
        pending["terminal"] = {"status": status_, "error_code": code, "error_message": message}
        self._persist_pending()
        try:
            self.store.record(pending["command_id"], pending["action"], status_, code, message)
        except StoreUnwritable as exc:
            LOG.error("cannot record the outcome of %s: %s", pending["command_id"], exc)
        LOG.info("command %s (%s): %s %s", pending["command_id"], pending["action"], status_, code or "")
        if self.client is not None and self.client.is_connected():
            self._publish_terminal()

    def _publish_terminal(self):
        pending = self._pending
        term = pending["terminal"]
        sent = self._publish_ack(pending["command_id"], term["status"], term["error_code"], term["error_message"])
        for info in sent:
            self._awaiting[info.mid] = pending["command_id"]

    def _publish_ack(self, command_id, status_, code=None, message=None):
        ack = validate("ack", make_ack(command_id, status_, code, message))
        body = json.dumps(ack)
        return [self.client.publish(topic, body, qos=1, retain=False) for topic in ack_topics(self.uuid)]

    # timers (main thread) ---------------------------------------------------------------
    def _check_pending(self):
        with self._lock:
            pending = self._pending
            if not pending or pending.get("terminal"):
                return
            expired = self._deadline_mono is not None and time.monotonic() >= self._deadline_mono
            action = pending["action"]
            if action == "restart_app":
                started = pending.get("phase") == "helper_done" or pending.get("boot_id") != self.boot_id
                if started and self.backend.app_state() == "running":
                    self._decide("completed")
                elif expired:
                    self._decide("failed", "restart_not_observed",
                                 f"app not running {self.cfg.restart_deadline_s:g} s after restart-app")
            elif expired:
                self._decide("failed", _HOST_ACTIONS[action],
                             f"still up with boot id {self.boot_id} after the {action} deadline")

    def publish_heartbeat(self):
        body = status.heartbeat(self.uuid, self.boot_id, self.cfg.release, self.backend.uptime_s())
        if body is not None:
            self.client.publish(heartbeat_topic(self.uuid), json.dumps(body), qos=0, retain=False)

    def agent_state(self):
        """The health extension: can the client record commands, what was wrong with its state."""
        return {"can_record": bool(self.store.writable), "state_problems": list(self.store.problems[-10:]),
                "session_takeovers": self.takeover_total,
                "identity_conflict_suspected": self.identity_conflict_suspected()}

    def publish_health(self):
        with self._lock:
            pending_id = self._pending["command_id"] if self._pending else None
            agent_state = self.agent_state()
        body = status.health(self.uuid, self.boot_id, self.cfg.release, self.backend.uptime_s(),
                             app_state=self.backend.app_state(), pending_command_id=pending_id,
                             reconnect_count=self.reconnect_count, last_disconnect_at=self.last_disconnect_at,
                             agent_state=agent_state, hold=read_hold(self.cfg.hold_path))
        if body is not None:
            self.client.publish(health_topic(self.uuid), json.dumps(body), qos=1, retain=False)

    def _on_stop(self):
        """SIGTERM while a shutdown is under way means the system is going down: say so."""
        with self._lock:
            pending = self._pending
            if (pending and pending["action"] == "shutdown_host" and pending.get("phase") == "helper_done"
                    and not pending.get("terminal")):
                self._decide("completed")
            waiting = bool(self._awaiting)
        deadline = time.monotonic() + 3.0
        while waiting and time.monotonic() < deadline:
            try:
                kind, item = self._work.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "puback":
                self._handle_puback(item)
            with self._lock:
                waiting = bool(self._awaiting)

    # network thread ---------------------------------------------------------------------
    def _network_loop(self):
        """paho's loop with reconnect back-off; it never dies of an exception, and beats."""
        client = self.client
        need_connect = True
        while True:
            self._net_beat = time.monotonic()
            if need_connect and self._stop.is_set():
                return
            try:
                if need_connect:
                    try:
                        client.reconnect()
                        need_connect = False
                    except OSError as exc:
                        self._first_attempt = False
                        LOG.warning("cannot reach broker %s:%s (%s); retrying in %s s", self.cfg.host, self.cfg.port,
                                    exc, self._reconnect_delay)
                        self._back_off()
                        continue
                if client.loop(timeout=TICK_S) != mqtt.MQTT_ERR_SUCCESS:
                    need_connect = True
                    if not self._stop.is_set():
                        self._back_off()
            except Exception:  # never a deaf client: log, and carry on with a fresh connection
                LOG.exception("error in the MQTT network loop; reconnecting")
                need_connect = not client.is_connected()
                self._back_off()

    def _back_off(self):
        delay = self._reconnect_delay
        self._reconnect_delay = min(self.cfg.reconnect_max_s, max(1, delay * 2))
        end = time.monotonic() + delay
        while not self._stop.is_set() and time.monotonic() < end:
            self._net_beat = time.monotonic()  # waiting on purpose is not a hang
            self._stop.wait(min(1.0, max(0.0, end - time.monotonic())))

    def threads_alive(self, now=None):
        """What the watchdog keep-alive proves: the MQTT loop and the handler both run (None = yes)."""
        now = time.monotonic() if now is None else now
        for name, thread, beat in (("MQTT network", self._net_thread, self._net_beat),
                                   ("command handler", self._handler_thread, self._handler_beat)):
            if thread is not None and not thread.is_alive():
                return f"the {name} thread has died"
            if now - beat > STALL_S:
                return f"the {name} thread has not made progress for {now - beat:.0f} s"
        return None

    # main loop --------------------------------------------------------------------------
    def stop(self, *_args):
        self._stop.set()
        self._work.put(("stop", None))

    def _start_threads(self):
        self._net_thread = threading.Thread(target=self._network_loop, name="mqtt-network", daemon=True)
        self._handler_thread = threading.Thread(target=self._handler_loop, name="command-handler", daemon=True)
        self._net_thread.start()
        self._handler_thread.start()

    def run(self):
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        LOG.info("infoscreen agent for %s starting (boot id %s)", self.uuid, self.boot_id)
        self.client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive_s)
        self._start_threads()
        now = time.monotonic()
        next_heartbeat = now + min(5.0, self.cfg.heartbeat_interval_s)
        next_health = now + self.cfg.health_interval_s
        watchdog_s = self.notifier.watchdog_interval_s
        next_watchdog = now
        exit_code = 0
        try:
            while not self._stop.is_set():
                try:
                    kind, item = self._work.get(timeout=TICK_S)
                except queue.Empty:
                    kind, item = None, None
                if kind == "puback":
                    self._handle_puback(item)
                elif kind == "health":
                    self.publish_health()
                    next_health = time.monotonic() + self.cfg.health_interval_s
                elif kind == "command":
                    with self._lock:
                        self._queued -= 1
                    if not self._stop.is_set():
                        self._take(item)
                self._check_held()
                self._check_pending()
                now = time.monotonic()
                if self.client.is_connected():
                    if now >= next_heartbeat:
                        self.publish_heartbeat()
                        next_heartbeat = now + self.cfg.heartbeat_interval_s
                    if now >= next_health:
                        self.publish_health()
                        next_health = now + self.cfg.health_interval_s
                problem = self.threads_alive(now)
                if problem:
                    # No keep-alive for a deaf client: exit non-zero so systemd restarts it.
                    LOG.error("%s; stopping so that the service manager restarts the agent", problem)
                    exit_code = 1
                    break
                if watchdog_s and now >= next_watchdog:
                    self.notifier.watchdog()
                    next_watchdog = now + watchdog_s
            self.notifier.stopping()
            self._on_stop()
        finally:
            self._stop.set()
            self.client.disconnect()
            for thread in (self._net_thread, self._handler_thread):
                if thread is not None:
                    thread.join(timeout=3.0)
            self.store.close()
        LOG.info("agent stopped")
        return exit_code
