#!/usr/bin/env bash
# Print the path of a cached Debian 12 root filesystem tarball for molecule instances,
# building it with debootstrap first when it is missing (about a minute, ~100 MB).
# The cache lives outside the repository: $INFOSCREEN_ROOTFS_CACHE or
# /var/cache/infoscreen-fleet/molecule. Concurrent callers wait on one build (flock).
set -euo pipefail
CACHE="${INFOSCREEN_ROOTFS_CACHE:-/var/cache/infoscreen-fleet/molecule}"
MIRROR="${INFOSCREEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What every scenario needs: python for Ansible, systemd for systemd-analyze verify,
# sudo/visudo for the agent role, udev for udevadm, openssl for TLS test material.
INCLUDE="python3,python3-venv,python3-apt,systemd,sudo,udev,ca-certificates,openssl,procps"
key="$(printf '%s|%s' "$INCLUDE" "bookworm" | sha256sum | cut -c1-12)"
tarball="$CACHE/debian12-$key.tar.gz"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap missing: run scripts/bootstrap.sh" >&2; exit 1; }
  build="$(mktemp -d "$CACHE/build.XXXXXX")"
  trap 'rm -rf "$build"' EXIT
  echo "building Debian 12 rootfs with debootstrap into $build" >&2
  debootstrap --variant=minbase --include="$INCLUDE" bookworm "$build/root" "$MIRROR" >"$build/debootstrap.log" 2>&1 \
    || { tail -20 "$build/debootstrap.log" >&2; exit 1; }
  # Package scripts must not start services inside a chroot.
  printf '#!/bin/sh\nexit 101\n' >"$build/root/usr/sbin/policy-rc.d"
  chmod 0755 "$build/root/usr/sbin/policy-rc.d"
  rm -rf "$build/root/var/cache/apt/archives/"*.deb "$build/root/var/lib/apt/lists/"*
  tar -C "$build/root" -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
echo "$tarball"
