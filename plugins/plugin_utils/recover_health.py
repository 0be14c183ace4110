# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client health as the controller sees it over MQTT, for the recover playbook.

One MQTT connection listens to the heartbeat, health and (retained) service_failed topics of
the clients asked about; payloads are validated with the contract package. ``assess`` turns
what was seen into "needs recovery, because ...":
- silent: no heartbeat or health within the listening window (or the last one older than
  ``max_heartbeat_age_s``);
- app_state crashed or stopped in the latest health;
- a service_failed report from the client's current boot (a report from an earlier boot is
  history, not a reason).

Proof of life is a heartbeat or health published while we listen: one delivered as a retained
message (left on the broker by anyone, at any time; the contract never retains them) is
ignored and counted in ``retained_ignored``. A client whose heartbeats return to a boot id it
had left (boot ids are random per boot) has two machines behind one identity (a cloned SD
card): it is flagged ``identity_conflict``, never counted as back from a reboot, and not
offered for recovery (a command would reach whichever clone is connected).
"""

import threading
import time
import uuid

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import (
    MqttConnectError,
    build_client,
    connect_client,
    disconnect_and_forget,
    reason_text,
    wait_connected,
)

SUBSCRIPTIONS = ((contract.wildcard_topic("heartbeat"), 0), (contract.wildcard_topic("health"), 0),
                 (contract.wildcard_topic("service_failed"), 1))
BAD_APP_STATES = ("crashed", "stopped")


class HealthError(RuntimeError):
    pass


class ClientSeen:
    def __init__(self, host, client_uuid):
        self.host = host
        self.client_uuid = client_uuid
        self.last_seen_mono = None
        self.boot_id = None
        self.app_state = None
        self.health_seen = False
        self.service_failed = None
        self.first_new_boot_mono = None
        self.agent_version = None
        self.release = None
        self.boot_ids_seen = []  # distinct boot ids in arrival order (bounded)
        self.identity_conflict = None  # (boot id left, boot id returned to) once seen

    def note_boot_id(self, boot_id):
        """Remember the boot id; True when it returns to an earlier one (identity conflict)."""
        seen = self.boot_ids_seen
        if seen and boot_id != seen[-1] and boot_id in seen:
            if self.identity_conflict is None:
                self.identity_conflict = (seen[-1], boot_id)
            seen.append(boot_id)
            del seen[:-8]
            return True
        if not seen or seen[-1] != boot_id:
            seen.append(boot_id)
            del seen[:-8]
        return self.identity_conflict is not None

    def as_dict(self, now_mono):
        age = None if self.last_seen_mono is None else round(now_mono - self.last_seen_mono, 1)
        return {"client_uuid": self.client_uuid, "seen": self.last_seen_mono is not None, "heartbeat_age_s": age,
                "boot_id": self.boot_id, "app_state": self.app_state, "agent_version": self.agent_version,
                "release": self.release, "service_failed": self.service_failed,
                "identity_conflict": self.identity_conflict is not None,
                "boot_ids_seen": list(self.boot_ids_seen) if self.identity_conflict else []}


def assess(seen, listened_s, max_heartbeat_age_s):
    """seen: ClientSeen.as_dict(). Returns the list of reasons the client needs recovery ([] = healthy).

    An identity conflict comes first and alone: nothing else said under that identity can be
    attributed to one machine.
    """
    if seen.get("identity_conflict"):
        return ["identity_conflict: heartbeats alternate between boot ids %s; two machines share client_uuid %s "
                "(cloned SD card?) - give each its own client_uuid and password; not recovered automatically"
                % (" and ".join(seen["boot_ids_seen"][-2:]), seen["client_uuid"])]
    reasons = []
    if not seen["seen"]:
        reasons.append("silent: no heartbeat or health for %.0f s" % listened_s)
    elif seen["heartbeat_age_s"] is not None and seen["heartbeat_age_s"] > max_heartbeat_age_s:
        reasons.append("silent: last heartbeat %.0f s ago (limit %.0f s)" % (seen["heartbeat_age_s"],
                                                                             max_heartbeat_age_s))
    if seen["app_state"] in BAD_APP_STATES:
        reasons.append("app_state %s" % seen["app_state"])
    failed = seen["service_failed"]
    failed_boot = failed.get("boot_id") if failed else None
    if failed and (failed_boot is None or seen["boot_id"] is None or failed_boot == seen["boot_id"]):
        reasons.append("service_failed: %s at %s" % (failed.get("unit"), failed.get("failed_at")))
    return reasons


class HealthWatcher:
    """Listen for a set of clients ({host: client_uuid}) over one connection."""

    def __init__(self, params, clients, connect_timeout_s=15.0):
        self.params = params
        self.by_uuid = {}
        for host, client_uuid in clients.items():
            self.by_uuid[str(client_uuid).lower()] = ClientSeen(host, str(client_uuid).lower())
        self.connect_timeout_s = connect_timeout_s
        self.invalid = 0
        self.retained_ignored = 0
        self.expect_new_boot = {}  # client_uuid -> boot id to move away from (None: any message counts)
        self._cond = threading.Condition()
        self._connected = False
        self._connect_error = None
        self._client = None

    def __enter__(self):
        try:
            self._client = build_client(self.params, "infoscreen-recover-%s" % uuid.uuid4().hex[:10],
                                        persistent=False)
        except MqttConnectError as exc:  # a CA file it cannot use: the message says which and why
            raise HealthError("could not connect to the MQTT broker %s:%s: %s" % (
                self.params["mqtt_host"], self.params["mqtt_port"], exc)) from None
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        connect_client(self._client, self.params)
        self._client.loop_start()
        # wait_connected says what went wrong (refused credentials, TLS, refused port, no answer).
        problem = wait_connected(self._client, self.params, lambda: self._connected, self.connect_timeout_s)
        if problem is not None:
            self.__exit__()
            raise HealthError("could not connect to the MQTT broker %s:%s within %.0f s: %s" % (
                self.params["mqtt_host"], self.params["mqtt_port"], self.connect_timeout_s, problem))
        return self

    def __exit__(self, *exc):
        if self._client is not None:
            disconnect_and_forget(self._client)
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, client, _userdata, _flags, reason, _props):
        if getattr(reason, "is_failure", False):
            with self._cond:
                self._connect_error = reason_text(reason)
                self._cond.notify_all()
            return
        client.subscribe(list(SUBSCRIPTIONS))
        with self._cond:
            self._connected = True
            self._cond.notify_all()

    def _on_message(self, _client, _userdata, message):
        parsed = contract.parse_topic(message.topic)
        if parsed is None:
            return
        client_uuid, kind, _transitional = parsed
        seen = self.by_uuid.get(client_uuid)
        if seen is None or kind not in ("heartbeat", "health", "service_failed"):
            return
        if kind != "service_failed" and getattr(message, "retain", False):
            with self._cond:
                self.retained_ignored += 1  # history left on the broker, not a live client
            return
        if kind == "service_failed" and not message.payload:
            with self._cond:
                seen.service_failed = None  # retained report cleared
            return
        try:
            payload = contract.parse_payload(kind, message.payload)
        except contract.ContractError:
            with self._cond:
                self.invalid += 1
            return
        now = time.monotonic()
        with self._cond:
            if kind == "service_failed":
                seen.service_failed = payload
            else:
                seen.note_boot_id(payload["boot_id"])
                seen.last_seen_mono = now
                seen.boot_id = payload["boot_id"]
                seen.agent_version = payload.get("agent_version")
                seen.release = payload.get("release")
                if kind == "health":
                    seen.health_seen = True
                    seen.app_state = payload.get("app_state")
                if client_uuid in self.expect_new_boot and seen.first_new_boot_mono is None:
                    before = self.expect_new_boot[client_uuid]
                    if before is None or payload["boot_id"] != before:
                        seen.first_new_boot_mono = now
            self._cond.notify_all()

    def snapshot(self, listen_s, max_heartbeat_age_s, wait_for="health"):
        """Listen up to listen_s (less once every client sent a health message, or any heartbeat or
        health with wait_for="heartbeat"); assess each client."""
        first = (lambda s: s.health_seen) if wait_for == "health" else (lambda s: s.last_seen_mono is not None)

        def done(s):
            # A client that showed more than one boot id is watched for the whole window: a reboot
            # shows two, a cloned identity keeps alternating.
            return first(s) and len(s.boot_ids_seen) < 2
        start = time.monotonic()
        deadline = start + listen_s
        with self._cond:
            while time.monotonic() < deadline:
                if all(done(s) for s in self.by_uuid.values()):
                    break
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            now = time.monotonic()
            listened = now - start
            out = {}
            for seen in self.by_uuid.values():
                record = seen.as_dict(now)
                record["reasons"] = assess(record, listened, max_heartbeat_age_s)
                record["needs_recovery"] = bool(record["reasons"]) and not record["identity_conflict"]
                out[seen.host] = record
        return out, listened

    def wait_new_boot(self, boot_ids, timeout_s, since_epoch=None):
        """Wait until each client (by host) sent a heartbeat/health with a boot id other than boot_ids[host]
        (any message when that is None), at most timeout_s after since_epoch (default now: the power-on
        or reboot the clients are coming back from). reconnect_s counts from since_epoch to the first such
        message seen. Returns {host: {reconnected, reconnect_s, boot_id, boot_id_before}}."""
        start = time.monotonic()
        if since_epoch is not None:
            start -= max(0.0, time.time() - float(since_epoch))
        deadline = start + timeout_s
        hosts = {s.host: s for s in self.by_uuid.values() if s.host in boot_ids}
        with self._cond:
            for seen in hosts.values():
                self.expect_new_boot[seen.client_uuid] = boot_ids[seen.host]
                seen.first_new_boot_mono = None
            while time.monotonic() < deadline:
                if all(s.first_new_boot_mono is not None for s in hosts.values()):
                    break
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            out = {}
            for host, seen in hosts.items():
                conflict = seen.identity_conflict is not None
                came_back = seen.first_new_boot_mono is not None and not conflict
                out[host] = {"reconnected": came_back, "boot_id": seen.boot_id, "boot_id_before": boot_ids[host],
                             "reconnect_s": round(seen.first_new_boot_mono - start, 1) if came_back else None,
                             "identity_conflict": conflict}
        return out
