"""The pi_cmdline, pi_config_txt and pi_ssd_facts modules, run in-process with real arguments."""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.infoscreen.fleet.plugins.modules import pi_cmdline, pi_config_txt, pi_ssd_facts


def run(module, capsys, monkeypatch, **args):
    args.setdefault("_ansible_remote_tmp", "/tmp")
    args.setdefault("_ansible_keep_remote_files", False)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    with pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize(
    "content",
    [None, "", "root=/dev/sda2\nrootwait\n", 'root=/dev/sda2 x="\n', "console=tty1\n"],
    ids=["missing", "empty", "two-lines", "unbalanced-quote", "no-root"],
)
def test_bad_cmdline_fails_clearly_and_touches_nothing(tmp_path, capsys, monkeypatch, content):
    target = tmp_path / "cmdline.txt"
    if content is not None:
        target.write_text(content)
    (tmp_path / "config.txt").write_text("arm_64bit=1\n")
    before = _snapshot(tmp_path)
    result = run(pi_cmdline, capsys, monkeypatch, path=str(target), present={"rootwait": None})
    assert result["failed"] is True
    assert str(target) in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert _snapshot(tmp_path) == before


def test_bad_config_txt_fails_clearly_and_touches_nothing(tmp_path, capsys, monkeypatch):
    target = tmp_path / "config.txt"
    target.write_text("arm_64bit=1\n<<<<<<< merge conflict\n")
    before = _snapshot(tmp_path)
    result = run(pi_config_txt, capsys, monkeypatch, path=str(target), key="usb_max_current_enable", value="1")
    assert result["failed"] is True
    assert "line 2" in result["msg"] and str(target) in result["msg"]
    assert _snapshot(tmp_path) == before


def test_missing_config_txt_fails(tmp_path, capsys, monkeypatch):
    result = run(pi_config_txt, capsys, monkeypatch, path=str(tmp_path / "config.txt"), key="a", value="1")
    assert result["failed"] is True
    assert "missing" in result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_cmdline_edit_backs_up_and_is_idempotent(tmp_path, capsys, monkeypatch):
    target = tmp_path / "cmdline.txt"
    original = "console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 quiet\n"
    target.write_text(original)
    present = {"rootwait": None, "usb-storage.quirks": "152d:0578:u"}
    first = run(pi_cmdline, capsys, monkeypatch, path=str(target), present=present)
    assert first["changed"] is True
    assert target.read_text() == original.rstrip("\n") + " rootwait usb-storage.quirks=152d:0578:u\n"
    backups = [p for p in tmp_path.iterdir() if p.name != "cmdline.txt"]
    assert [p.read_text() for p in backups] == [original]
    assert first["backup_file"] == str(backups[0])
    second = run(pi_cmdline, capsys, monkeypatch, path=str(target), present=present)
    assert second["changed"] is False
    assert len(list(tmp_path.iterdir())) == 2


def test_cmdline_check_mode_writes_nothing(tmp_path, capsys, monkeypatch):
    target = tmp_path / "cmdline.txt"
    target.write_text("root=/dev/sda2\n")
    result = run(pi_cmdline, capsys, monkeypatch, path=str(target), present={"rootwait": None},
                 _ansible_check_mode=True)
    assert result["changed"] is True
    assert target.read_text() == "root=/dev/sda2\n"
    assert len(list(tmp_path.iterdir())) == 1


def test_cmdline_rejects_a_value_with_spaces(tmp_path, capsys, monkeypatch):
    target = tmp_path / "cmdline.txt"
    target.write_text("root=/dev/sda2\n")
    result = run(pi_cmdline, capsys, monkeypatch, path=str(target), present={"foo": "a b"})
    assert result["failed"] is True
    assert target.read_text() == "root=/dev/sda2\n"


