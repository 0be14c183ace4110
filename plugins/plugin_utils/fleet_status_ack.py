# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Acknowledge service_failed reports: clear the retained message and note it in the ledger.

A client's OnFailure= notifier leaves its report retained on the client's service_failed topic
(plugins/module_utils/contract/topics.py; agent/infoscreen_agent/notify.py), so every new
subscriber sees it until it is acknowledged. To
acknowledge, one MQTT connection (the controller account; roles/mqtt_broker's ACL lets it write every
contract topic):

1. subscribes to the topics of the hosts at QoS 0 and then once more to the first of them with
   "send no retained" (MQTT v5 retain handling 2): the broker answers the subscriptions in order and
   writes QoS 0 messages at once, so when the second SUBACK arrives every retained report is in;
2. per host with a report (and, with ``expect``, only when it is the report expected - a newer one
   that arrived meanwhile is left for the operator), notes the acknowledgement in the ledger
   (``queued``), publishes an empty retained message (QoS 1, PUBACK awaited), waits to see the empty
   message come back on its own subscription (the broker dropped the report) and records the
   note ``completed`` with the report it cleared, or ``failed`` with why.

Check mode only reads (step 1) and says what would be cleared.
"""

import json
import threading
import time
import uuid

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import ACK_ACTION
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import (
    MqttConnectError,
    build_client,
    connect_client,
    disconnect_and_forget,
    reason_text,
    wait_connected,
)

try:
    from paho.mqtt.subscribeoptions import SubscribeOptions
except ImportError:  # reported by the action through missing_libraries()
    SubscribeOptions = None


class AckError(RuntimeError):
    pass


def same_report(seen, expected):
    """True when the retained report is the one judged earlier (same unit, time and boot)."""
    if not isinstance(seen, dict) or not isinstance(expected, dict):
        return False
    return all(seen.get(k) == expected.get(k) for k in ("unit", "failed_at", "boot_id"))


class _Session:
    def __init__(self, params, topics, connect_timeout_s):
        self.params = params
        self.topics = topics  # topic -> host
        self.connect_timeout_s = connect_timeout_s
        self.retained = {}  # topic -> raw payload bytes (non-empty)
        self.cleared_seen = set()
        self._cond = threading.Condition()
        self._fenced = False
        self._fence_mid = None
        self._subscribed = False
        self._published = {}  # mid -> reason code
        try:
            self.client = build_client(params, "infoscreen-ack-%s" % uuid.uuid4().hex[:10], persistent=False)
        except MqttConnectError as exc:
            raise AckError("could not connect to the MQTT broker %s:%s: %s" % (
                params["mqtt_host"], params["mqtt_port"], exc)) from None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    def _on_connect(self, client, _userdata, _flags, reason, _props):
        if getattr(reason, "is_failure", False):
            return
        if self._subscribed:
            return  # a reconnect: the fence already told us what was retained
        self._subscribed = True
        client.subscribe([(topic, SubscribeOptions(qos=0)) for topic in self.topics])
        first = next(iter(self.topics))
        _rc, self._fence_mid = client.subscribe(first, options=SubscribeOptions(qos=0, retainHandling=2))

    def _on_subscribe(self, _client, _userdata, mid, _reason_codes, _props):
        with self._cond:
            if mid == self._fence_mid:
                self._fenced = True
            self._cond.notify_all()

    def _on_message(self, _client, _userdata, message):
        with self._cond:
            if message.topic not in self.topics:
                return
            if message.payload:
                if not self._fenced:
                    self.retained[message.topic] = bytes(message.payload)
            else:
                self.cleared_seen.add(message.topic)
            self._cond.notify_all()

    def _on_publish(self, _client, _userdata, mid, reason, _props):
        with self._cond:
            self._published[mid] = reason
            self._cond.notify_all()

    def __enter__(self):
        connect_client(self.client, self.params)
        self.client.loop_start()
        problem = wait_connected(self.client, self.params, lambda: self._fenced, self.connect_timeout_s)
        if problem is not None:
            self.__exit__()
            raise AckError("could not connect to the MQTT broker %s:%s within %.0f s: %s" % (
                self.params["mqtt_host"], self.params["mqtt_port"], self.connect_timeout_s, problem))
        return self

    def __exit__(self, *exc):
        disconnect_and_forget(self.client)
        self.client.loop_stop()

    def clear(self, topic, timeout_s):
        """Publish the empty retained message; None when the broker dropped the report, else why not."""
        with self._cond:
            self.cleared_seen.discard(topic)
        info = self.client.publish(topic, b"", qos=1, retain=True)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while info.mid not in self._published and time.monotonic() < deadline:
                self._cond.wait(0.1)
            reason = self._published.get(info.mid)
            if reason is None:
                return "the broker did not acknowledge the empty retained message within %.0f s" % timeout_s
            if getattr(reason, "is_failure", False):
                return ("the broker refused the empty retained message (%s): the controller account may not write "
                        "%s - check the broker's ACL (roles/mqtt_broker)" % (reason_text(reason), topic))
            while topic not in self.cleared_seen and time.monotonic() < deadline:
                self._cond.wait(0.1)
            if topic not in self.cleared_seen:
                return ("the broker acknowledged the empty retained message but did not deliver it back within %.0f s "
                        "(a silently denied publish? check the broker's ACL for %s)" % (timeout_s, topic))
        return None


def acknowledge(params, clients, reason, *, ledger_factory, expect=None, requested_by=None, check_mode=False,
                connect_timeout_s=15.0, clear_timeout_s=10.0):
    """Acknowledge the service_failed report of each client ({host: client_uuid}).

    Returns {host: {client_uuid, report, cleared, would_clear, skipped, error, command_id}}; raises
    AckError when the broker cannot be reached (nothing cleared, nothing noted).
    """
    expect = expect or {}
    topics = {contract.service_failed_topic(u): host for host, u in clients.items()}
    results = {host: {"client_uuid": str(u).lower(), "report": None, "cleared": False, "would_clear": False,
                      "skipped": None, "error": None, "command_id": None} for host, u in clients.items()}
    if not topics:
        return results
    with _Session(params, topics, connect_timeout_s) as session:
        with session._cond:
            retained = dict(session.retained)
        for topic, host in topics.items():
            res = results[host]
            raw = retained.get(topic)
            if raw is None:
                res["skipped"] = "no retained service_failed report (nothing to acknowledge)"
                continue
            try:
                report = contract.parse_payload("service_failed", raw)
            except contract.ContractError as exc:
                report = {"invalid": True, "raw": raw.decode("utf-8", "replace")[:500], "problem": str(exc)[:300]}
            res["report"] = report
            if host in expect and not same_report(report, expect[host]):
                res["skipped"] = ("the retained report (%s at %s) is not the one judged (%s at %s): a newer failure; "
                                  "left for the operator (playbooks/ack_service_failed.yml)" % (
                                      report.get("unit"), report.get("failed_at"),
                                      (expect[host] or {}).get("unit"), (expect[host] or {}).get("failed_at")))
                continue
            if check_mode:
                res["would_clear"] = True
                continue
            detail = "service_failed %s at %s (boot %s) acknowledged: %s" % (
                report.get("unit"), report.get("failed_at"), report.get("boot_id"), reason)
            with ledger_factory() as ledger:
                command_id = ledger.record_step(res["client_uuid"], ACK_ACTION, "queued", host=host,
                                                detail="clearing the retained report", reason=reason,
                                                requested_by=requested_by,
                                                payload=json.dumps(report, sort_keys=True))
            res["command_id"] = command_id
            problem = session.clear(topic, clear_timeout_s)
            with ledger_factory() as ledger:
                if problem is None:
                    ledger.record_step(res["client_uuid"], ACK_ACTION, "completed", host=host, command_id=command_id,
                                       detail=detail)
                else:
                    ledger.record_step(res["client_uuid"], ACK_ACTION, "failed", host=host, command_id=command_id,
                                       detail=problem, error_code="not_cleared", error_message=problem)
            res["cleared"] = problem is None
            res["error"] = problem
    return results
