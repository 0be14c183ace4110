"""ACL matrix for 50 clients: cross-client reads and writes that succeed (goal 0).

The broker is the real mosquitto with the passwd/ACL files the mqtt_broker role renders
for 50 client accounts. infoscreen_sim.broker.check_acl_matrix connects all 50 clients and
the controller; every client subscribes to its own command topics plus ``infoscreen/#`` and
``#``, publishes a unique token to each of its own allowed topics, to its own command topics
(must not be allowed) and to all 8 topics of each of the other 49 clients. Denials are
silent in MQTT, so a denied path is proven by its token arriving nowhere. The drill counts
the violations by kind; the allowed paths are checked too (a broker that denies everything
would otherwise pass).

Takeover case (inside check_acl_matrix): each client account presents the next client's id
and a foreign id, with clean_session true and false; every attempt must be refused.

Flood case (infoscreen_sim.ack_flood, at the role's default limits): while a reboot wave to
real agents is offline, one client publishes more acks on its own ack topic than the
controller's session may queue (10,000); the victims' completed acks are crowded out, and
the wave must still end every victim completed (it re-announces after reconnecting).
"""

import secrets
import time
import uuid

from infoscreen_sim.ack_flood import run_ack_flood
from infoscreen_sim.broker import LocalBroker, _client_read_topics, _client_write_topics, check_acl_matrix

from .report import Goal, Row

NAME = "ACL matrix"


def classify(problems):
    """Violations by kind: cross-client reads, denied writes delivered, allowed paths missing."""
    reads = [p for p in problems if "received a message it must not read" in p]
    writes = [p for p in problems if p.startswith("denied publish was delivered")]
    missing = [p for p in problems if "did not receive" in p]
    takeovers = [p for p in problems if " took over client id " in p]
    return reads, writes, missing, takeovers


def _account(prefix, index):
    return {"name": f"{prefix}-{index:03d}", "client_uuid": str(uuid.UUID(int=secrets.randbits(128), version=4)),
            "password": secrets.token_urlsafe(16)}


def flood_case(ctx, victims, flood=12_000):
    """Rows for the flood case at the broker's default limits (max_queued_messages 10,000)."""
    accounts = [_account("flood", i) for i in range(victims + 1)]
    with LocalBroker(ctx.dir("acl") / "flood-broker", accounts) as broker:
        outcome = run_ack_flood(ctx.dir("acl") / "flood-fleet", broker, accounts[:victims], accounts[victims], flood,
                                ledger_path=ctx.dir("acl") / "flood-ledger.sqlite", timeout_s=90)
    results = list(outcome["results"].values())
    lost = [r for r in results if r["state"] != "completed"]
    asked_again = sum(1 for r in results if r["republished"])
    queued = outcome["stats"]["foreign_acks"]
    note = (f"{victims} real agents rebooting, controller offline behind a TCP gate; one client published "
            f"{flood:,} acks on its own ack topic in {outcome['flood_s']:.1f} s; {queued:,} of them reached the "
            f"controller (its session queue is full at 10,000, the rest and the victims' completed acks were "
            f"dropped by the broker); victims asked again after the reconnect: {asked_again}; lost: "
            + (", ".join(f"{r['host']} {r['state']}" for r in lost) or "none"))
    return [
        Row(NAME, f"outcomes lost after one client's ack flood while the controller was offline ({victims} victims)",
            len(lost), goal=Goal("==", 0), note=note),
        Row(NAME, f"flood acks that reached the controller's queue (of {flood:,}; mosquitto per-session limit)",
            queued),
    ]


def run(ctx):
    count = 50
    clients = [_account("acl", i) for i in range(count)]
    with LocalBroker(ctx.dir("acl") / "broker", clients) as broker:
        started = time.monotonic()
        problems = check_acl_matrix(broker.host, broker.port, broker.controller_username,
                                    broker.controller_password, clients, settle_s=3.0)
        seconds = time.monotonic() - started
    reads, writes, missing, takeovers = classify(problems)
    per_client_other = len(_client_read_topics(clients[0]["client_uuid"])) + len(
        _client_write_topics(clients[0]["client_uuid"]))
    cross_writes = count * (count - 1) * per_client_other
    own_command_injections = count * len(_client_read_topics(clients[0]["client_uuid"]))
    note = (f"{count} clients + controller on the role-rendered broker, {seconds:.0f} s: {cross_writes:,} "
            f"cross-client publishes and {own_command_injections} own-command injections attempted, every client "
            f"also subscribed to infoscreen/# and #; allowed paths missing: {len(missing)}")
    examples = (reads + writes)[:3]
    if examples:
        note += "; e.g. " + "; ".join(examples)
    return [
        Row(NAME, f"cross-client reads that succeed ({count} clients)", len(reads), goal=Goal("==", 0), note=note),
        Row(NAME, "denied writes that were delivered (cross-client or own command topic)", len(writes),
            goal=Goal("==", 0)),
        Row(NAME, "allowed paths that failed (controller/client own topics)", len(missing), goal=Goal("==", 0)),
        Row(NAME, f"client-id takeovers that succeeded (of {count * 4} attempts)", len(takeovers), goal=Goal("==", 0),
            note="each client account presented the next client's id and a foreign id, clean_session true "
                 "and false; " + ("; ".join(takeovers[:2]) or "all refused (Not authorized)")),
        *flood_case(ctx, ctx.pick(3, 10)),
    ]