def test_facts_module_returns_facts_and_tuning(ssd_tree, capsys, monkeypatch):
    tree = ssd_tree("usb_uas_trouble")
    result = run(
        pi_ssd_facts, capsys, monkeypatch,
        kernel_log_path=str(tree["kernel_log"]), eeprom_config_path=str(tree["eeprom"]),
        reconnect_seconds=[60, 70, 100], stop_timeout_s=15, **tree["paths"],
    )
    assert result["changed"] is False
    facts = result["ansible_facts"]["infoscreen_ssd"]
    assert facts["bridge"]["id"] == "152d:0578"
    tuning = result["tuning"]
    assert tuning["uas_quirk"]["apply"] is True
    assert tuning["poe_powered"] is True
    assert tuning["bootloader"]["BOOT_ORDER"]["proposed"] == "0xf614"
    assert tuning["reconnect"]["status"] == "warn"


def test_facts_module_poe_override_and_bad_reconnect_input(ssd_tree, capsys, monkeypatch):
    tree = ssd_tree("usb_uas_trouble")
    result = run(pi_ssd_facts, capsys, monkeypatch, kernel_log_path=str(tree["kernel_log"]),
                 eeprom_config_path=str(tree["eeprom"]), poe_powered="false", **tree["paths"])
    assert result["tuning"]["usb_current"] == []
    bad = run(pi_ssd_facts, capsys, monkeypatch, kernel_log_path=str(tree["kernel_log"]),
              eeprom_config_path=str(tree["eeprom"]), reconnect_seconds=["soon"], **tree["paths"])
    assert bad["failed"] is True
    assert "ssd_timeouts_reconnect_seconds[0]" in bad["msg"]


def test_facts_module_fails_on_unparsable_config_txt(ssd_tree, capsys, monkeypatch):
    tree = ssd_tree("usb_clean")
    (tree["root"] / "boot/firmware/config.txt").write_text("this is not config\n")
    result = run(pi_ssd_facts, capsys, monkeypatch, kernel_log_path=str(tree["kernel_log"]),
                 eeprom_config_path=str(tree["eeprom"]), **tree["paths"])
    assert result["failed"] is True
    assert "config.txt line 1" in result["msg"]


def test_versions_module_snapshot_record_rollback(tmp_path, capsys, monkeypatch):
    from ansible_collections.infoscreen.fleet.plugins.modules import pi_ssd_versions

    target = tmp_path / "boot" / "cmdline.txt"
    target.parent.mkdir()
    target.write_text("root=/dev/sda2\n")
    common = {"state_dir": str(tmp_path / "state"), "facts_dir": str(tmp_path / "facts.d"),
              "boot_dir": str(tmp_path / "boot")}
    snap = run(pi_ssd_versions, capsys, monkeypatch, action="snapshot", version=1, files=[str(target)], **common)
    assert snap["changed"] is True
    target.write_text("root=/dev/sda2 rootwait\n")
    rec = run(pi_ssd_versions, capsys, monkeypatch, action="record", version=1, boot_id="b1",
              boot_files_changed=True, **common)
    assert rec["fact"]["profile_version"] == 1 and rec["reboot_required"] is True
    again = run(pi_ssd_versions, capsys, monkeypatch, action="snapshot", version=1, files=[str(target)], **common)
    assert again["changed"] is False
    back = run(pi_ssd_versions, capsys, monkeypatch, action="rollback", boot_id="b1", **common)
    assert back["restored"] == [str(target)]
    assert target.read_text() == "root=/dev/sda2\n"
    assert back["profile_version"] is None


def test_versions_module_refuses_rollback_without_backups(tmp_path, capsys, monkeypatch):
    from ansible_collections.infoscreen.fleet.plugins.modules import pi_ssd_versions

    facts = tmp_path / "facts.d"
    facts.mkdir()
    (facts / "infoscreen_ssd.fact").write_text('{"profile_version": 3}\n')
    result = run(pi_ssd_versions, capsys, monkeypatch, action="rollback", state_dir=str(tmp_path / "state"),
                 facts_dir=str(facts))
    assert result["failed"] is True
    assert "profile version 3 is applied but its backups" in result["msg"]
    assert (facts / "infoscreen_ssd.fact").read_text() == '{"profile_version": 3}\n'
