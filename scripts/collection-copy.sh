#!/usr/bin/env bash
# Copy this checkout to DEST/ansible_collections/infoscreen/fleet and print that path.
# ansible-test and antsibull-docs want the collection at a real path ending in
# ansible_collections/infoscreen/fleet: they resolve the working directory, so the symlink
# scripts/bootstrap.sh makes under .cache/collections leads back to this checkout and is
# refused. The copy holds the files git knows (tracked, plus new ones not ignored), as they
# are in the working tree. Usage: scripts/collection-copy.sh DEST
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:?usage: scripts/collection-copy.sh DEST}/ansible_collections/infoscreen/fleet"
rm -rf "$dest" && mkdir -p "$dest"
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$dest"
# A git repository of its own: ansible-test and antsibull-docs list files with git when they
# are inside a work tree, and inside this checkout (where the copy is ignored) they would find
# nothing to check and pass.
git -C "$dest" init -q
git -C "$dest" add --all
git -C "$dest" -c user.name=collection-copy -c user.email=collection-copy@localhost commit -q -m copy
echo "$dest"
