"""Durable agent state: the dedupe store and the pending command, written atomically.

Both live as small JSON files in ``state_dir``. Every write goes to a temporary file in the
same directory, is fsynced and renamed over the old file, so a crash or power loss leaves
either the old or the new content, never a torn file.
"""

import json
import logging
import os
import tempfile
import time

LOG = logging.getLogger(__name__)
DEDUPE_FILE = "commands.json"
PENDING_FILE = "pending.json"


def atomic_write_json(path, data, mode=0o640):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
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


def _read_json(path, default):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        # A damaged file must not stop the agent; keep it aside for a post-mortem.
        LOG.error("state file %s is unreadable (%s); moving it aside and starting empty", path, exc)
        try:
            os.replace(path, f"{path}.corrupt-{int(time.time())}")
        except OSError:
            pass
        return default


class StateStore:
    """Dedupe entries keyed by command_id, plus at most one pending (executing) command.

    A dedupe entry: ``{"action", "seen_at", "status", "error_code", "error_message",
    "executed_at"}`` where status/error_* are the latest ack sent for the command and
    ``executed_at`` is set once the helper was invoked (used by the client lockout).
    """

    def __init__(self, state_dir, retention_s, max_entries, clock=time.time):
        self.state_dir = state_dir
        self.retention_s = retention_s
        self.max_entries = max_entries
        self._clock = clock
        os.makedirs(state_dir, mode=0o750, exist_ok=True)
        self._dedupe_path = os.path.join(state_dir, DEDUPE_FILE)
        self._pending_path = os.path.join(state_dir, PENDING_FILE)
        self._entries = _read_json(self._dedupe_path, {})
        if not isinstance(self._entries, dict):
            self._entries = {}
        self._prune()

    # dedupe -----------------------------------------------------------------------------
    def get(self, command_id):
        return self._entries.get(command_id)

    def __contains__(self, command_id):
        return command_id in self._entries

    def __len__(self):
        return len(self._entries)

    def record(self, command_id, action, status, error_code=None, error_message=None, *, executed=False):
        now = self._clock()
        entry = self._entries.get(command_id) or {"action": action, "seen_at": now, "executed_at": None}
        entry.update(status=status, error_code=error_code, error_message=error_message)
        if executed and not entry.get("executed_at"):
            entry["executed_at"] = now
        self._entries[command_id] = entry
        self._prune()
        atomic_write_json(self._dedupe_path, self._entries)
        return entry

    def executions_since(self, since):
        return sum(1 for e in self._entries.values() if e.get("executed_at") is not None and e["executed_at"] >= since)

    def _prune(self):
        horizon = self._clock() - self.retention_s
        stale = [cid for cid, e in self._entries.items() if e.get("seen_at", 0) < horizon]
        for cid in stale:
            del self._entries[cid]
        overflow = len(self._entries) - self.max_entries
        if overflow > 0:
            # Oldest first; an entry this old is long past any command's validity.
            for cid in sorted(self._entries, key=lambda c: self._entries[c].get("seen_at", 0))[:overflow]:
                del self._entries[cid]

    # pending ----------------------------------------------------------------------------
    def pending(self):
        data = _read_json(self._pending_path, None)
        return data if isinstance(data, dict) and data.get("command_id") else None

    def set_pending(self, pending):
        atomic_write_json(self._pending_path, pending)

    def clear_pending(self):
        try:
            os.unlink(self._pending_path)
        except FileNotFoundError:
            pass
