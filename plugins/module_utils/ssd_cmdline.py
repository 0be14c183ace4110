# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Token-exact parsing and editing of a Raspberry Pi ``cmdline.txt``.

The firmware passes only the first line of cmdline.txt to the kernel, so a second
non-empty line is almost always a broken edit that silently drops parameters: we refuse
such files instead of guessing. Tokens we do not manage are kept byte-for-byte and in
their order; when nothing changes the file is not rewritten at all (so whitespace quirks
in an untouched file never count as a change).

Pure functions, standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

UAS_QUIRKS_KEY = "usb-storage.quirks"
_QUIRK_ENTRY = re.compile(r"^([0-9a-f]{4}):([0-9a-f]{4}):([a-z]*)$")


class CmdlineError(ValueError):
    """cmdline.txt cannot be parsed or an edit would make it invalid."""


def tokenize(line, path="cmdline.txt"):
    """Split one kernel command line into tokens, honouring double quotes (``a="b c"``)."""
    tokens = []
    current = []
    in_quote = False
    for char in line:
        if char == '"':
            in_quote = not in_quote
            current.append(char)
        elif char.isspace() and not in_quote:
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(char)
    if in_quote:
        raise CmdlineError("%s: unbalanced double quote; fix the file by hand before running again" % path)
    if current:
        tokens.append("".join(current))
    return tokens


def parse_cmdline(text, path="cmdline.txt"):
    """Return the tokens of cmdline.txt ``text`` or raise CmdlineError saying what is wrong."""
    if text is None:
        raise CmdlineError("%s: file is missing" % path)
    if "\x00" in text:
        raise CmdlineError("%s: contains NUL bytes, not a text command line" % path)
    all_lines = text.splitlines()
    lines = [line for line in all_lines if line.strip()]
    if not lines:
        raise CmdlineError("%s: file is empty; it must hold the kernel command line on one line" % path)
    if not all_lines[0].strip():
        raise CmdlineError(
            "%s: the first line is empty; the firmware reads only the first line. Move the command"
            " line to line 1 by hand and run again" % path
        )
    if len(lines) > 1:
        raise CmdlineError(
            "%s: %d non-empty lines; the firmware reads only the first, so the kernel command line"
            " must be a single line. Join the lines by hand and run again" % (path, len(lines))
        )
    for char in lines[0]:
        if ord(char) < 32 and char not in "\t":
            raise CmdlineError("%s: contains control character %r" % (path, char))
    tokens = tokenize(lines[0], path)
    validate_tokens(tokens, path)
    return tokens


def token_key(token):
    """``root=PARTUUID=x`` -> ``root``; ``rootwait`` -> ``rootwait``."""
    return token.split("=", 1)[0]


def validate_tokens(tokens, path="cmdline.txt"):
    """A command line we are willing to write: exactly one ``root=`` and one quirks token."""
    roots = [t for t in tokens if token_key(t) == "root"]
    if len(roots) != 1:
        raise CmdlineError(
            "%s: expected exactly one root= token, found %d; the Pi would not find its root"
            " filesystem. Fix the file by hand" % (path, len(roots))
        )
    if not roots[0].split("=", 1)[1]:
        raise CmdlineError("%s: root= has no value" % path)
    quirks = [t for t in tokens if token_key(t) == UAS_QUIRKS_KEY]
    if len(quirks) > 1:
        raise CmdlineError(
            "%s: %d %s tokens; the kernel keeps only the last one. Merge them into one by hand"
            % (path, len(quirks), UAS_QUIRKS_KEY)
        )
    for token in quirks:
        parse_quirks(token.split("=", 1)[1], path)


def parse_quirks(value, path="cmdline.txt"):
    """``152d:0578:u,174c:55aa:u`` -> ordered dict-like list of (vid:pid, flags)."""
    entries = []
    for raw in value.split(","):
        match = _QUIRK_ENTRY.match(raw.strip().lower())
        if not match:
            raise CmdlineError(
                "%s: %s entry %r is not VID:PID:FLAGS (4 hex digits each)" % (path, UAS_QUIRKS_KEY, raw)
            )
        entries.append(("%s:%s" % (match.group(1), match.group(2)), match.group(3)))
    return entries


def merge_quirk(value, bridge_id, flag="u"):
    """Add ``flag`` for ``bridge_id`` to a quirks value, keeping other bridges' entries."""
    entries = parse_quirks(value) if value else []
    out = []
    found = False
    for ident, flags in entries:
        if ident == bridge_id:
            found = True
            out.append((ident, flags if flag in flags else flags + flag))
            continue
        out.append((ident, flags))
    if not found:
        out.append((bridge_id, flag))
    return ",".join("%s:%s" % (ident, flags) for ident, flags in out)


def edit_tokens(tokens, present=None, absent=None):
    """Return new tokens with ``present`` ensured and ``absent`` keys removed.

    ``present`` maps key -> value (``None`` for a bare flag such as ``rootwait``). An
    existing token with that key is replaced in place (its first occurrence; later
    duplicates are dropped), a missing one is appended. Other tokens keep their order.
    """
    present = dict(present or {})
    absent = set(absent or ())
    overlap = absent.intersection(present)
    if overlap:
        raise CmdlineError("keys both wanted and unwanted: %s" % ", ".join(sorted(overlap)))
    wanted = {key: (key if value is None else "%s=%s" % (key, value)) for key, value in present.items()}
    out = []
    placed = set()
    for token in tokens:
        key = token_key(token)
        if key in absent:
            continue
        if key in wanted:
            if key in placed:
                continue
            out.append(wanted[key])
            placed.add(key)
            continue
        out.append(token)
    out.extend(wanted[key] for key in present if key not in placed)
    return out


def render(tokens):
    return " ".join(tokens) + "\n"


def plan_edit(text, present=None, absent=None, path="cmdline.txt"):
    """Parse, edit and validate; return ``(changed, new_text, before_tokens, after_tokens)``.

    Raises CmdlineError before anything is written when the input or the result is invalid.
    """
    before = parse_cmdline(text, path)
    after = edit_tokens(before, present, absent)
    validate_tokens(after, path + " (after edit)")
    if after == before:
        return False, text, before, after
    return True, render(after), before, after
