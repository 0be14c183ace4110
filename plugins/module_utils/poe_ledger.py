# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A PoE cycle as a reboot-class step in the controller's ledger (action ``poe_cycle``).

The lockout is checked and the step recorded in one transaction before the switch is
touched; a refused step never reaches the switch. Transitions: queued -> execution_started
(before the off) -> completed (port back on and delivering power) or failed (error code of
the PoE error). The step's expires_at covers the whole cycle, so a run killed mid-cycle does
not keep the client "in flight" for longer than the cycle could have taken.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger, iso
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_snmp import PoeError

ACTION = "poe_cycle"


class PoeLockout(PoeError):
    code = "blocked"


class LedgerStep:
    def __init__(self, ledger_path, client_uuid, *, host=None, reason=None, override_reason=None, limit=3,
                 window_s=900.0, cooldown_s=60.0):
        self.ledger_path = ledger_path
        self.client_uuid = client_uuid
        self.host = host
        self.reason = reason
        self.override_reason = override_reason
        self.limit = limit
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.command_id = None

    def _lockout_options(self):
        return {"limit": self.limit, "window_s": self.window_s, "cooldown_s": self.cooldown_s}

    def preview(self):
        """Check mode: the lockout decision, nothing recorded."""
        with Ledger(self.ledger_path) as ledger:
            return ledger.lockout_decision(self.client_uuid, **self._lockout_options()).as_dict()

    def reserve(self, where, expected_s):
        now = time.time()
        with Ledger(self.ledger_path) as ledger:
            row, decision = ledger.reserve(
                self.client_uuid, ACTION, host=self.host, reason=self.reason, override_reason=self.override_reason,
                expires_at=now + expected_s, now=now, **self._lockout_options())
        self.command_id = row["command_id"]
        if row["state"] == "blocked":
            raise PoeLockout(
                "%s: the PoE cycle for client %s (%s) is blocked by the safety lockout (%s: %s); eligible at %s. "
                "Nothing was written to the switch." % (where, self.host or "?", self.client_uuid, decision.code,
                                                        decision.message, iso(decision.eligible_at)))
        return row

    def transition(self, state, detail=None, **fields):
        with Ledger(self.ledger_path) as ledger:
            ledger.record_transition(self.command_id, state, detail=detail, **fields)
