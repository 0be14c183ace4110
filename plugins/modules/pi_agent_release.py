#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module of the pi_agent role: the client's release layout and its current/previous pointers.

One module run per host does what used to take up to ten file/stat/find tasks (create the
directories, link a shared release, check the release is complete, keep the outgoing release
as previous, switch current with one rename(2), prune old releases): the role's controller
cost is per task and host (bench/role_cost.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pi_agent_release
short_description: Layout and current/previous pointers of the pi_agent role's releases
version_added: "0.2.0"
description:
  - Used by the role infoscreen.fleet.pi_agent (roles/pi_agent/tasks); not meant to be called on its own.
  - O(state=layout) creates O(dirs) (missing parents get the same owner and mode) and, with
    O(link_to), makes C(releases/<version>) a link to a release built once elsewhere.
  - O(state=check) resolves the release (O(version), else the one C(previous) names) and fails unless
    its C(.complete) marker exists; nothing changes.
  - O(state=switch) does the check, keeps the outgoing release as C(previous), points C(current) at
    C(releases/<version>) with one rename(2) and, with O(prune), removes releases beyond O(keep)
    (current and previous always stay; a link is removed, never what it points to).
author: infoscreen-fleet maintainers (!UNKNOWN)
options:
  state:
    description: What to do.
    type: str
    choices: [layout, check, switch]
    required: true
  releases:
    description: The releases directory (C(<install dir>/releases)).
    type: path
    required: true
  version:
    description: The release; empty with O(state=check) or O(state=switch) = the one C(previous) names.
    type: str
    default: ''
  dirs:
    description: O(state=layout) directories to create, each with C(path) and optional C(mode), C(owner), C(group).
    type: list
    elements: dict
    default: []
  link_to:
    description: O(state=layout) make C(releases/<version>) a link to this directory.
    type: path
  keep:
    description: O(state=switch) with O(prune) releases kept, at least 2.
    type: int
    default: 3
  prune:
    description: O(state=switch) remove releases beyond O(keep).
    type: bool
    default: false
  context:
    description: Prefix of every failure message (the host).
    type: str
    default: ''
  variable:
    description: The variable that named the release, for the failure message.
    type: str
    default: the release
"""

EXAMPLES = r"""
- name: Make release 1.1.0 current, keep the outgoing one as previous, prune beyond three
  infoscreen.fleet.pi_agent_release:
    state: switch
    releases: /opt/infoscreen-agent/releases
    version: 1.1.0
    prune: true
    keep: 3
"""

RETURN = r"""
version:
  description: The release checked or made current.
  returned: state is check or switch
  type: str
previous:
  description: The release C(current) named before (empty if none).
  returned: state is switch
  type: str
pruned:
  description: Paths removed by O(prune).
  returned: state is switch
  type: list
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule


def _attrs(path, entry):
    return {"path": path, "mode": entry.get("mode"), "owner": entry.get("owner"), "group": entry.get("group"),
            "secontext": [None, None, None, None], "attributes": None}


def _makedirs(module, entry, changed):
    """Create entry['path'] and its missing parents, each with the entry's owner and mode."""
    path = entry["path"].rstrip("/") or "/"
    missing = []
    probe = path
    while not os.path.isdir(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    if module.check_mode:
        return changed or bool(missing)
    for directory in reversed(missing):
        os.mkdir(directory, 0o700)
        changed = True
    for directory in reversed(missing or [path]):
        changed = module.set_fs_attributes_if_different(_attrs(directory, entry), changed)
    return changed


def _link(module, src, dest):
    """Point the link dest at src with one rename(2); True when it changed."""
    if os.path.islink(dest) and os.readlink(dest) == src:
        return False
    if not module.check_mode:
        tmp = f"{dest}.tmp-{os.getpid()}"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(src, tmp)
        os.rename(tmp, dest)
    return True


def _target(path):
    return os.readlink(path) if os.path.islink(path) else None


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": ["layout", "check", "switch"]},
            "releases": {"type": "path", "required": True},
            "version": {"type": "str", "default": ""},
            "dirs": {"type": "list", "elements": "dict", "default": []},
            "link_to": {"type": "path"},
            "keep": {"type": "int", "default": 3},
            "prune": {"type": "bool", "default": False},
            "context": {"type": "str", "default": ""},
            "variable": {"type": "str", "default": "the release"},
        },
        supports_check_mode=True,
    )
    params = module.params
    releases = params["releases"].rstrip("/")
    install = os.path.dirname(releases)
    current, previous = os.path.join(install, "current"), os.path.join(install, "previous")
    prefix = params["context"] + ": " if params["context"] else ""
    changed = False

    if params["state"] == "layout":
        for entry in params["dirs"]:
            changed = _makedirs(module, entry, changed)
        if params["link_to"]:
            if not params["version"]:
                module.fail_json(msg=prefix + "link_to needs the release version")
            dest = os.path.join(releases, params["version"])
            if os.path.isdir(dest) and not os.path.islink(dest) and not module.check_mode:
                shutil.rmtree(dest)  # a release built in place before the shared build was used
            changed = _link(module, params["link_to"].rstrip("/"), dest) or changed
        module.exit_json(changed=changed)

    version = params["version"]
    if not version:
        old_previous = _target(previous)
        if old_previous is None:
            module.fail_json(msg=prefix + "pi_agent_rollback_release is empty and there is no previous release "
                             f"({previous} is missing); name a release to roll back to.")
        version = os.path.basename(old_previous)
    if not os.path.exists(os.path.join(releases, version, ".complete")):
        present = sorted(os.listdir(releases)) if os.path.isdir(releases) else []
        module.fail_json(msg=prefix + f"{params['variable']}: release {version} does not exist (or is incomplete) "
                         f"under {releases}; present: {', '.join(present) or 'none'}. current is unchanged.")
    if params["state"] == "check":
        module.exit_json(changed=False, version=version)

    wanted = "releases/" + version
    outgoing = _target(current)
    if outgoing is not None and outgoing != wanted:
        changed = _link(module, outgoing, previous) or changed
    changed = _link(module, wanted, current) or changed
    pruned = []
    if params["prune"]:
        if params["keep"] < 2:
            module.fail_json(msg=prefix + f"keep={params['keep']} must be at least 2")
        kept_previous = outgoing if outgoing is not None and outgoing != wanted else _target(previous)
        pinned = {version} | ({os.path.basename(kept_previous)} if kept_previous else set())
        others = []
        for name in os.listdir(releases):
            if name not in pinned and not name.startswith("."):
                others.append((os.lstat(os.path.join(releases, name)).st_mtime, name))
        for _mtime, name in sorted(others, reverse=True)[max(params["keep"] - len(pinned), 0):]:
            path = os.path.join(releases, name)
            pruned.append(path)
            if not module.check_mode:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        changed = changed or bool(pruned)
    module.exit_json(changed=changed, version=version, previous=os.path.basename(outgoing) if outgoing else "",
                     pruned=pruned)


if __name__ == "__main__":
    main()
