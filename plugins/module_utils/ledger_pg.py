# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL backend of the ledger (ledger.py): connection, SQL dialect, migrations.

ledger.py writes its SQL once, for SQLite; ``PgConnection`` gives a psycopg 3 connection the
small part of the sqlite3 interface ledger.py uses (``execute`` returning a cursor, rows
readable by name and by index, ``executemany``, ``in_transaction``) and translates the few
dialect differences (placeholders, ``INSERT OR REPLACE``, ``rowid``). Transactions are explicit
(BEGIN/COMMIT on an autocommit connection), as with ``sqlite3.connect(isolation_level=None)``.

Credentials come from the URL, the libpq environment (PGPASSWORD, PGSERVICE, PGPASSFILE ...)
or a service/pgpass file: libpq reads them, this code never does. Every message shows the
URL through ``mask`` (password replaced by ``***``). Why advisory locks: docs/ledger.md.
"""

import hashlib
import re
import time
from urllib.parse import unquote

try:
    import psycopg
    from psycopg import errors as pg_errors
    HAS_PSYCOPG = True
    PSYCOPG_ERROR = psycopg.Error
except ImportError:  # the SQLite ledger needs nothing beyond the standard library
    psycopg = pg_errors = None
    HAS_PSYCOPG = False

    class PSYCOPG_ERROR(Exception):  # noqa: N801 - stands in for psycopg.Error in except clauses
        pass

URL_PREFIXES = ("postgresql://", "postgres://")
# Advisory lock keys (pg_advisory_xact_lock, one bigint namespace per database): the migration,
# the sweep, the reservation of a whole wave; per client: _client_key.
MIGRATE_KEY = 0x1F0_0001
SWEEP_KEY = 0x1F0_0002
BATCH_KEY = 0x1F0_0003

_PASSWORD_IN_URL = re.compile(r"(://[^:/@?#]*:)([^@/?#]*)(@)")
_PASSWORD_IN_QUERY = re.compile(r"((?:^|[?&\s])password=)([^&\s]*)", re.IGNORECASE)


def is_url(spec):
    return isinstance(spec, str) and spec.strip().lower().startswith(URL_PREFIXES)


def mask(text):
    """The text with every password of a connection URL or keyword string replaced by ***."""
    if text is None:
        return text
    text = _PASSWORD_IN_URL.sub(r"\1***\3", str(text))
    return _PASSWORD_IN_QUERY.sub(r"\1***", text)


def url_password(url):
    """The password of a connection URL (percent-decoded), None without one."""
    for pattern in (_PASSWORD_IN_URL, _PASSWORD_IN_QUERY):
        match = pattern.search(url or "")
        if match and match.group(2):
            return unquote(match.group(2))
    return None


def client_key(client_uuid):
    """A signed 64-bit advisory lock key for one client (the same in every controller)."""
    return int.from_bytes(hashlib.sha256(client_uuid.encode("utf-8")).digest()[:8], "big", signed=True)


def is_connection_error(exc):
    """The server is gone or unreachable (a busy ledger's counterpart: retry within the bounded wait)."""
    if not HAS_PSYCOPG:
        return False
    if isinstance(exc, (pg_errors.AdminShutdown, pg_errors.CrashShutdown, pg_errors.CannotConnectNow)):
        return True
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) in (None, "08000", "08003",
                                                                                        "08006", "08001", "08004"):
        # Refused credentials or a missing database do not heal by waiting: a plain error.
        return not _NOT_TRANSIENT.search(str(exc))
    return isinstance(exc, psycopg.InterfaceError)


_NOT_TRANSIENT = re.compile(r"authentication failed|no password supplied|password|does not exist|permission denied|"
                            r"pg_hba\.conf|SSL .*required|role .* is not permitted", re.IGNORECASE)


def is_lock_timeout(exc):
    return HAS_PSYCOPG and isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.QueryCanceled))


def is_missing_schema(exc):
    return HAS_PSYCOPG and isinstance(exc, (pg_errors.UndefinedTable, pg_errors.UndefinedColumn))


class _RowBase(tuple):
    """A row readable by column name and by index, and ``dict(row)`` (like sqlite3.Row)."""

    __slots__ = ()
    _index = {}

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self):
        return list(self._index)


_ROW_CLASSES = {}


