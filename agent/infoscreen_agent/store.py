"""Durable agent state: the dedupe store, the lockout's executions and the pending command.

Files in ``state_dir`` (see docs/agent.md, "State files"):

- ``commands.json``: snapshot of the dedupe entries ``{command_id: entry}`` (the format of
  agent 1.x, so a rolled-back agent still reads it), replaced atomically (temporary file,
  fsync, rename, directory fsync), and ``commands.meta.json`` beside it: ``{"format": 2,
  "trusted_since", "horizon", "executions"}``;
- ``commands.journal``: one JSON line per recorded change since the snapshot, appended, so
  recording a command costs O(that command), not a rewrite of the store. When the journal
  holds ``max_entries`` lines, and when the agent stops, it is folded into a new snapshot
  (amortised O(1) per record);
- ``pending.json``: the one command being executed, written atomically.

Invariants (tests/unit/agent/test_store.py, tests/unit/agent/test_flood.py):

- **Lockout**: every helper invocation is kept in ``executions`` until it is older than
  ``execution_memory_s`` (the lockout window), whatever the dedupe bound evicts. The list
  stays small because the lockout itself refuses more than ``lockout_max`` per window.
- **Bounded**: at most ``max_entries`` dedupe entries (oldest evicted first), each with an
  error message of at most ``MAX_STORED_MESSAGE`` characters; the journal never holds more
  than ``max_entries`` lines.
- **No repeat after forgetting**: the store answers for commands issued after
  ``trusted_since`` (when this record began: a fresh or lost state dir starts it at "now")
  and after ``horizon`` (the newest ``issued_at`` it ever evicted). A command issued before
  either and absent from the store may have run already; the agent refuses it.

A file that is not JSON, or JSON of the wrong shape, is moved aside
(``<name>.corrupt-<time>``) and reported in ``problems``; the store then starts empty with
``trusted_since`` = now. It never raises for bad content. A state dir that cannot be written
makes ``record`` raise ``StoreUnwritable`` (the agent answers ``state_unwritable``) and sets
``writable`` to False until a write succeeds again.
"""

import json
import logging
import math
import os
import tempfile
import time

from .contract import ACK_STATUSES, ACTIONS

LOG = logging.getLogger(__name__)
DEDUPE_FILE = "commands.json"
JOURNAL_FILE = "commands.journal"
META_FILE = "commands.meta.json"
PENDING_FILE = "pending.json"
FORMAT = 2
MAX_STORED_MESSAGE = 512
MAX_PROBLEMS = 10
_PHASES = ("invoking", "helper_done")


class StoreUnwritable(OSError):
    """The state dir refused a write: the command cannot be recorded, so it must not run."""


