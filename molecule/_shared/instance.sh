#!/usr/bin/env bash
# Mount or tear down one chroot instance. Prints changed=0|1 for Ansible.
#   instance.sh mount ROOT    mount /proc, /sys, /dev, /dev/pts into ROOT
#   instance.sh destroy ROOT  kill processes chrooted into ROOT, unmount, remove ROOT
set -euo pipefail
action="$1"
root="$(realpath -m "$2")"
below() { awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r; }

case "$action" in
  mount)
    changed=0
    for fs in proc sys dev dev/pts; do
      mountpoint -q "$root/$fs" && continue
      case "$fs" in
        proc) mount -t proc proc "$root/proc" ;;
        sys) mount -t sysfs sysfs "$root/sys" ;;
        dev) mount --bind /dev "$root/dev" ;;
        dev/pts) mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666 ;;
      esac
      changed=1
    done
    echo "changed=$changed"
    ;;
  destroy)
    [ -d "$root" ] || { echo "changed=0"; exit 0; }
    # A daemon that a scenario forgot to stop keeps the mounts busy.
    for proc in /proc/[0-9]*; do
      if [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ]; then kill -9 "${proc#/proc/}" 2>/dev/null || true; fi
    done
    for mnt in $(below); do umount -l "$mnt"; done
    # Deleting through a bind mount would delete the host's /dev: refuse while anything is mounted.
    if [ -n "$(below)" ]; then
      echo "still mounted below $root:" >&2
      below >&2
      exit 1
    fi
    rm -rf --one-file-system "$root"
    echo "changed=1"
    ;;
  *)
    echo "usage: $0 mount|destroy ROOT" >&2
    exit 2
    ;;
esac
