#!/usr/bin/env bash
# The README main command: set up (scripts/bootstrap.sh), bring up a simulated fleet of
# 20 Pis (real mosquitto rendered by the mqtt_broker role, real agents), reboot it through
# the MQTT contract, print per-client ack sequences and reboot times, bring it down.
# Extra arguments go to `python -m infoscreen_sim.demo` (--clients N, --no-faults, ...).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export PYTHONPATH="$ROOT/sim${PYTHONPATH:+:$PYTHONPATH}"
exec python -m infoscreen_sim.demo "$@"
