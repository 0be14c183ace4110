# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment infoscreen.fleet.ledger: where the controller's command ledger lives."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  ledger:
    description:
      - Path of the controller's command ledger (SQLite, created on the first write, mode 0600;
        check mode never creates or writes it).
      - A ledger whose write lock another process holds is waited for up to a bounded wait, the
        environment variable E(INFOSCREEN_LEDGER_WAIT_S) (seconds, default 30); then the task fails
        with a message naming the file. Every database error names the file and what to do.
      - Falls back to the environment variable E(INFOSCREEN_LEDGER), then to
        C($XDG_STATE_HOME/infoscreen-fleet/ledger.sqlite3) (C(~/.local/state/infoscreen-fleet/ledger.sqlite3)).
    type: path
"""
