#!/usr/bin/env bash
# (Re)write the release section of galaxy.yml's version in changelogs/changelog.yaml and
# CHANGELOG.md from the fragments (antsibull-changelog release --update-existing; the tools
# virtualenv, scripts/tools-venv.sh). keep_fragments: true (changelogs/config.yaml): the
# fragment files stay, and changelog.yaml lists which ones each release took, so a fragment
# written later is merged by running this again (docs/conventions.md). antsibull-changelog
# finds the plugins with ansible-doc, which wants the collection at a real
# ansible_collections/infoscreen/fleet path: it runs on a copy (scripts/collection-copy.sh) and
# the two files are copied back. Usage: scripts/changelog-release.sh [VERSION]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tools-venv.sh
source "$ROOT/scripts/tools-venv.sh"
version="${1:-$("$TOOLS_VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$ROOT/galaxy.yml")}"
base="$ROOT/artifacts/changelog-release/run-$$"
trap 'rm -rf "$base"' EXIT
copy="$("$ROOT/scripts/collection-copy.sh" "$base")"
(cd "$copy" && PATH="$TOOLS_VENV/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$base" \
  "$TOOLS_VENV/bin/antsibull-changelog" release --version "$version" --update-existing)
cp "$copy/changelogs/changelog.yaml" "$ROOT/changelogs/changelog.yaml"
cp "$copy/CHANGELOG.md" "$ROOT/CHANGELOG.md"
echo "[changelog-release] release $version written to changelogs/changelog.yaml and CHANGELOG.md" >&2
