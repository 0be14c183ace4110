"""The local hold: the signage app or a technician says "not now" (issue 18, docs/agent.md "Hold").

A hold is a small JSON file at ``[agent] hold_path``::

    {"owner": "signage-app", "reason": "live announcement", "since": "2026-12-02T03:00:00Z",
     "until": "2026-12-02T03:20:00Z"}

``until`` is optional: a hold past its ``until`` no longer counts (a crashed app cannot hold a
screen forever). While a hold counts, a reboot-class command (reboot_host, shutdown_host,
restart_app) that the agent accepted waits for it to clear - within the command's validity
and ``hold_max_wait_s`` - then runs, or ends failed/``busy`` naming the hold. The agent never
changes the file; ``infoscreen-agent hold`` / ``release`` write and remove it.

A file that exists but cannot be read as a hold still holds (owner ``unknown``, the problem
as the reason): whoever wrote it meant to hold, and the wait is bounded anyway.
"""

import datetime
import json
import os

OWNER_MAX = 128
REASON_MAX = 500
READ_MAX = 16384  # a hold file is a few hundred bytes; never read a huge one


class HoldError(ValueError):
    """A hold cannot be set or released; the message says what to do."""


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _format(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text):
    if not isinstance(text, str) or not text.strip():
        raise ValueError("not a date-time")
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (use Z or +HH:MM)")
    return moment


def _clip(text, limit):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_hold(path, now=None):
    """The hold in force at ``path``: ``{"owner", "reason", "since"}`` (the health extension's
    shape), or None when there is none (no path, no file, or past its ``until``)."""
    if not path:
        return None
    now = now or _now()
    try:
        with open(path, "rb") as handle:
            raw = handle.read(READ_MAX + 1)
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"owner": "unknown", "reason": _clip(f"hold file {path} cannot be read: {exc.strerror}", REASON_MAX),
                "since": _format(now)}
    since_file = _format(datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc))
    try:
        if len(raw) > READ_MAX:
            raise ValueError(f"longer than {READ_MAX} bytes")
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        owner, reason = data.get("owner"), data.get("reason")
        if not isinstance(owner, str) or not owner.strip():
            raise ValueError("owner is missing")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("reason is missing")
        since = _format(_parse(data["since"])) if data.get("since") is not None else since_file
        if data.get("until") is not None and _parse(data["until"]) <= now:
            return None
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        return {"owner": "unknown", "reason": _clip(f"hold file {path} is not a valid hold ({exc}); it still holds",
                                                    REASON_MAX), "since": since_file}
    return {"owner": _clip(owner, OWNER_MAX), "reason": _clip(reason, REASON_MAX), "since": since}


def describe(hold):
    return f"held by {hold['owner']} since {hold['since']}: {hold['reason']}"


def set_hold(path, owner, reason, *, until=None, for_s=None, now=None):
    """Write the hold file atomically (0644: the agent, running as its own user, reads it)."""
    if not path:
        raise HoldError("no hold path: set [agent] hold_path in the agent config, or pass --path")
    if not owner or not owner.strip() or len(owner) > OWNER_MAX:
        raise HoldError(f"--owner must be 1-{OWNER_MAX} characters (who holds: the app, a technician's name)")
    if not reason or not reason.strip() or len(reason) > REASON_MAX:
        raise HoldError(f"--reason must be 1-{REASON_MAX} characters (why the screen must not be disrupted)")
    now = now or _now()
    body = {"owner": owner.strip(), "reason": reason.strip(), "since": _format(now)}
    if for_s is not None and until is not None:
        raise HoldError("give --for or --until, not both")
    if for_s is not None:
        if for_s <= 0:
            raise HoldError("--for must be a positive number of seconds")
        body["until"] = _format(now + datetime.timedelta(seconds=for_s))
    elif until is not None:
        try:
            moment = _parse(until)
        except ValueError as exc:
            raise HoldError(f"--until {until!r} is not an RFC 3339 date-time with a time zone ({exc})") from None
        if moment <= now:
            raise HoldError(f"--until {until} is in the past")
        body["until"] = _format(moment)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise HoldError(f"directory {directory} does not exist (the agent's hold directory; see docs/agent.md)")
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(body) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return body


def release_hold(path, owner=None):
    """Remove the hold. With ``owner``, only a hold of that owner (another owner's hold stays,
    and the error names it). Returns the hold removed, or None when there was none."""
    if not path:
        raise HoldError("no hold path: set [agent] hold_path in the agent config, or pass --path")
    current = read_hold(path)
    if current is None and not os.path.exists(path):
        return None
    if owner is not None and current is not None and current["owner"] != owner:
        raise HoldError(f"the hold at {path} belongs to {current['owner']!r} ({current['reason']}), not {owner!r}; "
                        "release it without --owner to remove it anyway")
    try:
        os.unlink(path)
    except FileNotFoundError:
        return None
    return current
