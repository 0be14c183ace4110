"""Wave planning and option checks (plugins/plugin_utils/wave_plan.py): every bad option is
refused with a message naming it, before any client is touched; plans follow --limit."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_plan import PlanError, batch_sizes, parse_size, plan

GROUPS = {"all": [f"h{i}" for i in range(1, 11)], "canary": ["h1", "h2"], "wave1": ["h3", "h4", "h5"],
          "wave2": ["h6", "h7", "h8", "h9", "h10"], "infoscreen_clients": [f"h{i}" for i in range(1, 11)]}
ALL = GROUPS["all"]


@pytest.mark.parametrize(("value", "parsed"), [(1, ("count", 1)), ("3", ("count", 3)), (4.0, ("count", 4)),
                                               ("25%", ("pct", 25.0)), ("2.5%", ("pct", 2.5)),
                                               ("100%", ("pct", 100.0))])
def test_good_sizes(value, parsed):
    assert parse_size(value) == parsed


@pytest.mark.parametrize(("value", "words"), [
    (0, "at least 1 host"), ("0", "at least 1 host"), ("0%", "above 0 and at most 100"),
    ("150%", "above 0 and at most 100"), (-2, "at least 1 host"), ("-5%", "not a size"),
    (2.5, "not a whole number"), (True, "not a size"), ("ten", "not a size"), (None, "not a size"),
])
def test_bad_sizes_are_refused_by_name(value, words):
    with pytest.raises(PlanError, match=words):
        parse_size(value)


def test_batches_follow_ansible_serial_with_decimal_percentages():
    assert batch_sizes(["10%", "50%", "100%"], 10) == [1, 5, 4]
    assert batch_sizes(["2.5%"], 40) == [1] * 40
    assert batch_sizes(["2.5%", "100%"], 80) == [2, 78]
    assert batch_sizes([3], 7) == [3, 3, 1]


def test_group_waves_follow_the_limit_and_skip_empty_later_groups():
    limited = ["h1", "h3", "h4"]
    planned = plan(limited, ["canary", "wave1", "wave2"], groups=GROUPS)
    assert planned["serial"] == [1, 2]
    assert [w["hosts"] for w in planned["waves"]] == [["h1"], ["h3", "h4"]]
    assert planned["skipped"] == ["wave2"]


def test_size_waves_are_cut_from_the_limited_target():
    planned = plan(["h2", "h5", "h6", "h9"], ["50%", "100%"], groups=GROUPS, target="infoscreen_clients")
    assert planned["serial"] == [2, 2]
    assert planned["waves"][0]["name"] == "batch 1 (50%)"


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"waves": ["canary", "nosuch"]}, "wave group(s) nosuch not in the inventory"),
    ({"waves": ["canary", "50%"]}, "mix group names and batch sizes"),
    ({"waves": []}, "the wave list is empty"),
    ({"waves": ["canary", "canary"]}, "name a group twice"),
    ({"waves": ["canary", "all"]}, "shares hosts h1, h2"),
    ({"waves": ["0"], "target": "infoscreen_clients"}, "at least 1 host"),
    ({"waves": ["10%"], "target": "nosuch"}, "target group 'nosuch' is not in the inventory"),
    ({"waves": ["canary", "wave1"], "threshold_pct": 500}, "threshold_pct must be a number between 0 and 100"),
    ({"waves": ["canary", "wave1"], "threshold_pct": "lots"}, "gate threshold 'lots' is not a number"),
    ({"waves": ["canary", "wave1"], "min_executed": 0}, "min_executed must be an integer of at least 1"),
    ({"waves": ["canary", "wave1"], "min_executed": "2.5"}, "min_executed must be an integer"),
    ({"waves": ["canary", "wave1"], "min_executed": 3}, "min_executed 3 is larger than the first wave"),
    ({"waves": ["10%", "100%"], "target": "infoscreen_clients", "min_executed": 2},
     "min_executed 2 is larger than the first wave"),
])
def test_bad_options_are_refused_with_what_is_wrong(kwargs, words):
    kwargs = dict(kwargs)
    waves = kwargs.pop("waves")
    with pytest.raises(PlanError, match=words.replace("(", r"\(").replace(")", r"\)")):
        plan(ALL, waves, groups=GROUPS, **kwargs)


def test_a_limit_without_the_canary_is_refused():
    with pytest.raises(PlanError, match="first wave .canary group canary. has no host within --limit"):
        plan(["h3", "h6"], ["canary", "wave1", "wave2"], groups=GROUPS)
