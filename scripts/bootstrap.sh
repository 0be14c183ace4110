#!/usr/bin/env bash
# Set up everything this project needs on a fresh Debian 12 machine, idempotently:
#   - Debian packages (mosquitto, debootstrap, ...) with apt-get when missing (needs root);
#   - the virtualenv .venv from PyPI (requirements.txt), re-created when requirements change;
#   - the agent package installed editable into .venv;
#   - a collections path that makes this checkout importable as infoscreen.fleet.
# Other scripts source this file; run it alone to just set up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${INFOSCREEN_VENV:-$ROOT/.venv}"
# openjdk-17-jre-headless: ansible-rulebook (fleet watch); postgresql: the throwaway test clusters
# (tests start their own with initdb/pg_ctl; the packaged cluster is never used).
APT_PACKAGES=(mosquitto mosquitto-clients debootstrap python3-venv sudo systemd chromium openjdk-17-jre-headless postgresql)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged broker must not hold port 1883 or run as a service here: every test
  # starts its own mosquitto with the files the broker role renders.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now mosquitto >/dev/null 2>&1 || true
    systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
fi

PYTHON="${PYTHON:-python3}"
stamp="$VENV/.requirements.sha256"
want="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating virtualenv $VENV from PyPI (a few minutes the first time)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -r "$ROOT/requirements.txt"
  "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
  echo "$want" >"$stamp"
fi

# ansible.cfg points collections_path here: the checkout itself is infoscreen.fleet.
coll="$ROOT/.cache/collections/ansible_collections/infoscreen"
mkdir -p "$coll"
[ -L "$coll/fleet" ] || ln -sfn ../../../.. "$coll/fleet"

export PATH="$VENV/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export INFOSCREEN_ROOT="$ROOT"
