#!/usr/bin/env bash
# The test command: sets up what it needs (scripts/bootstrap.sh), then runs the linters,
# the pytest suite (unit + integration against real mosquitto/snmpsim/agents) and every
# molecule scenario. Usage: scripts/test.sh [lint|pytest|molecule]... (default: all)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
stages=("$@")
((${#stages[@]})) || stages=(lint pytest molecule)
mkdir -p artifacts

run_lint() {
  echo "== ruff"
  ruff check .
  echo "== ansible-lint (production profile)"
  ansible-lint --profile production playbooks roles molecule
}

run_pytest() {
  echo "== pytest"
  python -m pytest -n "${PYTEST_WORKERS:-2}" --junitxml=artifacts/pytest.xml tests
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

for stage in "${stages[@]}"; do
  start=$SECONDS
  "run_$stage"
  echo "== $stage finished in $((SECONDS - start)) s"
done
