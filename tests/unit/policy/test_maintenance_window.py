"""Maintenance windows (plugins/plugin_utils/maintenance_window.py) on fixed clocks: inside /
outside, the next opening, windows across midnight, several windows, and both DST changes
of Europe/Berlin in 2026 (29 March 02:00 CET -> 03:00 CEST, 25 October 03:00 CEST -> 02:00
CET) and of America/New_York. Every bad window is refused with what is wrong."""

import datetime

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.maintenance_window import (
    WindowError,
    judge,
    next_start,
    parse_instant,
    parse_windows,
)

BERLIN_NIGHT = [{"start": "02:00", "end": "05:00", "tz": "Europe/Berlin"}]


def at(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def utc(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat()


def test_inside_at_three_outside_at_six_next_is_two_tomorrow():
    windows = parse_windows(BERLIN_NIGHT)
    assert judge(windows, at("2026-07-15T03:00:00+02:00"))["inside"] is True
    verdict = judge(windows, at("2026-07-15T06:00:00+02:00"))
    assert verdict["inside"] is False
    assert verdict["eligible_at"] == at("2026-07-16T02:00:00+02:00")


def test_edges_start_inclusive_end_exclusive():
    windows = parse_windows(BERLIN_NIGHT)
    assert judge(windows, at("2026-07-15T02:00:00+02:00"))["inside"] is True
    assert judge(windows, at("2026-07-15T01:59:59+02:00"))["inside"] is False
    assert judge(windows, at("2026-07-15T04:59:59+02:00"))["inside"] is True
    assert judge(windows, at("2026-07-15T05:00:00+02:00"))["inside"] is False
    # Just before the start, the opening is the same night.
    assert next_start(windows, at("2026-07-15T01:59:00+02:00")) == at("2026-07-15T02:00:00+02:00")


def test_spring_forward_window_opens_at_the_change_and_is_an_hour_shorter():
    windows = parse_windows(BERLIN_NIGHT)
    # 01:30 CET = 00:30 UTC; the clock jumps 02:00 CET -> 03:00 CEST at 01:00 UTC.
    assert next_start(windows, at("2026-03-29T00:30:00+00:00")) == at("2026-03-29T01:00:00+00:00")
    assert judge(windows, at("2026-03-29T00:59:59+00:00"))["inside"] is False
    assert judge(windows, at("2026-03-29T01:00:00+00:00"))["inside"] is True  # 03:00 CEST
    assert judge(windows, at("2026-03-29T02:59:59+00:00"))["inside"] is True  # 04:59:59 CEST
    assert judge(windows, at("2026-03-29T03:00:00+00:00"))["inside"] is False  # 05:00 CEST: 2 h in all


def test_spring_forward_start_inside_the_skipped_hour():
    windows = parse_windows([{"start": "02:30", "end": "04:00", "tz": "Europe/Berlin"}])
    # 02:30 never happens that night: the window opens at the change (03:00 CEST).
    assert next_start(windows, at("2026-03-29T00:00:00+00:00")) == at("2026-03-29T01:00:00+00:00")


def test_window_wholly_in_the_skipped_hour_does_not_open_that_day():
    windows = parse_windows([{"days": ["sun"], "start": "02:15", "end": "02:45", "tz": "Europe/Berlin"}])
    assert next_start(windows, at("2026-03-28T12:00:00+00:00")) == at("2026-04-05T02:15:00+02:00")
    assert judge(windows, at("2026-03-29T01:00:00+00:00"))["inside"] is False


def test_fall_back_window_covers_both_passes_and_is_an_hour_longer():
    windows = parse_windows(BERLIN_NIGHT)
    # 02:00 CEST = 00:00 UTC; 03:00 CEST -> 02:00 CET at 01:00 UTC; 05:00 CET = 04:00 UTC.
    assert next_start(windows, at("2026-10-24T23:00:00+00:00")) == at("2026-10-25T00:00:00+00:00")
    assert judge(windows, at("2026-10-25T00:30:00+00:00"))["inside"] is True  # 02:30 CEST, first pass
    assert judge(windows, at("2026-10-25T01:30:00+00:00"))["inside"] is True  # 02:30 CET, second pass
    assert judge(windows, at("2026-10-25T03:59:59+00:00"))["inside"] is True  # 04:59:59 CET
    assert judge(windows, at("2026-10-25T04:00:00+00:00"))["inside"] is False  # 05:00 CET: 4 h in all
    # The next night is back to 3 h, in CET.
    assert next_start(windows, at("2026-10-25T04:00:00+00:00")) == at("2026-10-26T01:00:00+00:00")


def test_fall_back_start_inside_the_repeated_hour_is_its_first_pass():
    windows = parse_windows([{"start": "02:30", "end": "04:00", "tz": "Europe/Berlin"}])
    assert next_start(windows, at("2026-10-24T22:00:00+00:00")) == at("2026-10-25T02:30:00+02:00")


def test_new_york_spring_forward():
    windows = parse_windows([{"start": "02:00", "end": "04:00", "tz": "America/New_York"}])
    # 8 March 2026: 02:00 EST -> 03:00 EDT at 07:00 UTC.
    assert next_start(windows, at("2026-03-08T06:00:00+00:00")) == at("2026-03-08T07:00:00+00:00")
    assert judge(windows, at("2026-03-08T07:59:59+00:00"))["inside"] is True
    assert judge(windows, at("2026-03-08T08:00:00+00:00"))["inside"] is False


def test_across_midnight_belongs_to_its_start_day():
    windows = parse_windows([{"days": ["fri"], "start": "22:00", "end": "06:00", "tz": "Europe/Berlin"}])
    # 17 July 2026 is a Friday.
    assert judge(windows, at("2026-07-17T23:00:00+02:00"))["inside"] is True
    assert judge(windows, at("2026-07-18T05:59:00+02:00"))["inside"] is True  # Saturday morning, Friday's window
    assert judge(windows, at("2026-07-18T06:00:00+02:00"))["inside"] is False
    assert judge(windows, at("2026-07-17T05:00:00+02:00"))["inside"] is False  # Friday morning: Thursday had none
    assert next_start(windows, at("2026-07-18T07:00:00+02:00")) == at("2026-07-24T22:00:00+02:00")


def test_several_windows_and_days_the_earliest_opening_wins():
    windows = parse_windows([
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "02:00", "end": "05:00", "tz": "Europe/Berlin"},
        {"days": ["saturday"], "start": "12:00", "end": "24:00", "tz": "Europe/London"},
    ])
    # Friday 17 July 06:00 Berlin: weekday window tomorrow? Saturday is not a weekday -> Saturday 12:00 London.
    verdict = judge(windows, at("2026-07-17T06:00:00+02:00"))
    assert verdict["eligible_at"] == at("2026-07-18T12:00:00+01:00")
    assert judge(windows, at("2026-07-18T23:59:00+01:00"))["inside"] is True
    assert judge(windows, at("2026-07-19T00:00:00+01:00"))["inside"] is False
    # Sunday -> Monday 02:00 Berlin.
    assert next_start(windows, at("2026-07-19T00:00:00+01:00")) == at("2026-07-20T02:00:00+02:00")


def test_unset_is_no_restriction_and_one_mapping_is_one_window():
    assert judge(parse_windows(None), at("2026-07-15T12:00:00+00:00")) == {"inside": True, "window": None,
                                                                           "eligible_at": None}
    assert len(parse_windows(BERLIN_NIGHT[0])) == 1


@pytest.mark.parametrize(("raw", "words"), [
    ([], "empty list"),
    ("02:00-05:00", "must be a list"),
    ([{"start": "02:00", "end": "05:00"}], "tz is missing"),
    ([{"start": "02:00", "end": "05:00", "tz": "Europe/Berlinn"}], "not a known time zone"),
    ([{"start": "2:00", "end": "05:00", "tz": "UTC"}], "not a time"),
    ([{"start": 120, "end": "05:00", "tz": "UTC"}], "quote it"),
    ([{"start": "25:00", "end": "05:00", "tz": "UTC"}], "not a time"),
    ([{"start": "24:00", "end": "05:00", "tz": "UTC"}], "not a time"),
    ([{"start": "02:00", "end": "02:00", "tz": "UTC"}], "cannot be empty"),
    ([{"start": "02:00", "end": "05:00", "tz": "UTC", "timezone": "UTC"}], "unknown key(s) timezone"),
    ([{"days": ["mon", "fr"], "start": "02:00", "end": "05:00", "tz": "UTC"}], "'fr' is not a weekday"),
    ([{"days": [], "start": "02:00", "end": "05:00", "tz": "UTC"}], "non-empty list"),
    (["mon 02:00"], "must be a mapping"),
])
def test_bad_windows_are_refused_with_what_is_wrong(raw, words):
    with pytest.raises(WindowError) as caught:
        parse_windows(raw)
    assert words in str(caught.value)


def test_judging_time_needs_an_offset():
    assert parse_instant("2026-07-15T03:00:00+02:00") == at("2026-07-15T01:00:00+00:00")
    assert parse_instant("2026-07-15T01:00:00Z") == at("2026-07-15T01:00:00+00:00")
    with pytest.raises(WindowError, match="no UTC offset"):
        parse_instant("2026-07-15T03:00:00")
    with pytest.raises(WindowError, match="not a time"):
        parse_instant("tomorrow")
