#!/usr/bin/env bash
# The test command: sets up what it needs (scripts/bootstrap.sh), then runs the linters,
# the pytest suite (unit + integration against real mosquitto/snmpsim/agents) and every
# molecule scenario, plus the collection checks Galaxy and the Ansible community apply
# (galaxy-importer, antsibull-changelog lint, ansible-builder create; tools from
# scripts/tools-venv.sh), ansible-test sanity and antsibull-docs lint, and the oldest supported
# ansible-core (2.18: sanity and the unit tests; .venv has the newest, 2.19); every stage
# runs, failures are summed up at the end.
# Usage: scripts/test.sh [lint|galaxy|changelog|ee|sanity|docs|core218|pytest|molecule]...
# (default: all of them, in that order; docs/sanity.md has the sanity figures and times).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT" || exit 1
stages=("$@")
((${#stages[@]})) || stages=(lint galaxy changelog ee sanity docs core218 pytest molecule)
mkdir -p artifacts

run_lint() {
  echo "== ruff"
  ruff check . || return 1
  echo "== ansible-lint (production profile, whole repository; settings in .ansible-lint)"
  ansible-lint --profile production || return 1
}

run_galaxy() {
  echo "== galaxy-importer on the built tarball (scripts/galaxy-check.sh)"
  "$ROOT/scripts/galaxy-check.sh" "$ROOT/artifacts/galaxy" || return 1
}

run_changelog() {
  # shellcheck source=scripts/tools-venv.sh
  source "$ROOT/scripts/tools-venv.sh" || return 1
  echo "== antsibull-changelog lint (fragments) and lint-changelog-yaml"
  "$TOOLS_VENV/bin/antsibull-changelog" lint || return 1
  "$TOOLS_VENV/bin/antsibull-changelog" lint-changelog-yaml changelogs/changelog.yaml || return 1
  # Fragments no release section took yet (keep_fragments: true; docs/conventions.md): said,
  # not failed - work in progress adds fragments before the release section is (re)cut.
  "$TOOLS_VENV/bin/python" - <<'PY' || return 1
import pathlib, yaml
releases = yaml.safe_load(pathlib.Path("changelogs/changelog.yaml").read_text())["releases"]
taken = {name for release in releases.values() for name in release.get("fragments") or []}
left = sorted(p.name for p in pathlib.Path("changelogs/fragments").glob("*.y*ml") if p.name not in taken)
version = yaml.safe_load(pathlib.Path("galaxy.yml").read_text())["version"]
if left:
    print(f"changelog: {len(left)} fragment(s) in no release section yet ({', '.join(left)}); "
          f"scripts/changelog-release.sh takes them into release {version}")
PY
}

run_ee() {
  # shellcheck source=scripts/tools-venv.sh
  source "$ROOT/scripts/tools-venv.sh" || return 1
  # execution-environment.yml copies the collection tarball from artifacts/galaxy/; built
  # again here (2 s) so the context never holds a stale one.
  "$TOOLS_VENV/bin/ansible-galaxy" collection build --force --output-path artifacts/galaxy >/dev/null || return 1
  echo "== ansible-builder introspect: what an EE takes from meta/execution-environment.yml"
  local deps
  deps="$("$TOOLS_VENV/bin/ansible-builder" introspect --sanitize .cache/collections)" || return 1
  echo "$deps"
  # Exactly the controller packages: without meta/execution-environment.yml ansible-builder
  # would take the root requirements.txt, test tools (molecule, pytest, ...) included.
  local want got
  want="$(grep -Eo '^[A-Za-z0-9_.-]+' meta/ee-requirements.txt | sort)"
  got="$(sed -n '/^python:/,/^system:/p' <<<"$deps" | grep -Eo "^- '[A-Za-z0-9_.-]+" | cut -c4- | sort)"
  [ "$got" = "$want" ] || { echo "EE python requirements are [$got], expected meta/ee-requirements.txt: [$want]"; return 1; }
  echo "== ansible-builder create (build context only, no image)"
  rm -rf artifacts/ee-context
  "$TOOLS_VENV/bin/ansible-builder" create -f execution-environment.yml -c artifacts/ee-context || return 1
  test -s artifacts/ee-context/_build/requirements.txt || return 1
}

run_docs() {
  # shellcheck source=scripts/tools-venv.sh
  source "$ROOT/scripts/tools-venv.sh" || return 1
  echo "== antsibull-docs lint-collection-docs --plugin-docs (plugins and role argument specs)"
  # One copy per run (scripts/sanity.sh says why), removed when the lint is done.
  local base="$ROOT/artifacts/docs-lint/run-$$" copy status=0
  copy="$("$ROOT/scripts/collection-copy.sh" "$base")" || return 1
  # community.general (a dependency) comes with the ansible package in the bootstrap's venv
  # (its python is first on PATH here; the tools venv has ansible-core only).
  local bundled
  bundled="$(python -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]))')" || return 1
  (cd "$copy" && PATH="$TOOLS_VENV/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$base:$bundled" \
    "$TOOLS_VENV/bin/antsibull-docs" lint-collection-docs --plugin-docs .) || status=1
  rm -rf "$base"
  return "$status"
}

run_sanity() {
  echo "== ansible-test sanity (offline; scripts/sanity.sh)"
  "$ROOT/scripts/sanity.sh" || return 1
}

run_core218() {
  # The oldest ansible-core requires_ansible admits (meta/runtime.yml), in its own virtualenv
  # from PyPI (scripts/core-venv.sh, requirements-core218.txt). The newest, 2.19, is .venv's:
  # stages sanity and pytest. Python 3.11 cannot install 2.20.
  # shellcheck source=scripts/core-venv.sh
  source "$ROOT/scripts/core-venv.sh" || return 1
  local status=0
  echo "== ansible-core $("$CORE_VENV/bin/python" -c 'import ansible; print(ansible.__version__)'): ansible-test sanity (scripts/sanity.sh)"
  # On the product ansible-core loads (plugins, role modules and argument specs, playbooks,
  # runtime metadata, the EDA source): the harness (tests, sim, drills, bench) and the agent
  # never run inside ansible-core, and their pylint/pep8 findings do not change with its
  # release; the full tree runs in stage sanity (2.19). Saves about half the run.
  local targets=() dir
  for dir in plugins roles playbooks meta extensions; do [ -e "$dir" ] && targets+=("$dir/"); done
  SANITY_VENV="$CORE_VENV" "$ROOT/scripts/sanity.sh" "${targets[@]}" || status=1
  echo "== ansible-core 2.18: unit tests (tests/unit)"
  PATH="$CORE_VENV/bin:$PATH" "$CORE_VENV/bin/python" -m pytest -q -n "${PYTEST_WORKERS:-2}" -p no:cacheprovider \
    --junitxml=artifacts/pytest-core218.xml tests/unit || status=1
  return "$status"
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
