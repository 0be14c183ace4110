"""Fault names a simulated client can carry, and boot-time distributions.

All durations are in "Pi seconds" and are multiplied by the fleet's ``time_scale`` before
they are waited, so a test can run a 45 s boot in 0.9 s with ``time_scale = 0.02``.
"""

import random

from .app_faults import APP_FAULTS

FAULTS = {
    "never_returns": "after a reboot or shutdown the client never comes back, not even after a power cycle",
    "needs_power_cycle": "after a reboot the client hangs until its power is cycled (PoE port off/on)",
    "helper_fails": "the privileged helper fails: every command ends failed/helper_failed",
    "slow_boot": "boots take slow_boot_s (default 200 s, beyond the 150 s ceiling)",
    "drops_acks": "the agent executes commands but its acks are lost",
    "crash_loop": "the agent process dies crash_after_s after every start and is restarted",
    "app_crashed": "the signage app starts crashed (app_state=crashed) until restart_app",
    "loses_state": "the agent's state dir is empty at every boot after the first (a read-only overlay root)",
}
FAULTS.update(APP_FAULTS)  # the signage app after a boot (app_faults.py)
DEFAULT_SLOW_BOOT_S = 200.0
# The faults that live inside the agent process; agent_runner.py injects them (agent_faults.py).
AGENT_FAULTS = ("helper_fails", "drops_acks")


class FleetSpecError(ValueError):
    """A fleet option is unusable; the message names the option and what to do."""


def check_faults(name, faults):
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise FleetSpecError(f"client {name}: unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    return list(dict.fromkeys(faults))


class BootTime:
    """``fixed:S``, ``uniform:LO:HI`` or ``normal:MEAN:SD`` (clipped at 1 s), in Pi seconds."""

    def __init__(self, spec):
        self.spec = spec
        parts = str(spec).split(":")
        try:
            numbers = [float(p) for p in parts[1:]]
        except ValueError:
            numbers = None
        shapes = {"fixed": 1, "uniform": 2, "normal": 2}
        if parts[0] not in shapes or numbers is None or len(numbers) != shapes[parts[0]] or min(numbers) < 0:
            raise FleetSpecError(f"boot time {spec!r} must be fixed:S, uniform:LO:HI or normal:MEAN:SD "
                                 "with non-negative seconds")
        if parts[0] == "uniform" and numbers[0] > numbers[1]:
            raise FleetSpecError(f"boot time {spec!r}: LO is above HI")
        self.kind, self.numbers = parts[0], numbers

    def draw(self, rng: random.Random):
        if self.kind == "fixed":
            return self.numbers[0]
        if self.kind == "uniform":
            return rng.uniform(*self.numbers)
        return max(1.0, rng.gauss(*self.numbers))
