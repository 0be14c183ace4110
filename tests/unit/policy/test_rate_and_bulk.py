"""Growing wave sizes (rate_sizes) and the bulk guard (bulk_guard) of
plugins/plugin_utils/wave_plan.py: exact sizes, every bad option refused with its name, a
stale confirmation never approves another run, check mode shows the count."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_plan import PlanError, bulk_guard, plan, rate_sizes

HOSTS = [f"h{i:03d}" for i in range(1, 201)]
GROUPS = {"all": HOSTS, "infoscreen_clients": HOSTS}


def test_rate_grows_by_the_factor_up_to_the_maximum():
    assert rate_sizes({"start": 1, "factor": 2, "max": 50}, 200) == [1, 2, 4, 8, 16, 32, 50, 50, 37]
    assert rate_sizes({"start": "1%", "factor": 3, "max": "25%"}, 200) == [2, 6, 18, 50, 50, 50, 24]
    assert rate_sizes({"start": 1, "factor": 1.5}, 10) == [1, 2, 3, 4]  # rounded up, no cap
    assert rate_sizes({"start": 5, "factor": 2}, 3) == [3]
    assert sum(rate_sizes({"start": 1, "factor": 1.01}, 1000)) == 1000  # never overflows


def test_rate_plan_keeps_the_gate_per_wave_and_checks_min_executed():
    planned = plan(HOSTS[:20], {"start": 2, "factor": 2, "max": 8}, groups=GROUPS, target="infoscreen_clients",
                   min_executed=2)
    assert planned["serial"] == [2, 4, 8, 6]
    assert [len(w["hosts"]) for w in planned["waves"]] == [2, 4, 8, 6]
    assert planned["waves"][0]["hosts"] == HOSTS[:2]
    assert planned["waves"][1]["name"] == "batch 2 (rate x2)"
    with pytest.raises(PlanError, match="min_executed 3 is larger than the first wave"):
        plan(HOSTS[:20], {"start": 2, "factor": 2}, groups=GROUPS, target="infoscreen_clients", min_executed=3)


@pytest.mark.parametrize(("rate", "words"), [
    ({"start": 1, "factor": 1}, "factor 1 must be a number above 1"),
    ({"start": 1, "factor": "fast"}, "factor 'fast' must be a number above 1"),
    ({"start": 1, "factor": True}, "must be a number above 1"),
    ({"start": 0, "factor": 2}, "wave rate start 0 is out of range"),
    ({"start": 1, "factor": 2, "max": "0%"}, "wave rate max '0%' is out of range"),
    ({"start": 10, "factor": 2, "max": 5}, "below start"),
    ({"factor": 2}, "needs start"),
    ({"start": 1, "factor": 2, "maximum": 5}, "unknown key(s) maximum"),
])
def test_bad_rates_are_refused(rate, words):
    with pytest.raises(PlanError) as caught:
        plan(HOSTS[:20], rate, groups=GROUPS, target="infoscreen_clients")
    assert words in str(caught.value)


def test_bulk_guard_refuses_a_whole_fleet_run_without_the_count():
    with pytest.raises(PlanError) as caught:
        bulk_guard(HOSTS[:11], unlimited=HOSTS[:11], fleet=HOSTS, max_hosts=10)
    assert "targets 11 host(s) without --limit" in str(caught.value)
    assert "-e infoscreen_bulk_confirm=11" in str(caught.value)
    assert bulk_guard(HOSTS[:11], fleet=HOSTS, max_hosts=10, confirm=11)["confirmed"] is True
    assert bulk_guard(HOSTS[:11], fleet=HOSTS, max_hosts=10, confirm="11")["confirmed"] is True


def test_a_stale_confirmation_cannot_approve_a_bigger_or_smaller_run():
    with pytest.raises(PlanError, match="infoscreen_bulk_confirm=11 but this run targets 12"):
        bulk_guard(HOSTS[:12], fleet=HOSTS, max_hosts=10, confirm=11)
    with pytest.raises(PlanError, match="infoscreen_bulk_confirm=12 but this run targets 3"):
        bulk_guard(HOSTS[:3], fleet=HOSTS, max_hosts=10, confirm=12)


def test_share_of_the_fleet_and_limit():
    with pytest.raises(PlanError, match=r"75 % of the fleet \(3 of 4\), more than infoscreen_bulk_max_pct=50"):
        bulk_guard(HOSTS[:3], fleet=HOSTS[:4], max_hosts=10, max_pct=50)
    assert bulk_guard(HOSTS[:2], fleet=HOSTS[:4], max_hosts=10, max_pct=50)["needed"] is False
    # A --limit that narrows the run: no confirmation; one that leaves every host is no limit.
    assert bulk_guard(HOSTS[:50], unlimited=HOSTS, limit="h0*", max_hosts=10)["needed"] is False
    with pytest.raises(PlanError, match="targets 200 host"):
        bulk_guard(HOSTS, unlimited=HOSTS, limit="all", fleet=HOSTS, max_hosts=10)


def test_check_mode_shows_the_count_instead_of_refusing():
    verdict = bulk_guard(HOSTS, fleet=HOSTS, max_hosts=10, check_mode=True)
    assert verdict["needed"] is True and verdict["confirmed"] is False
    assert "confirm with -e infoscreen_bulk_confirm=200" in verdict["msg"]
    assert "check mode: not refused" in verdict["msg"]


@pytest.mark.parametrize(("options", "words"), [
    ({"max_hosts": -1}, "infoscreen_bulk_max_hosts -1 must be a whole number"),
    ({"max_hosts": "ten"}, "infoscreen_bulk_max_hosts 'ten'"),
    ({"max_pct": 150}, "infoscreen_bulk_max_pct 150 must be a share between 0 and 100"),
    ({"max_pct": "lots"}, "infoscreen_bulk_max_pct 'lots'"),
    ({"confirm": 0}, "infoscreen_bulk_confirm 0 must be a whole number of at least 1"),
    ({"confirm": "yes"}, "infoscreen_bulk_confirm 'yes'"),
])
def test_bad_bulk_options_are_refused(options, words):
    with pytest.raises(PlanError) as caught:
        bulk_guard(HOSTS[:2], fleet=HOSTS, **options)
    assert words in str(caught.value)
