"""The fleet watch's judging (plugins/plugin_utils/fleet_watch_judge.py) with a fake clock:
what each MQTT message means, when silence starts, de-duplication, reminders and the decision
the rulebook acts on."""

import datetime
import json
import uuid

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_watch_judge import FleetJudge

WALL0 = 1_800_000_000.0
A, B, C = (str(uuid.uuid4()) for _client in range(3))


class Clock:
    def __init__(self):
        self.now = 100.0

    @property
    def wall(self):
        return WALL0 + self.now

    def advance(self, seconds):
        self.now += seconds


def ts(epoch):
    return contract.format_ts(datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc))


def live(clock, client_uuid, boot_id="boot-1", app_state=None, uptime=50.0):
    body = {"client_uuid": client_uuid, "sent_at": ts(clock.wall), "boot_id": boot_id, "agent_version": "1.0",
            "uptime_s": uptime}
    if app_state is None:
        return f"infoscreen/{client_uuid}/heartbeat", json.dumps(body).encode()
    body.update(app_state=app_state, broker_connection={"reconnect_count": 0, "last_disconnect_at": None})
    return f"infoscreen/{client_uuid}/health", json.dumps(body).encode()


def report(client_uuid, failed_at, boot_id=None, unit="signage.service"):
    body = {"client_uuid": client_uuid, "unit": unit, "failed_at": ts(failed_at)}
    if boot_id is not None:
        body["boot_id"] = boot_id
    return f"infoscreen/{client_uuid}/service_failed", json.dumps(body).encode()


def command(client_uuid, action, clock, validity=240):
    body = contract.make_command(client_uuid, action, validity_s=validity,
                                 issued_at=datetime.datetime.fromtimestamp(clock.wall, datetime.timezone.utc))
    return f"infoscreen/{client_uuid}/commands", json.dumps(body).encode()


@pytest.fixture
def clock():
    return Clock()


def judge_for(clock, clients=None, **kwargs):
    clients = clients or {"pi-a": {"client_uuid": A}, "pi-b": {"client_uuid": B, "tier": "soft"}}
    kwargs.setdefault("silent_after_s", 30)
    kwargs.setdefault("retry_after_s", 120)
    return FleetJudge(clients, now=clock.now, **kwargs)


def send(judge, clock, message, retained=False):
    topic, payload = message
    return judge.observe(topic, payload, retained, clock.now, clock.wall)


def types(events):
    return [(e["fleet_watch"]["host"], e["fleet_watch"]["type"]) for e in events]


def test_retained_heartbeats_are_not_proof_of_life(clock):
    judge = judge_for(clock)
    assert send(judge, clock, live(clock, A), retained=True) == []
    assert send(judge, clock, live(clock, A, app_state="crashed"), retained=True) == []  # no crash either
    assert judge.counters["retained_ignored"] == 2
    clock.advance(29)
    assert judge.tick(clock.now, clock.wall) == []
    clock.advance(1)
    events = judge.tick(clock.now, clock.wall)
    assert sorted(types(events)) == [("pi-a", "client_silent"), ("pi-b", "client_silent")]
    silent = next(e["fleet_watch"] for e in events if e["fleet_watch"]["host"] == "pi-a")
    assert silent["detail"]["never_seen"] is True
    assert silent["recover"] == {"decision": "recover", "start_from": "reboot_host", "eligible_at": None, "why": None}
    assert events[0]["meta"] == {"hosts": events[0]["fleet_watch"]["host"]}


def test_crash_once_per_incident_with_reminders_and_a_new_incident_after_running(clock):
    judge = judge_for(clock)
    events = send(judge, clock, live(clock, A, app_state="crashed"))
    assert types(events) == [("pi-a", "app_crashed")]
    assert events[0]["fleet_watch"]["recover"]["start_from"] == "restart_app"
    assert events[0]["fleet_watch"]["recover"]["decision"] == "recover"
    for _report in range(5):  # the same crash reported again and again: no duplicate
        clock.advance(10)
        assert send(judge, clock, live(clock, A, app_state="crashed")) == []
        judge.tick(clock.now, clock.wall)
    clock.advance(70)  # 120 s after the first event, still crashed: one reminder
    send(judge, clock, live(clock, A, app_state="crashed"))
    reminder = [e for e in judge.tick(clock.now, clock.wall) if e["fleet_watch"]["host"] == "pi-a"]
    assert types(reminder) == [("pi-a", "app_crashed")] and reminder[0]["fleet_watch"]["repeat"] == 1
    assert send(judge, clock, live(clock, A, app_state="running")) == []
    assert types(send(judge, clock, live(clock, A, app_state="stopped"))) == [("pi-a", "app_stopped")]
    assert send(judge, clock, live(clock, A, app_state="running")) == []
    assert types(send(judge, clock, live(clock, A, app_state="crashed"))) == [("pi-a", "app_crashed")]


