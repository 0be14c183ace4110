"""The drills' generated inputs: fuzz payloads never executable, skew cases and their rule."""

import datetime
import json
import random
import uuid

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

from drills import clock_skew, payload_fuzz

OWN = "0c8e7d0a-1f7e-4b8e-9a51-3f5b6c7d8e9f"
OTHER = "1c8e7d0a-1f7e-4b8e-9a51-3f5b6c7d8e9f"


def test_could_execute_recognises_a_valid_current_command():
    now = contract.utcnow()
    good = json.dumps(contract.make_command(OWN, "reboot_host", issued_at=now)).encode()
    assert payload_fuzz.could_execute(good, OWN, now)
    assert not payload_fuzz.could_execute(good, OTHER, now)  # another client's
    assert not payload_fuzz.could_execute(good, OWN, now + datetime.timedelta(hours=1))  # long expired
    assert not payload_fuzz.could_execute(b"\xff", OWN, now)


def test_generated_payloads_are_never_executable_and_reproducible():
    now = contract.utcnow()
    first, replaced = payload_fuzz.generate(random.Random(3), OWN, OTHER, 250, now=now)
    again, _unused = payload_fuzz.generate(random.Random(3), OWN, OTHER, 250, now=now)
    assert first == again
    assert len(first) == 250
    assert not any(payload_fuzz.could_execute(body, OWN, now) for _kind, body in first)
    assert replaced >= 0
    kinds = {kind.split(":")[0] for kind, _body in first}
    assert {"mutated", "random_bytes", "nested", "oversize"} <= kinds
    assert max(len(body) for _kind, body in first) < 65536  # below the broker's max_packet_size


def test_mutations_keep_a_readable_command_id_often():
    now = contract.utcnow()
    payloads, _unused = payload_fuzz.generate(random.Random(5), OWN, OTHER, 200, now=now)
    readable = 0
    for _kind, body in payloads:
        try:
            value = json.loads(body).get("command_id")
            uuid.UUID(value)
            readable += 1
        except (ValueError, AttributeError, TypeError, RecursionError):
            pass
    assert readable > 25  # enough to exercise the reject-with-ack path, not only drops


def test_documented_rule_with_skew():
    assert clock_skew.documented_decision(0, -120) == "accepted"
    assert clock_skew.documented_decision(151, -120) == "expired"  # 240 - 120 + 30 = 150
    assert clock_skew.documented_decision(149, -120) == "accepted"
    assert clock_skew.documented_decision(389, 120) == "accepted"  # 240 + 120 + 30 = 390
    assert clock_skew.documented_decision(0, 301) == "issued_in_future"
    assert clock_skew.ideal_decision(241) == "expired"
    assert clock_skew.within_band(240 + 150, 120)
    assert not clock_skew.within_band(240 + 151, 120)


def test_skew_cases_keep_clear_of_the_decision_edges():
    for skew, age in clock_skew.cases((-120, 0, 120)):
        edge = clock_skew.VALIDITY_S + skew + clock_skew.CLOCK_SKEW_S
        assert abs(age - edge) >= clock_skew.MARGIN_S
        assert age >= 0


def test_stamp_keeps_the_instant_in_other_offsets():
    moment = datetime.datetime(2026, 11, 27, 18, 0, tzinfo=datetime.timezone.utc)
    for tz in clock_skew.OFFSETS:
        assert contract.parse_ts(clock_skew.stamp(moment, tz)) == moment
    assert clock_skew.stamp(moment, datetime.timezone.utc).endswith("Z")
