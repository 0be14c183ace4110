#!/usr/bin/env bash
# The test command: sets up what it needs (scripts/bootstrap.sh), then runs the linters,
# the pytest suite (unit + integration against real mosquitto/snmpsim/agents) and every
# molecule scenario; every stage runs, failures are summed up at the end. Usage: scripts/test.sh [lint|pytest|molecule]... (default: all)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
stages=("$@")
((${#stages[@]})) || stages=(lint pytest molecule)
mkdir -p artifacts

run_lint() {
  echo "== ruff"
  ruff check . || return 1
  echo "== ansible-lint (production profile)"
  ansible-lint --profile production playbooks roles molecule || return 1
}

run_pytest() {
  echo "== pytest"
  python -m pytest -n "${PYTEST_WORKERS:-2}" --junitxml=artifacts/pytest.xml tests || return 1
}

run_molecule() {
  local scenario failed=()
  for scenario in molecule/*/molecule.yml; do
    scenario="$(basename "$(dirname "$scenario")")"
    echo "== molecule test -s $scenario"
    local start=$SECONDS
    if molecule test -s "$scenario"; then
      echo "molecule $scenario passed in $((SECONDS - start)) s"
    else
      failed+=("$scenario")
    fi
  done
  if ((${#failed[@]})); then
    echo "molecule scenarios failed: ${failed[*]}"
    return 1
  fi
}

failed=()
for stage in "${stages[@]}"; do
  start=$SECONDS
  if "run_$stage"; then
    echo "== $stage passed in $((SECONDS - start)) s"
  else
    echo "== $stage FAILED after $((SECONDS - start)) s"
    failed+=("$stage")
  fi
done
if ((${#failed[@]})); then
  echo "test stages failed: ${failed[*]}"
  exit 1
fi
echo "all test stages passed: ${stages[*]}"
