"""The wave driver judges maintenance windows when it sends (plugins/plugin_utils/wave_driver.py):
on a fixed, injected clock, a client outside its windows is blocked with
outside_maintenance_window and eligible_at the next opening (in check mode and in the
ledger), an override or the allow policy sends it with the reason logged, and the wait
policy waits for windows within its maximum, on a fake sleep (no real waiting)."""

import datetime
import uuid

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.maintenance_window import parse_windows
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, WaveRun

NIGHT = parse_windows([{"start": "02:00", "end": "05:00", "tz": "Europe/Berlin"}])
HOSTS = [("inside-free", str(uuid.uuid4())), ("night", str(uuid.uuid4()))]


def at(text):
    return datetime.datetime.fromisoformat(text).timestamp()


class FakeClock:
    def __init__(self, start):
        self.now = start
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def wave(tmp_path, when, **options):
    clock = FakeClock(at(when))
    opts = WaveOptions("reboot_host", check_mode=True, windows={"night": NIGHT, "inside-free": None},
                       window_clock=clock, sleep=clock.sleep, **options)
    warnings = []
    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:
        run = WaveRun(HOSTS, opts, ledger, {}, warn=warnings.append)
        run.run()
    return run, warnings, clock


def test_check_mode_blocks_outside_with_the_next_opening(tmp_path):
    run, _warnings, _clock = wave(tmp_path, "2026-07-15T06:00:00+02:00")
    night = run.results["night"]
    assert night["state"] == "blocked"
    assert night["error_code"] == "outside_maintenance_window"
    assert night["eligible_at"] == "2026-07-16T00:00:00.000Z"
    assert "outside its maintenance windows (mon,tue,wed,thu,fri,sat,sun 02:00-05:00 Europe/Berlin)" \
        in night["error_message"]
    assert run.results["inside-free"]["state"] == "not_sent"  # no windows: no restriction
    assert run.counts["executed"] == 0


def test_inside_the_window_it_would_be_sent(tmp_path):
    run, _warnings, _clock = wave(tmp_path, "2026-07-15T03:00:00+02:00")
    assert run.results["night"]["state"] == "not_sent"
    assert run.results["night"]["would_send"]["payload"]["action"] == "reboot_host"


def test_override_and_allow_send_with_the_reason_logged(tmp_path):
    run, warnings, _clock = wave(tmp_path, "2026-07-15T06:00:00+02:00", window_override_reason="CHANGE-42 hotfix")
    assert run.results["night"]["state"] == "not_sent"
    assert any("night" in w and "sent anyway, override: CHANGE-42 hotfix" in w for w in warnings)
    run, warnings, _clock = wave(tmp_path, "2026-07-15T06:00:00+02:00", window_policy="allow")
    assert run.results["night"]["state"] == "not_sent"
    assert any("policy allow" in w for w in warnings)


def test_wait_policy_waits_for_a_window_within_its_maximum_on_a_fake_sleep(tmp_path):
    clock = FakeClock(at("2026-07-15T01:30:00+02:00"))
    opts = WaveOptions("reboot_host", windows={"night": NIGHT}, window_policy="wait", window_max_wait_s=3600,
                       window_clock=clock, sleep=clock.sleep)
    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:
        run = WaveRun(HOSTS, opts, ledger, {})
        waited = run._wait_for_windows(HOSTS)
    assert waited == 1800
    assert clock.now == at("2026-07-15T02:00:00+02:00")
    assert sum(clock.slept) == 1800 and max(clock.slept) <= 30
    assert run._window_verdict("night")["inside"] is True


def test_wait_policy_does_not_wait_beyond_its_maximum(tmp_path):
    clock = FakeClock(at("2026-07-15T06:00:00+02:00"))
    opts = WaveOptions("reboot_host", windows={"night": NIGHT}, window_policy="wait", window_max_wait_s=3600,
                       window_clock=clock, sleep=clock.sleep)
    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:
        run = WaveRun(HOSTS, opts, ledger, {})
        assert run._wait_for_windows(HOSTS) == 0.0
    assert clock.slept == []


def test_blocked_outside_the_window_is_recorded_in_the_ledger_never_published(tmp_path):
    clock = FakeClock(at("2026-07-15T06:00:00+02:00"))
    opts = WaveOptions("reboot_host", windows={"night": NIGHT}, window_clock=clock, sleep=clock.sleep)
    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:
        run = WaveRun([HOSTS[1]], opts, ledger, {})  # no broker: nothing valid to send once blocked
        run.ledger.start_wave(run.wave_id, run.wave_id, "reboot_host")
        blocked = run._outside_window("night", HOSTS[1][1], clock())
        (row,) = ledger.commands(host="night")
    assert blocked["state"] == "blocked"
    assert row["state"] == "blocked"
    assert row["error_code"] == "outside_maintenance_window"
    assert row["eligible_at_epoch"] == at("2026-07-16T02:00:00+02:00")
    assert "published" not in [t["state"] for t in row["transitions"]]


def test_recover_ladder_stops_on_a_window_block_and_says_so():
    from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_ladder import judge_step

    verdict = judge_step("reboot_host", {"state": "blocked", "error_code": "outside_maintenance_window",
                                         "error_message": "host night: blocked, outside ...",
                                         "eligible_at": "2026-07-16T00:00:00.000Z", "executed": False})
    assert verdict["verdict"] == "stop" and verdict["tried"] is False
    assert "blocked outside its maintenance windows before reboot_host" in verdict["reason"]
    assert "2026-07-16T00:00:00.000Z" in verdict["reason"]
