#!/usr/bin/env bash
# The tools virtualenv .venv-tools (galaxy-importer, ansible-builder, antsibull-changelog,
# antsibull-docs) from PyPI, pinned in requirements-tools.txt and re-created when that file
# changes. Kept apart from .venv (requirements.txt) so adding or bumping a release tool never
# rebuilds the virtualenv every other test stage runs in. Source it (exports TOOLS_VENV and
# puts nothing on PATH: callers run "$TOOLS_VENV/bin/<tool>") or run it alone to just set up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_VENV="${INFOSCREEN_TOOLS_VENV:-$ROOT/.venv-tools}"
PYTHON="${PYTHON:-python3}"
stamp="$TOOLS_VENV/.requirements.sha256"
want="$(sha256sum "$ROOT/requirements-tools.txt" | cut -d' ' -f1)"
if [ ! -x "$TOOLS_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  printf '[tools-venv] creating %s from PyPI (requirements-tools.txt)\n' "$TOOLS_VENV" >&2
  rm -rf "$TOOLS_VENV"
  # Explicit checks, not set -e: callers source this inside `if`, where set -e is off, and a
  # half-installed venv must never get the stamp that marks it complete.
  if ! { "$PYTHON" -m venv "$TOOLS_VENV" &&
    "$TOOLS_VENV/bin/pip" install -q --upgrade pip >/dev/null &&
    "$TOOLS_VENV/bin/pip" install -q -r "$ROOT/requirements-tools.txt"; }; then
    printf '[tools-venv] installing requirements-tools.txt into %s failed (see pip above)\n' "$TOOLS_VENV" >&2
    rm -rf "$TOOLS_VENV"
    # return when sourced, exit when run (shellcheck cannot know which: SC2317)
    # shellcheck disable=SC2317
    return 1 2>/dev/null || exit 1
  fi
  echo "$want" >"$stamp"
fi
export TOOLS_VENV