def atomic_write_json(path, data, mode=0o640):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# shapes ---------------------------------------------------------------------------------
def _num(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _opt_str(value):
    return value is None or isinstance(value, str)


def entry_problem(entry):
    """Why ``entry`` is not a dedupe entry, or None."""
    if not isinstance(entry, dict):
        return f"entry is {type(entry).__name__}, not an object"
    if not (entry.get("action") is None or entry.get("action") in ACTIONS):
        return f"action {str(entry.get('action'))[:40]!r} is unknown"
    if not _num(entry.get("seen_at")):
        return "seen_at is not a number"
    if entry.get("status") not in ACK_STATUSES:
        return f"status {str(entry.get('status'))[:40]!r} is not an ack status"
    for key in ("error_code", "error_message", "digest"):
        if not _opt_str(entry.get(key)):
            return f"{key} is not a string or null"
    for key in ("executed_at", "issued_at"):
        if not (entry.get(key) is None or _num(entry.get(key))):
            return f"{key} is not a number or null"
    return None


def pending_problem(data):
    """Why ``data`` is not a pending command record, or None."""
    from .contract.validation import _UUID_RE  # noqa: PLC0415 - one UUID rule for the contract

    if not isinstance(data, dict):
        return f"pending record is {type(data).__name__}, not an object"
    if not (isinstance(data.get("command_id"), str) and _UUID_RE.match(data["command_id"])):
        return "command_id is not a UUID"
    if data.get("action") not in ACTIONS:
        return f"action {str(data.get('action'))[:40]!r} is unknown"
    if not (isinstance(data.get("boot_id"), str) and data["boot_id"]):
        return "boot_id is not a non-empty string"
    for key in ("invoked_at", "deadline_at"):
        if not _num(data.get(key)):
            return f"{key} is not a number"
    if data.get("phase") not in _PHASES:
        return f"phase {str(data.get('phase'))[:40]!r} is not one of {', '.join(_PHASES)}"
    term = data.get("terminal")
    if term is not None:
        if not isinstance(term, dict) or term.get("status") not in ("completed", "failed"):
            return "terminal is not null or {status: completed|failed, ...}"
        if not (_opt_str(term.get("error_code")) and _opt_str(term.get("error_message"))):
            return "terminal error_code/error_message are not strings or null"
        if term["status"] == "failed" and not (term.get("error_code") and term.get("error_message")):
            return "a failed terminal needs error_code and error_message"
    return None


def _entries_problem(data):
    if not isinstance(data, dict):
        return f"dedupe store is {type(data).__name__}, not an object"
    for cid, entry in data.items():
        problem = entry_problem(entry)
        if problem:
            return f"entry {cid[:40]!r}: {problem}"
    return None


def _meta_problem(data):
    if not isinstance(data, dict):
        return f"meta is {type(data).__name__}, not an object"
    if data.get("format") != FORMAT:
        return f"format {str(data.get('format'))[:20]!r} is not {FORMAT}"
    for key in ("trusted_since", "horizon"):
        if not _num(data.get(key)):
            return f"{key} is not a number"
    executions = data.get("executions")
    if not isinstance(executions, list):
        return "executions is not a list"
    for item in executions:
        if not (isinstance(item, list) and len(item) == 2 and _num(item[0]) and isinstance(item[1], str)):
            return "an execution is not [time, command_id]"
    return None


class StateStore:
    """Dedupe entries keyed by lower-case command_id, the lockout's executions, one pending command.

    A dedupe entry: ``{"action", "seen_at", "status", "error_code", "error_message",
    "executed_at", "issued_at", "digest"}``: status/error_* are the latest ack sent for the
    command, ``executed_at`` is set once the helper was invoked, ``issued_at`` (epoch) and
    ``digest`` (of the payload) tell a replay from a reused command_id.
    """

    def __init__(self, state_dir, retention_s, max_entries, clock=time.time, execution_memory_s=900.0):
        self.state_dir = state_dir
        self.retention_s = retention_s
        self.max_entries = max(1, int(max_entries))
        self.execution_memory_s = max(0.0, float(execution_memory_s))
        self._clock = clock
        self._dedupe_path = os.path.join(state_dir, DEDUPE_FILE)
        self._meta_path = os.path.join(state_dir, META_FILE)
        self._journal_path = os.path.join(state_dir, JOURNAL_FILE)
        self._pending_path = os.path.join(state_dir, PENDING_FILE)
        self.problems = []  # what was wrong with the state files, newest last (health reports it)
        self.writable = True
        self._journal = None  # open append handle
        self._journal_lines = 0
        self._unsynced = False
        self._entries = {}
        self._executions = []  # [[time, command_id]], oldest first
        self.trusted_since = 0.0
        self.horizon = float("-inf")
        try:
            os.makedirs(state_dir, mode=0o750, exist_ok=True)
        except OSError as exc:
            self._note(DEDUPE_FILE, f"state dir {state_dir} cannot be created: {exc.strerror}")
            self.writable = False
        self._load()
        self._prune()

    # loading ----------------------------------------------------------------------------
    def _note(self, name, problem, moved_to=None):
        text = f"{name}: {problem}" + (f" (moved aside to {os.path.basename(moved_to)})" if moved_to else "")
        LOG.error("state file %s", text)
        self.problems.append(text[:300])
        del self.problems[:-MAX_PROBLEMS]

    def _set_aside(self, path, problem):
        target = f"{path}.corrupt-{int(self._clock())}"
        try:
            os.replace(path, target)
        except OSError:
            target = None
        self._note(os.path.basename(path), problem + "; starting with an empty record", target)

    def _read(self, path):
        """(data, ok): ok is False when the file exists but is unreadable or not JSON."""
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle), True
        except FileNotFoundError:
            return None, True
        except (OSError, ValueError, RecursionError) as exc:
            self._set_aside(path, f"unreadable ({str(exc)[:120]})")
            return None, False

    def _load(self):
        now = self._clock()
        entries, entries_ok = self._read(self._dedupe_path)
        if entries is not None and (problem := _entries_problem(entries)):
            self._set_aside(self._dedupe_path, problem)
            entries, entries_ok = None, False
        meta, meta_ok = self._read(self._meta_path)
        if meta is not None and (problem := _meta_problem(meta)):
            self._set_aside(self._meta_path, problem)
            meta, meta_ok = None, False
        self._entries = {cid.lower(): e for cid, e in (entries or {}).items()}
        if meta is not None:
            self.trusted_since, self.horizon = float(meta["trusted_since"]), float(meta["horizon"])
            self._executions = sorted(meta["executions"])
        for cid, entry in self._entries.items():  # agent 1.x kept executions only in the entries
            if entry.get("executed_at") is not None and [entry["executed_at"], cid] not in self._executions:
                self._executions.append([entry["executed_at"], cid])
        self._executions.sort()
        journal_ok = self._replay_journal()
        # Agent 1.x wrote no meta file: its store is trusted as it is. No file at all is a
        # first start or a lost state dir; a file set aside lost records.
        fresh = entries is None and meta is None
        if fresh or not (entries_ok and meta_ok and journal_ok):
            self.trusted_since = now
            if fresh and entries_ok and meta_ok and journal_ok:
                LOG.info("no command record in %s: starting one; commands issued before now are refused",
                         self.state_dir)
        if meta is None or self.trusted_since == now:
            self._compact()

    def _replay_journal(self):
        try:
            with open(self._journal_path, encoding="utf-8") as handle:
                lines = handle.read().split("\n")
        except FileNotFoundError:
            return True
        except (OSError, UnicodeDecodeError) as exc:
            self._set_aside(self._journal_path, f"unreadable ({str(exc)[:120]})")
            return False
        # The last line may be torn by a power loss during an append: that record is lost
        # and never mattered (an append is fsynced before anything depends on it).
        complete, last = lines[:-1], lines[-1]
        for number, line in enumerate(complete, 1):
            try:
                item = json.loads(line)
            except (ValueError, RecursionError):
                item = None
            cid = item.get("id") if isinstance(item, dict) else None
            problem = entry_problem(item.get("e")) if isinstance(cid, str) else "not {id, e}"
            if problem:
                self._set_aside(self._journal_path, f"line {number}: {problem}")
                return False
            self._apply(cid, item["e"])
        if last.strip():
            LOG.warning("ignoring a torn last line in %s", self._journal_path)
        self._journal_lines = len(complete)
        return True

    def _apply(self, cid, entry):
        self._entries[cid] = entry
        executed = entry.get("executed_at")
        if executed is not None and [executed, cid] not in self._executions:
            self._executions.append([executed, cid])
            self._executions.sort()

    # dedupe -----------------------------------------------------------------------------
    def get(self, command_id):
        return self._entries.get(command_id.lower())

    def __contains__(self, command_id):
        return command_id.lower() in self._entries

    def __len__(self):
        return len(self._entries)

    def record(self, command_id, action, status, error_code=None, error_message=None, *, executed=False,
               issued_at=None, digest=None, durable=True):
        """Record the latest ack for a command; raise StoreUnwritable if it cannot be kept on disk.

        ``durable`` records are fsynced before this returns (anything an execution depends
        on); the others are fsynced by the next durable record or ``flush()``.
        """
        now = self._clock()
        cid = command_id.lower()
        old = self._entries.get(cid)
        entry = dict(old) if old else {"action": action, "seen_at": now, "executed_at": None,
                                       "issued_at": issued_at, "digest": digest}
        if isinstance(error_message, str):
            error_message = error_message[:MAX_STORED_MESSAGE]
        entry.update(status=status, error_code=error_code, error_message=error_message)
        if executed and not entry.get("executed_at"):
            entry["executed_at"] = now
        self._apply(cid, entry)
        self._prune()
        self._append(cid, entry, durable)
        return entry

    def executions_since(self, since):
        return sum(1 for at, _cid in self._executions if at >= since)

    def forgotten(self, issued_at):
        """True when a command issued at ``issued_at`` (epoch) predates what this record can vouch for."""
        return issued_at < self.trusted_since - 1.0 or issued_at <= self.horizon

    def _prune(self):
        now = self._clock()
        horizon = now - self.retention_s
        for cid in [c for c, e in self._entries.items() if e.get("seen_at", 0) < horizon]:
            self._evict(cid)
        overflow = len(self._entries) - self.max_entries
        if overflow > 0:
            for cid in sorted(self._entries, key=lambda c: self._entries[c].get("seen_at", 0))[:overflow]:
                self._evict(cid)
        memory = now - self.execution_memory_s
        while self._executions and self._executions[0][0] < memory:
            self._executions.pop(0)

    def _evict(self, cid):
        entry = self._entries.pop(cid)
        issued = entry.get("issued_at")
        if issued is None:
            return
        if entry.get("status") == "failed" and entry.get("executed_at") is None:
            # Never run: a redelivery may be judged again. Capped at when it was seen, so a
            # refused command dated far in the future cannot push the horizon (and refuse
            # every new command) into the future.
            issued = min(issued, entry.get("seen_at", issued))
        self.horizon = max(self.horizon, issued)

    # writing ----------------------------------------------------------------------------
    def _append(self, cid, entry, durable):
        try:
            if self._journal_lines >= self.max_entries:
                self._compact()
            else:
                if self._journal is None:
                    self._journal = open(self._journal_path, "a", encoding="utf-8")  # noqa: SIM115
                    os.chmod(self._journal_path, 0o640)
                self._journal.write(json.dumps({"id": cid, "e": entry}, sort_keys=True, separators=(",", ":"))
                                    + "\n")
                self._journal.flush()
                self._journal_lines += 1
                self._unsynced = True
                if durable:
                    self.flush()
        except OSError as exc:
            self._close_journal()
            if self.writable:
                LOG.error("cannot write the command record in %s: %s", self.state_dir, exc)
            self.writable = False
            raise StoreUnwritable(exc.errno, f"cannot record in {self.state_dir}: {exc.strerror}") from None
        if not self.writable:
            LOG.info("the command record in %s is writable again", self.state_dir)
        self.writable = True

    def flush(self):
        """fsync appended records that are not durable yet (cheap when there are none)."""
        if self._unsynced and self._journal is not None:
            os.fsync(self._journal.fileno())
            self._unsynced = False

    def _close_journal(self):
        if self._journal is not None:
            try:
                self._journal.close()
            except OSError:
                pass
            self._journal = None

    def _compact(self):
        """Fold the journal into a new snapshot (O(max_entries), once per max_entries records)."""
        meta = {"format": FORMAT, "trusted_since": self.trusted_since,
                "horizon": self.horizon if self.horizon != float("-inf") else -1.0,
                "executions": self._executions}
        try:
            atomic_write_json(self._meta_path, meta)
            atomic_write_json(self._dedupe_path, self._entries)
            self._close_journal()
            with open(self._journal_path, "w", encoding="utf-8"):
                pass
        except OSError as exc:
            if self.writable:
                LOG.error("cannot write the command record in %s: %s", self.state_dir, exc)
            self.writable = False
            if self._journal_lines >= self.max_entries:
                raise
            return
        self._journal_lines = 0
        self._unsynced = False
        self.writable = True

    def close(self):
        """On a clean stop: fold the journal into the snapshot (an older agent reads only that)."""
        if self._journal_lines and self.writable:
            try:
                self._compact()
            except OSError as exc:
                LOG.error("cannot fold the command journal into %s: %s", self._dedupe_path, exc)
        self._close_journal()

    # pending ----------------------------------------------------------------------------
    def pending(self):
        data, _ok = self._read(self._pending_path)
        if data is None:
            return None
        problem = pending_problem(data)
        if problem:
            self._set_aside(self._pending_path, problem)
            return None
        return data

    def set_pending(self, pending):
        try:
            atomic_write_json(self._pending_path, pending)
        except OSError as exc:
            self.writable = False
            raise StoreUnwritable(exc.errno, f"cannot record in {self.state_dir}: {exc.strerror}") from None

    def clear_pending(self):
        try:
            os.unlink(self._pending_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            LOG.error("cannot remove %s: %s", self._pending_path, exc)


def read_entries(state_dir):
    """{command_id: entry} as a fresh agent would load them (tests, drills); never moves files."""
    entries = {}
    try:
        with open(os.path.join(state_dir, DEDUPE_FILE), encoding="utf-8") as handle:
            data = json.load(handle)
        if isinstance(data, dict):
            entries.update(data)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(state_dir, JOURNAL_FILE), encoding="utf-8") as handle:
            for line in handle:
                try:
                    item = json.loads(line)
                    entries[item["id"]] = item["e"]
                except (ValueError, KeyError, TypeError):
                    continue
    except OSError:
        pass
    return entries
