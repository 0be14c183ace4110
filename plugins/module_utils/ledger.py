"""The controller's command ledger: every command and every state transition, in SQLite.

Why SQLite: it is in the standard library, survives the play, and with WAL plus a busy
timeout two plays (two ansible-playbook processes, or forked workers) can read and write at
once. Lockout checks and the insert of the new command run in one ``BEGIN IMMEDIATE``
transaction, so two plays cannot both slip under the limit.

Times are stored as epoch seconds (UTC wall clock, float) so windows are plain arithmetic;
query results render them as RFC 3339 strings. Public API (also used by the PoE/recover
code, see docs/controller.md): ``Ledger``, ``default_path``, ``Ledger.reserve``,
``Ledger.record_transition``, ``Ledger.lockout_decision``, ``Ledger.commands``.
"""

import datetime
import json
import os
import sqlite3
import time
import uuid

from . import lockout as _lockout

ENV_LEDGER = "INFOSCREEN_LEDGER"
SCHEMA_VERSION = 1
NON_TERMINAL_STATES = ("queued", "published", "accepted", "execution_started")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS commands (
    command_id      TEXT PRIMARY KEY,
    client_uuid     TEXT NOT NULL,
    host            TEXT,
    action          TEXT NOT NULL,
    state           TEXT NOT NULL,
    request_key     TEXT,
    wave_id         TEXT,
    issued_at       REAL NOT NULL,
    expires_at      REAL,
    finished_at     REAL,
    requested_by    INTEGER,
    reason          TEXT,
    error_code      TEXT,
    error_message   TEXT,
    reconnect_s     REAL,
    boot_id_before  TEXT,
    boot_id_after   TEXT,
    eligible_at     REAL,
    override_reason TEXT,
    payload         TEXT
);
CREATE INDEX IF NOT EXISTS commands_client_time ON commands (client_uuid, issued_at);
CREATE INDEX IF NOT EXISTS commands_request ON commands (request_key, client_uuid);
CREATE INDEX IF NOT EXISTS commands_host_time ON commands (host, issued_at);
CREATE INDEX IF NOT EXISTS commands_time ON commands (issued_at);
CREATE TABLE IF NOT EXISTS transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    command_id  TEXT NOT NULL,
    state       TEXT NOT NULL,
    at          REAL NOT NULL,
    detail      TEXT
);
CREATE INDEX IF NOT EXISTS transitions_command ON transitions (command_id, id);
CREATE TABLE IF NOT EXISTS overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    client_uuid TEXT NOT NULL,
    command_id  TEXT,
    code        TEXT,
    reason      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS waves (
    wave_id     TEXT PRIMARY KEY,
    rollout_id  TEXT,
    number      INTEGER,
    action      TEXT,
    check_mode  INTEGER NOT NULL DEFAULT 0,
    started_at  REAL,
    finished_at REAL,
    summary     TEXT,
    gate        TEXT
);
CREATE TABLE IF NOT EXISTS wave_hosts (
    wave_id     TEXT NOT NULL,
    host        TEXT NOT NULL,
    client_uuid TEXT,
    command_id  TEXT,
    result      TEXT,
    PRIMARY KEY (wave_id, host)
);
"""

_COMMAND_FIELDS = ("host", "wave_id", "expires_at", "finished_at", "requested_by", "reason", "error_code",
                   "error_message", "reconnect_s", "boot_id_before", "boot_id_after", "eligible_at",
                   "override_reason", "payload", "request_key")


def default_path():
    """$INFOSCREEN_LEDGER, else $XDG_STATE_HOME (or ~/.local/state)/infoscreen-fleet/ledger.sqlite3."""
    if os.environ.get(ENV_LEDGER):
        return os.path.expanduser(os.environ[ENV_LEDGER])
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state_home, "infoscreen-fleet", "ledger.sqlite3")


def iso(epoch):
    """RFC 3339 UTC (milliseconds, Z) for epoch seconds; None stays None."""
    if epoch is None:
        return None
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class LedgerError(RuntimeError):
    pass


class Ledger:
    """A connection to the ledger file. Use as a context manager or call close()."""

    def __init__(self, path=None, busy_timeout_s=30.0):
        self.path = os.path.abspath(os.path.expanduser(path or default_path()))
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            with self._write():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                                 (str(SCHEMA_VERSION),))
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc} (set the ledger option or "
                              f"${ENV_LEDGER} to a writable file)") from exc
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    # -- plumbing -------------------------------------------------------------------------

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    class _Tx:
        """BEGIN IMMEDIATE ... COMMIT; nested uses join the outer transaction."""

        def __init__(self, db):
            self.db = db
            self.outer = False

        def __enter__(self):
            self.outer = not self.db.in_transaction
            if self.outer:
                self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb):
            if self.outer:
                self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _write(self):
        return Ledger._Tx(self._db)

    def batch(self):
        """One write transaction around many calls (e.g. reserving a whole wave at once)."""
        return self._write()

    # -- lockout --------------------------------------------------------------------------

    def _lockout_inputs(self, client_uuid, now, window_s, exclude_command_id=None):
        placeholders = ",".join("?" * len(_lockout.REBOOT_CLASS_ACTIONS))
        # Only "?" placeholders are formatted into the SQL; every value is bound.
        sql = ("SELECT command_id, state, issued_at, expires_at, finished_at FROM commands "  # noqa: S608
               f"WHERE client_uuid = ? AND action IN ({placeholders}) AND state != 'blocked' "
               "AND issued_at > ? ORDER BY issued_at")
        rows = self._db.execute(
            sql,
            (client_uuid, *_lockout.REBOOT_CLASS_ACTIONS, now - max(window_s, 86400.0)),
        ).fetchall()
        issued = [row["issued_at"] for row in rows]
        failures = [row["finished_at"] or row["issued_at"] for row in rows if row["state"] in _lockout.FAILURE_STATES]
        in_flight = [row["expires_at"] for row in rows
                     if row["state"] in NON_TERMINAL_STATES and row["command_id"] != exclude_command_id
                     and row["expires_at"] is not None and row["expires_at"] > now]
        return issued, (max(failures) if failures else None), (max(in_flight) if in_flight else None)

    def lockout_decision(self, client_uuid, now=None, limit=_lockout.DEFAULT_LIMIT,
                         window_s=_lockout.DEFAULT_WINDOW_S, cooldown_s=_lockout.DEFAULT_COOLDOWN_S):
        """Read-only lockout check for one client (check mode, PoE pre-checks)."""
        now = time.time() if now is None else now
        issued, last_failure, in_flight = self._lockout_inputs(client_uuid, now, window_s)
        return _lockout.evaluate(now, issued, last_failure_at=last_failure, in_flight_until=in_flight, limit=limit,
                                 window_s=window_s, cooldown_s=cooldown_s)

    def reserve(self, client_uuid, action, *, host=None, command_id=None, wave_id=None, request_key=None,
                expires_at=None, payload=None, requested_by=None, reason=None, override_reason=None,
                now=None, limit=_lockout.DEFAULT_LIMIT, window_s=_lockout.DEFAULT_WINDOW_S,
                cooldown_s=_lockout.DEFAULT_COOLDOWN_S, check_lockout=True):
        """Check the lockout and record a new command in one transaction.

        Returns ``(row, decision)``. The row's state is ``queued`` when allowed (the caller
        publishes it and records further transitions) and ``blocked`` when refused: a blocked
        command must never be published. ``override_reason`` (non-empty) lets a refused command
        through and logs the override in the overrides table and the transition detail.
        ``now`` (epoch seconds) is the command's issue time; tests use it to place commands in
        the past instead of sleeping. Actions outside REBOOT_CLASS_ACTIONS skip the lockout.
        """
        now = time.time() if now is None else now
        command_id = command_id or str(uuid.uuid4())
        if override_reason is not None and not str(override_reason).strip():
            raise LedgerError("a lockout override needs a non-empty reason")
        with self._write() as db:
            if check_lockout and action in _lockout.REBOOT_CLASS_ACTIONS:
                issued, last_failure, in_flight = self._lockout_inputs(client_uuid, now, window_s)
                decision = _lockout.evaluate(now, issued, last_failure_at=last_failure, in_flight_until=in_flight,
                                             limit=limit, window_s=window_s, cooldown_s=cooldown_s)
            else:
                decision = _lockout.LockoutDecision(True)
            overridden = not decision.allowed and override_reason is not None
            state = "queued" if decision.allowed or overridden else "blocked"
            db.execute(
                "INSERT INTO commands (command_id, client_uuid, host, action, state, request_key, wave_id, issued_at, "
                "expires_at, finished_at, requested_by, reason, error_code, error_message, eligible_at, "
                "override_reason, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (command_id, client_uuid, host, action, state, request_key, wave_id, now, expires_at,
                 now if state == "blocked" else None, requested_by, reason,
                 decision.code if state == "blocked" else None,
                 decision.message if state == "blocked" else None,
                 decision.eligible_at if state == "blocked" else None,
                 override_reason if overridden else None,
                 json.dumps(payload, sort_keys=True) if payload is not None else None),
            )
            detail = None
            if state == "blocked":
                detail = f"{decision.code}: {decision.message}; eligible at {iso(decision.eligible_at)}"
            elif overridden:
                detail = f"lockout overridden ({decision.code}: {decision.message}); reason: {override_reason}"
                db.execute("INSERT INTO overrides (at, client_uuid, command_id, code, reason) VALUES (?,?,?,?,?)",
                           (now, client_uuid, command_id, decision.code, override_reason))
            db.execute("INSERT INTO transitions (command_id, state, at, detail) VALUES (?,?,?,?)",
                       (command_id, state, now, detail))
        row = self.command(command_id)
        row["overridden"] = overridden
        return row, decision

    # -- transitions ----------------------------------------------------------------------

    def record_transition(self, command_id, state, at=None, detail=None, **fields):
        """Record one transition of a command (and update its current state and fields)."""
        self.record_transitions([(command_id, state, at, detail, fields)])

    def record_transitions(self, batch):
        """Record many ``(command_id, state, at, detail, fields)`` transitions in one transaction.

        ``state`` None only updates fields. Terminal states set ``finished_at`` unless given.
        """
        if not batch:
            return
        with self._write() as db:
            for command_id, state, when, detail, given in batch:
                at = time.time() if when is None else when
                fields = dict(given or {})
                unknown = set(fields) - set(_COMMAND_FIELDS)
                if unknown:
                    raise LedgerError(f"unknown ledger command fields: {', '.join(sorted(unknown))}")
                if state is not None:
                    fields["state"] = state
                    if state in _lockout.TERMINAL_STATES and "finished_at" not in fields:
                        fields["finished_at"] = at
                    db.execute("INSERT INTO transitions (command_id, state, at, detail) VALUES (?,?,?,?)",
                               (command_id, state, at, detail))
                if fields:
                    assignments = ", ".join(f"{name} = ?" for name in fields)
                    # Column names come from _COMMAND_FIELDS (checked above); values are bound.
                    db.execute(f"UPDATE commands SET {assignments} WHERE command_id = ?",  # noqa: S608
                               (*fields.values(), command_id))

    def record_step(self, client_uuid, action, state, *, host=None, command_id=None, detail=None, at=None, **fields):
        """Record a non-MQTT step (e.g. ``poe_cycle``) without a lockout check.

        Prefer ``reserve`` + ``record_transition`` so the lockout is enforced; this exists for
        steps that were already decided elsewhere. Returns the command_id.
        """
        at = time.time() if at is None else at
        if command_id is None or self.command(command_id) is None:
            row, _decision = self.reserve(client_uuid, action, host=host, command_id=command_id, now=at,
                                          check_lockout=False)
            command_id = row["command_id"]
        self.record_transition(command_id, state, at=at, detail=detail, **fields)
        return command_id

    # -- retries --------------------------------------------------------------------------

    def find_reusable(self, request_key, client_uuid, action, now=None):
        """The latest unexpired, non-blocked command of this request for this client, if any.

        A retried task passes the same request key, so it gets the same command_id back
        instead of issuing a second reboot (see docs/controller.md, "Retry safety").
        """
        now = time.time() if now is None else now
        row = self._db.execute(
            "SELECT * FROM commands WHERE request_key = ? AND client_uuid = ? AND action = ? "
            "AND state != 'blocked' AND expires_at > ? ORDER BY issued_at DESC LIMIT 1",
            (request_key, client_uuid, action, now),
        ).fetchone()
        return self._command_dict(row) if row else None

    # -- waves ----------------------------------------------------------------------------

    def start_wave(self, wave_id, rollout_id, action, check_mode=False, now=None):
        """Record a wave and return its 1-based number within the rollout."""
        now = time.time() if now is None else now
        with self._write() as db:
            number = db.execute("SELECT COUNT(*) FROM waves WHERE rollout_id = ?", (rollout_id,)).fetchone()[0] + 1
            db.execute("INSERT INTO waves (wave_id, rollout_id, number, action, check_mode, started_at) "
                       "VALUES (?,?,?,?,?,?)", (wave_id, rollout_id, number, action, int(bool(check_mode)), now))
        return number

    def finish_wave(self, wave_id, results, summary, now=None):
        """Store every host's result of a wave (``{host: result dict}``) and its summary."""
        now = time.time() if now is None else now
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO wave_hosts (wave_id, host, client_uuid, command_id, result) VALUES (?,?,?,?,?)",
                [(wave_id, host, res.get("client_uuid"), res.get("command_id"), json.dumps(res, sort_keys=True))
                 for host, res in results.items()],
            )
            db.execute("UPDATE waves SET finished_at = ?, summary = ? WHERE wave_id = ?",
                       (now, json.dumps(summary, sort_keys=True), wave_id))

    def set_gate(self, wave_id, gate):
        with self._write() as db:
            db.execute("UPDATE waves SET gate = ? WHERE wave_id = ?", (json.dumps(gate, sort_keys=True), wave_id))

    def wave(self, wave_id):
        row = self._db.execute("SELECT * FROM waves WHERE wave_id = ?", (wave_id,)).fetchone()
        if row is None:
            return None
        wave = dict(row)
        for name in ("summary", "gate"):
            wave[name] = json.loads(wave[name]) if wave[name] else None
        wave["check_mode"] = bool(wave["check_mode"])
        wave["started_at"] = iso(wave["started_at"])
        wave["finished_at"] = iso(wave["finished_at"])
        return wave

    def wave_results(self, wave_id):
        rows = self._db.execute("SELECT host, result FROM wave_hosts WHERE wave_id = ?", (wave_id,)).fetchall()
        return {row["host"]: json.loads(row["result"]) for row in rows}

    def wave_host_result(self, wave_id, host):
        row = self._db.execute("SELECT result FROM wave_hosts WHERE wave_id = ? AND host = ?",
                               (wave_id, host)).fetchone()
        return json.loads(row["result"]) if row else None

    # -- queries --------------------------------------------------------------------------

    def command(self, command_id, with_transitions=False):
        row = self._db.execute("SELECT * FROM commands WHERE command_id = ?", (command_id,)).fetchone()
        if row is None:
            return None
        found = self._command_dict(row)
        if with_transitions:
            found["transitions"] = self.transitions(command_id)
        return found

    def transitions(self, command_id):
        rows = self._db.execute("SELECT state, at, detail FROM transitions WHERE command_id = ? ORDER BY id",
                                (command_id,)).fetchall()
        return [{"state": r["state"], "at": iso(r["at"]), "at_epoch": r["at"], "detail": r["detail"]} for r in rows]

    def commands(self, *, client_uuid=None, host=None, command_id=None, wave_id=None, action=None, since_s=None,
                 state=None, limit=100, now=None, with_transitions=True):
        """Commands matching every given filter, newest first. ``since_s``: issued in the last N seconds."""
        now = time.time() if now is None else now
        where, args = [], []
        for column, value in (("client_uuid", client_uuid), ("host", host), ("command_id", command_id),
                              ("wave_id", wave_id), ("action", action), ("state", state)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since_s is not None:
            where.append("issued_at >= ?")
            args.append(now - float(since_s))
        sql = "SELECT * FROM commands"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY issued_at DESC, rowid DESC LIMIT ?"
        args.append(int(limit))
        found = [self._command_dict(row) for row in self._db.execute(sql, args).fetchall()]
        if with_transitions:
            for item in found:
                item["transitions"] = self.transitions(item["command_id"])
        return found

    def overrides(self, client_uuid=None):
        sql, args = "SELECT * FROM overrides", ()
        if client_uuid:
            sql, args = sql + " WHERE client_uuid = ?", (client_uuid,)
        return [dict(row, at=iso(row["at"])) for row in self._db.execute(sql + " ORDER BY id", args).fetchall()]

    @staticmethod
    def _command_dict(row):
        found = dict(row)
        found["payload"] = json.loads(found["payload"]) if found.get("payload") else None
        for name in ("issued_at", "expires_at", "finished_at", "eligible_at"):
            found[name + "_epoch"] = found[name]
            found[name] = iso(found[name])
        return found
