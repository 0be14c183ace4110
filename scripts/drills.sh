#!/usr/bin/env bash
# Fleet-scale and fault drills (issue 9): set up (scripts/bootstrap.sh), then run the drill
# runner with the given options and print the table. Not part of scripts/test.sh: a full run
# takes 10-20 minutes on a 2-core machine. Report and figures: docs/drills.md.
#   scripts/drills.sh                       # every drill, full size
#   scripts/drills.sh --quick               # smaller sizes, a few minutes
#   scripts/drills.sh --only scale --sizes 100,250,500,1000 --markdown /tmp/drills.md
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec python -m drills "$@"
