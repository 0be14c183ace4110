#!/usr/bin/env bash
# ansible-test sanity on this collection, offline (scripts/test.sh stage sanity; figures in
# docs/sanity.md). ansible-test wants the collection at a real path ending in
# ansible_collections/infoscreen/fleet, so it runs on a copy (scripts/collection-copy.sh);
# its pip bootstrap comes from scripts/sanity-bootstrap.sh instead of the network.
# Usage: scripts/sanity.sh [ansible-test sanity options, e.g. --test pep8]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
"$ROOT/scripts/sanity-bootstrap.sh"
copy="$("$ROOT/scripts/collection-copy.sh" "$ROOT/artifacts/sanity")"
cd "$copy"
ansible-test sanity --local --python 3.11 --color no "$@"
