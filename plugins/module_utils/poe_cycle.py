# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""query / on / off / cycle of one PoE port, with the guarantees operators rely on:

- after any "off" that may have reached the switch, the port is switched back on on every
  exit path (exception, SIGTERM/SIGINT/SIGHUP); if that fails the error says which switch
  and port were left dark;
- an intent marker (poe_intent) is written before the off and removed only after the port
  reads back on, so a run killed with SIGKILL is detected and repaired by the next run;
- a cycle counts as done only when AdminEnable reads back on and DetectionStatus reaches
  deliveringPower within the timeout (monotonic clock; the last error is kept for the message);
- DetectionStatus is read during the off time: if it never leaves deliveringPower there is no
  evidence that power was cut, and the cycle says so (power_cut_unverified) instead of passing
  cleanly;
- check mode reads, never writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import signal
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_intent import PortIntent
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_profiles import (
    DELIVERING_POWER,
    detection_instance,
    detection_name,
)
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_snmp import (
    PoeError,
    as_integer,
    request_in_flight,
)

GUARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STATES = ("query", "on", "off", "cycle")


class PortLeftDark(PoeError):
    code = "port_left_dark"


class PoeVerifyTimeout(PoeError):
    code = "verify_timeout"


class Interrupted(PoeError):
    code = "interrupted"


class PortState:
    def __init__(self, admin_raw, admin_enabled, detection_raw):
        self.admin_raw = admin_raw
        self.admin_enabled = admin_enabled
        self.detection_raw = detection_raw
        self.detection = detection_name(detection_raw)

    @property
    def delivering(self):
        return self.admin_enabled and self.detection_raw == DELIVERING_POWER

    def as_dict(self):
        return {"admin_enabled": self.admin_enabled, "admin_value": self.admin_raw,
                "detection_status": self.detection, "detection_value": self.detection_raw}


class PortController:
    """Reads and writes one port over one SnmpSession from `session_factory()`; the restore path
    starts a fresh session, never one an interrupt may have left mid-request."""

    def __init__(self, session_factory, profile, switch_label, group, port, *, poll_interval=1.0,
                 sleep=time.sleep, clock=time.monotonic):
        self.session_factory = session_factory
        self.profile = profile
        self.switch_label = switch_label
        self.group = int(group)
        self.port = int(port)
        self.poll_interval = float(poll_interval)
        self.sleep = sleep
        self.clock = clock
        self.where = "PoE port %d.%d on switch %s" % (self.group, self.port, switch_label)
        self._session = None

    def session(self):
        if self._session is None:
            self._session = self.session_factory()
        return self._session

    def close(self):
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def read(self):
        admin_oid = self.profile.admin_instance(self.group, self.port)
        det_oid = detection_instance(self.group, self.port)
        try:
            values = self.session().get([(self.profile.admin_name, admin_oid),
                                         ("pethPsePortDetectionStatus", det_oid)])
        finally:
            _checkpoint()
        admin = as_integer(self.profile.admin_name, admin_oid, values[self.profile.admin_name], self.switch_label)
        detection = as_integer("pethPsePortDetectionStatus", det_oid, values["pethPsePortDetectionStatus"],
                               self.switch_label)
        return PortState(admin, self.profile.is_on(admin), detection)

    def write_admin(self, on):
        value = self.profile.on_value if on else self.profile.off_value
        try:
            self.session().set_integer(self.profile.admin_name, self.profile.admin_instance(self.group, self.port),
                                       value)
        finally:
            _checkpoint()

    def wait_delivering(self, timeout):
        """Poll until AdminEnable is on and DetectionStatus is deliveringPower; returns (state, seconds)."""
        start = self.clock()
        deadline = start + float(timeout)
        last_state, last_error = None, None
        while True:
            try:
                last_state = self.read()
                if last_state.delivering:
                    return last_state, self.clock() - start
            except Interrupted:
                raise
            except PoeError as exc:  # a busy switch may drop a poll; keep trying until the deadline
                last_error = exc
            if self.clock() >= deadline:
                break
            self.sleep(min(self.poll_interval, max(0.0, deadline - self.clock())))
        seen = ("AdminEnable %s, DetectionStatus %s" % (
            "on" if last_state.admin_enabled else "off", last_state.detection)) if last_state else "no reading"
        detail = "; last error: %s" % last_error if last_error else ""
        raise PoeVerifyTimeout(
            "%s did not reach deliveringPower within %.0f s after power-on (last read: %s%s). The port is "
            "enabled; a searching/fault status means no powered device answers (cable, client hardware)."
            % (self.where, float(timeout), seen, detail))

    def restore_power(self, timeout):
        """Make AdminEnable read on (writing only when it reads off); fresh sessions, retried until timeout.
        Reading first matters: when the "off" itself was refused, a write would be refused too."""
        deadline = self.clock() + float(timeout)
        last_error = None
        while True:
            try:
                self.close()
            except Exception:  # noqa: S110 - the old session may be broken; a new one follows
                pass
            try:
                state = self.read()
                if state.admin_enabled:
                    return state
                self.write_admin(True)
                state = self.read()
                if state.admin_enabled:
                    return state
                last_error = PoeError("AdminEnable still reads %d after writing on" % state.admin_raw)
            except PoeError as exc:
                last_error = exc
            if self.clock() >= deadline:
                raise PortLeftDark(
                    "%s IS LEFT DARK (AdminEnable off or unknown): switching it back on failed for %.0f s: %s. "
                    "Switch it on by hand or re-run with state=on; the intent marker stays so the next run retries."
                    % (self.where, float(timeout), last_error))
            self.sleep(min(self.poll_interval, max(0.0, deadline - self.clock())))


