# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safety lockout rules for reboot-class commands, as pure functions.

The rules (docs/design.md, "Lockout rules"): at most ``limit`` reboot-class commands per client in any rolling
``window_s``; after a reboot-class command of a client ended in failure, the next one waits
``cooldown_s`` (the escalation cooldown); a client with a command still in flight gets no
second one. The ledger (ledger.py) feeds these functions from its tables inside one
transaction, so two plays at once cannot both slip under the limit.
"""

REBOOT_CLASS_ACTIONS = ("reboot_host", "shutdown_host", "restart_app", "poe_cycle")
DEFAULT_LIMIT = 3
DEFAULT_WINDOW_S = 900.0
DEFAULT_COOLDOWN_S = 60.0

# Ledger states after which a client may be hit again at once / only after the cooldown.
FAILURE_STATES = ("failed", "timed_out", "expired")
TERMINAL_STATES = ("completed", "failed", "timed_out", "expired", "blocked")


class LockoutDecision:
    """Outcome of a lockout check. ``eligible_at`` is epoch seconds (None when allowed)."""

    __slots__ = ("allowed", "code", "eligible_at", "message", "recent_count")

    def __init__(self, allowed, code=None, eligible_at=None, message=None, recent_count=0):
        self.allowed = allowed
        self.code = code
        self.eligible_at = eligible_at
        self.message = message
        self.recent_count = recent_count

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self):
        return f"LockoutDecision({self.as_dict()!r})"


def window_eligible_at(issued_times, now, limit=DEFAULT_LIMIT, window_s=DEFAULT_WINDOW_S):
    """When the rolling window admits one more command, or None if it already does.

    ``issued_times`` are epoch seconds of the client's counted reboot-class commands. With n
    of them inside the window (n >= limit), the count drops to limit - 1 once the
    (n - limit + 1)-th oldest leaves it.
    """
    recent = sorted(t for t in issued_times if t > now - window_s)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window_s


def evaluate(now, issued_times, *, last_failure_at=None, in_flight_until=None,
             limit=DEFAULT_LIMIT, window_s=DEFAULT_WINDOW_S, cooldown_s=DEFAULT_COOLDOWN_S):
    """Decide whether one more reboot-class command may be sent to a client at ``now``.

    issued_times: epoch seconds of the client's counted commands (any reboot-class action);
    last_failure_at: when its latest reboot-class command ended failed/timed_out/expired;
    in_flight_until: expiry of a command of it still in flight elsewhere (another play).
    """
    if limit < 1:
        raise ValueError("lockout limit must be at least 1")
    recent_count = sum(1 for t in issued_times if t > now - window_s)
    reasons = []
    eligible = []
    at = window_eligible_at(issued_times, now, limit, window_s)
    if at is not None:
        reasons.append(("lockout", f"{recent_count} reboot-class commands in the last {window_s:g} s (limit {limit})"))
        eligible.append(at)
    if cooldown_s > 0 and last_failure_at is not None and now < last_failure_at + cooldown_s:
        reasons.append(("cooldown", f"previous reboot-class command failed {now - last_failure_at:.0f} s ago "
                                    f"(escalation cooldown {cooldown_s:g} s)"))
        eligible.append(last_failure_at + cooldown_s)
    if in_flight_until is not None and now < in_flight_until:
        reasons.append(("in_flight", "another reboot-class command for this client is still in flight"))
        eligible.append(in_flight_until)
    if not reasons:
        return LockoutDecision(True, recent_count=recent_count)
    return LockoutDecision(
        False,
        code=reasons[0][0],
        eligible_at=max(eligible),
        message="; ".join(text for _code, text in reasons),
        recent_count=recent_count,
    )
