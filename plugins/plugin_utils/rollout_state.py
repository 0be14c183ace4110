# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout state that survives interruption: one JSON file per rollout, beside the ledger.

Why a file of its own: the release each client ran BEFORE the rollout must be known for a
rollback even after Ctrl-C or SIGKILL of ansible-playbook. It is written once per client and
rollout, before the first apply (atomically: temporary file, fsync, rename), and a re-run with
the same rollout id reads it back instead of recording again - a client that already got the
new release must never have it recorded as "the release to roll back to".

File: ``<ledger dir>/rollouts/<rollout_id>.json`` (0600; the directory 0700):

    {"schema": "infoscreen.rollout_state/1", "rollout_id", "release", "status",
     "started_at", "updated_at", "runs": n, "finished_at", "reason",
     "clients": {host: {"wave": n, "recorded_at", "recorded": {...what the playbook recorded...}}},
     "waves": {"<n>": {"name", "decision", "reason"}}}

status: ``running`` (started, not finished: an interrupted run leaves it so), ``passed``,
``rolled_back``. Pure Python, no Ansible.
"""

import datetime
import json
import os
import re
import tempfile

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import local_state_dir

SCHEMA = "infoscreen.rollout_state/1"
STATE_SUBDIR = "rollouts"
_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+!_~-]{0,199}$")
FINAL = ("passed", "rolled_back")


class RolloutStateError(Exception):
    """The rollout state forbids going on, or cannot be read/written; the message says what to do."""


def _now_iso(now=None):
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc) if now is not None else \
        datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def state_dir(ledger_path):
    """The folder of the rollout state files for a ledger file (for a PostgreSQL ledger URL: the
    default ledger folder, ledger.local_state_dir; never a folder named after the URL)."""
    return os.path.join(local_state_dir(ledger_path), STATE_SUBDIR)


def state_path(directory, rollout_id):
    if not isinstance(rollout_id, str) or not _ID_RE.match(rollout_id):
        raise RolloutStateError(f"rollout id {rollout_id!r} is not usable as a name (letters, digits, . + ! _ ~ -, "
                                "at most 200 characters, starting with a letter or digit)")
    return os.path.join(directory, f"{rollout_id}.json")


def load(path):
    """The state in ``path``, or None when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RolloutStateError(f"rollout state {path} cannot be read ({exc}); it records the release each client "
                                "ran before this rollout. Repair or remove it by hand, then run again") from None
    if not isinstance(state, dict) or state.get("schema") != SCHEMA:
        raise RolloutStateError(f"rollout state {path} is not a {SCHEMA} file; repair or remove it by hand")
    return state


def save(path, state, now=None):
    state["updated_at"] = _now_iso(now)
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rollout-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise RolloutStateError(f"cannot write the rollout state {path} ({exc}); nothing was applied. Make the "
                                "ledger's folder writable (option ledger / $INFOSCREEN_LEDGER)") from None


def open_rollouts(directory, except_id=None):
    """States with status running (interrupted or still going), other than ``except_id``."""
    found = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return found
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        state = load(os.path.join(directory, name))
        if state and state.get("status") == "running" and state.get("rollout_id") != except_id:
            found.append(state)
    return found


def begin(directory, rollout_id, release, *, now=None, check_mode=False):
    """Start or resume rollout ``rollout_id`` of ``release``; returns (state, message).

    Refuses (RolloutStateError) when another rollout is still open, when this id was started
    for another release, or when this id already finished.
    """
    path = state_path(directory, rollout_id)
    others = open_rollouts(directory, except_id=rollout_id)
    if others:
        other = others[0]
        raise RolloutStateError(
            f"rollout {other['rollout_id']} (release {other.get('release')}) did not finish (interrupted after "
            f"{len(other.get('clients') or {})} client(s) were recorded; state file "
            f"{state_path(directory, other['rollout_id'])}). Resume it first: run canary.yml again with "
            f"-e canary_rollout_id={other['rollout_id']} and the same release (it passes or rolls back to the "
            "releases recorded before it). Nothing was changed")
    state = load(path)
    if state is None:
        state = {"schema": SCHEMA, "rollout_id": rollout_id, "release": release, "status": "running",
                 "started_at": _now_iso(now), "runs": 1, "finished_at": None, "reason": None, "clients": {},
                 "waves": {}}
        if not check_mode:
            save(path, state, now)
        return state, f"rollout {rollout_id}: new; state {path}"
    if state.get("release") != release:
        raise RolloutStateError(
            f"rollout {rollout_id} was started for release {state.get('release')}, not {release} (state file "
            f"{path}); use a new canary_rollout_id for another release. Nothing was changed")
    if state.get("status") in FINAL:
        raise RolloutStateError(
            f"rollout {rollout_id} already finished: {state['status']} at {state.get('finished_at')}"
            f"{' (' + state['reason'] + ')' if state.get('reason') else ''}. To roll release {release} out again, "
            "use a new canary_rollout_id (or leave it empty). Nothing was changed")
    state["runs"] = int(state.get("runs") or 1) + 1
    if not check_mode:
        save(path, state, now)
    return state, (f"rollout {rollout_id}: RESUMING an interrupted run (run {state['runs']}); the release "
                   f"{len(state['clients'])} client(s) ran before the rollout is kept from the first record, "
                   f"so a rollback returns them to it; state {path}")


def record(directory, rollout_id, recorded, wave, *, now=None, check_mode=False):
    """Record what each host runs now, once per rollout: a host already recorded keeps its
    first record. Returns ({host: record in effect}, [hosts newly recorded])."""
    path = state_path(directory, rollout_id)
    state = load(path)
    if state is None:
        if not check_mode:
            raise RolloutStateError(f"rollout {rollout_id} has no state file {path}; it must be begun first "
                                    "(canary.yml's first play). Nothing was applied")
        state = {"clients": {}}
    elif state.get("status") != "running":
        raise RolloutStateError(f"rollout {rollout_id} is {state.get('status')}, not running; nothing was applied")
    new = []
    for host, value in recorded.items():
        if host not in state["clients"]:
            state["clients"][host] = {"wave": wave, "recorded_at": _now_iso(now), "recorded": value}
            new.append(host)
    if new and not check_mode:
        save(path, state, now)
    return {host: state["clients"][host]["recorded"] for host in recorded}, new


def finish(directory, rollout_id, status, *, wave=None, name=None, reason=None, now=None, check_mode=False):
    """Close the rollout (passed | rolled_back), with the wave and why."""
    if status not in FINAL:
        raise RolloutStateError(f"status must be one of {', '.join(FINAL)}, got {status!r}")
    path = state_path(directory, rollout_id)
    state = load(path)
    if state is None or check_mode:
        return state
    state["status"] = status
    state["finished_at"] = _now_iso(now)
    state["reason"] = reason
    if wave is not None:
        state["waves"][str(wave)] = {"name": name, "decision": "stop" if status == "rolled_back" else "continue",
                                     "reason": reason}
    save(path, state, now)
    return state


__all__ = ["RolloutStateError", "begin", "finish", "load", "open_rollouts", "record", "save", "state_dir",
           "state_path"]
