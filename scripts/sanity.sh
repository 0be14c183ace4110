#!/usr/bin/env bash
# ansible-test sanity on this collection, offline (scripts/test.sh stage sanity; figures in
# docs/sanity.md). ansible-test wants the collection at a real path ending in
# ansible_collections/infoscreen/fleet, so it runs on a copy (scripts/collection-copy.sh);
# its pip bootstrap comes from scripts/sanity-bootstrap.sh instead of the network.
# Usage: scripts/sanity.sh [ansible-test sanity options, e.g. --test pep8]
# SANITY_VENV=DIR runs the ansible-test of another virtualenv (scripts/test.sh stage core218:
# .venv-core218, ansible-core 2.18, from scripts/core-venv.sh); default .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
venv="${SANITY_VENV:-$ROOT/.venv}"
# ansible-test skips its shellcheck test (a warning, no error) when the program is missing:
# installed from Debian like scripts/bootstrap.sh's packages, so the test runs.
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "[sanity] shellcheck is missing; run as root or: sudo apt-get install shellcheck" >&2
    exit 1
  fi
  echo "[sanity] installing the Debian package shellcheck" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null; }
fi
# First on PATH: ansible-test --local --python 3.11 runs the python3.11 it finds there.
export PATH="$venv/bin:$PATH"
INFOSCREEN_VENV="$venv" "$ROOT/scripts/sanity-bootstrap.sh"
# One copy per run (its own folder, removed at exit): engineers run this script at the same
# time in the shared checkout, and a second run re-copying a shared folder pulled the files
# from under the first (pylint: "No module named ...", then ansible-test lost its cwd).
base="$ROOT/artifacts/sanity${SANITY_VENV:+-$(basename "$venv")}/run-$$"
trap 'rm -rf "$base"' EXIT
copy="$("$ROOT/scripts/collection-copy.sh" "$base")"
cd "$copy"
echo "[sanity] $("$venv/bin/ansible-test" --version) on $copy" >&2
status=0
"$venv/bin/ansible-test" sanity --local --python 3.11 --color no "$@" || status=$?
cd "$ROOT"
exit "$status"
