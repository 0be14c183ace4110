# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File helpers shared by the pi_cmdline and pi_config_txt modules: strict read, atomic write."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_native


def read_text(module, path, label):
    if not os.path.isfile(path):
        module.fail_json(
            msg="%s %s is missing; nothing was changed. Check the boot partition is mounted" % (label, path))
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return data.decode("utf-8")
    except UnicodeDecodeError:
        module.fail_json(msg="%s %s is not UTF-8 text; nothing was changed. Fix it by hand" % (label, path))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s %s: %s; nothing was changed" % (label, path, to_native(exc)))
    return None


def write_atomic(module, path, text):
    """Write next to ``path`` and rename over it, so a crash never leaves half a line."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".ansible-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(text))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def finish_edit(module, path, text, new_text, changed, **result):
    """Exit the module: on change keep a backup (when asked) and write atomically, with a diff."""
    result["changed"] = changed
    if changed:
        result["diff"] = {"before": text, "after": new_text, "before_header": path, "after_header": path}
        if not module.check_mode:
            if module.params["backup"]:
                result["backup_file"] = module.backup_local(path)
            write_atomic(module, path, new_text)
    module.exit_json(**result)
