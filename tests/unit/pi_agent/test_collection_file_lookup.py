"""Lookup infoscreen.fleet.collection_file: the pi_agent role finds its sources inside the collection."""

import os

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.infoscreen.fleet.plugins.lookup.collection_file import COLLECTION_ROOT, LookupModule


def lookup(*terms):
    plugin = LookupModule()
    # The name the plugin loader gives a plugin it loads; ansible-core 2.18 reads the options
    # through it (2.19 sets a default).
    plugin._load_name = "infoscreen.fleet.collection_file"
    return plugin.run(list(terms), variables={})


def test_paths_resolve_inside_the_collection_root():
    """Terms are relative to the collection root (the folder with galaxy.yml), '.' is the root."""
    assert os.path.isfile(os.path.join(COLLECTION_ROOT, "galaxy.yml"))
    assert lookup(".", "agent/helper/infoscreen-helper") == [
        COLLECTION_ROOT, os.path.join(COLLECTION_ROOT, "agent", "helper", "infoscreen-helper")]


@pytest.mark.parametrize("term, message", [
    ("no/such/file", "is not in the installed collection"),
    ("../outside", "leaves the collection"),
    ("/etc/passwd", "must be a path relative to the collection root"),
])
def test_missing_escaping_or_absolute_paths_fail_naming_the_term(term, message):
    """A path that does not exist, leaves the collection or is absolute is an error naming it."""
    with pytest.raises(AnsibleLookupError, match=message) as failure:
        lookup(term)
    assert repr(term) in str(failure.value)
