# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Versioned SSD profile state: per-version backups, the applied-version fact, rollback.

Layout under ``state_dir``::

    versions/<n>/manifest.json   {"version", "previous_version", "files": [{path, existed, mode, backup}]}
    versions/<n>/files/<i>       copy of files[i] as it was before version n was applied

The fact file (``<facts_dir>/infoscreen_ssd.fact``, JSON) says which version is applied.
Applying n takes the backups once (a re-run must not overwrite the "before" copies with n's
own files); rolling n back restores them byte for byte, records n's predecessor and deletes
``versions/<n>`` so a later apply backs up afresh. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import stat
import tempfile

FACT_NAME = "infoscreen_ssd.fact"


class VersionStateError(ValueError):
    """The state on disk does not allow the requested step; nothing was changed."""


def fact_path(facts_dir):
    return os.path.join(facts_dir, FACT_NAME)


def _read_json(path, what):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError):
        return None
    except ValueError as exc:
        raise VersionStateError("%s %s is not valid JSON (%s); fix or remove it by hand" % (what, path, exc)) from None


def read_state(facts_dir):
    """The applied-version fact, ``{}`` when none was written yet."""
    return _read_json(fact_path(facts_dir), "state file") or {}


def version_dir(state_dir, version):
    return os.path.join(state_dir, "versions", str(version))


def read_manifest(state_dir, version):
    return _read_json(os.path.join(version_dir(state_dir, version), "manifest.json"), "manifest")


def _write_atomic(path, data, mode):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".ssd-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def snapshot(state_dir, version, files, previous_version, check_mode=False):
    """Back up ``files`` for ``version`` unless that version already has backups.

    Returns ``(changed, manifest)``.
    """
    existing = read_manifest(state_dir, version)
    if existing is not None:
        return False, existing
    manifest = {"version": int(version), "previous_version": previous_version, "files": []}
    for index, path in enumerate(files):
        entry = {"path": path, "existed": os.path.isfile(path), "mode": "0644", "backup": "files/%d" % index}
        if entry["existed"]:
            entry["mode"] = "%04o" % stat.S_IMODE(os.stat(path).st_mode)
        manifest["files"].append(entry)
    if check_mode:
        return True, manifest
    target = version_dir(state_dir, version)
    os.makedirs(os.path.join(target, "files"), mode=0o700, exist_ok=True)
    os.chmod(state_dir, 0o700)
    for entry in manifest["files"]:
        if entry["existed"]:
            _write_atomic(os.path.join(target, entry["backup"]), _read_bytes(entry["path"]), 0o600)
    # The manifest is written last: its presence means the backups are complete.
    _write_atomic(os.path.join(target, "manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode(), 0o600)
    return True, manifest


def pending_reboot(state, boot_id, changed_now):
    """A reboot is pending when boot files changed now, or earlier in this same boot."""
    if changed_now:
        return True
    return bool(state.get("reboot_required")) and bool(boot_id) and state.get("reboot_required_boot_id") == boot_id


def write_fact(facts_dir, fact, check_mode=False):
    """Write the fact file when its content differs; returns changed."""
    data = (json.dumps(fact, indent=4, sort_keys=True) + "\n").encode()
    path = fact_path(facts_dir)
    try:
        if _read_bytes(path) == data:
            return False
    except (IOError, OSError):
        pass
    if not check_mode:
        if not os.path.isdir(facts_dir):
            os.makedirs(facts_dir, mode=0o755)
        _write_atomic(path, data, 0o644)
    return True


def record(state_dir, facts_dir, version, boot_id, changed_now, *, extra=None, check_mode=False):
    """Record ``version`` as applied. Returns ``(changed, fact)``."""
    state = read_state(facts_dir)
    manifest = read_manifest(state_dir, version)
    if manifest is not None:
        previous = manifest.get("previous_version")
    elif state.get("profile_version") == int(version):
        previous = state.get("previous_version")
    else:
        previous = state.get("profile_version")
    reboot = pending_reboot(state, boot_id, changed_now)
    fact = {
        "profile_version": int(version),
        "previous_version": previous,
        "state_dir": state_dir,
        "reboot_required": reboot,
        "reboot_required_boot_id": boot_id if reboot else None,
    }
    fact.update(extra or {})
    return write_fact(facts_dir, fact, check_mode), fact


def rollback(state_dir, facts_dir, boot_id, boot_dir, check_mode=False):
    """Roll the applied version back. Returns a result dict (see the pi_ssd_versions module)."""
    state = read_state(facts_dir)
    applied = state.get("profile_version")
    result = {"changed": False, "rolled_back_from": applied, "profile_version": applied, "restored": [],
              "removed": [], "reboot_required": False, "eeprom_before": None}
    if applied is None:
        result["msg"] = "no profile version is applied; nothing to roll back"
        return result
    manifest = read_manifest(state_dir, applied)
    if manifest is None:
        raise VersionStateError(
            "profile version %s is applied but its backups (%s/manifest.json) are missing, so rolling back"
            " cannot be done safely. Restore the files by hand. Nothing was changed"
            % (applied, version_dir(state_dir, applied)))
    source = version_dir(state_dir, applied)
    for entry in manifest["files"]:
        backup = os.path.join(source, entry["backup"])
        if entry["existed"] and not os.path.isfile(backup):
            raise VersionStateError("backup %s of %s is missing; nothing was changed" % (backup, entry["path"]))
    boot_prefix = boot_dir.rstrip("/") + "/"
    for entry in manifest["files"]:
        path = entry["path"]
        if entry["existed"]:
            data = _read_bytes(os.path.join(source, entry["backup"]))
            current = _read_bytes(path) if os.path.isfile(path) else None
            if current != data:
                result["restored"].append(path)
                if not check_mode:
                    _write_atomic(path, data, int(entry["mode"], 8))
        elif os.path.lexists(path):
            result["removed"].append(path)
            if not check_mode:
                os.unlink(path)
    eeprom_before = os.path.join(source, "eeprom-before.conf")
    if os.path.isfile(eeprom_before):
        result["eeprom_before"] = eeprom_before
    previous = manifest.get("previous_version")
    previous_manifest = read_manifest(state_dir, previous) if previous is not None else None
    # Staging the kept EEPROM configuration again (the role does it) also needs a reboot.
    reboot = any(p.startswith(boot_prefix) for p in result["restored"]) or result["eeprom_before"] is not None
    fact = {
        "profile_version": previous,
        "previous_version": (previous_manifest or {}).get("previous_version"),
        "state_dir": state_dir,
        "reboot_required": pending_reboot(state, boot_id, reboot),
        "rolled_back_from": applied,
    }
    fact["reboot_required_boot_id"] = boot_id if fact["reboot_required"] else None
    if not check_mode:
        write_fact(facts_dir, fact)
        if result["eeprom_before"] is None:
            shutil.rmtree(source)
    result.update(changed=True, profile_version=previous, reboot_required=fact["reboot_required"], fact=fact)
    return result


def drop_version(state_dir, version):
    """Delete a rolled-back version's backups (after the EEPROM restore used them)."""
    path = version_dir(state_dir, version)
    if os.path.isdir(path):
        shutil.rmtree(path)
        return True
    return False
