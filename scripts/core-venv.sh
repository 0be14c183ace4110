#!/usr/bin/env bash
# The virtualenv .venv-core218 with ansible-core 2.18 from PyPI (requirements-core218.txt), re-created
# when that file changes; scripts/test.sh stage core218 runs sanity and the unit tests on it.
# Apart from .venv so the oldest supported ansible-core is tested without touching the
# virtualenv every other stage runs in. Source it (exports CORE_VENV, puts nothing on PATH)
# or run it alone to just set up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORE_VENV="${INFOSCREEN_CORE_VENV:-$ROOT/.venv-core218}"
PYTHON="${PYTHON:-python3}"
stamp="$CORE_VENV/.requirements.sha256"
want="$(cat "$ROOT/requirements-core218.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$CORE_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  printf '[core-venv] creating %s from PyPI (requirements-core218.txt)\n' "$CORE_VENV" >&2
  rm -rf "$CORE_VENV"
  # Explicit checks, not set -e: callers source this inside `if`, where set -e is off, and a
  # half-installed venv must never get the stamp that marks it complete.
  if ! { "$PYTHON" -m venv "$CORE_VENV" &&
    "$CORE_VENV/bin/pip" install -q --upgrade pip >/dev/null &&
    "$CORE_VENV/bin/pip" install -q -r "$ROOT/requirements-core218.txt" &&
    # The agent package, as scripts/bootstrap.sh installs it into .venv (the unit tests import it).
    "$CORE_VENV/bin/pip" install -q --no-deps -e "$ROOT"; }; then
    printf '[core-venv] installing requirements-core218.txt into %s failed (see pip above)\n' "$CORE_VENV" >&2
    rm -rf "$CORE_VENV"
    # return when sourced, exit when run (shellcheck cannot know which: SC2317)
    # shellcheck disable=SC2317
    return 1 2>/dev/null || exit 1
  fi
  echo "$want" >"$stamp"
fi
export CORE_VENV