def test_silent_client_then_back_and_soft_tier_alerts(clock):
    judge = judge_for(clock)
    send(judge, clock, live(clock, A))
    send(judge, clock, live(clock, B))
    clock.advance(20)
    send(judge, clock, live(clock, A))
    clock.advance(15)  # B silent 35 s, A 15 s
    events = judge.tick(clock.now, clock.wall)
    assert types(events) == [("pi-b", "client_silent")]
    soft = events[0]["fleet_watch"]["recover"]
    assert soft["decision"] == "alert" and "hands on site" in soft["why"] and "soft" in soft["why"]
    assert events[0]["fleet_watch"]["detail"]["last_seen_s_ago"] == 35.0
    clock.advance(1)
    assert judge.tick(clock.now, clock.wall) == []  # once, not every tick
    clock.advance(4)
    back = send(judge, clock, live(clock, B))
    assert types(back) == [("pi-b", "client_back")]
    assert back[0]["fleet_watch"]["detail"] == {"silent_for_s": 40.0, "boot_changed": False}
    assert back[0]["fleet_watch"]["recover"]["decision"] == "none"


def test_service_failed_only_from_the_current_boot_and_once(clock):
    judge = judge_for(clock)
    # retained report delivered before the client's boot id is known: judged at its first live message
    assert send(judge, clock, report(A, clock.wall - 10, boot_id="boot-1"), retained=True) == []
    events = send(judge, clock, live(clock, A, boot_id="boot-1"))
    assert types(events) == [("pi-a", "service_failed")]
    assert events[0]["fleet_watch"]["detail"]["unit"] == "signage.service"
    assert events[0]["fleet_watch"]["recover"]["start_from"] == "restart_app"
    assert send(judge, clock, report(A, clock.wall - 10, boot_id="boot-1"), retained=True) == []  # same report
    assert send(judge, clock, report(A, clock.wall - 10, boot_id="boot-0")) == []  # an earlier boot's
    # without a boot id: judged against the boot start the client reports (sent_at - uptime_s = wall - 50)
    assert send(judge, clock, report(A, clock.wall - 200)) == []
    assert types(send(judge, clock, report(A, clock.wall - 20, unit="x.service"))) == [("pi-a", "service_failed")]
    topic, _payload = report(A, clock.wall)
    assert judge.observe(topic, b"", True, clock.now, clock.wall) == []  # cleared
    assert "service_failed" not in judge.by_uuid[A].open


def test_unexpected_reboot_unless_a_command_of_ours_explains_it(clock):
    ledger_says = {}
    judge = judge_for(clock, ours=lambda client_uuid, wall: ledger_says.get(client_uuid))
    send(judge, clock, live(clock, A, boot_id="boot-1"))
    events = send(judge, clock, live(clock, A, boot_id="boot-2", uptime=3))
    assert types(events) == [("pi-a", "unexpected_reboot")]
    assert events[0]["fleet_watch"]["detail"] == {"boot_id_before": "boot-1", "boot_id_after": "boot-2", "uptime_s": 3}
    # our reboot_host seen on the command topic explains the next one
    send(judge, clock, command(A, "reboot_host", clock))
    clock.advance(40)
    assert send(judge, clock, live(clock, A, boot_id="boot-3", uptime=2)) == []
    # a restart_app does not explain a reboot
    send(judge, clock, command(A, "restart_app", clock))
    clock.advance(600)
    assert types(send(judge, clock, live(clock, A, boot_id="boot-4"))) == [("pi-a", "unexpected_reboot")]
    ledger_says[A] = "poe_cycle 123 (completed) in the ledger"  # a PoE cycle is only in the ledger
    assert send(judge, clock, live(clock, A, boot_id="boot-5")) == []


def test_identity_conflict_alerts_and_blocks_recovery(clock):
    judge = judge_for(clock)
    send(judge, clock, live(clock, A, boot_id="one"))
    assert types(send(judge, clock, live(clock, A, boot_id="two"))) == [("pi-a", "unexpected_reboot")]
    events = send(judge, clock, live(clock, A, boot_id="one"))
    assert types(events) == [("pi-a", "identity_conflict")]
    assert events[0]["fleet_watch"]["recover"]["decision"] == "alert"
    assert send(judge, clock, live(clock, A, boot_id="two")) == []  # alternating: once per retry_after_s
    crash = send(judge, clock, live(clock, A, boot_id="one", app_state="crashed"))
    assert types(crash) == [("pi-a", "app_crashed")]
    assert crash[0]["fleet_watch"]["recover"]["decision"] == "alert"
    assert "identity conflict" in crash[0]["fleet_watch"]["recover"]["why"]