class _SignalGuard:
    """One handler for the whole guarded window; `raising` is switched off for the restore instead of
    swapping handlers, so no signal can slip in between and hit the default action.
    A signal during an SNMP request is deferred to the next checkpoint (poe_snmp.request_in_flight)."""

    def __init__(self):
        self.received = []
        self.raising = True
        self.deferred = None

    def handler(self, signum, _frame):
        name = signal.Signals(signum).name
        self.received.append(name)
        if not self.raising:
            return
        if request_in_flight():
            self.deferred = name
            return
        raise Interrupted("interrupted by %s" % name)

    def checkpoint(self):
        if self.raising and self.deferred:
            name, self.deferred = self.deferred, None
            raise Interrupted("interrupted by %s" % name)


_active_guard = [None]


def _checkpoint():
    guard = _active_guard[0]
    if guard is not None:
        guard.checkpoint()


@contextlib.contextmanager
def _signals():
    guard = _SignalGuard()
    previous = {}
    for sig in GUARDED_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, guard.handler)
        except ValueError:  # not the main thread: cannot install handlers, finally still guards
            pass
    outer, _active_guard[0] = _active_guard[0], guard
    try:
        yield guard
    finally:
        _active_guard[0] = outer
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def power_restored_on_exit(controller, intent, restore_timeout):
    """Wrap everything from just before the intent marker to the verified "on"."""
    with _signals() as guard:
        try:
            yield
            guard.checkpoint()
        except BaseException as exc:
            guard.raising = False
            ignored_from = len(guard.received)
            try:
                state = controller.restore_power(restore_timeout)
            except PortLeftDark as dark:  # the intent marker stays for the next run
                raise PortLeftDark("%s The cycle had failed with: %s" % (
                    dark, str(exc) or type(exc).__name__)) from exc
            intent.clear()
            note = "; %s was switched back on (AdminEnable on, DetectionStatus %s)" % (
                controller.where, state.detection)
            ignored = guard.received[ignored_from:]
            if ignored:
                note += "; ignored %s during the re-enable" % ", ".join(ignored)
            if isinstance(exc, PoeError):
                raise type(exc)(str(exc) + note) from exc
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted("interrupted" + note) from exc
            raise


def _watch_off_time(controller, seconds):
    """Wait the off time, reading DetectionStatus every poll interval: evidence that power was cut.

    A port still reading deliveringPower(3) for the whole off time (or never readable) gives no
    evidence that the client lost power - a switch that ignored the write, or a stale status
    object. Returns {"verified", "reads", "seen"}. Reads never shorten or stretch the off time
    beyond one SNMP request."""
    deadline = controller.clock() + float(seconds)
    seen, reads = [], 0
    while True:
        try:
            state = controller.read()
        except Interrupted:
            raise
        except PoeError:  # a dropped poll is no evidence either way; the off time goes on
            state = None
        if state is not None:
            reads += 1
            if state.detection not in seen:
                seen.append(state.detection)
        left = deadline - controller.clock()
        if left <= 0:
            break
        controller.sleep(min(left, controller.poll_interval, 0.5))
    verified = any(name != detection_name(DELIVERING_POWER) for name in seen)
    return {"verified": verified, "reads": reads, "seen": seen}


