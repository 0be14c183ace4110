"""Doc fragment infoscreen.fleet.ledger: where the controller's command ledger lives."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  ledger:
    description:
      - Path of the controller's command ledger (SQLite, created on first use, mode 0600).
      - Falls back to the environment variable E(INFOSCREEN_LEDGER), then to
        C($XDG_STATE_HOME/infoscreen-fleet/ledger.sqlite3) (C(~/.local/state/infoscreen-fleet/ledger.sqlite3)).
    type: path
"""
