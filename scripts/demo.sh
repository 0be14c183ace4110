#!/usr/bin/env bash
# The README main command: set up (scripts/bootstrap.sh), bring up a simulated fleet of 6
# Pis (real mosquitto rendered by the mqtt_broker role, real agents) in groups canary (2),
# wave1 (2) and wave2 (2), install agent 1.0.0 on every client with the pi_agent role
# (playbooks/agent.yml), then run `ansible-playbook playbooks/canary.yml` to a pass, applying
# release 1.1.0 through the roles (per wave: record, apply, reboot drill, gate), write the
# rollout report (console, JSON, self-contained HTML) and bring the fleet down. 6 clients are
# the fewest that still show a canary and two later waves with more than one client each:
# the role runs on every client twice, and its controller cost grows per host.
# Extra arguments go to `python -m infoscreen_sim.demo_canary` (--clients N, --report-dir DIR, ...).
# The older contract-only demo is still there: `python -m infoscreen_sim.demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export PYTHONPATH="$ROOT/sim${PYTHONPATH:+:$PYTHONPATH}"
exec python -m infoscreen_sim.demo_canary --clients 6 --canary 2 --wave1 2 \
  --report-dir "$ROOT/artifacts/demo" "$@"
