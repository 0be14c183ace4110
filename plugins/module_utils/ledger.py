# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's command ledger: every command and every state transition, in SQLite.

Why SQLite: it is in the standard library, survives the play, and with WAL two plays (two
ansible-playbook processes, or forked workers) can read and write at once. Lockout checks and
the insert of the new command run in one ``BEGIN IMMEDIATE`` transaction, so two plays cannot
both slip under the limit.

Faults (docs/controller.md, "Ledger faults"): every database error is a LedgerError naming the
file and what to do. Taking the write lock is retried up to a bounded wait (monotonic
deadline, $INFOSCREEN_LEDGER_WAIT_S, default 30 s); a running wave may defer its transitions
while another process holds the lock and keeps tracking acks meanwhile. The file is created on
the first write only, so check mode (which only reads) never creates it; check-mode waves go to
a scratch file outside the ledger. ``sweep`` (run by every wave start and every ledger query)
makes commands that an interrupted controller left non-terminal terminal once they are past
their deadline, and closes the waves it left open, each with a reason.

All database access goes through ``_connect``, ``_write`` (transactions) and ``_rows``
(reads). Backends (docs/ledger.md): a path is a SQLite file (the default); a
``postgresql://`` URL is a PostgreSQL database (ledger_pg.py: psycopg 3, the SQL translated,
per-client advisory locks around the check-and-reserve, a lost connection handled like a busy
file). Both carry the same versioned schema (MIGRATIONS / ledger_pg.PG_MIGRATIONS), applied on
the first write or ahead by ``Ledger.migrate`` (playbooks/ledger_migrate.yml).

