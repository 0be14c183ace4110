"""One version story: galaxy.yml's version is the release in preparation (or the newest one
cut), and every plugin's version_added is the release that first shipped it - a release in
changelogs/changelog.yaml that lists the plugin as new, or galaxy.yml's version for a plugin
no release has shipped yet. antsibull-changelog builds each release's list of new plugins
from version_added, so a wrong value (poe_port once said 1.0.0 in a 0.1.0 collection) puts
the plugin in the wrong release or in none."""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
CHANGES = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())
RELEASES = CHANGES.get("releases") or {}


def _version(text):
    return tuple(int(part) for part in re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text).groups())


def _docs():
    """(kind, name, version_added) of every module and plugin with documentation."""
    found = []
    for path in sorted((REPO / "plugins").glob("*/*.py")):
        kind = path.parent.name
        if kind in ("module_utils", "plugin_utils", "doc_fragments", "action", "filter"):
            continue  # no documentation of their own (actions are documented by their stubs)
        match = re.search(r'^DOCUMENTATION = r?"""(.*?)"""', path.read_text(), re.S | re.M)
        assert match, f"{path.relative_to(REPO)} has no DOCUMENTATION"
        found.append((kind, path.stem, str(yaml.safe_load(match.group(1)).get("version_added"))))
    for path in sorted((REPO / "plugins" / "filter").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())["DOCUMENTATION"]
        found.append(("filter", doc["name"], str(doc.get("version_added"))))
    return found


def _released_as_new():
    """{(kind, name): release} from changelog.yaml's per-release lists of new modules/plugins."""
    new = {}
    for release, data in RELEASES.items():
        for module in data.get("modules") or []:
            new[("modules", module["name"])] = release
        for kind, plugins in (data.get("plugins") or {}).items():
            for plugin in plugins:
                new[(kind, plugin["name"])] = release
    return new


def test_galaxy_version_is_the_newest_release_or_the_next():
    version = _version(GALAXY["version"])
    assert RELEASES, "changelogs/changelog.yaml has no release"
    assert all(_version(release) <= version for release in RELEASES), (GALAXY["version"], sorted(RELEASES))


def test_every_plugin_was_added_in_its_first_release():
    new = _released_as_new()
    wrong = {}
    for kind, name, added in _docs():
        want = new.get((kind, name), GALAXY["version"])
        if added != want:
            wrong[f"{kind}/{name}"] = f"version_added {added}, expected {want}"
    assert wrong == {}


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_every_plugin_a_release_lists_as_new_exists(release):
    names = {(kind, name) for kind, name, _added in _docs()}
    listed = {key for key, first in _released_as_new().items() if first == release}
    assert sorted(listed - names) == []
