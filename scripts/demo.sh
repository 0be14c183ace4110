#!/usr/bin/env bash
# The README main command: set up (scripts/bootstrap.sh), bring up a simulated fleet of 40
# Pis (real mosquitto rendered by the mqtt_broker role, real agents) in groups canary (4),
# wave1 (12) and wave2 (24), run `ansible-playbook playbooks/canary.yml` on it to a pass
# (per wave: record, apply the release, reboot drill, gate), write the rollout report
# (console, JSON, self-contained HTML) and bring the fleet down.
# Extra arguments go to `python -m infoscreen_sim.demo_canary` (--clients N, --report-dir DIR, ...).
# The older contract-only demo is still there: `python -m infoscreen_sim.demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export PYTHONPATH="$ROOT/sim${PYTHONPATH:+:$PYTHONPATH}"
exec python -m infoscreen_sim.demo_canary --report-dir "$ROOT/artifacts/demo" "$@"
