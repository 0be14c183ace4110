# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup plugin infoscreen.fleet.collection_file: paths inside the installed collection."""

DOCUMENTATION = r"""
name: collection_file
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Absolute path of a file or folder shipped in the infoscreen.fleet collection
description:
  - Returns, for each term, the absolute path of that path relative to the root of the
    installed C(infoscreen.fleet) collection (the folder holding C(galaxy.yml) or
    C(MANIFEST.json)), on the controller.
  - Used by the C(pi_agent) role to find the agent sources it builds the release wheel from and
    the privileged helper it installs, wherever the collection is installed.
  - Fails, naming the term, when the path does not exist or leaves the collection.
options:
  _terms:
    description: Paths relative to the collection root (C(.) is the root itself).
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Where the agent's privileged helper is
  ansible.builtin.debug:
    msg: "{{ lookup('infoscreen.fleet.collection_file', 'agent/helper/infoscreen-helper') }}"
"""

RETURN = r"""
_raw:
  description: One absolute path per term.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# This file is plugins/lookup/collection_file.py inside the collection.
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        found = []
        for term in terms:
            if not isinstance(term, str) or not term or os.path.isabs(term):
                raise AnsibleLookupError(f"collection_file: {term!r} must be a path relative to the collection root")
            path = os.path.normpath(os.path.join(COLLECTION_ROOT, term))
            if path != COLLECTION_ROOT and not path.startswith(COLLECTION_ROOT + os.sep):
                raise AnsibleLookupError(f"collection_file: {term!r} leaves the collection ({COLLECTION_ROOT})")
            if not os.path.exists(path):
                raise AnsibleLookupError(
                    f"collection_file: {term!r} is not in the installed collection ({COLLECTION_ROOT}); "
                    "reinstall infoscreen.fleet or set the role variable that names this path")
            found.append(path)
        return found
