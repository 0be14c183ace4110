"""Lockout rules (pure): rolling window, eligibility time, cooldown, in-flight."""

from ansible_collections.infoscreen.fleet.plugins.module_utils import lockout
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = 1_800_000_000.0


def test_three_in_window_block_the_fourth_until_the_oldest_leaves():
    times = [NOW - 600, NOW - 300, NOW - 10]
    decision = lockout.evaluate(NOW, times)
    assert not decision.allowed
    assert decision.code == "lockout"
    assert decision.eligible_at == NOW - 600 + 900
    assert decision.recent_count == 3


def test_two_in_window_allow_a_third():
    decision = lockout.evaluate(NOW, [NOW - 600, NOW - 10])
    assert decision.allowed
    assert decision.eligible_at is None


def test_commands_older_than_the_window_do_not_count():
    assert lockout.evaluate(NOW, [NOW - 901, NOW - 900, NOW - 10]).allowed


def test_eligibility_with_more_than_the_limit_uses_the_right_command():
    # 4 in the window (one was overridden): eligible when only 2 remain, i.e. when the
    # second oldest leaves.
    times = [NOW - 800, NOW - 700, NOW - 50, NOW - 5]
    assert lockout.window_eligible_at(times, NOW) == NOW - 700 + 900


def test_cooldown_after_a_failure():
    decision = lockout.evaluate(NOW, [NOW - 30], last_failure_at=NOW - 20)
    assert not decision.allowed
    assert decision.code == "cooldown"
    assert decision.eligible_at == NOW - 20 + 60
    assert lockout.evaluate(NOW, [NOW - 90], last_failure_at=NOW - 61).allowed


def test_in_flight_command_blocks_until_it_expires():
    decision = lockout.evaluate(NOW, [NOW - 5], in_flight_until=NOW + 200)
    assert not decision.allowed
    assert decision.code == "in_flight"
    assert decision.eligible_at == NOW + 200


def test_eligible_at_is_the_latest_of_all_reasons():
    decision = lockout.evaluate(NOW, [NOW - 899, NOW - 100, NOW - 1], last_failure_at=NOW - 1)
    assert decision.code == "lockout"
    assert decision.eligible_at == NOW - 1 + 60
    assert "cooldown" in decision.message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), min_size=1, max_size=40))
def test_no_rolling_window_ever_holds_more_than_the_limit(requests):
    """Whatever the request times, the commands let through never exceed 3 in any 900 s."""
    allowed = []
    for moment in sorted(requests):
        if lockout.evaluate(moment, allowed, cooldown_s=0).allowed:
            allowed.append(moment)
    for start in allowed:
        assert sum(1 for t in allowed if start <= t < start + 900) <= 3


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=3000, allow_nan=False), min_size=3, max_size=10))
def test_a_blocked_client_is_allowed_exactly_at_eligible_at(times):
    now = max(times) + 1
    decision = lockout.evaluate(now, times, cooldown_s=0)
    if decision.allowed:
        return
    assert lockout.evaluate(decision.eligible_at + 1e-6, times, cooldown_s=0).allowed
    assert not lockout.evaluate(decision.eligible_at - 1e-3, times, cooldown_s=0).allowed