def test_auto_recovery_off_still_emits_the_event_as_an_alert(clock):
    judge = judge_for(clock, clients={"pi-a": {"client_uuid": A, "auto_recover": False}})
    events = send(judge, clock, live(clock, A, app_state="crashed"))
    assert types(events) == [("pi-a", "app_crashed")]
    decision = events[0]["fleet_watch"]["recover"]
    assert decision["decision"] == "alert" and "auto-recovery is off" in decision["why"]


def test_lockout_precheck_alerts_with_eligible_time_and_in_flight_waits(clock):
    answers = {A: {"allowed": False, "code": "lockout", "eligible_at": WALL0 + 900, "message": "3 in 900 s"},
               B: {"allowed": False, "code": "in_flight", "eligible_at": WALL0 + 300, "message": "in flight"}}
    judge = judge_for(clock, clients={"pi-a": {"client_uuid": A}, "pi-b": {"client_uuid": B}},
                      lockout=lambda client_uuid, wall: answers[client_uuid])
    locked = send(judge, clock, live(clock, A, app_state="crashed"))[0]["fleet_watch"]["recover"]
    assert locked["decision"] == "alert" and locked["eligible_at"] == ts(WALL0 + 900)
    assert "safety lockout" in locked["why"]
    waiting = send(judge, clock, live(clock, B, app_state="crashed"))[0]["fleet_watch"]["recover"]
    assert waiting["decision"] == "none" and waiting["start_from"] == "restart_app"

    def broken(_client_uuid, _wall):
        raise RuntimeError("the ledger /x could not be read")

    judge.lockout = broken
    send(judge, clock, live(clock, A, app_state="running"))
    doubt = send(judge, clock, live(clock, A, app_state="crashed"))[0]["fleet_watch"]["recover"]
    assert doubt["decision"] == "alert" and "could not be read" in doubt["why"]


def test_invalid_and_foreign_payloads_are_dropped(clock):
    judge = judge_for(clock)
    assert judge.observe(f"infoscreen/{A}/health", b"{not json", False, clock.now, clock.wall) == []
    topic, payload = live(clock, B, app_state="crashed")
    assert judge.observe(f"infoscreen/{A}/health", payload, False, clock.now, clock.wall) == []  # B's body on A
    assert send(judge, clock, live(clock, C, app_state="crashed")) == []  # not in the inventory
    assert judge.counters["invalid"] == 2 and judge.counters["unknown_client"] == 1
    assert judge.by_uuid[A].last_live is None


def test_no_silence_while_the_broker_connection_is_lost(clock):
    judge = judge_for(clock)
    send(judge, clock, live(clock, A))
    send(judge, clock, live(clock, B))
    judge.pause(clock.now)
    clock.advance(100)
    assert judge.tick(clock.now, clock.wall) == []
    judge.resume(clock.now)
    clock.advance(29)
    assert judge.tick(clock.now, clock.wall) == []
    clock.advance(1)
    assert len(judge.tick(clock.now, clock.wall)) == 2


def test_two_hosts_with_one_client_uuid_are_refused(clock):
    with pytest.raises(ValueError, match="share client_uuid"):
        FleetJudge({"x": {"client_uuid": A}, "y": {"client_uuid": A.upper()}}, now=clock.now)


def test_one_recover_request_per_problem_until_it_is_over_or_the_hold_ends(clock):
    judge = judge_for(clock, run_hold_s=300)
    first = send(judge, clock, live(clock, A, app_state="crashed"))
    assert first[0]["fleet_watch"]["recover"]["decision"] == "recover"
    clock.advance(120)  # still crashed: the reminder appears but asks for no second run (one may be in flight)
    send(judge, clock, live(clock, A, app_state="crashed"))
    (reminder,) = [e for e in judge.tick(clock.now, clock.wall) if e["fleet_watch"]["host"] == "pi-a"]
    assert reminder["fleet_watch"]["recover"]["decision"] == "none"
    assert "asked for 120 s ago" in reminder["fleet_watch"]["recover"]["why"]
    clock.advance(200)  # past the hold: the next reminder asks again
    send(judge, clock, live(clock, A, app_state="crashed"))
    (again,) = [e for e in judge.tick(clock.now, clock.wall) if e["fleet_watch"]["host"] == "pi-a"]
    assert again["fleet_watch"]["recover"]["decision"] == "recover"
    send(judge, clock, live(clock, A, app_state="running"))  # the run worked: a new crash asks at once
    assert send(judge, clock, live(clock, A, app_state="crashed"))[0]["fleet_watch"]["recover"]["decision"] == "recover"
