#!/usr/bin/env bash
# The documented second command: the same simulated fleet as scripts/demo.sh, with one
# canary client whose reboot helper fails. The drill fails 1 of 2 canary clients (50 % > 5 %),
# the gate fires, the canary is rolled back to the recorded release and confirmed by a second
# drill, wave1 and wave2 are never touched, and canary.yml exits non-zero - as EXPECTED here.
# The HTML report (artifacts/demo-faults/canary-report.html) shows where it went wrong.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export PYTHONPATH="$ROOT/sim${PYTHONPATH:+:$PYTHONPATH}"
rc=0
python -m infoscreen_sim.demo_canary --faults --clients 6 --canary 2 --wave1 2 \
  --report-dir "$ROOT/artifacts/demo-faults" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "demo-faults: canary.yml exited $rc - EXPECTED: the injected fault fired the gate and the canary was rolled back"
else
  echo "demo-faults: UNEXPECTED exit 0 - the gate should have fired" >&2
fi
exit "$rc"
