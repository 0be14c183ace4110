"""Random and mutated command payloads that must never execute (pure; seeded).

``generate(rng, own_uuid, other_uuid, count)`` returns ``[(kind, bytes)]`` and a count. Half the payloads
are mutations of a valid command for the target client (one or more fields dropped, added,
retyped, out of range, wrong client, expired, far future, broken timestamps, truncated,
bit-flipped), the rest are random bytes, random JSON values, deep nesting, bad UTF-8 and
oversized bodies. ``could_execute`` is the guard that keeps a mutation from being a valid,
current command for the target by accident: such a candidate is replaced, and counted.
"""

import datetime
import json
import random
import uuid

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

# Beyond the agent's 16 KiB limit but below the broker's max_packet_size (64 KiB).
OVERSIZE_BYTES = 20000
_WEIRD_VALUES = [None, True, False, 0, -1, 1, 2**63, 1.5, float("1e308"), "", " ", "\u0000", "\ud7ff" * 3,
                 "💥", "a" * 2100, [], {}, [1, 2], {"a": 1}, "reboot_host", "1.0", "null"]
_FIELDS = ("schema_version", "command_id", "client_uuid", "action", "issued_at", "expires_at", "requested_by",
           "reason")


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def valid_command(rng, client_uuid, now):
    action = rng.choice(contract.ACTIONS)
    return contract.make_command(client_uuid, action, validity_s=240, command_id=_uuid(rng), issued_at=now)


def _ts(moment):
    return contract.format_ts(moment)


def _mutate_once(rng, cmd, other_uuid, now):
    field = rng.choice(_FIELDS)
    kind = rng.randrange(12)
    if kind == 0:
        cmd.pop(field, None)
        return f"drop:{field}"
    if kind == 1:
        cmd[rng.choice(["extra", "Action", "command", "__proto__", "schema"])] = rng.choice(_WEIRD_VALUES)
        return "extra_field"
    if kind == 2:
        cmd[field] = rng.choice(_WEIRD_VALUES)
        return f"retype:{field}"
    if kind == 3:
        cmd["client_uuid"] = other_uuid if rng.random() < 0.5 else _uuid(rng)
        return "wrong_client"
    if kind == 4:
        issued = now - datetime.timedelta(hours=rng.choice([1, 24, 24 * 365]))
        cmd["issued_at"], cmd["expires_at"] = _ts(issued), _ts(issued + datetime.timedelta(seconds=240))
        return "expired"
    if kind == 5:
        issued = now + datetime.timedelta(hours=rng.choice([1, 24, 24 * 365]))
        cmd["issued_at"], cmd["expires_at"] = _ts(issued), _ts(issued + datetime.timedelta(seconds=240))
        return "future"
    if kind == 6:
        cmd[rng.choice(["issued_at", "expires_at"])] = rng.choice(
            ["2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01", "yesterday", "2026-01-01T25:00:00Z",
             "1970-01-01T00:00:00+99:00", "0000-00-00T00:00:00Z"])
        return "bad_timestamp"
    if kind == 7:
        cmd["expires_at"] = cmd.get("issued_at", _ts(now))
        return "expires_not_after_issued"
    if kind == 8:
        cmd["action"] = rng.choice(["REBOOT_HOST", "reboot", "poe_cycle", "format_disk", "reboot_host ", "rm -rf /"])
        return "bad_action"
    if kind == 9:
        cmd["schema_version"] = rng.choice(["1", "1.1", "2.0", 1.0, "v1"])
        return "schema_version"
    if kind == 10:
        cmd["command_id"] = rng.choice(["", "not-a-uuid", "12345678-1234-1234-1234-1234567890ab-x", "+" * 36,
                                        _uuid(rng).upper().replace("-", "")])
        return "bad_command_id"
    cmd[rng.choice(["reason", "requested_by"])] = rng.choice(["x" * 2001, 0, -5, "1", 1.5, [], {}])
    return "out_of_range"


def mutated(rng, own_uuid, other_uuid, now):
    cmd = valid_command(rng, own_uuid, now)
    kinds = [_mutate_once(rng, cmd, other_uuid, now) for _unused in range(rng.choice([1, 1, 1, 2, 3]))]
    body = json.dumps(cmd).encode()
    finish = rng.randrange(10)
    if finish == 0:
        body = body[: rng.randrange(1, len(body))]
        kinds.append("truncated")
    elif finish == 1:
        data = bytearray(body)
        for _unused in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        body = bytes(data)
        kinds.append("bitflip")
    return "mutated:" + "+".join(kinds), body


def random_payload(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return "random_bytes", bytes(rng.getrandbits(8) for _unused in range(rng.randint(0, 300)))
    if kind == 1:
        return "json_scalar", json.dumps(rng.choice(_WEIRD_VALUES)).encode()
    if kind == 2:
        depth = rng.choice([50, 500, 5000, 100000])
        return f"nested:{depth}", ("[" * depth + "]" * depth).encode()[:60000]
    if kind == 3:
        return "bad_utf8", b'{"command_id": "' + _uuid(rng).encode()[: rng.randrange(37)] + b'\xff\xfe", "action": 1}'
    if kind == 4:
        return "oversize", json.dumps({"action": "reboot_host", "reason": "x" * OVERSIZE_BYTES}).encode()
    if kind == 5:
        keys = rng.sample(_FIELDS, rng.randint(0, len(_FIELDS)))
        return "random_object", json.dumps({k: rng.choice(_WEIRD_VALUES) for k in keys}).encode()
    return "empty_or_space", rng.choice([b"", b" ", b"\n", b"{}", b"[]", b"null"])


def could_execute(body, own_uuid, now, tolerance_s=300):
    """True when ``body`` is a contract-valid command for ``own_uuid`` that is current at ``now``.

    Generous on purpose (the agent's tolerances, widened): a candidate that might run is
    never sent, so an execution in the drill is a real failure, not a lucky mutation.
    """
    try:
        cmd = contract.parse_payload("command", body)
    except contract.ContractError:
        return False
    except (ValueError, TypeError, OverflowError, RecursionError):
        return False
    if str(cmd["client_uuid"]).lower() != own_uuid.lower():
        return False
    try:
        issued, expires = contract.parse_ts(cmd["issued_at"]), contract.parse_ts(cmd["expires_at"])
    except (ValueError, OverflowError):
        return False
    slack = datetime.timedelta(seconds=tolerance_s)
    return expires > issued and issued - slack <= now <= expires + slack


def generate(rng, own_uuid, other_uuid, count, now=None):
    """``count`` (kind, bytes) payloads and how many candidates were replaced as executable."""
    payloads, replaced = [], 0
    while len(payloads) < count:
        moment = now or contract.utcnow()
        kind, body = mutated(rng, own_uuid, other_uuid, moment) if rng.random() < 0.5 else random_payload(rng)
        if could_execute(body, own_uuid, moment):
            replaced += 1
            continue
        payloads.append((kind, body))
    return payloads, replaced


def new_rng(seed):
    return random.Random(seed)
