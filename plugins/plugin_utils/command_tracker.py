# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side lifecycle of one command, as a pure state machine (no I/O).

States (docs/design.md, "Lifecycle of a command"): queued -> published (PUBACK) -> accepted ->
execution_started -> completed | failed; timed_out (no terminal ack by the deadline); expired (not accepted before
expires_at); blocked (refused by the lockout, never published). The wave driver feeds it
events with monotonic timestamps; the tracker never goes backwards and ignores repeats, so an
ack that arrives on both ack topics, or again after a broker restart, counts once.

Identity conflict: boot ids are random per boot, so one client never goes back to a boot id
it has left. Heartbeats that return to an earlier boot id after another one mean two machines
share this client's identity (a cloned SD card: same client_uuid and password). The command
then ends ``failed`` with error_code ``identity_conflict`` (whichever clone got it may or may
not have run it), and a later ``completed`` ack is never counted as a reboot completion.
"""

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import iso as _iso

STATE_RANK = {"queued": 0, "published": 1, "accepted": 2, "execution_started": 3,
              "completed": 4, "failed": 4, "timed_out": 4, "expired": 4, "blocked": 4}
TERMINAL_STATES = ("completed", "failed", "timed_out", "expired", "blocked")
ACK_TO_STATE = {"accepted": "accepted", "execution_started": "execution_started",
                "completed": "completed", "failed": "failed"}

DEFAULT_RECONNECT_WARN_S = 90.0
DEFAULT_RECONNECT_CEILING_S = 150.0
# Wait for a terminal ack this long after publishing, per action, unless the caller says.
DEFAULT_TIMEOUT_S = {"reboot_host": 180.0, "shutdown_host": 120.0, "restart_app": 120.0}
# "Really back": the app must run this long on the new boot (the lifecycle_wave default), and
# the window must be reached this long after the agent's completed ack (one lost health report
# at the agent's default 60 s health interval still fits).
DEFAULT_STABILITY_S = 45.0
DEFAULT_STABILITY_TIMEOUT_S = 150.0
APP_NOT_STABLE = "app_not_stable"
STABILITY_ACTIONS = ("reboot_host", "shutdown_host")
_HEALTH_KEEP = 64  # health reports kept per command for the stability judgement


def judge_reconnect(seconds, warn_s=DEFAULT_RECONNECT_WARN_S, ceiling_s=DEFAULT_RECONNECT_CEILING_S):
    """'ok' up to the baseline, 'slow' up to the ceiling, 'over_ceiling' above; None if unknown."""
    if seconds is None:
        return None
    if seconds <= warn_s:
        return "ok"
    if seconds <= ceiling_s:
        return "slow"
    return "over_ceiling"


class Clock:
    """Monotonic time with a wall-clock anchor: deadlines use monotonic time, records wall time."""

    def __init__(self, mono0, wall0):
        self.mono0 = mono0
        self.wall0 = wall0

    def wall(self, mono):
        return self.wall0 + (mono - self.mono0)

    def elapsed(self, mono):
        return mono - self.mono0


class CommandTracker:
    """One command of a wave. ``events`` collects (state, wall, detail, fields) for the ledger."""

    def __init__(self, host, client_uuid, command_id, action, *, clock, start_mono, validity_s, timeout_s,
                 reconnect_warn_s=DEFAULT_RECONNECT_WARN_S, reconnect_ceiling_s=DEFAULT_RECONNECT_CEILING_S,
                 state="queued", reused=False, stability_s=0.0, stability_timeout_s=DEFAULT_STABILITY_TIMEOUT_S):
        self.host = host
        self.client_uuid = client_uuid
        self.command_id = command_id
        self.action = action
        self.clock = clock
        self.state = state
        self.reused = reused
        self.expires_mono = start_mono + validity_s
        self.deadline_mono = start_mono + timeout_s
        self.timeout_s = timeout_s
        self.warn_s = reconnect_warn_s
        self.ceiling_s = reconnect_ceiling_s
        self.transitions = []
        self.events = []
        self.error_code = None
        self.error_message = None
        self.state_mono = {}
        self.acks_seen = set()
        self.duplicate_acks = 0
        self.boot_id_before = None
        self.boot_id_after = None
        self.last_change_mono = start_mono
        self.republished = 0
        self.boot_ids_seen = []  # distinct boot ids in the order heartbeats showed them
        self.identity_conflict = False
        self._unreported = False  # became terminal outside on_ack: check_deadline reports it once
        self.stability_s = float(stability_s or 0.0)
        self.stability_timeout_s = float(stability_timeout_s)
        self.phase = None  # None | "held" | "stabilizing"
        self.hold = None  # the last hold the client reported while this command was accepted
        self.held_s = None
        self._held_mono = None
        self.back_mono = None  # the agent's completed ack (the client is back)
        self.stable_deadline_mono = None
        self._back_fields = {}
        self._health = []  # (mono, boot_id, uptime_s, app_state) after execution_started
        self.stability = None  # the judgement, for the result
        if not reused:
            self._enter(state, start_mono, record=False)
        else:
            self.transitions.append({"state": state, "at_epoch": clock.wall(start_mono),
                                     "elapsed_s": round(clock.elapsed(start_mono), 3), "detail": "reused"})

    @property
    def terminal(self):
        return self.state in TERMINAL_STATES

    def _enter(self, state, mono, detail=None, record=True, **fields):
        self.state = state
        self.last_change_mono = mono
        self.state_mono[state] = mono
        wall = self.clock.wall(mono)
        self.transitions.append({"state": state, "at_epoch": wall, "elapsed_s": round(self.clock.elapsed(mono), 3),
                                 "detail": detail})
        if record:
            self.events.append((state, wall, detail, fields))

    def _advance(self, state, mono, detail=None, **fields):
        if self.terminal or STATE_RANK[state] <= STATE_RANK[self.state]:
            return False
        self._enter(state, mono, detail, **fields)
        return True

    def on_published(self, mono):
        return self._advance("published", mono)

    def on_ack(self, ack, mono):
        """Apply a schema-valid ack. Returns True when it changed the state."""
        key = (ack["status"], ack.get("error_code"))
        if key in self.acks_seen:
            self.duplicate_acks += 1
            return False
        self.acks_seen.add(key)
        state = ACK_TO_STATE[ack["status"]]
        if state == "failed":
            if self.terminal:
                return False
            self.error_code = ack.get("error_code")
            self.error_message = ack.get("error_message")
            return self._advance("failed", mono, f"{self.error_code}: {self.error_message}",
                                 error_code=self.error_code, error_message=self.error_message)
        if state == "completed" and not self.terminal:
            if self.phase == "stabilizing":
                return False
            fields = {}
            reconnect = self.reconnect_s(mono)
            if reconnect is not None:
                fields["reconnect_s"] = round(reconnect, 3)
            if self.boot_id_before is not None:
                fields["boot_id_before"] = self.boot_id_before
            if self.boot_id_after is not None:
                fields["boot_id_after"] = self.boot_id_after
            if judge_reconnect(reconnect, self.warn_s, self.ceiling_s) == "over_ceiling":
                self.error_code = "reconnect_ceiling_exceeded"
                self.error_message = (f"{self.host} came back after {reconnect:.1f} s, above the "
                                      f"{self.ceiling_s:g} s ceiling")
                fields.update(error_code=self.error_code, error_message=self.error_message)
            elif self._needs_stability():
                return self._start_stability(mono, fields)
            return self._advance("completed", mono, **fields)
        changed = self._advance(state, mono)
        if changed and state == "execution_started":
            self._leave_hold(mono)
        return changed

    # -- held (the client's local hold) ---------------------------------------------------

    def _leave_hold(self, mono):
        if self.phase == "held":
            self.phase = None
            self.held_s = round(mono - self._held_mono, 3)
            # The reboot starts only now: give it the whole timeout from here.
            self.deadline_mono = max(self.deadline_mono, mono + self.timeout_s)
            self._note("released", mono, f"hold cleared after {self.held_s:.1f} s")

    def _note(self, phase, mono, detail=None):
        """A controller-side phase: in the result's transitions, not a ledger state."""
        self.last_change_mono = mono
        self.transitions.append({"state": phase, "at_epoch": self.clock.wall(mono),
                                 "elapsed_s": round(self.clock.elapsed(mono), 3), "detail": detail})

    def on_health(self, health, mono):
        """A health report of this client. Returns True when the command changed (held,
        stabilizing judged, or terminal)."""
        if self.terminal or not isinstance(health, dict):
            return False
        boot_id = health.get("boot_id") if isinstance(health.get("boot_id"), str) else None
        if boot_id:
            self.on_heartbeat(boot_id, mono)
            if self.terminal:
                return True
        hold = health.get("hold") if isinstance(health.get("hold"), dict) else None
        if self.state == "accepted":
            if hold is not None:
                self.hold = {key: hold.get(key) for key in ("owner", "reason", "since")}
                if self.phase != "held":
                    self.phase = "held"
                    self._held_mono = mono
                    # The agent waits for the hold within the command's validity; the
                    # reboot may start just before expiry and then needs its timeout.
                    self.deadline_mono = max(self.deadline_mono, self.expires_mono + self.timeout_s)
                    self._note("held", mono, f"held by {self.hold['owner']}: {self.hold['reason']}")
                    return True
            return False
        if STATE_RANK[self.state] < STATE_RANK["execution_started"] or not boot_id:
            return False
        uptime = health.get("uptime_s")
        uptime = float(uptime) if isinstance(uptime, (int, float)) and not isinstance(uptime, bool) else None
        app_state = health.get("app_state") if isinstance(health.get("app_state"), str) else "unknown"
        self._health.append((mono, boot_id, uptime, app_state))
        del self._health[:-_HEALTH_KEEP]
        if self.phase == "stabilizing":
            return self._judge_stability(mono)
        return False

    # -- "really back" --------------------------------------------------------------------

    def _needs_stability(self):
        if self.stability_s <= 0 or self.action not in STABILITY_ACTIONS:
            return False
        # A shutdown's completed ack normally means "going down"; only a client seen back on
        # a new boot (powered on again) has a screen to judge.
        return self.action == "reboot_host" or self.boot_id_after is not None

    def _start_stability(self, mono, fields):
        self.phase = "stabilizing"
        self.back_mono = mono
        self.state_mono["back"] = mono
        self.stable_deadline_mono = mono + self.stability_timeout_s
        self._back_fields = fields
        self.stability = {"window_s": self.stability_s, "verdict": "waiting", "running_s": 0.0, "reports": 0,
                          "boot_id": None, "app_states": [], "stable_s": None}
        self._note("stabilizing", mono, f"agent back; the app must run {self.stability_s:g} s")
        # Reconnect time and boot ids are known now: record them (no state change).
        self.events.append((None, self.clock.wall(mono), None, dict(fields)))
        self._judge_stability(mono)
        return True

    def _new_boot_reports(self):
        """Health of the new boot: a boot id other than the one seen before the reboot, else
        (no heartbeat came before it) what arrived from the completed ack on: the agent
        sends its outcome first, then its health, on the new connection."""
        before = self.boot_id_before
        if before is not None:
            return [r for r in self._health if r[1] != before]
        return [r for r in self._health if self.back_mono is not None and r[0] >= self.back_mono]

    def _judge_stability(self, mono):
        """Judge the health reports of the new boot; True when the command became terminal."""
        reports = self._new_boot_reports()
        info = self.stability
        boot = self.boot_id_after or (reports[0][1] if reports else None)
        info["boot_id"] = boot
        info["reports"] = len(reports)
        info["app_states"] = [r[3] for r in reports][-10:]
        run_start = None
        seen_running = False
        for _at, boot_id, uptime, app_state in reports:
            if boot_id != boot:
                return self._unstable(mono, "rebooted", f"it booted again (boot id {boot_id}) during the "
                                                        f"{self.stability_s:g} s stability window")
            if app_state == "running":
                seen_running = True
                if uptime is None:
                    continue
                if run_start is None:
                    run_start = uptime
                info["running_s"] = round(max(0.0, uptime - run_start), 1)
                if uptime - run_start >= self.stability_s:
                    return self._stable(mono)
            elif app_state == "crashed":
                return self._unstable(mono, "crashed", "the signage app is reported crashed after the reboot")
            else:
                if seen_running:
                    return self._unstable(mono, "flapping", f"the signage app went from running to {app_state} "
                                                            "after the reboot")
                run_start = None
                info["running_s"] = 0.0
        info["verdict"] = "running" if seen_running else ("not_running" if reports else "waiting")
        return False

    def _stable(self, mono):
        info = self.stability
        info["verdict"] = "stable"
        info["stable_s"] = round(mono - self.back_mono, 3)
        self.phase = None
        fields = dict(self._back_fields)
        return self._advance("completed", mono, f"app running {info['running_s']:g} s on the new boot "
                                                f"(window {self.stability_s:g} s)", **fields)

    def _unstable(self, mono, verdict, why):
        self.stability["verdict"] = verdict
        self.phase = None
        reconnect = self.reconnect_s(mono)
        back = f" after {reconnect:.1f} s" if reconnect is not None else ""
        self.error_code = APP_NOT_STABLE
        self.error_message = (f"{self.host}: the agent came back{back}, but {why}; not counted as done "
                              f"(stability window {self.stability_s:g} s)")
        self._enter("failed", mono, self.error_message, error_code=self.error_code,
                    error_message=self.error_message, **self._back_fields)
        return True

    def on_heartbeat(self, boot_id, mono):
        """Heartbeat boot ids: before the helper ran, and the first different one after it; a
        return to an earlier boot id is an identity conflict (module docstring)."""
        if self._note_boot_id(boot_id, mono):
            return
        if self.action not in STABILITY_ACTIONS or self.terminal and self.boot_id_after is not None:
            return
        if STATE_RANK[self.state] < STATE_RANK["execution_started"]:
            self.boot_id_before = boot_id
        elif self.boot_id_before is not None and boot_id != self.boot_id_before and self.boot_id_after is None:
            self.boot_id_after = boot_id

    def reannounce_now(self, mono, base_s):
        """Make the next re-announce due at once (the wave driver re-publishes after
        ``base_s * 2 ** republished`` without a change): after a reconnect acks may be lost."""
        self.last_change_mono = min(self.last_change_mono, mono - base_s * 2 ** self.republished)

    def _note_boot_id(self, boot_id, mono):
        """Remember the boot id; on a return to an earlier one fail the command. True = conflict."""
        if self.identity_conflict:
            return True
        seen = self.boot_ids_seen
        if seen and boot_id != seen[-1] and boot_id in seen:
            self.identity_conflict = True
            if not self.terminal:
                self.error_code = "identity_conflict"
                self.error_message = (
                    f"{self.host}: heartbeats for client {self.client_uuid} alternate between boot ids "
                    f"{seen[-1]} and {boot_id}: two machines share "
                    f"this identity (cloned SD card?); not counted as done. Give each machine its own "
                    f"client_uuid and password, then send the command again")
                self._enter("failed", mono, self.error_message, error_code=self.error_code,
                            error_message=self.error_message)
                self._unreported = True
            return True
        if not seen or seen[-1] != boot_id:
            seen.append(boot_id)
            del seen[:-8]  # a bounded history is enough to see an alternation
        return False

    def check_deadline(self, mono):
        """Expire or time out the command when its monotonic deadline has passed. Also True once
        for a command that became terminal outside on_ack (an identity conflict), so the caller
        records it and stops waiting for it."""
        if self.terminal:
            if self._unreported:
                self._unreported = False
                return True
            return False
        if self.phase == "stabilizing":
            if mono < self.stable_deadline_mono:
                return False
            verdict = self.stability["verdict"]
            why = {"waiting": "no health report from its new boot arrived",
                   "not_running": f"the signage app was never reported running (last: "
                                  f"{(self.stability['app_states'] or ['?'])[-1]})",
                   }.get(verdict, f"the signage app ran only {self.stability['running_s']:g} s")
            self._unstable(mono, "not_stable" if verdict == "running" else verdict,
                           f"{why} within {self.stability_timeout_s:g} s")
            return True
        if STATE_RANK[self.state] < STATE_RANK["accepted"] and mono >= self.expires_mono:
            self.error_code = "expired"
            self.error_message = (f"{self.host}: command {self.command_id} was not accepted before it expired "
                                  f"(last state {self.state})")
            self._enter("expired", mono, self.error_message, error_code=self.error_code,
                        error_message=self.error_message)
            return True
        if mono >= self.deadline_mono:
            last = self.transitions[-1]
            self.error_code = "timeout"
            self.error_message = (f"{self.host}: no terminal ack within {self.timeout_s:g} s; last state "
                                  f"{self.state} at +{last['elapsed_s']:.1f} s")
            self._enter("timed_out", mono, self.error_message, error_code=self.error_code,
                        error_message=self.error_message)
            return True
        return False

    def reconnect_s(self, mono=None):
        """For reboot_host: seconds from execution_started (else accepted) to the completed ack."""
        if self.action != "reboot_host":
            return None
        end = self.back_mono if self.back_mono is not None else self.state_mono.get("completed", mono)
        start = self.state_mono.get("execution_started", self.state_mono.get("accepted"))
        if end is None or start is None:
            return None
        return end - start

    def boot_id_changed(self):
        if self.boot_id_before is None or self.boot_id_after is None:
            return None
        return self.boot_id_before != self.boot_id_after

    def result(self):
        back = self.state == "completed" or (self.error_code == APP_NOT_STABLE and self.back_mono is not None)
        reconnect = self.reconnect_s() if back else None
        verdict = judge_reconnect(reconnect, self.warn_s, self.ceiling_s)
        ok = self.state == "completed" and verdict != "over_ceiling"
        return {
            "host": self.host,
            "client_uuid": self.client_uuid,
            "command_id": self.command_id,
            "action": self.action,
            "state": self.state,
            "ok": ok,
            "executed": True,
            "reused": self.reused,
            "transitions": [
                {"state": t["state"], "at": _iso(t["at_epoch"]), "elapsed_s": t["elapsed_s"],
                 **({"detail": t["detail"]} if t.get("detail") else {})}
                for t in self.transitions
            ],
            "reconnect_s": round(reconnect, 3) if reconnect is not None else None,
            "reconnect_verdict": verdict,
            "boot_id_before": self.boot_id_before,
            "boot_id_after": self.boot_id_after,
            "boot_id_changed": self.boot_id_changed(),
            "duplicate_acks": self.duplicate_acks,
            "republished": self.republished,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "eligible_at": None,
            "stability": dict(self.stability) if self.stability else None,
            "hold": self.hold,
            "held_s": self.held_s if self.held_s is not None or self._held_mono is None
            else round(self.state_mono.get(self.state, self.last_change_mono) - self._held_mono, 3),
        }
