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
                 state="queued", reused=False):
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
            return self._advance("completed", mono, **fields)
        return self._advance(state, mono)

    def on_heartbeat(self, boot_id, mono):
        """Heartbeat boot ids: before the helper ran, and the first different one after it; a
        return to an earlier boot id is an identity conflict (module docstring)."""
        if self._note_boot_id(boot_id, mono):
            return
        if self.action != "reboot_host" or self.terminal and self.boot_id_after is not None:
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
        end = self.state_mono.get("completed", mono)
        start = self.state_mono.get("execution_started", self.state_mono.get("accepted"))
        if end is None or start is None:
            return None
        return end - start

    def boot_id_changed(self):
        if self.boot_id_before is None or self.boot_id_after is None:
            return None
        return self.boot_id_before != self.boot_id_after

    def result(self):
        reconnect = self.reconnect_s() if self.state == "completed" else None
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
        }
