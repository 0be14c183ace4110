"""ACL matrix for 50 clients: cross-client reads and writes that succeed (goal 0).

The broker is the real mosquitto with the passwd/ACL files the mqtt_broker role renders
for 50 client accounts. infoscreen_sim.broker.check_acl_matrix connects all 50 clients and
the controller; every client subscribes to its own command topics plus ``infoscreen/#`` and
``#``, publishes a unique token to each of its own allowed topics, to its own command topics
(must not be allowed) and to all 8 topics of each of the other 49 clients. Denials are
silent in MQTT, so a denied path is proven by its token arriving nowhere. The drill counts
the violations by kind; the allowed paths are checked too (a broker that denies everything
would otherwise pass).
"""

import secrets
import time
import uuid

from infoscreen_sim.broker import LocalBroker, _client_read_topics, _client_write_topics, check_acl_matrix

from .report import Goal, Row

NAME = "ACL matrix"


def classify(problems):
    """Violations by kind: cross-client reads, denied writes delivered, allowed paths missing."""
    reads = [p for p in problems if "received a message it must not read" in p]
    writes = [p for p in problems if p.startswith("denied publish was delivered")]
    missing = [p for p in problems if "did not receive" in p]
    return reads, writes, missing


def run(ctx):
    count = 50
    clients = [{"name": f"acl-{i:03d}", "client_uuid": str(uuid.UUID(int=secrets.randbits(128), version=4)),
                "password": secrets.token_urlsafe(16)} for i in range(count)]
    with LocalBroker(ctx.dir("acl") / "broker", clients) as broker:
        started = time.monotonic()
        problems = check_acl_matrix(broker.host, broker.port, broker.controller_username,
                                    broker.controller_password, clients, settle_s=3.0)
        seconds = time.monotonic() - started
    reads, writes, missing = classify(problems)
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
    ]