Times are stored as epoch seconds (UTC wall clock, float) so windows are plain arithmetic;
query results render them as RFC 3339 strings. Public API (also used by the PoE/recover
code, see docs/controller.md): ``Ledger``, ``default_path``, ``Ledger.reserve``,
``Ledger.record_transition``, ``Ledger.lockout_decision``, ``Ledger.commands``.
"""

import datetime
import functools
import hashlib
import json
import os
import socket
import sqlite3
import tempfile
import time
import uuid

from . import ledger_pg as _pg
from . import lockout as _lockout

ENV_LEDGER = "INFOSCREEN_LEDGER"
ENV_LEDGER_WAIT = "INFOSCREEN_LEDGER_WAIT_S"
DEFAULT_WAIT_S = 30.0
SCHEMA_VERSION = 3
NON_TERMINAL_STATES = ("queued", "published", "accepted", "execution_started")
# A live controller ends every command by its deadline and then writes it within a flush
# (0.5 s) or, with a busy ledger, within the bounded wait: the sweep leaves it this much more.
SWEEP_GRACE_S = 60.0
# Rows without any deadline (steps recorded without expiry), and open waves whose owner is
# not known to be dead, count as abandoned this long after their last activity.
STALE_AFTER_S = 3600.0
# Error codes the sweep gives (docs/controller.md, "Ledger faults").
INTERRUPTED_CODE = "controller_interrupted"

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
    payload         TEXT,
    deadline_at     REAL
);
CREATE INDEX IF NOT EXISTS commands_client_time ON commands (client_uuid, issued_at);
CREATE INDEX IF NOT EXISTS commands_request ON commands (request_key, client_uuid);
CREATE INDEX IF NOT EXISTS commands_host_time ON commands (host, issued_at);
CREATE INDEX IF NOT EXISTS commands_time ON commands (issued_at);
CREATE INDEX IF NOT EXISTS commands_state ON commands (state);
CREATE INDEX IF NOT EXISTS commands_wave ON commands (wave_id);
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
    gate        TEXT,
    owner       TEXT
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

# Versioned migrations of a SQLite ledger (the same versions as ledger_pg.PG_MIGRATIONS).
# Version 1 is _SCHEMA without the later columns; files written before the migrations table
# existed carry their version in meta.schema_version (2) or have none (1).
MIGRATIONS = (
    (1, "commands, transitions, overrides, waves, wave_hosts", ()),
    (2, "commands.deadline_at (the sweep's deadline), waves.owner (who runs the wave)",
     (("commands", "deadline_at", "REAL"), ("waves", "owner", "TEXT"))),
    (3, "schema_migrations (history of applied versions), index for the lockout check",
     ("CREATE INDEX IF NOT EXISTS commands_lockout ON commands (client_uuid, action, issued_at)",)),
)
_MIGRATIONS_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                     "description TEXT NOT NULL, applied_at REAL NOT NULL, backend TEXT)")
_DB_ERRORS = (sqlite3.Error, _pg.PSYCOPG_ERROR)
_RESERVED_COLUMNS = ("command_id", "client_uuid", "host", "action", "state", "request_key", "wave_id", "issued_at",
                     "expires_at", "finished_at", "requested_by", "reason", "error_code", "error_message",
                     "eligible_at", "override_reason", "payload", "deadline_at")

_COMMAND_FIELDS = ("host", "wave_id", "expires_at", "finished_at", "requested_by", "reason", "error_code",
                   "error_message", "reconnect_s", "boot_id_before", "boot_id_after", "eligible_at",
                   "override_reason", "payload", "request_key", "deadline_at")


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
    """A ledger problem, with a message that names the file and says what to do."""


class LedgerBusy(LedgerError):
    """The write lock could not be taken within the bounded wait."""


class LedgerUnavailable(LedgerBusy):
    """The PostgreSQL server could not be reached (or was lost) within the bounded wait: handled
    like a busy ledger (a running wave defers its transitions and keeps tracking acks)."""


def is_url(spec):
    """True for a PostgreSQL ledger (``postgresql://`` or ``postgres://`` URL)."""
    return _pg.is_url(spec)


def display_spec(spec):
    """A ledger option as it may be shown: the path, or the URL with its password masked."""
    return _pg.mask(spec) if spec else spec


def url_password(spec):
    """The password written into a ledger URL, if any (for a module's no_log_values)."""
    return _pg.url_password(spec) if is_url(spec) else None


def local_state_dir(spec=None):
    """A folder for the controller's local state files beside the ledger (rollout state): the
    ledger file's folder, or for a PostgreSQL ledger the default ledger folder."""
    spec = spec or default_path()
    if is_url(spec):
        state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        return os.path.join(state_home, "infoscreen-fleet")
    return os.path.dirname(os.path.abspath(os.path.expanduser(spec)))


def _wait_from_env():
    text = os.environ.get(ENV_LEDGER_WAIT)
    if not text:
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise LedgerError(f"${ENV_LEDGER_WAIT}={text!r} is not a positive number of seconds (the bounded wait for "
                          f"a busy ledger); unset it or set it to e.g. 30")
    return value


def _is_busy(exc):
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _advice(exc):
    """What to do about a (non-busy) database error."""
    text = str(exc).lower()
    if isinstance(exc, _pg.PSYCOPG_ERROR):
        if "authentication" in text or "password" in text:
            return ("check the ledger's PostgreSQL credentials (the URL, $PGPASSWORD, the service or pgpass file "
                    f"given by $PGSERVICEFILE / $PGPASSFILE) and that the role may log in; ${ENV_LEDGER} / the "
                    "ledger option picks the database")
        if "permission denied" in text:
            return ("grant the ledger's PostgreSQL role CREATE on the schema (first use creates the tables) and "
                    "SELECT/INSERT/UPDATE on them, or run playbooks/ledger_migrate.yml once as their owner")
        return f"check the PostgreSQL server and the URL in the ledger option / ${ENV_LEDGER}"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return ("the file is not a valid ledger (damaged, or another file): move it aside and re-run (a new, empty "
                "ledger is created; the lockout history starts over), or point the ledger option / "
                f"${ENV_LEDGER} at the right file")
    if "readonly" in text or "read-only" in text or "permission" in text or "unable to open" in text:
        return (f"make the file and its folder writable for this user, or point the ledger option / ${ENV_LEDGER} "
                "at a writable file")
    if "disk" in text or "full" in text or "i/o" in text:
        return "check the disk holding the ledger (free space, I/O errors), then re-run"
    return f"check the file, or point the ledger option / ${ENV_LEDGER} at another file"


def _guarded(what):
    """Turn any sqlite3/OS error of a public method into a LedgerError naming the file."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except LedgerError:
                raise
            except (*_DB_ERRORS, OSError) as exc:
                raise self._error(exc, what) from exc

        return wrapper

    return decorate


def _process_start(pid):
    """The kernel's start time of a process (Linux), None if unknown, False if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return False if fields[0] in ("Z", "X") else fields[19]


def _owner_tag():
    """host:pid:start of this process: lets a later run tell that a wave's controller is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid()) or ''}"


def _owner_gone(owner):
    """True when the wave's controller process is known to be dead (same host only)."""
    try:
        host, pid, start = (owner or "").rsplit(":", 2)
        pid = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    current = _process_start(pid)
    if current is False:
        return True
    if current is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    return bool(start) and current != start


def scratch_path(ledger_path):
    """Where check-mode waves of this ledger are kept (outside the ledger, per user)."""
    digest = hashlib.sha256(ledger_path.encode("utf-8")).hexdigest()[:24]
    return os.path.join(tempfile.gettempdir(), f"infoscreen-fleet-check-{os.getuid()}", f"{digest}.sqlite3")


class _Batch:
    """``with ledger.batch():`` - one write transaction around many calls, begun by the first
    write inside it (so a batch that only reads, as in check mode, neither locks nor creates
    the file); database errors as LedgerError."""

    def __init__(self, ledger):
        self.ledger = ledger

    def __enter__(self):
        self.ledger._batch_depth += 1
        return self.ledger

    def __exit__(self, exc_type, exc, tb):
        ledger = self.ledger
        ledger._batch_depth -= 1
        if not ledger._batch_depth:
            ledger._prefetched, ledger._prefetched_locked = {}, set()
        if ledger._batch_depth or ledger._batch_tx is None:
            return False
        tx, ledger._batch_tx = ledger._batch_tx, None
        try:
            if tx.pipeline is not None:
                try:
                    tx.pipeline_cm.__exit__(exc_type, exc, tb)  # sends what is queued, raises its errors
                except BaseException as error:
                    tx.__exit__(type(error), error, None)  # roll back, then report it
                    raise
            tx.__exit__(exc_type, exc, tb)
        except _DB_ERRORS as error:
            raise ledger._error(error, "written") from error
        return False


class Ledger:
    """A connection to the ledger file. Use as a context manager or call close().

    ``wait_s`` is the bounded wait for the write lock (default $INFOSCREEN_LEDGER_WAIT_S or
    30 s). The file (and its folder) is created on the first write; reads of a ledger that
    does not exist yet see an empty one.
    """

    def __init__(self, path=None, busy_timeout_s=None, wait_s=None):
        spec = path or default_path()
        self.backend = "postgresql" if is_url(spec) else "sqlite"
        if self.backend == "postgresql":
            if not _pg.HAS_PSYCOPG:
                raise LedgerError(f"the ledger {_pg.mask(spec)} is a PostgreSQL URL but the Python package psycopg "
                                  "(3) is not installed on this controller: pip install 'psycopg[binary]' (or point "
                                  f"the ledger option / ${ENV_LEDGER} at a SQLite file)")
            self._url = spec.strip()
            self.path = _pg.mask(self._url)  # what every message shows: never the password
        else:
            self._url = None
            self.path = os.path.abspath(os.path.expanduser(spec))
        self.wait_s = float(wait_s or busy_timeout_s or _wait_from_env())
        self._db = None
        self._pg_retry_after = 0.0
        self._writable = False
        self._scratch = None
        self._check_waves = set()
        self._real_waves = set()  # started here: no read needed to know they are in the ledger
        self._deferred = []
        self._deferred_since = None
        self._deferred_error = None
        self._batch_depth = 0
        self._batch_tx = None
        self._prefetched = {}  # prefetch_lockout: client -> its lockout rows, for the batch
        self._prefetched_locked = set()
        if self.backend == "sqlite" and os.path.exists(self.path):
            self._db = self._open(self.path, "opened")

    # -- backends -------------------------------------------------------------------------

    def _error(self, exc, what):
        """A LedgerError (LedgerUnavailable for a lost PostgreSQL server) naming the ledger."""
        if isinstance(exc, LedgerError):
            return exc
        if self.backend == "postgresql":
            text = _pg.mask(str(exc).strip())
            if _pg.is_connection_error(exc):
                self._drop_connection()
                return LedgerUnavailable(self.unavailable_message(text))
            if _pg.is_lock_timeout(exc):
                return LedgerBusy(self.busy_message())
            return LedgerError(f"the ledger {self.path} could not be {what}: {text}; {_advice(exc)}")
        return LedgerError(f"the ledger {self.path} could not be {what}: {exc}; {_advice(exc)}")

    def unavailable_message(self, error, waited_s=None):
        waited = self.wait_s if waited_s is None else waited_s
        return (f"the ledger {self.path} (PostgreSQL) could not be reached within the bounded wait of "
                f"{waited:.1f} s: {error}. Check that the server runs and is reachable, then re-run; the bounded "
                f"wait is ${ENV_LEDGER_WAIT} (now {self.wait_s:g} s)")

    def _drop_connection(self):
        if self.backend == "postgresql" and self._db is not None:
            self._db.close()
            self._db = None
            self._batch_tx = None

    def _pg_connect(self, deadline):
        """The PostgreSQL connection, (re)connected until the monotonic deadline."""
        if self._db is not None and not self._db.broken:
            return self._db
        self._db = None
        last = None
        while True:
            try:
                self._db = _pg.PgConnection(self._url, max(0.0, deadline - time.monotonic()))
                return self._db
            except _pg.PSYCOPG_ERROR as exc:
                if not _pg.is_connection_error(exc):
                    raise self._error(exc, "opened") from exc
                last = _pg.mask(str(exc).strip())
            if time.monotonic() >= deadline:
                raise LedgerUnavailable(self.unavailable_message(last))
            time.sleep(0.2)

    def _exists(self):
        """Is there a ledger to read (a PostgreSQL database always is; its tables may not be)?"""
        return self.backend == "postgresql" or self._db is not None or os.path.exists(self.path)

    @_guarded("read")
    def schema_version(self):
        """The schema version of the ledger as stored (0: not created yet)."""
        if self.backend == "postgresql":
            return int(_pg.pg_version(self._pg_connect(time.monotonic() + self.wait_s)))
        if not self._exists():
            return 0
        return self._sqlite_version(self._db or self._open(self.path, "opened"))

    @staticmethod
    def _sqlite_version(db):
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_migrations" in tables:
            return db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
        if "meta" in tables:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None:
                return int(row[0])
        return 1 if "commands" in tables else 0

    @_guarded("migrated")
    def migrate(self):
        """Apply the missing schema migrations now (also done by the first write). Returns
        ``{"ledger", "backend", "from_version", "to_version", "applied", "history"}``."""
        before = self.schema_version()
        self._writable = False
        self._writable_db()
        return {"ledger": self.path, "backend": self.backend, "from_version": before,
                "to_version": self.schema_version(), "applied": list(range(before + 1, SCHEMA_VERSION + 1)),
                "history": self.migrations()}

    @_guarded("read")
    def migrations(self):
        """The applied migrations, oldest first: ``[{version, description, applied_at, backend}]``."""
        rows = self._rows("SELECT version, description, applied_at, backend FROM schema_migrations ORDER BY version")
        return [dict(row, applied_at=iso(row["applied_at"])) for row in rows]

    def _migrate_sqlite(self, db):
        before = self._sqlite_version(db)
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(_MIGRATIONS_TABLE)
        now = time.time()
        for version, description, steps in MIGRATIONS:
            for step in steps:
                if isinstance(step, tuple):
                    table, column, kind = step
                    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                    if column not in present:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                else:
                    db.execute(step)
            # Versions a file had before the history existed are recorded as found then.
            db.execute("INSERT OR IGNORE INTO schema_migrations (version, description, applied_at, backend) "
                       "VALUES (?,?,?,?)", (version, description if version > before else
                                            f"{description} (present before the migrations table)", now, "sqlite"))
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    # -- plumbing (the only places that talk to the database) -----------------------------

    def _connect(self, path):
        db = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    def _open(self, path, what):
        try:
            db = self._connect(path)
            db.execute("PRAGMA busy_timeout=200")
            # Reading the header proves it is a database (a stray file fails here, not later).
            db.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
            return db
        except sqlite3.Error as exc:
            raise LedgerError(f"the ledger {path} could not be {what}: {exc}; {_advice(exc)}") from exc

    def _writable_db(self, wait_s=None):
        """The file's connection, created with its schema (migrated) on the first write."""
        if self.backend == "postgresql":
            return self._pg_writable(wait_s)
        if self._writable:
            return self._db
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the folder of the ledger {self.path}: {exc} (set the ledger option or "
                              f"${ENV_LEDGER} to a writable file)") from exc
        if self._db is None:
            self._db = self._open(self.path, "created")
        wait_s = self.wait_s if wait_s is None else wait_s
        try:
            self._switch_to_wal(wait_s)
            self._db.execute("PRAGMA synchronous=NORMAL")
            if self._sqlite_version(self._db) < SCHEMA_VERSION:
                with Ledger._Tx(self, self._db, wait_s):
                    self._migrate_sqlite(self._db)
        except LedgerError:
            raise
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc}; {_advice(exc)} (set the ledger option or "
                              f"${ENV_LEDGER} to a writable file)") from exc
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass
        self._writable = True
        return self._db

    def _pg_writable(self, wait_s=None):
        """The PostgreSQL connection, the schema migrated on the first write (once per Ledger)."""
        wait_s = self.wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        db = self._pg_connect(deadline)
        if self._writable:
            return db
        try:
            if _pg.pg_version(db) < SCHEMA_VERSION:
                _pg.migrate_pg(db, SCHEMA_VERSION, max(1, (deadline - time.monotonic()) * 1000))
        except _pg.PSYCOPG_ERROR as exc:
            raise self._error(exc, "migrated") from exc
        self._writable = True
        return db

    def _switch_to_wal(self, wait_s):
        """WAL mode, waited for like a write: leaving rollback mode on a file that another
        creator holds for a moment needs its lock (several plays creating the ledger at once)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise LedgerBusy(self.busy_message()) from exc
                time.sleep(0.05)

    def _rows(self, sql, args=(), one=False, db=None):
        """Run a read; an absent ledger reads as empty. Busy reads are retried up to the bounded wait."""
        if self.backend == "postgresql" and db is None:
            return self._pg_rows(sql, args, one)
        db = db or self._db
        if db is None:
            if not os.path.exists(self.path):
                return None if one else []
            db = self._db = self._open(self.path, "opened")
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                cursor = db.execute(sql, args)
                return cursor.fetchone() if one else cursor.fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc) or "no such column" in str(exc):
                    return None if one else []  # a file created but not yet given its schema
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _pg_rows(self, sql, args, one):
        """A read on PostgreSQL: a database without the ledger's tables reads as empty; a lost
        connection is re-made until the bounded wait (not inside a transaction: that is lost)."""
        deadline = time.monotonic() + self.wait_s
        while True:
            in_tx = self._db is not None and not self._db.broken and self._db.in_transaction
            db = self._pg_connect(deadline)
            try:
                cursor = db.execute(sql, args)
                return cursor.fetchone() if one else cursor.fetchall()
            except _pg.PSYCOPG_ERROR as exc:
                if _pg.is_missing_schema(exc) and not in_tx:
                    return None if one else []
                if in_tx or not _pg.is_connection_error(exc) or time.monotonic() >= deadline:
                    raise
                self._drop_connection()
                time.sleep(0.2)

    def close(self):
        for db in (self._db, self._scratch):
            if db is not None:
                db.close()
        self._db = self._scratch = None
        self._writable = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    class _Tx:
        """BEGIN IMMEDIATE ... COMMIT; nested uses join the outer transaction.

        Taking the write lock is retried until a monotonic deadline (the bounded wait); once
        it is held, WAL mode lets no other writer in, so the statements inside do not wait.
        """

        def __init__(self, ledger, db, wait_s):
            self.ledger = ledger
            self.db = db
            self.wait_s = wait_s
            self.outer = False
            self.pipeline = None  # PostgreSQL batches: psycopg pipeline mode until the batch ends
            self.pipeline_cm = None
            self.queued = 0

        def __enter__(self):
            if self.ledger.backend == "postgresql":
                return self._enter_pg()
            self.outer = not self.db.in_transaction
            if self.outer:
                deadline = time.monotonic() + self.wait_s
                if not self.wait_s:
                    self.db.execute("PRAGMA busy_timeout=0")  # one try: a deferring wave must not stall
                try:
                    while True:
                        try:
                            self.db.execute("BEGIN IMMEDIATE")
                            break
                        except sqlite3.OperationalError as exc:
                            if not _is_busy(exc):
                                raise
                            if time.monotonic() >= deadline:
                                raise LedgerBusy(self.ledger.busy_message()) from exc
                            time.sleep(0.05)
                finally:
                    if not self.wait_s:
                        self.db.execute("PRAGMA busy_timeout=200")
            return self.db

        def _enter_pg(self):
            """BEGIN on a live connection (re-made within the bounded wait); the wait for row and
            advisory locks inside the transaction is bounded by lock_timeout."""
            ledger = self.ledger
            if ledger._db is not None and not ledger._db.broken and ledger._db.in_transaction:
                self.db = ledger._db
                return self.db
            self.outer = True
            deadline = time.monotonic() + self.wait_s
            if not self.wait_s and time.monotonic() < ledger._pg_retry_after:
                # A deferring wave while the server is gone: one connection attempt a second at most.
                raise LedgerUnavailable(ledger.unavailable_message("still unreachable", 0.0))
            while True:
                try:
                    self.db = ledger._pg_writable(max(0.0, deadline - time.monotonic()))
                    self.db.raw("BEGIN")
                    # Lock waits inside are bounded too (0 would mean "wait forever": 1 ms instead).
                    self.db.raw(f"SET LOCAL lock_timeout = {max(1, int(max(0.0, deadline - time.monotonic()) * 1000))}")
                    return self.db
                except (LedgerUnavailable, _pg.PSYCOPG_ERROR) as exc:
                    # A connection that died with the server is only found out here: make it again.
                    retry = (isinstance(exc, _pg.PSYCOPG_ERROR) and _pg.is_connection_error(exc)
                             and time.monotonic() < deadline)
                    ledger._drop_connection()
                    if not retry:
                        ledger._pg_retry_after = time.monotonic() + 1.0
                        if isinstance(exc, LedgerError):
                            raise
                        raise ledger._error(exc, "written") from exc
                    time.sleep(0.1)

        def __exit__(self, exc_type, exc, tb):
            if not self.outer:
                return
            if self.ledger.backend == "postgresql":
                if self.db.broken:
                    self.ledger._drop_connection()
                    if exc_type is None:
                        raise LedgerUnavailable(self.ledger.unavailable_message("connection lost before COMMIT"))
                    return
                try:
                    self.db.raw("ROLLBACK" if exc_type else "COMMIT")
                except _pg.PSYCOPG_ERROR as error:
                    if exc_type is None:
                        raise self.ledger._error(error, "written") from error
                return
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def busy_message(self, waited_s=None):
        waited = self.wait_s if waited_s is None else waited_s
        return (f"the ledger {self.path} is locked by another process (its write lock was still held after "
                f"waiting {waited:.1f} s): another play, a ledger query or a tool is writing to it. Let it finish "
                f"(or stop it) and re-run; if such long locks are expected, raise the bounded wait with "
                f"${ENV_LEDGER_WAIT} (now {self.wait_s:g} s)")

    def _write(self, wait_s=None):
        wait = self.wait_s if wait_s is None else wait_s
        db = self._writable_db(wait) if self.backend == "sqlite" else None  # PostgreSQL: at BEGIN
        if self._batch_depth and self._batch_tx is None:
            tx = Ledger._Tx(self, db, wait)
            tx.__enter__()  # held until the batch ends; the statements below join it
            self._batch_tx = tx
            if self.backend == "postgresql":
                # Batches (a whole wave's reservations) take per-client locks one by one: one
                # batch at a time, so two waves cannot deadlock on each other's clients.
                tx.db.raw("SELECT pg_advisory_xact_lock(%s)", (_pg.BATCH_KEY,))
                # Pipeline mode: statements whose result nobody reads (locks, inserts) are sent
                # with the next read, so a host costs about one round trip, not five.
                tx.pipeline_cm = tx.db.conn.pipeline()
                tx.pipeline = tx.pipeline_cm.__enter__()
        return Ledger._Tx(self, db, wait)

    def _lock_client(self, db, client_uuid):
        """PostgreSQL: hold this client's advisory lock until the transaction ends, so another
        controller's check-and-reserve of the same client waits for this one's commit (SQLite:
        BEGIN IMMEDIATE already serializes every writer)."""
        if self.backend == "postgresql":
            db.raw("SELECT pg_advisory_xact_lock(%s)", (_pg.client_key(client_uuid),))

    def _lock_sweep(self, db):
        if self.backend == "postgresql":
            db.raw("SELECT pg_advisory_xact_lock(%s)", (_pg.SWEEP_KEY,))

    def batch(self):
        """One write transaction around many calls (e.g. reserving a whole wave at once)."""
        return _Batch(self)

    def _scratch_db(self):
        """The check-mode scratch file (waves and wave_hosts only), created on first use."""
        if self._scratch is None:
            path = scratch_path(self.path)
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            self._scratch = self._connect(path)
            self._scratch.execute("PRAGMA busy_timeout=5000")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._scratch.execute(statement)
            cutoff = time.time() - 86400.0
            self._scratch.execute("DELETE FROM wave_hosts WHERE wave_id IN (SELECT wave_id FROM waves "
                                  "WHERE started_at < ?)", (cutoff,))
            self._scratch.execute("DELETE FROM waves WHERE started_at < ?", (cutoff,))
            os.chmod(path, 0o600)
        return self._scratch

    def _is_check_wave(self, wave_id):
        if wave_id in self._check_waves:
            return True
        if wave_id in self._real_waves:
            return False
        if self._rows("SELECT 1 FROM waves WHERE wave_id = ?", (wave_id,), one=True) is not None:
            return False
        path = scratch_path(self.path)
        if not os.path.exists(path):
            return False
        found = self._scratch_db().execute("SELECT 1 FROM waves WHERE wave_id = ?", (wave_id,)).fetchone()
        if found is not None:
            self._check_waves.add(wave_id)
        return found is not None

    def _wave_db(self, wave_id):
        return self._scratch_db() if self._is_check_wave(wave_id) else None

    # -- lockout --------------------------------------------------------------------------

    def _lockout_inputs(self, client_uuid, now, window_s, exclude_command_id=None):
        placeholders = ",".join("?" * len(_lockout.REBOOT_CLASS_ACTIONS))
        # Only "?" placeholders are formatted into the SQL; every value is bound.
        sql = ("SELECT command_id, state, issued_at, expires_at, finished_at FROM commands "  # noqa: S608
               f"WHERE client_uuid = ? AND action IN ({placeholders}) AND state != 'blocked' "
               "AND issued_at > ? ORDER BY issued_at")
        cached = self._prefetched.get(client_uuid) if self._batch_depth else None
        if cached is not None:
            rows = [row for row in cached if row["issued_at"] > now - max(window_s, 86400.0)]
        else:
            rows = self._rows(sql, (client_uuid, *_lockout.REBOOT_CLASS_ACTIONS, now - max(window_s, 86400.0)))
        issued = [row["issued_at"] for row in rows]
        failures = [row["finished_at"] or row["issued_at"] for row in rows if row["state"] in _lockout.FAILURE_STATES]
        in_flight = [row["expires_at"] for row in rows
                     if row["state"] in NON_TERMINAL_STATES and row["command_id"] != exclude_command_id
                     and row["expires_at"] is not None and row["expires_at"] > now]
        return issued, (max(failures) if failures else None), (max(in_flight) if in_flight else None)

    @_guarded("written")
    def prefetch_lockout(self, client_uuids, now=None, window_s=_lockout.DEFAULT_WINDOW_S):
        """Inside ``batch()``, before reserving many clients: take their locks and read their
        lockout inputs in one go, so each ``reserve`` of the batch needs no read of its own.

        PostgreSQL: every client's advisory lock, in key order (two batches cannot deadlock),
        held until the batch ends; SQLite: the batch's write lock. Either way no other
        controller can reserve these clients until the batch commits, so the inputs read here
        stay true for the batch (the batch's own reservations are added as they are made).
        Outside a batch it does nothing.
        """
        if not self._batch_depth:
            return
        now = time.time() if now is None else now
        clients = sorted(set(client_uuids))
        placeholders = ",".join("?" * len(_lockout.REBOOT_CLASS_ACTIONS))
        since = now - max(window_s, 86400.0) - 3600.0  # reserve's own now may be a little later or earlier
        with self._write() as db:
            if self.backend == "postgresql":
                db.raw("SELECT COUNT(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(%s::bigint[]) AS k "
                       "ORDER BY k) AS keys", (sorted(_pg.client_key(c) for c in clients),)).fetchone()
            found = {client: [] for client in clients}
            for start in range(0, len(clients), 500):
                chunk = clients[start:start + 500]
                marks = ",".join("?" * len(chunk))
                # Only "?" placeholders are formatted into the SQL; every value is bound.
                sql = ("SELECT client_uuid, command_id, state, issued_at, expires_at, finished_at "  # noqa: S608
                       f"FROM commands WHERE client_uuid IN ({marks}) AND action IN ({placeholders}) "
                       "AND state != 'blocked' AND issued_at > ? ORDER BY issued_at")
                for row in db.execute(sql, (*chunk, *_lockout.REBOOT_CLASS_ACTIONS, since)).fetchall():
                    found[row["client_uuid"]].append(dict(row))
            self._prefetched.update(found)
            self._prefetched_locked.update(clients)

    @_guarded("read")
    def lockout_decision(self, client_uuid, now=None, limit=_lockout.DEFAULT_LIMIT,
                         window_s=_lockout.DEFAULT_WINDOW_S, cooldown_s=_lockout.DEFAULT_COOLDOWN_S):
        """Read-only lockout check for one client (check mode, PoE pre-checks)."""
        now = time.time() if now is None else now
        issued, last_failure, in_flight = self._lockout_inputs(client_uuid, now, window_s)
        return _lockout.evaluate(now, issued, last_failure_at=last_failure, in_flight_until=in_flight, limit=limit,
                                 window_s=window_s, cooldown_s=cooldown_s)

    @_guarded("written")
    def reserve(self, client_uuid, action, *, host=None, command_id=None, wave_id=None, request_key=None,
                expires_at=None, payload=None, requested_by=None, reason=None, override_reason=None,
                now=None, deadline_at=None, limit=_lockout.DEFAULT_LIMIT, window_s=_lockout.DEFAULT_WINDOW_S,
                cooldown_s=_lockout.DEFAULT_COOLDOWN_S, check_lockout=True):
        """Check the lockout and record a new command in one transaction.

        Returns ``(row, decision)``. The row's state is ``queued`` when allowed (the caller
        publishes it and records further transitions) and ``blocked`` when refused: a blocked
        command must never be published. ``override_reason`` (non-empty) lets a refused command
        through and logs the override in the overrides table and the transition detail.
        ``now`` (epoch seconds) is the command's issue time; tests use it to place commands in
        the past instead of sleeping. Actions outside REBOOT_CLASS_ACTIONS skip the lockout.
        ``deadline_at`` (epoch) is when the controller stops waiting for the command's outcome
        (default: ``expires_at``); the sweep leaves a command alone until then.
        """
        now = time.time() if now is None else now
        command_id = command_id or str(uuid.uuid4())
        if override_reason is not None and not str(override_reason).strip():
            raise LedgerError("a lockout override needs a non-empty reason")
        args = {"client_uuid": client_uuid, "action": action, "host": host, "command_id": command_id,
                "wave_id": wave_id, "request_key": request_key, "expires_at": expires_at, "payload": payload,
                "requested_by": requested_by, "reason": reason, "override_reason": override_reason, "now": now,
                "deadline_at": deadline_at, "limit": limit, "window_s": window_s, "cooldown_s": cooldown_s,
                "check_lockout": check_lockout}
        if self.backend == "sqlite" or self._batch_depth:
            # In a batch a lost connection loses the whole transaction: the caller (a wave) fails
            # before publishing anything, and a later run's sweep expires what was committed.
            return self._reserve_once(**args)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                return self._reserve_once(**args)
            except LedgerUnavailable:
                if time.monotonic() >= deadline:
                    raise
            # Lost mid-transaction: if the COMMIT got through, the command is there (same id).
            try:
                found = self.command(command_id)
            except LedgerUnavailable:
                found = None
            if found is not None:
                found["overridden"] = bool(found.get("override_reason"))
                return found, self._decision_of(found)
            time.sleep(0.2)

    @staticmethod
    def _decision_of(row):
        if row["state"] != "blocked":
            return _lockout.LockoutDecision(True)
        return _lockout.LockoutDecision(False, code=row["error_code"], eligible_at=row["eligible_at_epoch"],
                                        message=row["error_message"])

    def _reserve_once(self, client_uuid, action, *, host, command_id, wave_id, request_key, expires_at, payload,
                      requested_by, reason, override_reason, now, deadline_at, limit, window_s, cooldown_s,
                      check_lockout):
        with self._write() as db:
            if client_uuid not in self._prefetched_locked or not self._batch_depth:
                self._lock_client(db, client_uuid)
            if check_lockout and action in _lockout.REBOOT_CLASS_ACTIONS:
                issued, last_failure, in_flight = self._lockout_inputs(client_uuid, now, window_s)
                decision = _lockout.evaluate(now, issued, last_failure_at=last_failure, in_flight_until=in_flight,
                                             limit=limit, window_s=window_s, cooldown_s=cooldown_s)
            else:
                decision = _lockout.LockoutDecision(True)
            overridden = not decision.allowed and override_reason is not None
            state = "queued" if decision.allowed or overridden else "blocked"
            values = (command_id, client_uuid, host, action, state, request_key, wave_id, now, expires_at,
                      now if state == "blocked" else None, requested_by, reason,
                      decision.code if state == "blocked" else None,
                      decision.message if state == "blocked" else None,
                      decision.eligible_at if state == "blocked" else None,
                      override_reason if overridden else None,
                      json.dumps(payload, sort_keys=True) if payload is not None else None,
                      deadline_at if deadline_at is not None else expires_at)
            db.execute(
                "INSERT INTO commands (command_id, client_uuid, host, action, state, request_key, wave_id, issued_at, "
                "expires_at, finished_at, requested_by, reason, error_code, error_message, eligible_at, "
                "override_reason, payload, deadline_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
            detail = None
            if state == "blocked":
                detail = f"{decision.code}: {decision.message}; eligible at {iso(decision.eligible_at)}"
            elif overridden:
                detail = f"lockout overridden ({decision.code}: {decision.message}); reason: {override_reason}"
                db.execute("INSERT INTO overrides (at, client_uuid, command_id, code, reason) VALUES (?,?,?,?,?)",
                           (now, client_uuid, command_id, decision.code, override_reason))
            db.execute("INSERT INTO transitions (command_id, state, at, detail) VALUES (?,?,?,?)",
                       (command_id, state, now, detail))
            if state != "blocked" and action in _lockout.REBOOT_CLASS_ACTIONS \
                    and client_uuid in self._prefetched and self._batch_depth:
                self._prefetched[client_uuid].append({"command_id": command_id, "state": state, "issued_at": now,
                                                      "expires_at": expires_at, "finished_at": None})
        tx = self._batch_tx
        if tx is not None and tx.pipeline is not None:
            tx.queued += 1
            if tx.queued % 200 == 0:
                tx.pipeline.sync()  # keep the pipeline's unread results (and the socket buffers) small
        if self.backend == "postgresql":
            # The row as inserted, without reading it back: one round trip less per host (in a
            # wave's pipelined batch, the inserts travel with the next host's lockout read).
            row = self._command_dict(dict(zip(_RESERVED_COLUMNS, values),
                                          reconnect_s=None, boot_id_before=None, boot_id_after=None))
        else:
            row = self.command(command_id)
        row["overridden"] = overridden
        return row, decision

    # -- transitions ----------------------------------------------------------------------

    def record_transition(self, command_id, state, at=None, detail=None, **fields):
        """Record one transition of a command (and update its current state and fields)."""
        self.record_transitions([(command_id, state, at, detail, fields)])

    @_guarded("written")
    def record_transitions(self, batch, defer_when_busy=False):
        """Record many ``(command_id, state, at, detail, fields)`` transitions in one transaction.

        ``state`` None only updates fields. Terminal states set ``finished_at`` unless given.
        With ``defer_when_busy`` (a running wave) a ledger that another process holds locked
        does not block the caller: the batch is kept in order and written with the next call;
        ``flush_deferred`` (called by finish_wave) waits for it up to the bounded wait.
        Returns False when the batch was deferred.
        """
        for _command_id, _state, _when, _detail, given in batch:
            unknown = set(given or {}) - set(_COMMAND_FIELDS)
            if unknown:
                raise LedgerError(f"unknown ledger command fields: {', '.join(sorted(unknown))}")
        if not defer_when_busy:
            if self._deferred:
                self.flush_deferred()
            if batch:
                with self._write() as db:
                    self._apply_transitions(db, batch)
            return True
        self._deferred.extend(batch)
        if not self._deferred:
            return True
        try:
            with self._write(wait_s=0.0) as db:
                self._apply_transitions(db, self._deferred)
        except (LedgerError, *_DB_ERRORS) as exc:
            if self._deferred_since is None:
                self._deferred_since = time.monotonic()
            self._deferred_error = exc
            return False
        self._deferred, self._deferred_since, self._deferred_error = [], None, None
        return True

    @_guarded("written")
    def flush_deferred(self):
        """Write deferred transitions, waiting for the lock until the bounded wait (counted from
        the first deferral) is over; then a LedgerError says how many could not be recorded."""
        if not self._deferred:
            return
        since = self._deferred_since if self._deferred_since is not None else time.monotonic()
        wait = max(1.0, since + self.wait_s - time.monotonic())
        try:
            with self._write(wait_s=wait) as db:
                self._apply_transitions(db, self._deferred)
        except LedgerUnavailable as exc:
            raise LedgerUnavailable(f"{exc}. {len(self._deferred)} state transition(s) of this wave are not "
                                    f"recorded; a later run's sweep closes the commands left open once they are "
                                    f"past their deadline") from exc
        except LedgerBusy as exc:
            raise LedgerBusy(f"{self.busy_message(time.monotonic() - since)}. {len(self._deferred)} state "
                             f"transition(s) of this wave are not recorded; a later run's sweep closes the "
                             f"commands left open once they are past their deadline") from exc
        self._deferred, self._deferred_since, self._deferred_error = [], None, None

    @staticmethod
    def _apply_transitions(db, batch):
        """Write a batch in a few statements, whatever its size: the transitions in one
        executemany (in order), and per command one UPDATE with its fields merged in order
        (the same end state as one UPDATE per transition), grouped by the set of columns."""
        rows = []
        merged = {}
        for command_id, state, when, detail, given in batch:
            at = time.time() if when is None else when
            fields = dict(given or {})
            if state is not None:
                fields["state"] = state
                if state in _lockout.TERMINAL_STATES and "finished_at" not in fields:
                    fields["finished_at"] = at
                rows.append((command_id, state, at, detail))
            if fields:
                merged.setdefault(command_id, {}).update(fields)
        if isinstance(db, _pg.PgConnection):
            _pg.apply_transitions(db, rows, merged)
            return
        if rows:
            db.executemany("INSERT INTO transitions (command_id, state, at, detail) VALUES (?,?,?,?)", rows)
        groups = {}
        for command_id, fields in merged.items():
            names = tuple(sorted(fields))
            groups.setdefault(names, []).append((*(fields[name] for name in names), command_id))
        for names, values in groups.items():
            assignments = ", ".join(f"{name} = ?" for name in names)
            # Column names come from _COMMAND_FIELDS (checked by the caller); values are bound.
            db.executemany(f"UPDATE commands SET {assignments} WHERE command_id = ?", values)  # noqa: S608

    @_guarded("written")
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

    @_guarded("read")
    def find_reusable(self, request_key, client_uuid, action, now=None):
        """The latest unexpired, non-blocked command of this request for this client, if any.

        A retried task passes the same request key, so it gets the same command_id back
        instead of issuing a second reboot (see docs/controller.md, "Retry safety").
        """
        now = time.time() if now is None else now
        row = self._rows(
            "SELECT * FROM commands WHERE request_key = ? AND client_uuid = ? AND action = ? "
            "AND state != 'blocked' AND expires_at > ? ORDER BY issued_at DESC LIMIT 1",
            (request_key, client_uuid, action, now), one=True)
        return self._command_dict(row) if row else None

    # -- sweeping what interrupted controllers left open ----------------------------------

    @_guarded("swept")
    def sweep(self, now=None):
        """Make stale non-terminal commands terminal and close abandoned waves; returns counts.

        A command still queued/published past its deadline (plus SWEEP_GRACE_S) was never
        accepted: ``expired``; one accepted or execution_started: ``timed_out`` with error code
        ``controller_interrupted`` (its outcome is unknown: the controller stopped waiting).
        A wave still open whose commands are all terminal is closed when its controller
        process is gone (same host) or it saw no activity for STALE_AFTER_S. Check-mode waves
        are never in the ledger. A ledger that does not exist has nothing to sweep.
        """
        if not self._exists():
            return {"commands": 0, "waves": 0}
        now = time.time() if now is None else now
        with self._write() as db:
            return self._sweep_in_tx(db, now)

    def _sweep_in_tx(self, db, now):
        self._lock_sweep(db)  # PostgreSQL: two sweeps at once would both close the same rows
        placeholders = ",".join("?" * len(NON_TERMINAL_STATES))
        # Only "?" placeholders are formatted into the SQL; every value is bound.
        stale = db.execute(
            "SELECT command_id, host, client_uuid, action, state, "  # noqa: S608
            "COALESCE(deadline_at, expires_at, issued_at + ?) AS ended FROM commands "
            f"WHERE state IN ({placeholders}) AND COALESCE(deadline_at, expires_at, issued_at + ?) + ? < ?",
            (STALE_AFTER_S, *NON_TERMINAL_STATES, STALE_AFTER_S, SWEEP_GRACE_S, now)).fetchall()
        batch = []
        for row in stale:
            who = row["host"] or row["client_uuid"]
            if row["state"] in ("queued", "published"):
                state, code = "expired", "expired"
                message = (f"{who}: {row['action']} {row['command_id']} was never accepted: the controller that "
                           f"sent it was interrupted (last state {row['state']}); swept past its deadline")
            else:
                state, code = "timed_out", INTERRUPTED_CODE
                message = (f"{who}: the controller was interrupted while waiting for the outcome of "
                           f"{row['action']} {row['command_id']} (last state {row['state']}); outcome unknown, "
                           f"swept past its deadline")
            # finished_at is when the controller stopped waiting (its deadline), so the
            # escalation cooldown counts from then, not from whenever a later run swept it.
            batch.append((row["command_id"], state, now, f"controller interrupted: {message}",
                          {"error_code": code, "error_message": message, "finished_at": row["ended"]}))
        self._apply_transitions(db, batch)
        closed = 0
        for wave in db.execute("SELECT wave_id, started_at, owner FROM waves WHERE finished_at IS NULL "
                               "AND check_mode = 0").fetchall():
            # Only "?" placeholders are formatted into the SQL; every value is bound.
            activity = db.execute(
                "SELECT SUM(CASE WHEN state IN (" + placeholders + ") THEN 1 ELSE 0 END), "  # noqa: S608
                "MAX(COALESCE(finished_at, issued_at)) "
                "FROM commands WHERE wave_id = ?", (*NON_TERMINAL_STATES, wave["wave_id"])).fetchone()
            if activity[0]:
                continue
            last = max(wave["started_at"] or 0.0, activity[1] or 0.0)
            if _owner_gone(wave["owner"]):
                reason = "controller interrupted: its process ended before the wave was finished"
            elif now - last > STALE_AFTER_S:
                reason = f"controller interrupted: no activity for more than {STALE_AFTER_S:g} s"
            else:
                continue
            self._close_wave_in_tx(db, wave["wave_id"], reason, now)
            closed += 1
        return {"commands": len(batch), "waves": closed}

    @staticmethod
    def _close_wave_in_tx(db, wave_id, reason, now):
        rows = db.execute("SELECT state, COUNT(*) FROM commands WHERE wave_id = ? GROUP BY state",
                          (wave_id,)).fetchall()
        summary = {"closed": reason, "closed_at": iso(now), "command_states": {row[0]: row[1] for row in rows}}
        db.execute("UPDATE waves SET finished_at = ?, summary = ? WHERE wave_id = ? AND finished_at IS NULL",
                   (now, json.dumps(summary, sort_keys=True), wave_id))

    @_guarded("written")
    def close_wave(self, wave_id, reason, now=None):
        """Close a wave that could not finish (its summary says why); check-mode waves too."""
        now = time.time() if now is None else now
        scratch = self._wave_db(wave_id)
        if scratch is not None:
            self._close_wave_in_tx(scratch, wave_id, reason, now)
            return
        with self._write() as db:
            self._close_wave_in_tx(db, wave_id, reason, now)

    # -- waves ----------------------------------------------------------------------------

    @_guarded("written")
    def start_wave(self, wave_id, rollout_id, action, check_mode=False, now=None):
        """Record a wave and return its 1-based number within the rollout.

        A real wave first sweeps the ledger (same transaction). A check-mode wave goes to the
        scratch file (scratch_path) so that the ledger is not written, nor created.
        """
        now = time.time() if now is None else now
        if check_mode:
            self._check_waves.add(wave_id)
            db = self._scratch_db()
            before = self._rows("SELECT COUNT(*) FROM waves WHERE rollout_id = ?", (rollout_id,), one=True)
            number = (before[0] if before else 0) + 1
            number += db.execute("SELECT COUNT(*) FROM waves WHERE rollout_id = ?", (rollout_id,)).fetchone()[0]
            db.execute("INSERT INTO waves (wave_id, rollout_id, number, action, check_mode, started_at) "
                       "VALUES (?,?,?,?,1,?)", (wave_id, rollout_id, number, action, now))
            return number
        with self._write() as db:
            self._sweep_in_tx(db, now)
            number = db.execute("SELECT COUNT(*) FROM waves WHERE rollout_id = ?", (rollout_id,)).fetchone()[0] + 1
            db.execute("INSERT INTO waves (wave_id, rollout_id, number, action, check_mode, started_at, owner) "
                       "VALUES (?,?,?,?,0,?,?)", (wave_id, rollout_id, number, action, now, _owner_tag()))
        self._real_waves.add(wave_id)
        return number

    @_guarded("written")
    def finish_wave(self, wave_id, results, summary, now=None):
        """Store every host's result of a wave (``{host: result dict}``) and its summary.

        Deferred transitions are written first (same transaction), waiting for the lock up to
        the bounded wait.
        """
        now = time.time() if now is None else now
        rows = [(wave_id, host, res.get("client_uuid"), res.get("command_id"), json.dumps(res, sort_keys=True))
                for host, res in results.items()]
        scratch = self._wave_db(wave_id)
        if scratch is not None:
            self._store_wave(scratch, rows, summary, now, wave_id)
            return
        self.flush_deferred()
        with self._write() as db:
            self._store_wave(db, rows, summary, now, wave_id)

    @staticmethod
    def _store_wave(db, rows, summary, now, wave_id):
        db.executemany("INSERT OR REPLACE INTO wave_hosts (wave_id, host, client_uuid, command_id, result) "
                       "VALUES (?,?,?,?,?)", rows)
        db.execute("UPDATE waves SET finished_at = ?, summary = ? WHERE wave_id = ?",
                   (now, json.dumps(summary, sort_keys=True), wave_id))

    @_guarded("written")
    def set_gate(self, wave_id, gate):
        scratch = self._wave_db(wave_id)
        if scratch is not None:
            scratch.execute("UPDATE waves SET gate = ? WHERE wave_id = ?", (json.dumps(gate, sort_keys=True), wave_id))
            return
        with self._write() as db:
            db.execute("UPDATE waves SET gate = ? WHERE wave_id = ?", (json.dumps(gate, sort_keys=True), wave_id))

    @_guarded("read")
    def wave(self, wave_id):
        row = self._rows("SELECT * FROM waves WHERE wave_id = ?", (wave_id,), one=True, db=self._wave_db(wave_id))
        if row is None:
            return None
        wave = dict(row)
        for name in ("summary", "gate"):
            wave[name] = json.loads(wave[name]) if wave[name] else None
        wave["check_mode"] = bool(wave["check_mode"])
        wave["started_at"] = iso(wave["started_at"])
        wave["finished_at"] = iso(wave["finished_at"])
        return wave

    @_guarded("read")
    def wave_results(self, wave_id):
        rows = self._rows("SELECT host, result FROM wave_hosts WHERE wave_id = ?", (wave_id,),
                          db=self._wave_db(wave_id))
        return {row["host"]: json.loads(row["result"]) for row in rows}

    @_guarded("read")
    def wave_host_result(self, wave_id, host):
        row = self._rows("SELECT result FROM wave_hosts WHERE wave_id = ? AND host = ?", (wave_id, host), one=True,
                         db=self._wave_db(wave_id))
        return json.loads(row["result"]) if row else None

    # -- queries --------------------------------------------------------------------------

    @_guarded("read")
    def command(self, command_id, with_transitions=False):
        row = self._rows("SELECT * FROM commands WHERE command_id = ?", (command_id,), one=True)
        if row is None:
            return None
        found = self._command_dict(row)
        if with_transitions:
            found["transitions"] = self.transitions(command_id)
        return found

    @_guarded("read")
    def transitions(self, command_id):
        rows = self._rows("SELECT state, at, detail FROM transitions WHERE command_id = ? ORDER BY id", (command_id,))
        return [{"state": r["state"], "at": iso(r["at"]), "at_epoch": r["at"], "detail": r["detail"]} for r in rows]

    @_guarded("read")
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
        found = [self._command_dict(row) for row in self._rows(sql, args)]
        if with_transitions:
            for item in found:
                item["transitions"] = self.transitions(item["command_id"])
        return found

    @_guarded("read")
    def overrides(self, client_uuid=None):
        sql, args = "SELECT * FROM overrides", ()
        if client_uuid:
            sql, args = sql + " WHERE client_uuid = ?", (client_uuid,)
        return [dict(row, at=iso(row["at"])) for row in self._rows(sql + " ORDER BY id", args)]

    @staticmethod
    def _command_dict(row):
        found = dict(row)
        found.pop("seq", None)  # PostgreSQL's stand-in for SQLite's rowid
        found["payload"] = json.loads(found["payload"]) if found.get("payload") else None
        for name in ("issued_at", "expires_at", "finished_at", "eligible_at"):
            found[name + "_epoch"] = found[name]
            found[name] = iso(found[name])
        return found
