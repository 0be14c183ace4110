# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input limits of contract v1 beyond what the JSON Schemas can say, in one place.

Both sides use them: the agent checks its configured strings at start and in
``check-config`` (a release label the heartbeat schema refuses would otherwise stop every
heartbeat), and refuses command timestamps it cannot do arithmetic with (a year-9999
``expires_at`` overflows ``datetime``). The pi_agent role repeats the label limit in its
validation task; tests/unit/pi_agent/test_pi_agent_label_limits.py keeps them equal.
"""

import re

from .payloads import parse_ts
from .validation import load_schema

# Command timestamps outside these years are refused (invalid_payload): no real command is
# issued before 2000 or valid beyond 2199, and the bounds keep all date arithmetic in range.
TIMESTAMP_MIN_YEAR = 2000
TIMESTAMP_MAX_YEAR = 2199
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def release_max_chars():
    """The longest release label heartbeat and health accept (their schemas' maxLength)."""
    return min(load_schema(name)["properties"]["release"]["maxLength"] for name in ("heartbeat", "health"))


def text_problem(name, value, max_chars=None, *, allow_empty=True):
    """Why a configured string cannot be used (None when it can): length, control characters."""
    if not isinstance(value, str):
        return f"{name} must be a string, got {type(value).__name__}"
    if not value and not allow_empty:
        return f"{name} is empty"
    if max_chars is not None and len(value) > max_chars:
        return f"{name} is {len(value)} characters long, the contract allows at most {max_chars}"
    if _CONTROL.search(value):
        return f"{name} contains a control character (line break, tab, ...)"
    return None


def release_label_problem(label):
    """Why ``label`` cannot be the release label reported in heartbeat/health, or None."""
    return text_problem("release label", label, release_max_chars())


def timestamp_problem(value):
    """Why ``value`` is not a usable command timestamp (None when it is)."""
    try:
        moment = parse_ts(value)
    except (ValueError, TypeError, OverflowError) as exc:
        return str(exc)[:200]
    try:
        year = moment.astimezone(moment.tzinfo).utctimetuple().tm_year
    except (ValueError, OverflowError):
        return f"{str(value)[:40]!r} is out of range"
    if not TIMESTAMP_MIN_YEAR <= year <= TIMESTAMP_MAX_YEAR:
        return f"{str(value)[:40]!r} lies outside the years {TIMESTAMP_MIN_YEAR}-{TIMESTAMP_MAX_YEAR}"
    return None