def _cycle(controller, intent, switch_key, result, *, off_time, verify_timeout, details, ledger_step):
    if ledger_step:
        # worst case: off time, verify, re-enable after a failure, SNMP slack
        ledger_step.reserve(controller.where, off_time + 2 * verify_timeout + 30)
        result["ledger_command_id"] = ledger_step.command_id
    try:
        # the guard is entered before the marker so a signal at any point from here on ends in a result
        with power_restored_on_exit(controller, intent, verify_timeout):
            intent.write("cycle", switch=switch_key[0], snmp_port=switch_key[1], group=controller.group,
                         port=controller.port, ledger_command_id=result.get("ledger_command_id"), **(details or {}))
            if ledger_step:
                ledger_step.transition("execution_started", detail="%s: power off" % controller.where)
            controller.write_admin(False)
            off_at = controller.clock()
            power_cut = _watch_off_time(controller, off_time)
            controller.write_admin(True)
            result["off_time_s"] = round(controller.clock() - off_at, 3)
            after, seconds = controller.wait_delivering(verify_timeout)
    except BaseException as exc:
        if ledger_step:
            code = exc.code if isinstance(exc, PoeError) else "interrupted"
            ledger_step.transition("failed", error_code=code, error_message=(str(exc) or code)[:4000])
        raise
    intent.clear()
    result["after"], result["power_on_s"] = after.as_dict(), round(seconds, 3)
    result["power_cut"] = power_cut
    result["power_cut_unverified"] = not power_cut["verified"]
    done = "%s: off %.1f s, deliveringPower %.1f s after power-on" % (
        controller.where, result["off_time_s"], result["power_on_s"])
    fields = {}
    if not power_cut["verified"]:
        result["power_cut_warning"] = (
            "%s: power_cut_unverified - DetectionStatus never left deliveringPower during the %.1f s off time "
            "(%d reads: %s), so there is no evidence that the client lost power; the port is back on and "
            "verified. Check that the switch really cuts power on this port (firmware, profile, PoE passthrough)."
            % (controller.where, result["off_time_s"], power_cut["reads"], ", ".join(power_cut["seen"]) or "none"))
        fields = {"error_code": "power_cut_unverified", "error_message": "power cut not verified: " +
                  result["power_cut_warning"]}
    if ledger_step:
        ledger_step.transition("completed", detail=done + ("; power cut NOT verified" if fields else
                                                           "; power cut verified (%s)" % ", ".join(power_cut["seen"])),
                               **fields)


def run_port_action(controller, intent_dir, switch_key, state, *, check_mode=False, off_time=8.0,
                    verify_timeout=30.0, heal_interrupted=True, details=None, ledger_step=None):
    """The module's work. switch_key = (switch, snmp_port). Returns the result dict.
    ledger_step (poe_ledger.LedgerStep): record a cycle as a reboot-class step, lockout first."""
    if state not in STATES:
        raise ValueError("state must be one of %s" % ", ".join(STATES))
    started = controller.clock()
    result = {"changed": False, "state": state, "healed_interrupted_run": False, "interrupted_run": None}
    with PortIntent(intent_dir, switch_key[0], switch_key[1], controller.group, controller.port) as intent:
        marker = intent.read()
        before = controller.read()
        result["before"] = before.as_dict()
        if marker is not None:
            result["interrupted_run"] = marker
            if heal_interrupted and state != "off":
                result["healed_interrupted_run"] = True
                if not check_mode:
                    if not before.admin_enabled:
                        controller.restore_power(verify_timeout)
                        result["changed"] = True
                    intent.clear()
                    before_after_heal = controller.wait_delivering(verify_timeout)[0]
                    if state == "query":
                        result["after"] = before_after_heal.as_dict()
                else:
                    result["changed"] = not before.admin_enabled

        if state == "query":
            result.setdefault("after", result["before"])
        elif state in ("on", "off"):
            want_on = state == "on"
            current = controller.read() if result["changed"] else before
            if current.admin_enabled != want_on:
                result["changed"] = True
                if not check_mode:
                    controller.write_admin(want_on)
            if check_mode:
                result["after"] = current.as_dict()
            elif want_on:
                after, seconds = controller.wait_delivering(verify_timeout)
                result["after"], result["power_on_s"] = after.as_dict(), round(seconds, 3)
            else:
                after = controller.read()
                if after.admin_enabled:
                    raise PoeError("%s still reads AdminEnable on after writing off" % controller.where)
                result["after"] = after.as_dict()
            if state == "off" and marker is not None and not check_mode:
                intent.clear()  # the operator asked for off: the dark port is intended now
        else:  # cycle
            result["changed"] = True
            if check_mode:
                result["after"] = result["before"]
                if ledger_step:
                    result["lockout"] = ledger_step.preview()
            else:
                _cycle(controller, intent, switch_key, result, off_time=off_time, verify_timeout=verify_timeout,
                       details=details, ledger_step=ledger_step)
    result["duration_s"] = round(controller.clock() - started, 3)
    return result