def _row_factory(cursor):
    names = tuple(column.name for column in cursor.description or ())
    row_class = _ROW_CLASSES.get(names)
    if row_class is None:
        row_class = _ROW_CLASSES[names] = type("Row", (_RowBase,), {"__slots__": (), "_index": {
            name: i for i, name in enumerate(names)}})
    return row_class


_TRANSLATED = {}
_UPSERTS = {
    "INSERT OR REPLACE INTO wave_hosts": ("INSERT INTO wave_hosts",
                                          " ON CONFLICT (wave_id, host) DO UPDATE SET client_uuid = "
                                          "EXCLUDED.client_uuid, command_id = EXCLUDED.command_id, "
                                          "result = EXCLUDED.result"),
}


def translate(sql):
    """ledger.py's SQLite SQL in PostgreSQL's dialect (cached: the statements are few)."""
    found = _TRANSLATED.get(sql)
    if found is not None:
        return found
    text = sql.replace("%", "%%").replace("?", "%s")
    for sqlite_form, (pg_form, suffix) in _UPSERTS.items():
        if text.startswith(sqlite_form):
            text = pg_form + text[len(sqlite_form):] + suffix
    text = re.sub(r"\browid\b", "seq", text)
    _TRANSLATED[sql] = text
    return text


class PgConnection:
    """A psycopg 3 connection with the slice of the sqlite3 interface ledger.py uses."""

    def __init__(self, url, connect_timeout_s):
        if not HAS_PSYCOPG:
            raise ImportError("psycopg")
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=max(2, int(connect_timeout_s)),
                                    application_name="infoscreen-fleet-ledger")
        self.conn.row_factory = _row_factory

    def execute(self, sql, args=()):
        return self.conn.execute(translate(sql), tuple(args) if args else None, prepare=False)

    def raw(self, sql, args=None):
        return self.conn.execute(sql, args, prepare=False)

    def executemany(self, sql, rows):
        with self.conn.cursor() as cursor:
            cursor.executemany(translate(sql), list(rows))

    @property
    def in_transaction(self):
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def broken(self):
        return self.conn.closed or self.conn.broken

    def close(self):
        try:
            self.conn.close()
        except PSYCOPG_ERROR:
            pass


# Types of the command columns a transition may set (ledger._COMMAND_FIELDS and state).
_FLOAT_COLUMNS = {"expires_at", "finished_at", "reconnect_s", "eligible_at", "deadline_at"}
_INT_COLUMNS = {"requested_by"}


def _typed(name, values):
    if name in _FLOAT_COLUMNS:
        return "float8", [None if v is None else float(v) for v in values]
    if name in _INT_COLUMNS:
        return "int8", [None if v is None else int(v) for v in values]
    return "text", [v if v is None or isinstance(v, str) else str(v) for v in values]


def apply_transitions(db, rows, merged):
    """A batch of transitions in one INSERT (unnest keeps their order, so their ids too) and one
    UPDATE per set of columns, whatever the batch size: the server runs a handful of
    statements per flush, not two per transition."""
    if rows:
        command_ids, states, ats, details = (list(column) for column in zip(*rows))
        db.raw("INSERT INTO transitions (command_id, state, at, detail) SELECT * FROM "
               "unnest(%s::text[], %s::text[], %s::float8[], %s::text[])",
               (command_ids, states, [float(a) for a in ats], [None if d is None else str(d) for d in details]))
    groups = {}
    for command_id, fields in merged.items():
        groups.setdefault(tuple(sorted(fields)), []).append((command_id, fields))
    for names, items in groups.items():
        arrays, casts = [[cid for cid, _fields in items]], ["%s::text[]"]
        for name in names:
            kind, values = _typed(name, [fields[name] for _cid, fields in items])
            arrays.append(values)
            casts.append(f"%s::{kind}[]")
        columns = ", ".join(("command_id", *names))
        assignments = ", ".join(f"{name} = v.{name}" for name in names)
        # Column names come from ledger._COMMAND_FIELDS (checked by the caller); values are bound.
        db.raw(f"UPDATE commands AS c SET {assignments} FROM unnest({', '.join(casts)}) AS v({columns}) "  # noqa: S608
               "WHERE c.command_id = v.command_id", arrays)


