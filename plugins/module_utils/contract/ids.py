# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one UUID rule of contract v1: client ids and command ids are 8-4-4-4-12 hex digits.

Topics, payload validation, the broker accounts and the controller all check ids with this
module; the agent ships it inside ``infoscreen_agent.contract``.
"""

import re

UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# \Z, not $: "$" also matches before a trailing newline, so "<uuid>\n" would pass as an id
# and end up inside a topic name.
UUID_RE = re.compile(rf"^{UUID_PATTERN}\Z")


def is_uuid(value):
    """True for a string of 8-4-4-4-12 hex digits, in any case."""
    return isinstance(value, str) and bool(UUID_RE.match(value))


def is_canonical_uuid(value):
    """True for a UUID in lower case: the form broker usernames and topics use."""
    return is_uuid(value) and value == value.lower()
