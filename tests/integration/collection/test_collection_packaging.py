"""The checkout builds as the infoscreen.fleet collection and every plugin documents itself."""

import json
import pathlib
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(sys.executable).parent


def _run(*args, cwd=ROOT):
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.integration
def test_collection_builds_without_local_clutter(tmp_path):
    """The tarball holds the contract schemas, the roles and Galaxy's metadata files, and none
    of the local virtualenvs, caches or artifacts."""
    result = _run("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (tarball,) = tmp_path.glob("infoscreen-fleet-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "MANIFEST.json" in names
    assert "plugins/module_utils/contract/schemas/command.schema.json" in names
    assert "roles/mqtt_broker/defaults/main.yml" in names
    # Galaxy metadata that must travel with the tarball (issue 15).
    assert {"LICENSE", "meta/runtime.yml", "meta/execution-environment.yml", "meta/ee-requirements.txt",
            "bindep.txt", "changelogs/changelog.yaml", "CHANGELOG.md"} <= set(names)
    local_only = {".venv", ".venv-tools", ".cache", ".git", "artifacts", ".hypothesis"}
    clutter = [name for name in names if name.split("/")[0] in local_only]
    assert clutter == []


@pytest.mark.integration
@pytest.mark.parametrize("plugin_type", ["module", "callback", "lookup", "filter"])
def test_every_plugin_renders_in_ansible_doc(plugin_type):
    listing = _run("ansible-doc", "-t", plugin_type, "-l", "infoscreen.fleet", "-j")
    assert listing.returncode == 0, listing.stderr
    names = sorted(json.loads(listing.stdout))
    assert names, f"no {plugin_type} plugins listed"
    rendered = _run("ansible-doc", "-t", plugin_type, "-j", *names)
    assert rendered.returncode == 0, rendered.stderr
    docs = json.loads(rendered.stdout)
    for name in names:
        entry = docs[name]
        assert entry["doc"].get("short_description"), name
        if plugin_type == "module":
            assert entry.get("examples"), f"{name} has no EXAMPLES"
            assert entry.get("return") is not None, f"{name} has no RETURN"