# -- migrations -----------------------------------------------------------------------------
# The same versions as the SQLite ledger (ledger.py, MIGRATIONS): a version means the same
# tables and columns on both backends. Times are epoch seconds in DOUBLE PRECISION (REAL in
# PostgreSQL is 4 bytes: not enough for epoch milliseconds). ``commands.seq`` stands in for
# SQLite's rowid (the newest-first tie-break of queries).

PG_MIGRATIONS = (
    (1, "commands, transitions, overrides, waves, wave_hosts", """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS commands (
    command_id      TEXT PRIMARY KEY,
    client_uuid     TEXT NOT NULL,
    host            TEXT,
    action          TEXT NOT NULL,
    state           TEXT NOT NULL,
    request_key     TEXT,
    wave_id         TEXT,
    issued_at       DOUBLE PRECISION NOT NULL,
    expires_at      DOUBLE PRECISION,
    finished_at     DOUBLE PRECISION,
    requested_by    BIGINT,
    reason          TEXT,
    error_code      TEXT,
    error_message   TEXT,
    reconnect_s     DOUBLE PRECISION,
    boot_id_before  TEXT,
    boot_id_after   TEXT,
    eligible_at     DOUBLE PRECISION,
    override_reason TEXT,
    payload         TEXT,
    seq             BIGSERIAL
);
CREATE INDEX IF NOT EXISTS commands_client_time ON commands (client_uuid, issued_at);
CREATE INDEX IF NOT EXISTS commands_request ON commands (request_key, client_uuid);
CREATE INDEX IF NOT EXISTS commands_host_time ON commands (host, issued_at);
CREATE INDEX IF NOT EXISTS commands_time ON commands (issued_at);
CREATE INDEX IF NOT EXISTS commands_state ON commands (state);
CREATE INDEX IF NOT EXISTS commands_wave ON commands (wave_id);
CREATE TABLE IF NOT EXISTS transitions (
    id          BIGSERIAL PRIMARY KEY,
    command_id  TEXT NOT NULL,
    state       TEXT NOT NULL,
    at          DOUBLE PRECISION NOT NULL,
    detail      TEXT
);
CREATE INDEX IF NOT EXISTS transitions_command ON transitions (command_id, id);
CREATE TABLE IF NOT EXISTS overrides (
    id          BIGSERIAL PRIMARY KEY,
    at          DOUBLE PRECISION NOT NULL,
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
    started_at  DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
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
)
"""),
    (2, "commands.deadline_at (the sweep's deadline), waves.owner (who runs the wave)", """
ALTER TABLE commands ADD COLUMN IF NOT EXISTS deadline_at DOUBLE PRECISION;
ALTER TABLE waves ADD COLUMN IF NOT EXISTS owner TEXT
"""),
    (3, "schema_migrations (history of applied versions), index for the lockout check", """
CREATE INDEX IF NOT EXISTS commands_lockout ON commands (client_uuid, action, issued_at)
"""),
)

MIGRATIONS_TABLE_PG = ("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                       "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL, backend TEXT)")


def pg_version(db):
    """The schema version of a PostgreSQL ledger (0: no ledger tables yet)."""
    row = db.raw("SELECT to_regclass('schema_migrations') IS NOT NULL, to_regclass('commands') IS NOT NULL").fetchone()
    if row[0]:
        return db.raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
    return 1 if row[1] else 0


def migrate_pg(db, target, lock_timeout_ms):
    """Apply the missing migrations in one transaction (DDL is transactional in PostgreSQL),
    serialized across controllers by an advisory lock. Returns (from_version, applied list)."""
    db.raw("BEGIN")
    try:
        db.raw(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        db.raw("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_KEY,))
        before = pg_version(db)
        applied = []
        if before < target:
            db.raw(MIGRATIONS_TABLE_PG)
            for version, description, script in PG_MIGRATIONS:
                if before < version <= target:
                    for statement in script.split(";"):
                        if statement.strip():
                            db.raw(statement)
                    db.raw("INSERT INTO schema_migrations (version, description, applied_at, backend) "
                           "VALUES (%s, %s, %s, 'postgresql') ON CONFLICT (version) DO NOTHING",
                           (version, description, time.time()))
                    applied.append(version)
            db.raw("INSERT INTO meta (key, value) VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE "
                   "SET value = EXCLUDED.value", (str(target),))
        db.raw("COMMIT")
    except BaseException:
        if not db.broken:
            db.raw("ROLLBACK")
        raise
    return before, applied
