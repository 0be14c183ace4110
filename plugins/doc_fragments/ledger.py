# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment infoscreen.fleet.ledger: where the controller's command ledger lives."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  ledger:
    description:
      - Path of the controller's command ledger (SQLite, created on the first write, mode 0600;
        check mode never creates or writes it), or the C(postgresql://) URL of a ledger shared by
        several controllers and AWX/AAP jobs (PostgreSQL; tables created or migrated on the first
        write, or ahead by C(playbooks/ledger_migrate.yml)). Credentials come from the URL, the libpq
        environment (E(PGPASSWORD), E(PGSERVICE), E(PGPASSFILE)) or a service/pgpass file; the
        password is never shown (prefer those to a password in the URL, where C($) would be expanded).
      - A PostgreSQL server that cannot be reached is waited for like a locked file (the same bounded
        wait); a running wave keeps tracking acks meanwhile and writes its transitions once it is back.
      - A ledger whose write lock another process holds is waited for up to a bounded wait, the
        environment variable E(INFOSCREEN_LEDGER_WAIT_S) (seconds, default 30); then the task fails
        with a message naming the file. Every database error names the file and what to do.
      - Falls back to the environment variable E(INFOSCREEN_LEDGER), then to
        C($XDG_STATE_HOME/infoscreen-fleet/ledger.sqlite3) (C(~/.local/state/infoscreen-fleet/ledger.sqlite3)).
    type: path
requirements:
  - psycopg >= 3 on the controller, only for a PostgreSQL ledger (a C(postgresql://) URL)
"""
