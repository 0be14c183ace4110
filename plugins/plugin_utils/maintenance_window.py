# Copyright: (c) 2026, infoscreen-fleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance windows of a client, as pure functions (no Ansible, no clock of their own).

A client's windows come from the inventory variable ``infoscreen_maintenance_windows`` (per
host or per group; docs/policy.md)::

    - {days: [mon, tue, wed, thu, fri], start: "02:00", end: "05:00", tz: Europe/Berlin}
    - {days: [sat], start: "22:00", end: "06:00", tz: Europe/Berlin}   # across midnight

The rule is on the wall clock of the window's time zone: an instant is inside a window when
its local time there is at or after ``start`` and before ``end`` on one of ``days`` (the day
the window starts; a window whose end is not after its start ends on the next day; ``end``
"24:00" is midnight). So across the DST changes (zoneinfo, the standard library):
- spring forward (e.g. 02:00 -> 03:00): a 02:00-05:00 window opens at 03:00 local, the first
  instant whose wall clock is past 02:00, and is one hour shorter; a window wholly inside the
  skipped hour does not open that day;
- fall back (03:00 -> 02:00): a 02:00-05:00 window covers both passes of 02:00-03:00 and is one
  hour longer.

``parse_windows`` refuses anything doubtful (unknown key, day, time zone, a zero-length
window, an empty list) with a WindowError saying what is wrong; callers check every client's
windows before anything is sent (the wave_plan action) and judge them at the moment of
sending (the wave driver). All instants are epoch seconds.
"""

import datetime
import re

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 has no zoneinfo; the collection needs 3.9+
    zoneinfo = None

WINDOWS_VAR = "infoscreen_maintenance_windows"
OUTSIDE_CODE = "outside_maintenance_window"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: index for index, name in enumerate(DAYS)}
_DAY_NAMES.update({full: index for index, full in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))})
_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_KEYS = ("days", "start", "end", "tz")
# How far ahead the next opening is searched: a week, plus slack for a window that a DST
# change skipped on its only day.
_SEARCH_DAYS = 15
UTC = datetime.timezone.utc


class WindowError(ValueError):
    """The maintenance windows of a client cannot be understood safely."""


class Window:
    """One parsed window. ``start``/``end`` are minutes after local midnight (end may be 1440)."""

    __slots__ = ("days", "end", "label", "start", "tz", "tz_name")

    def __init__(self, days, start, end, tz_name, label):
        self.days = days
        self.start = start
        self.end = end
        self.tz_name = tz_name
        self.tz = zoneinfo.ZoneInfo(tz_name)
        self.label = label

    @property
    def crosses_midnight(self):
        return self.end <= self.start

    def contains_local(self, local):
        """Is the local (aware, in self.tz) datetime inside this window?"""
        minute = local.hour * 60 + local.minute + local.second / 60.0
        weekday = local.weekday()
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= minute < self.end
        if weekday in self.days and minute >= self.start:
            return True
        return (weekday - 1) % 7 in self.days and minute < self.end

    def as_dict(self):
        return {"days": [DAYS[d] for d in sorted(self.days)], "start": _hhmm(self.start), "end": _hhmm(self.end),
                "tz": self.tz_name}

    def __repr__(self):
        return f"Window({self.label})"


def _hhmm(minutes):
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_time(value, what, allow_24=False):
    if isinstance(value, datetime.time):
        return value.hour * 60 + value.minute
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 02:00 as the sexagesimal integer 120 (minutes).
        raise WindowError(f"{what} {value!r} is a number: YAML read an unquoted time; quote it, e.g. \"02:00\"")
    if not isinstance(value, str):
        raise WindowError(f"{what} {value!r} is not a time: use \"HH:MM\" (24 h), e.g. \"02:00\"")
    text = value.strip()
    if allow_24 and text == "24:00":
        return 1440
    match = _TIME_RE.match(text)
    if not match:
        raise WindowError(f"{what} {value!r} is not a time: use \"HH:MM\" (24 h, 00:00-23:59"
                          f"{'; 24:00 for midnight at the end' if allow_24 else ''})")
    return int(match.group(1)) * 60 + int(match.group(2))


def _parse_days(value, what):
    if value is None:
        return frozenset(range(7))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise WindowError(f"{what} days {value!r} must be a non-empty list of weekdays ({', '.join(DAYS)}); "
                          "leave days out for every day")
    days = set()
    for day in value:
        key = day.strip().lower() if isinstance(day, str) else None
        if key not in _DAY_NAMES:
            raise WindowError(f"{what} day {day!r} is not a weekday: use {', '.join(DAYS)}")
        days.add(_DAY_NAMES[key])
    return frozenset(days)


def parse_window(raw, what="maintenance window"):
    """One window from its inventory form; raises WindowError naming what is wrong."""
    if zoneinfo is None:  # pragma: no cover
        raise WindowError("maintenance windows need Python 3.9 or later on the controller (zoneinfo)")
    if not isinstance(raw, dict):
        raise WindowError(f"{what} {raw!r} must be a mapping with days, start, end and tz")
    unknown = sorted(str(key) for key in raw if key not in _KEYS)
    if unknown:
        raise WindowError(f"{what}: unknown key(s) {', '.join(unknown)}; a window has {', '.join(_KEYS)}")
    for key in ("start", "end", "tz"):
        if raw.get(key) in (None, ""):
            raise WindowError(f"{what}: {key} is missing (a window needs start and end as \"HH:MM\" and tz, "
                              "e.g. Europe/Berlin)")
    start = _parse_time(raw["start"], f"{what} start")
    end = _parse_time(raw["end"], f"{what} end", allow_24=True)
    if start == end:
        raise WindowError(f"{what}: start and end are both {_hhmm(start)}; a window cannot be empty (for the whole "
                          "day use start \"00:00\", end \"24:00\")")
    tz_name = raw["tz"]
    if not isinstance(tz_name, str) or not tz_name.strip():
        raise WindowError(f"{what}: tz {tz_name!r} is not a time zone name (IANA, e.g. Europe/Berlin or UTC)")
    tz_name = tz_name.strip()
    try:
        zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise WindowError(f"{what}: tz {tz_name!r} is not a known time zone (IANA names such as Europe/Berlin; "
                          "the controller needs the tz database, the tzdata package)") from None
    days = _parse_days(raw.get("days"), what)
    label = f"{','.join(DAYS[d] for d in sorted(days))} {_hhmm(start)}-{_hhmm(end)} {tz_name}"
    return Window(days, start, end, tz_name, label)


def parse_windows(raw, what="infoscreen_maintenance_windows"):
    """The windows of one client: None when unset (no restriction), else a non-empty list."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise WindowError(f"{what} {raw!r} must be a list of windows ({{days, start, end, tz}})")
    if not raw:
        raise WindowError(f"{what} is an empty list: that would allow no reboot ever; give at least one window, or "
                          "leave the variable unset for no restriction")
    return [parse_window(item, f"{what} item {index + 1}") for index, item in enumerate(raw)]


