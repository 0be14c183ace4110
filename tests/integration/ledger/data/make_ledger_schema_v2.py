"""Built ledger-schema-v2.sqlite3 (beside this file) with the schema-v2 ledger code of commit 47b839a.

Kept for the record; the tests do not run it."""

import sys

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger

NOW = 1_800_000_000.0
A = "0f8fad5b-d9cb-469f-a165-70867728950e"
B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
with Ledger(sys.argv[1]) as led:
    led.start_wave("w1", "r1", "reboot_host", now=NOW - 600)
    ids = []
    for i, at in enumerate((NOW - 600, NOW - 400, NOW - 200)):
        row = led.reserve(A, "reboot_host", host="lobby-01", wave_id="w1", now=at, expires_at=at + 240,
                          payload={"n": i}, deadline_at=at + 300)[0]
        led.record_transitions([(row["command_id"], "published", at + 1, None, {}),
                                (row["command_id"], "accepted", at + 2, None, {}),
                                (row["command_id"], "completed", at + 30, "back", {"reconnect_s": 25.0})])
        ids.append(row["command_id"])
    blocked = led.reserve(A, "reboot_host", host="lobby-01", now=NOW - 100, expires_at=NOW + 140)[0]
    over = led.reserve(A, "reboot_host", host="lobby-01", now=NOW - 90, expires_at=NOW + 150,
                       override_reason="operator said so")[0]
    led.record_transition(over["command_id"], "failed", at=NOW - 60, error_code="helper_failed")
    led.record_step(B, "poe_cycle", "completed", host="lobby-02", at=NOW - 50)
    led.finish_wave("w1", {"lobby-01": {"client_uuid": A, "command_id": ids[-1], "state": "completed"}},
                    {"counts": {"completed": 1}}, now=NOW - 10)
print(blocked["state"], over["state"])
