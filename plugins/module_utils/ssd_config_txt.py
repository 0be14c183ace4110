# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing and minimal editing of a Raspberry Pi ``config.txt`` (and rpi-eeprom-config output).

Both files are ``key=value`` lines grouped by ``[filter]`` sections. We accept only lines
the firmware understands (comments, blanks, sections, ``key=value``, ``include`` and
``initramfs``); anything else means the file is not what we think it is, and we refuse to
edit it rather than guess.

Section handling is deliberately simple: ``[all]`` resets, a model filter such as
``[pi5]`` replaces the current model filter, and every other conditional filter
(``[gpio4=1]``, ``[EDID=...]``, ``[tryboot]``, ``[none]``) is treated as *not* matching, so
a value set only under such a filter is never reported as effective.

Pure functions, standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_SECTION = re.compile(r"^\[([^\[\]]+)\]\s*(#.*)?$")
_KEYVAL = re.compile(r"^([A-Za-z0-9_.\-]+)=(.*)$")
_DIRECTIVE = re.compile(r"^(include|initramfs)\s+\S+.*$")
_MODEL_FILTERS = re.compile(r"^(pi\d+|pi\d+\w*|cm\d+\w*|pi0\w*|pi400|pi500|board-type=\S+)$", re.IGNORECASE)
ALWAYS = "all"


class ConfigTxtError(ValueError):
    """config.txt (or EEPROM config) cannot be parsed, or an edit would break it."""


def parse(text, path="config.txt"):
    """Return a list of entries ``{line, section, key, value}`` (comments and blanks dropped)."""
    if text is None:
        raise ConfigTxtError("%s: file is missing" % path)
    if "\x00" in text:
        raise ConfigTxtError("%s: contains NUL bytes, not a text file" % path)
    entries = []
    section = ALWAYS
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SECTION.match(line)
        if match:
            section = match.group(1).strip()
            continue
        match = _KEYVAL.match(line)
        if match:
            entries.append({"line": number, "section": section, "key": match.group(1), "value": match.group(2)})
            continue
        if _DIRECTIVE.match(line):
            key, value = line.split(None, 1)
            entries.append({"line": number, "section": section, "key": key, "value": value})
            continue
        raise ConfigTxtError(
            "%s line %d: %r is not a comment, a [section] or key=value; fix the file by hand and run again"
            % (path, number, raw[:80])
        )
    return entries


def _applies(section, model):
    if section.lower() == ALWAYS:
        return True
    if _MODEL_FILTERS.match(section):
        return section.lower() == model.lower()
    return False


def effective(entries, model="pi5"):
    """Last value wins per key among sections that apply to ``model``.

    ``dtparam`` and ``dtoverlay`` are cumulative, so they are returned as lists.
    """
    result = {}
    for entry in entries:
        if not _applies(entry["section"], model):
            continue
        key = entry["key"]
        if key in ("dtparam", "dtoverlay"):
            result.setdefault(key, []).append(entry["value"])
        else:
            result[key] = entry["value"]
    return result


def set_value(text, key, value, path="config.txt"):
    """Make ``key=value`` effective for every model, editing as little as possible.

    An existing ``key=`` line in an ``[all]`` section (or before any section) is rewritten in
    place (later duplicates there are left alone but none may contradict: the last one is
    rewritten, since the last wins); otherwise ``[all]`` + ``key=value`` is appended at the
    end. Returns ``(changed, new_text)``; raises ConfigTxtError for an unparsable input.
    """
    entries = parse(text, path)
    wanted = "%s=%s" % (key, value)
    in_all = [e for e in entries if e["key"] == key and e["section"].lower() == ALWAYS]
    if in_all and in_all[-1]["value"] == str(value):
        overridden = [e for e in entries if e["key"] == key and e["line"] > in_all[-1]["line"]]
        if not overridden:
            return False, text
    lines = text.splitlines(True)
    if in_all and not [e for e in entries if e["key"] == key and e["line"] > in_all[-1]["line"]]:
        index = in_all[-1]["line"] - 1
        ending = "\n" if lines[index].endswith("\n") else ""
        lines[index] = wanted + ending
        new_text = "".join(lines)
    else:
        new_text = text
        if new_text and not new_text.endswith("\n"):
            new_text += "\n"
        last_section = _last_section(text)
        if last_section.lower() != ALWAYS:
            new_text += "[all]\n"
        new_text += wanted + "\n"
    parse(new_text, path + " (after edit)")
    return new_text != text, new_text


def _last_section(text):
    section = ALWAYS
    for raw in text.splitlines():
        match = _SECTION.match(raw.strip())
        if match:
            section = match.group(1).strip()
    return section
