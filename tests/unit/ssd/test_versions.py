"""Versioned profile state: backups once per version, fact, rollback (plugins/module_utils/ssd_versions.py)."""

import json
import os

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_versions as sv


@pytest.fixture
def host(tmp_path):
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "cmdline.txt").write_text("root=/dev/sda2 rootwait\n")
    os.chmod(boot / "cmdline.txt", 0o755)
    rule = tmp_path / "etc" / "60.rules"
    rule.parent.mkdir()
    return {
        "state": str(tmp_path / "state"),
        "facts": str(tmp_path / "facts.d"),
        "boot": str(boot),
        "cmdline": boot / "cmdline.txt",
        "rule": rule,
        "files": [str(rule), str(boot / "cmdline.txt")],
    }


def _apply(host, version, rule_text, cmdline_text, boot_id="b1"):
    state = sv.read_state(host["facts"])
    sv.snapshot(host["state"], version, host["files"], state.get("profile_version"))
    host["rule"].write_text(rule_text)
    changed = host["cmdline"].read_text() != cmdline_text
    host["cmdline"].write_text(cmdline_text)
    return sv.record(host["state"], host["facts"], version, boot_id, changed)


def test_snapshot_is_taken_once_per_version(host):
    changed, manifest = sv.snapshot(host["state"], 1, host["files"], None)
    assert changed
    assert [f["existed"] for f in manifest["files"]] == [False, True]
    assert manifest["files"][1]["mode"] == "0755"
    host["cmdline"].write_text("root=/dev/sda2 rootwait quirk\n")
    again, same = sv.snapshot(host["state"], 1, host["files"], None)
    assert again is False
    assert same == manifest
    backup = os.path.join(sv.version_dir(host["state"], 1), "files/1")
    with open(backup) as handle:
        assert handle.read() == "root=/dev/sda2 rootwait\n"
    assert oct(os.stat(backup).st_mode & 0o777) == "0o600"


def test_check_mode_snapshot_writes_nothing(host):
    changed, _unused = sv.snapshot(host["state"], 1, host["files"], None, check_mode=True)
    assert changed
    assert not os.path.exists(host["state"])


def test_record_keeps_a_pending_reboot_until_the_boot_id_changes(host):
    _unused, fact = _apply(host, 1, "rule v1\n", "root=/dev/sda2 rootwait x\n", boot_id="b1")
    assert fact["reboot_required"] and fact["reboot_required_boot_id"] == "b1"
    changed, fact = sv.record(host["state"], host["facts"], 1, "b1", False)
    assert changed is False
    assert fact["reboot_required"]
    changed, fact = sv.record(host["state"], host["facts"], 1, "b2", False)
    assert changed is True
    assert fact["reboot_required"] is False
    assert fact["reboot_required_boot_id"] is None


def test_two_rollbacks_return_to_the_pristine_files(host):
    pristine = host["cmdline"].read_bytes()
    _apply(host, 1, "rule v1\n", "root=/dev/sda2 rootwait q1\n")
    _apply(host, 2, "rule v2\n", "root=/dev/sda2 rootwait q2\n")
    assert sv.read_state(host["facts"])["previous_version"] == 1

    first = sv.rollback(host["state"], host["facts"], "b1", host["boot"])
    assert (first["rolled_back_from"], first["profile_version"]) == (2, 1)
    assert host["rule"].read_text() == "rule v1\n"
    assert host["cmdline"].read_text() == "root=/dev/sda2 rootwait q1\n"
    assert first["reboot_required"] is True
    assert not os.path.exists(sv.version_dir(host["state"], 2))
    assert sv.read_state(host["facts"])["profile_version"] == 1

    second = sv.rollback(host["state"], host["facts"], "b1", host["boot"])
    assert second["profile_version"] is None
    assert second["removed"] == [str(host["rule"])]
    assert not host["rule"].exists()
    assert host["cmdline"].read_bytes() == pristine
    assert oct(os.stat(host["cmdline"]).st_mode & 0o777) == "0o755"

    third = sv.rollback(host["state"], host["facts"], "b1", host["boot"])
    assert third["changed"] is False
    assert "nothing to roll back" in third["msg"]


def test_rollback_without_backups_refuses_and_changes_nothing(host):
    _apply(host, 1, "rule v1\n", "root=/dev/sda2 rootwait q1\n")
    manifest = os.path.join(sv.version_dir(host["state"], 1), "manifest.json")
    os.unlink(manifest)
    before = (host["rule"].read_text(), host["cmdline"].read_text(), sv.read_state(host["facts"]))
    with pytest.raises(sv.VersionStateError, match="missing"):
        sv.rollback(host["state"], host["facts"], "b1", host["boot"])
    assert (host["rule"].read_text(), host["cmdline"].read_text(), sv.read_state(host["facts"])) == before


def test_rollback_only_of_non_boot_files_needs_no_reboot(host):
    sv.snapshot(host["state"], 1, [str(host["rule"])], None)
    host["rule"].write_text("rule v1\n")
    sv.record(host["state"], host["facts"], 1, "b1", False)
    result = sv.rollback(host["state"], host["facts"], "b1", host["boot"])
    assert result["reboot_required"] is False


def test_corrupt_fact_file_is_a_clear_error(host):
    os.makedirs(host["facts"])
    with open(sv.fact_path(host["facts"]), "w") as handle:
        handle.write("{not json")
    with pytest.raises(sv.VersionStateError, match="not valid JSON"):
        sv.read_state(host["facts"])


def test_fact_file_is_json_readable_as_ansible_local_fact(host):
    _apply(host, 1, "rule\n", "root=/dev/sda2 rootwait q\n")
    with open(sv.fact_path(host["facts"])) as handle:
        fact = json.load(handle)
    assert fact["profile_version"] == 1
    assert fact["previous_version"] is None
