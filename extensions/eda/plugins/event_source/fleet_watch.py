# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event source infoscreen.fleet.fleet_watch: the signage fleet over one MQTT connection.

Watches heartbeat, health and service_failed of the inventory's clients (and the command and
ack topics, to know which reboots are ours) and puts validated, de-duplicated events on the
rulebook's queue: app_crashed, app_stopped, service_failed, client_silent, client_back,
unexpected_reboot, identity_conflict. The judging is plugins/plugin_utils/fleet_watch_judge.py;
docs/fleet-watch.md describes the events and extensions/eda/rulebooks/fleet_watch.yml uses them.

Arguments (all optional except where the clients come from):
  inventory: inventory path(s) (or $INFOSCREEN_FLEET_WATCH_INVENTORY); hosts: pattern
    [infoscreen_clients]; or clients: {host: client_uuid | {client_uuid, tier, auto_recover}}
  mqtt_host, mqtt_port, mqtt_username, mqtt_password, mqtt_tls, mqtt_ca_cert, mqtt_keepalive:
    the collection's connection options (doc fragment infoscreen.fleet.mqtt): the arguments,
    then the inventory's infoscreen_mqtt_host/_port/_ca_cert, then $INFOSCREEN_MQTT_*
  ledger: the ledger recover.yml uses (then the inventory's infoscreen_ledger, then
    $INFOSCREEN_LEDGER and the ledger's default); lockout_check [true]
  silent_after_s [90], retry_after_s [300], reboot_grace_s [300], run_hold_s [900], tick_s [1],
    connect_timeout_s [15]; cooldown_s (the escalation cooldown of the lockout pre-check: then the
    inventory's infoscreen_recover_cooldown_s, then 60, as recover.yml)

    sources:
      - infoscreen.fleet.fleet_watch:
          inventory: /etc/infoscreen/inventory.yml
          silent_after_s: 90
"""

import asyncio
import logging
import os
import sys
import threading
import time
import uuid

try:  # the collection on the collections path, as ansible-rulebook finds this file there
    from ansible_collections.infoscreen.fleet.plugins.plugin_utils import mqtt_client  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-rulebook runs this file by path: make its collection root importable
    _ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 7))
    if os.path.isdir(os.path.join(_ROOT, "ansible_collections")) and _ROOT not in sys.path:
        sys.path.append(_ROOT)

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_watch_inventory import (
    clients_from_specs,
    load_inventory,
)
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_watch_judge import FleetJudge
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import (
    MQTT_ARGUMENT_SPEC,
    MqttConnectError,
    build_client,
    connect_client,
    connection_summary,
    disconnect_and_forget,
    missing_libraries,
    wait_connected,
)

LOG = logging.getLogger("infoscreen.fleet.fleet_watch")
ENV_INVENTORY = "INFOSCREEN_FLEET_WATCH_INVENTORY"
SUBSCRIPTIONS = [(contract.wildcard_topic("heartbeat"), 0), (contract.wildcard_topic("health"), 0),
                 (contract.wildcard_topic("service_failed"), 1), (contract.wildcard_topic("command"), 1),
                 (contract.wildcard_topic("command", transitional=True), 1), (contract.wildcard_topic("ack"), 1),
                 (contract.wildcard_topic("ack", transitional=True), 1)]
# Ledger commands that explain a boot id change (a PoE cycle is never seen on MQTT).
REBOOTING_ACTIONS = ("reboot_host", "shutdown_host", "poe_cycle")
NOT_SENT_STATES = ("blocked", "expired")
NUMBERS = {"silent_after_s": 90.0, "retry_after_s": 300.0, "reboot_grace_s": 300.0, "run_hold_s": 900.0,
           "tick_s": 1.0, "connect_timeout_s": 15.0}


class FleetWatchError(RuntimeError):
    """The watch cannot start; the message says what is wrong and what to set."""


def _given(value):
    return value is not None and value != ""


def mqtt_params(args, inventory_settings):
    """The connection options: the arguments, then the inventory's, then INFOSCREEN_MQTT_*, then defaults."""
    params = {name: args[name] for name in MQTT_ARGUMENT_SPEC if _given(args.get(name))}
    for name, value in inventory_settings.items():
        if name in MQTT_ARGUMENT_SPEC and name not in params:
            params[name] = value
    result = ArgumentSpecValidator(MQTT_ARGUMENT_SPEC).validate(params)
    if result.error_messages:
        raise FleetWatchError("fleet_watch connection options: " + "; ".join(result.error_messages))
    return result.validated_parameters


def options(args):
    found = {}
    for name, default in NUMBERS.items():
        value = args.get(name)
        try:
            found[name] = float(value) if _given(value) else default
        except (TypeError, ValueError):
            raise FleetWatchError(f"fleet_watch option {name} must be a number of seconds, got {value!r}") from None
        if found[name] <= 0:
            raise FleetWatchError(f"fleet_watch option {name} must be positive, got {value!r}")
    return found


def watched_clients(args):
    """(clients, inventory settings) from ``clients`` or the inventory."""
    sources = args.get("inventory") or os.environ.get(ENV_INVENTORY)
    if not args.get("clients") and not sources:
        raise FleetWatchError("fleet_watch needs the fleet's inventory: set the source's inventory option (or "
                              f"${ENV_INVENTORY}, or clients: {{host: client_uuid}})")
    try:
        if args.get("clients"):
            return clients_from_specs(args["clients"]), {}
        sources = [sources] if isinstance(sources, str) else list(sources)
        return load_inventory(sources, args.get("hosts") or "infoscreen_clients")
    except ValueError as exc:
        raise FleetWatchError(f"fleet_watch: {exc}") from None


class LedgerView:
    """Read-only questions to the ledger (its public API), a fresh handle per question so the
    MQTT thread and the timer never share a database connection."""

    def __init__(self, path, reboot_grace_s, cooldown_s):
        self.path = path or None  # None: the ledger's own default ($INFOSCREEN_LEDGER, then its default path)
        self.window_s = reboot_grace_s + 300.0
        self.cooldown_s = cooldown_s

    def lockout(self, client_uuid, wall):
        with Ledger(self.path) as db:
            return db.lockout_decision(client_uuid, now=wall, cooldown_s=self.cooldown_s).as_dict()

    def ours(self, client_uuid, wall):
        with Ledger(self.path) as db:
            rows = db.commands(client_uuid=client_uuid, since_s=self.window_s, now=wall, with_transitions=False,
                               limit=20)
        for row in rows:
            if row["action"] in REBOOTING_ACTIONS and row["state"] not in NOT_SENT_STATES:
                return f"{row['action']} {row['command_id']} ({row['state']}) in the ledger"
        return None


class FleetWatch:
    def __init__(self, args, clock=time.monotonic, wall=time.time):
        problem = missing_libraries()
        if problem:
            raise FleetWatchError(problem)
        self.clock, self.wall = clock, wall
        clients, settings = watched_clients(args)
        self.params = mqtt_params(args, settings)
        self.options = options(args)
        ledger = args.get("ledger") if _given(args.get("ledger")) else settings.get("ledger")
        cooldown = args.get("cooldown_s") if _given(args.get("cooldown_s")) else settings.get("cooldown_s", 60)
        try:
            cooldown = float(cooldown)
        except (TypeError, ValueError):
            raise FleetWatchError(f"fleet_watch option cooldown_s must be a number of seconds, got {cooldown!r}"
                                  ) from None
        view = LedgerView(ledger, self.options["reboot_grace_s"], cooldown)
        check = args.get("lockout_check", True)
        try:
            self.judge = FleetJudge(clients, now=clock(), silent_after_s=self.options["silent_after_s"],
                                    retry_after_s=self.options["retry_after_s"],
                                    reboot_grace_s=self.options["reboot_grace_s"],
                                    run_hold_s=self.options["run_hold_s"],
                                    lockout=view.lockout if check not in (False, "false", "no", 0) else None,
                                    ours=view.ours)
        except ValueError as exc:  # two hosts with one client_uuid
            raise FleetWatchError(f"fleet_watch: {exc}") from None
        self.lock = threading.Lock()
        self.connected = False
        self.loop = None
        self.queue = None
        self.pending = None

    def _emit(self, events):
        # The rulebook's queue holds one event (ansible-rulebook applies back pressure): the MQTT
        # thread hands events to an unbounded queue of ours, and one task puts them, in order.
        for event in events:
            self.loop.call_soon_threadsafe(self.pending.put_nowait, event)

    async def _pump(self):
        while True:
            event = await self.pending.get()
            await self.queue.put(event)

    def _on_connect(self, client, _userdata, _flags, reason, _props):
        if getattr(reason, "is_failure", False):
            return
        client.subscribe(SUBSCRIPTIONS)
        with self.lock:
            self.judge.resume(self.clock())
        if not self.connected:
            LOG.info("fleet_watch: connected, watching %d clients", len(self.judge.by_uuid))
        self.connected = True

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props):
        with self.lock:
            self.judge.pause(self.clock())
        LOG.warning("fleet_watch: lost the broker connection (%s); silence is not judged until it is back", reason)

    def _on_message(self, _client, _userdata, message):
        with self.lock:
            events = self.judge.observe(message.topic, message.payload, bool(message.retain), self.clock(),
                                        self.wall())
        if events:
            self._emit(events)

    async def run(self, queue):
        self.loop, self.queue, self.pending = asyncio.get_running_loop(), queue, asyncio.Queue()
        pump = asyncio.create_task(self._pump())
        summary = connection_summary(self.params)  # never the password
        try:
            client = build_client(self.params, f"infoscreen-fleet-watch-{uuid.uuid4().hex[:10]}", persistent=False)
        except MqttConnectError as exc:
            raise FleetWatchError(f"fleet_watch cannot connect to {summary['host']}:{summary['port']}: {exc}") from None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        connect_client(client, self.params)
        client.loop_start()
        try:
            timeout = self.options["connect_timeout_s"]
            problem = await asyncio.to_thread(wait_connected, client, self.params, lambda: self.connected, timeout)
            if problem is not None:
                raise FleetWatchError(f"fleet_watch could not connect to the MQTT broker {summary['host']}:"
                                      f"{summary['port']} within {timeout:g} s: {problem}")
            LOG.info("fleet_watch: %s:%s as %r (tls %s), silent after %g s", summary["host"], summary["port"],
                     summary["username"], summary["tls"], self.options["silent_after_s"])
            while True:
                await asyncio.sleep(self.options["tick_s"])
                with self.lock:
                    events = self.judge.tick(self.clock(), self.wall())
                for event in events:
                    self.pending.put_nowait(event)
        finally:
            pump.cancel()
            disconnect_and_forget(client)
            client.loop_stop()


async def main(queue, args):
    """The ansible-rulebook entry point."""
    await FleetWatch(dict(args or {})).run(queue)


if __name__ == "__main__":
    # Run alone to see the events: python fleet_watch.py INVENTORY
    class _Print:
        async def put(self, event):
            print(event, flush=True)

        def put_nowait(self, event):
            print(event, flush=True)

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_Print(), {"inventory": sys.argv[1] if len(sys.argv) > 1 else None}))
