"""infoscreen.fleet.pi_agent_release: the one module run per host that lays out a client's
releases and switches its pointers (what ten file/stat/find tasks of the role did before).

Runs the module file as Ansible runs it (a JSON args file), on scratch directories."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODULE = Path(__file__).resolve().parents[3] / "plugins" / "modules" / "pi_agent_release.py"


def run(tmp_path, **args):
    path = tmp_path / f"args-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, str(MODULE), str(path)], capture_output=True, text=True, check=False)
    return json.loads(proc.stdout)


def releases(tmp_path, *names):
    base = tmp_path / "opt" / "infoscreen-agent" / "releases"
    for number, name in enumerate(names):
        (base / name / "venv").mkdir(parents=True)
        (base / name / ".complete").write_text(name + "\n")
        os.utime(base / name, (1_000_000 + number, 1_000_000 + number))  # older first
    return base


def test_switch_keeps_previous_and_prunes_beyond_keep(tmp_path):
    base = releases(tmp_path, "1", "2", "3", "4", "5")
    install = base.parent
    os.symlink("releases/4", install / "current")
    os.symlink("releases/3", install / "previous")

    result = run(tmp_path, state="switch", releases=str(base), version="5", prune=True, keep=3, context="pi-1")

    assert result["changed"] is True and result["previous"] == "4", result
    assert os.readlink(install / "current") == "releases/5"
    assert os.readlink(install / "previous") == "releases/4"
    # current (5) and previous (4) are pinned; one more, the newest other (3), is kept.
    assert sorted(p.name for p in base.iterdir()) == ["3", "4", "5"]
    assert sorted(Path(p).name for p in result["pruned"]) == ["1", "2"]
    again = run(tmp_path, state="switch", releases=str(base), version="5", prune=True, keep=3)
    assert again["changed"] is False, again


def test_a_missing_release_fails_naming_host_and_variable_and_leaves_current(tmp_path):
    base = releases(tmp_path, "1")
    (base / "2").mkdir()  # interrupted install: no .complete marker
    os.symlink("releases/1", base.parent / "current")

    result = run(tmp_path, state="switch", releases=str(base), version="2", context="pi-1",
                 variable="pi_agent_rollback_release")

    assert result["failed"] is True
    assert result["msg"].startswith("pi-1: pi_agent_rollback_release: release 2 does not exist (or is incomplete)")
    assert "present: 1, 2" in result["msg"] and "current is unchanged" in result["msg"]
    assert os.readlink(base.parent / "current") == "releases/1"


def test_an_empty_version_means_previous_and_fails_without_one(tmp_path):
    base = releases(tmp_path, "1", "2")
    os.symlink("releases/2", base.parent / "current")
    failed = run(tmp_path, state="check", releases=str(base), context="pi-1")
    assert failed["failed"] is True and "pi-1: pi_agent_rollback_release is empty and there is no previous" in (
        failed["msg"])
    os.symlink("releases/1", base.parent / "previous")
    assert run(tmp_path, state="check", releases=str(base))["version"] == "1"


def test_layout_creates_dirs_with_modes_and_links_a_shared_release(tmp_path):
    base = tmp_path / "root" / "opt" / "infoscreen-agent" / "releases"
    cache = tmp_path / "cache" / "1.0.0"
    cache.mkdir(parents=True)
    config = tmp_path / "root" / "etc" / "infoscreen-agent"

    result = run(tmp_path, state="layout", releases=str(base), version="1.0.0", link_to=str(cache),
                 dirs=[{"path": str(base), "mode": "0755"}, {"path": str(config), "mode": "0750"}])

    assert result["changed"] is True, result
    assert oct(base.stat().st_mode & 0o777) == "0o755"
    assert oct(base.parent.stat().st_mode & 0o777) == "0o755"  # a missing parent gets the same mode
    assert oct(config.stat().st_mode & 0o777) == "0o750"
    assert os.readlink(base / "1.0.0") == str(cache)
    assert run(tmp_path, state="layout", releases=str(base), version="1.0.0", link_to=str(cache),
               dirs=[{"path": str(base), "mode": "0755"}])["changed"] is False
