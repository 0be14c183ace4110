# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup plugin infoscreen.fleet.ledger: query the controller's command ledger."""

DOCUMENTATION = r"""
name: ledger
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Query the controller's lifecycle command ledger
description:
  - Returns commands recorded by M(infoscreen.fleet.lifecycle_wave) (and PoE/recover steps),
    newest first, each with every state transition and its timestamp.
  - Answers "what happened to client X" (O(host) or O(client_uuid)) and "commands in the last
    hour" (O(since)).
  - Terms are ignored; all filters are options and combine with AND.
  - Before answering it sweeps the ledger (not in check mode) - commands that an interrupted
    controller left non-terminal become C(expired) (never accepted) or C(timed_out) with error
    code C(controller_interrupted) once past their deadline, and waves it left open are closed
    with a reason. A ledger that does not exist yet reads as empty and is not created.
  - With O(migrate=true) it applies the ledger's missing schema migrations instead and returns
    one report (playbooks/ledger_migrate.yml); the first write does the same on its own.
options:
  _terms:
    description: Not used.
    required: false
  host:
    description: Inventory hostname of the client.
    type: str
  client_uuid:
    description: The client's UUID.
    type: str
  command_id:
    description: One command.
    type: str
  wave_id:
    description: Commands of one wave.
    type: str
  command:
    description: Only this action (C(reboot_host), C(shutdown_host), C(restart_app), C(poe_cycle)).
    type: str
  state:
    description: Only commands whose current state is this one (for example C(blocked)).
    type: str
  since:
    description:
      - Only commands issued in this period before now, in seconds or with a unit suffix
        C(s), C(m), C(h), C(d) (for example C(1h)).
    type: str
  limit:
    description: At most this many commands.
    type: int
    default: 100
  ledger:
    description:
      - Path of the ledger (SQLite), or a C(postgresql://) URL of a shared PostgreSQL ledger
        (credentials from the URL, the libpq environment such as E(PGPASSWORD), or a service /
        pgpass file; the password is never shown). Falls back to E(INFOSCREEN_LEDGER), then the
        default path C(~/.local/state/infoscreen-fleet/ledger.sqlite3).
    type: str
    env:
      - name: INFOSCREEN_LEDGER
  migrate:
    description:
      - Apply the ledger's missing schema migrations (creating it if needed) and return one
        report C({ledger, backend, from_version, to_version, applied, history}) instead of commands.
    type: bool
    default: false
notes:
  - Runs on the controller. Use C(query) (or C(wantlist=true)) to always get a list.
  - A PostgreSQL ledger needs the Python package psycopg (3) on the controller.
requirements:
  - psycopg >= 3 (only for a PostgreSQL ledger)
"""

EXAMPLES = r"""
- name: What happened to lobby-01 in the last day
  ansible.builtin.debug:
    msg: "{{ query('infoscreen.fleet.ledger', host='lobby-01', since='1d') }}"

- name: Commands of the last hour that were blocked by the lockout
  ansible.builtin.debug:
    msg: "{{ query('infoscreen.fleet.ledger', since='1h', state='blocked') | map(attribute='host') }}"
"""

RETURN = r"""
_list:
  description: Matching commands, newest first.
  type: list
  elements: dict
  contains:
    command_id:
      description: The command's UUID.
      type: str
    client_uuid:
      description: The client's UUID.
      type: str
    host:
      description: Inventory hostname (null for steps recorded without one).
      type: str
    action:
      description: reboot_host, shutdown_host, restart_app or poe_cycle.
      type: str
    state:
      description: Current state (queued, published, accepted, execution_started, completed, failed,
        timed_out, expired, blocked).
      type: str
    issued_at:
      description: When the command was issued (RFC 3339 UTC).
      type: str
    expires_at:
      description: When it expires (RFC 3339 UTC).
      type: str
    finished_at:
      description: When it reached a terminal state.
      type: str
    error_code:
      description: Machine-readable error (agent's, or timeout, expired, lockout, cooldown, in_flight,
        controller_interrupted).
      type: str
    error_message:
      description: Human-readable error.
      type: str
    eligible_at:
      description: For blocked commands, when the client becomes eligible again.
      type: str
    reconnect_s:
      description: For reboot_host, seconds from execution_started to the completed ack.
      type: float
    override_reason:
      description: Reason given when the lockout was overridden.
      type: str
    transitions:
      description: Every state transition with its time (C(state), C(at), C(at_epoch), C(detail)).
      type: list
      elements: dict
"""

import re

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger, LedgerError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text):
    """'90', '90s', '15m', '1h', '2d' -> seconds."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match:
        raise AnsibleError(f"since={text!r} is not a duration such as 3600, 90s, 15m, 1h or 2d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            with Ledger(self.get_option("ledger")) as ledger:
                if self.get_option("migrate"):
                    if (variables or {}).get("ansible_check_mode"):
                        return [{"ledger": ledger.path, "backend": ledger.backend,
                                 "from_version": ledger.schema_version(), "to_version": None, "applied": [],
                                 "history": [], "check_mode": True}]
                    return [ledger.migrate()]
                if not (variables or {}).get("ansible_check_mode"):
                    # What an interrupted controller left open becomes terminal before it is
                    # reported (check mode writes nothing, so it shows the rows as they are).
                    ledger.sweep()
                found = ledger.commands(
                    client_uuid=self.get_option("client_uuid"), host=self.get_option("host"),
                    command_id=self.get_option("command_id"), wave_id=self.get_option("wave_id"),
                    action=self.get_option("command"), state=self.get_option("state"),
                    since_s=parse_since(self.get_option("since")), limit=self.get_option("limit"))
        except LedgerError as exc:
            raise AnsibleError(str(exc)) from exc
        return found
