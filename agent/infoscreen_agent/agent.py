"""The agent's runtime: MQTT session, command lifecycle, reboot continuity, heartbeats.

Threads: paho's network thread runs the callbacks (validation, dedupe, ``accepted`` acks);
the main thread executes commands through the power backend and runs the timers. One lock
guards the state store and the in-memory pending command.

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
"""

import json
import logging
import queue
import signal
import threading
import time

from . import checks, status
from .contract import ack_topics, command_topics, health_topic, heartbeat_topic, make_ack, utcnow, validate
from .power import HelperFailed, make_backend
from .sdnotify import Notifier
from .store import StateStore

LOG = logging.getLogger("infoscreen_agent")
TICK_S = 1.0
_HOST_ACTIONS = {"reboot_host": "reboot_not_observed", "shutdown_host": "shutdown_not_observed"}
# Longest wait for the broker's PUBACK of execution_started before the helper runs.
EXECUTION_STARTED_FLUSH_S = 2.0


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
    def __init__(self, config, client=None, backend=None, notifier=None):
        self.cfg = config
        self.uuid = config.client_uuid
        self.store = StateStore(config.state_dir, config.dedupe_retention_s, config.dedupe_max_entries)
        self.backend = backend or make_backend(config)
        self.notifier = notifier or Notifier()
        self.boot_id = status.read_boot_id(config.boot_id_path)
        self.reconnect_count = 0
        self.last_disconnect_at = None
        self._ever_connected = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._work = queue.Queue()
        self._awaiting = {}  # mid -> command_id of a terminal ack not yet PUBACKed
        self._pending = None  # persisted pending command (dict) or None
        self._deadline_mono = None
        self._queued = 0  # commands accepted but not yet taken up by the main thread
        self.executions = 0  # helper invocations in this process (tests and logs)
        self.client = client if client is not None else self._make_client()
        self._resolve_pending_at_start()

    # setup ------------------------------------------------------------------------------
    def _make_client(self):
        if not HAS_PAHO:
            raise RuntimeError("paho-mqtt is required to run the agent: pip install 'paho-mqtt>=2.1,<3'")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.uuid, clean_session=False,
                             protocol=mqtt.MQTTv311)
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
        pending = self.store.pending()
        if not pending:
            return
        self._pending = pending
        if pending.get("terminal"):
            return  # decided before, not yet delivered: on_connect sends it first
        action = pending["action"]
        remaining = pending.get("deadline_at", 0) - time.time()
        new_boot = pending.get("boot_id") != self.boot_id
        if action in _HOST_ACTIONS and new_boot:
            self._decide("completed")
        elif action in _HOST_ACTIONS and remaining <= 0:
            self._decide("failed", _HOST_ACTIONS[action],
                          f"boot id still {self.boot_id} {-remaining:.0f} s after the {action} deadline")
        else:
            self._deadline_mono = time.monotonic() + max(0.0, remaining)
            LOG.info("command %s (%s) still pending; waiting up to %.0f s", pending["command_id"], action,
                     max(0.0, remaining))

    # MQTT callbacks (network thread) ----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            LOG.error("broker refused the connection: %s (check [mqtt] username/password)", reason_code)
            return
        with self._lock:
            if self._ever_connected:
                self.reconnect_count += 1
            self._ever_connected = True
            # Reboot continuity: the outcome of a pending command is the first thing said.
            if self._pending and self._pending.get("terminal"):
                self._publish_terminal()
        for topic in command_topics(self.uuid):
            client.subscribe(topic, qos=1)
        LOG.info("connected to %s:%s; listening on %s", self.cfg.host, self.cfg.port,
                 ", ".join(command_topics(self.uuid)))
        self.publish_health()
        self.notifier.ready()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        self.last_disconnect_at = utcnow()
        if not self._stop.is_set():
            LOG.warning("disconnected from broker (%s); reconnecting with back-off up to %s s",
                        reason_code, self.cfg.reconnect_max_s)

    def _on_message(self, client, userdata, message):
        try:
            self.handle_command(message.payload)
        except Exception:  # a bad message must never take the agent down
            LOG.exception("unexpected error while handling a message on %s", message.topic)

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

    # command handling -------------------------------------------------------------------
    def handle_command(self, raw, now=None):
        """Validate one raw command; ack and queue it, reject it, or re-announce a duplicate.

        Returns what happened: 'queued', 'duplicate', 'rejected' or 'dropped'.
        """
        try:
            payload = checks.decode(raw)
        except checks.Rejection as rej:
            LOG.warning("dropped a command with no readable command_id: %s", rej.message)
            return "dropped"
        command_id = checks.readable_command_id(payload)
        with self._lock:
            if command_id and command_id in self.store:
                entry = self.store.get(command_id)
                LOG.info("duplicate command %s: re-announcing %s, not executing", command_id, entry["status"])
                self._publish_ack(command_id, entry["status"], entry.get("error_code"), entry.get("error_message"))
                return "duplicate"
            try:
                command = checks.check(payload, self.uuid, now or utcnow(), self.cfg.clock_skew_s,
                                       self.cfg.future_tolerance_s)
            except checks.Rejection as rej:
                if not rej.command_id:
                    LOG.warning("dropped a command with no readable command_id: %s", rej.message)
                    return "dropped"
                LOG.warning("rejected command %s: %s: %s", rej.command_id, rej.error_code, rej.message)
                self._reject(rej.command_id, payload.get("action"), rej.error_code, rej.message)
                return "rejected"
            action = command["action"]
            if (self._pending and not self._pending.get("terminal")) or self._queued:
                self._reject(command_id, action, "busy", "another command is still executing on this client")
                return "rejected"
            if self.cfg.lockout_max > 0:
                recent = self.store.executions_since(time.time() - self.cfg.lockout_window_s)
                if recent >= self.cfg.lockout_max:
                    self._reject(command_id, action, "lockout",
                                 f"{recent} reboot-class commands ran in the last {self.cfg.lockout_window_s:g} s "
                                 f"(limit {self.cfg.lockout_max})")
                    return "rejected"
            self.store.record(command_id, action, "accepted")
            self._publish_ack(command_id, "accepted")
            self._queued += 1
            self._work.put(("command", command))
            return "queued"

    def _reject(self, command_id, action, code, message):
        self.store.record(command_id, action if isinstance(action, str) else None, "failed", code, message)
        self._publish_ack(command_id, "failed", code, message)

    def _execute(self, command):
        command_id, action = command["command_id"], command["action"]
        deadline_s = {"reboot_host": self.cfg.reboot_deadline_s, "shutdown_host": self.cfg.shutdown_deadline_s,
                      "restart_app": self.cfg.restart_deadline_s}[action]
        with self._lock:
            # Persist before the helper runs: after a reboot, this is what proves continuity.
            self._pending = {"command_id": command_id, "action": action, "boot_id": self.boot_id,
                             "invoked_at": time.time(), "deadline_at": time.time() + deadline_s,
                             "phase": "invoking", "terminal": None}
            self._deadline_mono = time.monotonic() + deadline_s
            self.store.set_pending(self._pending)
            self.store.record(command_id, action, "execution_started", executed=True)
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
                self.store.set_pending(self._pending)

    def _decide(self, status_, code=None, message=None):
        """Fix the pending command's outcome on disk, then announce it (if connected)."""
        pending = self._pending
        pending["terminal"] = {"status": status_, "error_code": code, "error_message": message}
        self.store.set_pending(pending)
        self.store.record(pending["command_id"], pending["action"], status_, code, message)
        LOG.info("command %s (%s): %s %s", pending["command_id"], pending["action"], status_, code or "")
        if self.client is not None and self.client.is_connected():
            self._publish_terminal()

    def _publish_terminal(self):
        pending = self._pending
        term = pending["terminal"]
        sent = self._publish_ack(pending["command_id"], term["status"], term["error_code"], term["error_message"])
        if not sent:  # acks dropped on purpose (sim fault): nothing will ever be confirmed
            self._pending = None
            self.store.clear_pending()
            return
        for info in sent:
            self._awaiting[info.mid] = pending["command_id"]

    def _publish_ack(self, command_id, status_, code=None, message=None):
        ack = validate("ack", make_ack(command_id, status_, code, message))
        if self.cfg.sim_drop_acks:
            LOG.warning("sim fault drop_acks: not publishing %s ack for %s", status_, command_id)
            return []
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
        body = status.heartbeat(self.uuid, self.boot_id, self.cfg.release,
                                status.uptime_s(self.cfg.power_backend, self.cfg.boot_id_path))
        self.client.publish(heartbeat_topic(self.uuid), json.dumps(body), qos=0, retain=False)

    def publish_health(self):
        with self._lock:
            pending_id = self._pending["command_id"] if self._pending else None
        body = status.health(self.uuid, self.boot_id, self.cfg.release,
                             status.uptime_s(self.cfg.power_backend, self.cfg.boot_id_path),
                             app_state=self.backend.app_state(), pending_command_id=pending_id,
                             reconnect_count=self.reconnect_count, last_disconnect_at=self.last_disconnect_at)
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

    # main loop --------------------------------------------------------------------------
    def stop(self, *_args):
        self._stop.set()
        self._work.put(("stop", None))

    def run(self):
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        LOG.info("infoscreen agent for %s starting (boot id %s)", self.uuid, self.boot_id)
        self.client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive_s)
        self.client.loop_start()
        now = time.monotonic()
        next_heartbeat = now + min(5.0, self.cfg.heartbeat_interval_s)
        next_health = now + self.cfg.health_interval_s
        watchdog_s = self.notifier.watchdog_interval_s
        next_watchdog = now
        try:
            while not self._stop.is_set():
                try:
                    kind, item = self._work.get(timeout=TICK_S)
                except queue.Empty:
                    kind, item = None, None
                if kind == "puback":
                    self._handle_puback(item)
                elif kind == "command":
                    with self._lock:
                        self._queued -= 1
                    if not self._stop.is_set():
                        self._execute(item)
                self._check_pending()
                now = time.monotonic()
                if self.client.is_connected():
                    if now >= next_heartbeat:
                        self.publish_heartbeat()
                        next_heartbeat = now + self.cfg.heartbeat_interval_s
                    if now >= next_health:
                        self.publish_health()
                        next_health = now + self.cfg.health_interval_s
                if watchdog_s and now >= next_watchdog:
                    self.notifier.watchdog()
                    next_watchdog = now + watchdog_s
            self.notifier.stopping()
            self._on_stop()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        LOG.info("agent stopped")
        return 0