def inside(windows, now):
    """The first window that contains the instant ``now`` (epoch seconds), else None."""
    for window in windows:
        local = datetime.datetime.fromtimestamp(now, window.tz)
        if window.contains_local(local):
            return window
    return None


def _local_start_instant(window, day):
    """The first instant whose wall clock reaches ``window.start`` on ``day`` (a date)."""
    naive = datetime.datetime.combine(day, datetime.time(window.start // 60, window.start % 60))
    early = naive.replace(tzinfo=window.tz, fold=0)
    instant = early.timestamp()
    back = datetime.datetime.fromtimestamp(instant, window.tz).replace(tzinfo=None)
    if back == naive:
        return instant  # exists (the first of two passes when the clock falls back)
    # The start falls into the hour a spring-forward skips: the window opens at the change,
    # the first instant whose wall clock is past the start. fold=1 maps to before the change.
    low = naive.replace(tzinfo=window.tz, fold=1).timestamp()
    high = instant
    while high - low > 1.0:
        middle = (low + high) / 2.0
        if datetime.datetime.fromtimestamp(middle, window.tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return float(int(high)) if datetime.datetime.fromtimestamp(int(high), window.tz).replace(
        tzinfo=None) >= naive else float(int(high) + 1)


def next_start(windows, now):
    """Epoch seconds of the next instant after ``now`` at which a window opens (None if none
    opens within two weeks, which only a window wholly inside a skipped DST hour can cause)."""
    best = None
    for window in windows:
        today = datetime.datetime.fromtimestamp(now, window.tz).date()
        for offset in range(-1, _SEARCH_DAYS):
            day = today + datetime.timedelta(days=offset)
            if day.weekday() not in window.days:
                continue
            instant = _local_start_instant(window, day)
            if instant <= now:
                continue
            if best is not None and instant >= best:
                break
            if window.contains_local(datetime.datetime.fromtimestamp(instant, window.tz)):
                best = instant
                break
    return best


def judge(windows, now):
    """``{"inside": bool, "window": label|None, "eligible_at": epoch|None}`` for one client."""
    if windows is None:
        return {"inside": True, "window": None, "eligible_at": None}
    found = inside(windows, now)
    if found is not None:
        return {"inside": True, "window": found.label, "eligible_at": None}
    return {"inside": False, "window": None, "eligible_at": next_start(windows, now)}


def describe(windows):
    """Short text of a client's windows for messages."""
    return "; ".join(window.label for window in windows) if windows else "no restriction"


def parse_instant(value, what="infoscreen_wave_window_now"):
    """Epoch seconds from an RFC 3339 time with an offset (e.g. 2026-07-15T03:00:00+02:00)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise WindowError(f"{what} {value!r} is not a time: use RFC 3339 with an offset, e.g. "
                          "2026-07-15T03:00:00+02:00")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise WindowError(f"{what} {value!r} is not a time: use RFC 3339 with an offset, e.g. "
                          "2026-07-15T03:00:00+02:00") from None
    if parsed.tzinfo is None:
        raise WindowError(f"{what} {value!r} has no UTC offset: add one (e.g. +02:00 or Z), a bare local time "
                          "is ambiguous")
    return parsed.timestamp()


__all__ = ["DAYS", "OUTSIDE_CODE", "WINDOWS_VAR", "Window", "WindowError", "describe", "inside", "judge",
           "next_start", "parse_instant", "parse_window", "parse_windows"]
