"""Clock skew of +-2 min between controller and client: wrong expiry decisions (goal 0).

The controller's clock is offset by ``skew`` seconds: it stamps ``issued_at`` = true time +
skew and ``expires_at`` = issued_at + validity (240 s), exactly as contract.make_command does
with its clock. The real agent (correct clock) decides on its own clock with the documented
tolerances (docs/agent.md / agent config): expired when now > expires_at + clock_skew_s
(30 s), refused when issued_at > now + future_tolerance_s (300 s). For a command of true
age ``age`` that gives: accepted iff age <= validity + skew + 30 and skew - age <= 300.

Each case is one command over MQTT; timestamps use Z or a non-UTC offset (+02:00, -05:00),
which must decide the same. A decision is wrong when it differs from that documented rule.
Also counted: decisions that differ from a skew-free judge (true age vs validity) and are
NOT inside the tolerance band |skew| + 30 s around the expiry edge (goal 0).

The controller itself is immune: it judges expiry and timeouts on time.monotonic().
"""

import datetime

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract
from infoscreen_sim.controller import SimController

from .kit import running_fleet
from .report import Goal, Row

NAME = "clock skew"
VALIDITY_S = 240
CLOCK_SKEW_S = 30  # agent default [agent] clock_skew_s
FUTURE_TOLERANCE_S = 300  # agent default [agent] future_tolerance_s
MARGIN_S = 15  # ages stay this far from any decision edge: delivery latency cannot flip them
OFFSETS = (datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=2)),
           datetime.timezone(datetime.timedelta(hours=-5)))


def documented_decision(age_s, skew_s, validity_s=VALIDITY_S, tolerance_s=CLOCK_SKEW_S,
                        future_s=FUTURE_TOLERANCE_S):
    """'accepted', 'expired' or 'issued_in_future' per the documented agent rule."""
    if age_s > validity_s + skew_s + tolerance_s:
        return "expired"
    if skew_s - age_s > future_s:
        return "issued_in_future"
    return "accepted"


def ideal_decision(age_s, validity_s=VALIDITY_S):
    return "expired" if age_s > validity_s else "accepted"


def within_band(age_s, skew_s, validity_s=VALIDITY_S, tolerance_s=CLOCK_SKEW_S):
    """True when a skew-caused deviation from the ideal is inside the documented tolerance."""
    return abs(age_s - validity_s) <= abs(skew_s) + tolerance_s


def cases(skews):
    """(skew, age) pairs: fresh, mid-life, either side of both edges, long stale."""
    out = []
    for skew in skews:
        edge = VALIDITY_S + skew + CLOCK_SKEW_S
        ages = {0, 60, edge - MARGIN_S, edge + MARGIN_S, VALIDITY_S - MARGIN_S, VALIDITY_S + MARGIN_S,
                VALIDITY_S + abs(skew) + CLOCK_SKEW_S + 120, 3600}
        out.extend((skew, age) for age in sorted(a for a in ages if a >= 0))
    return out


def stamp(moment, tz):
    text = moment.astimezone(tz).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def run(ctx):
    skews = (-120, -60, 0, 60, 120)
    plan = cases(skews)
    results = []
    with running_fleet(ctx, "clock-skew", 1, agent_options={"agent.lockout_max": 0}) as fleet:
        name = sorted(fleet.clients)[0]
        client_uuid = fleet.clients[name].client_uuid
        with SimController(fleet.manifest) as controller:
            for index, (skew, age) in enumerate(plan):
                now = datetime.datetime.now(datetime.timezone.utc)
                issued = now - datetime.timedelta(seconds=age) + datetime.timedelta(seconds=skew)
                tz = OFFSETS[index % len(OFFSETS)]
                cmd = contract.make_command(client_uuid, "restart_app", issued_at=issued, validity_s=VALIDITY_S)
                # The same instants written with another UTC offset must decide the same.
                cmd["issued_at"] = stamp(issued, tz)
                cmd["expires_at"] = stamp(issued + datetime.timedelta(seconds=VALIDITY_S), tz)
                controller.publish_raw(client_uuid, cmd)
                first = controller.wait_for(lambda c=cmd: controller.statuses(c["command_id"]), 30)
                terminal = controller.wait_terminal([cmd["command_id"]], 30)[cmd["command_id"]]
                if not first:
                    observed = "no answer"
                elif first[0] == "accepted":
                    observed = "accepted"
                else:
                    observed = (terminal or {}).get("error_code") or "failed"
                results.append({"skew": skew, "age": age, "tz": cmd["issued_at"][23:], "observed": observed,
                                "documented": documented_decision(age, skew), "ideal": ideal_decision(age)})
    wrong = [r for r in results if r["observed"] != r["documented"]]
    outside = [r for r in results if r["observed"] != r["ideal"] and not within_band(r["age"], r["skew"])]
    fresh_refused = [r for r in results if r["age"] <= 60 and r["observed"] != "accepted"]
    stale_taken = [r for r in results if r["age"] > VALIDITY_S + abs(r["skew"]) + CLOCK_SKEW_S
                   and r["observed"] == "accepted"]
    note = (f"{len(results)} commands over MQTT, skews {', '.join(f'{s:+d}' for s in skews)} s, ages 0 s to 1 h, "
            f"timestamps in Z/+02:00/-05:00; differ from a skew-free judge (inside the band, as documented): "
            f"{sum(r['observed'] != r['ideal'] for r in results)}")
    if wrong:
        note += "; wrong: " + "; ".join(f"skew {r['skew']:+d} age {r['age']} {r['observed']} (rule "
                                        f"{r['documented']})" for r in wrong[:6])
    # The command is a restart_app that really runs when accepted: the drill also proves the
    # accepted ones execute, which keeps "accepted" an observed decision, not an assumption.
    return [
        Row(NAME, "wrong expiry decisions vs the documented rule (skew +-2 min)", len(wrong), goal=Goal("==", 0),
            note=note, extra={"cases": results}),
        Row(NAME, "skew-caused wrong decisions outside the tolerance band |skew|+30 s", len(outside),
            goal=Goal("==", 0)),
        Row(NAME, "fresh commands (age <= 60 s) refused at +-2 min", len(fresh_refused), goal=Goal("==", 0)),
        Row(NAME, "stale commands (age > validity+|skew|+30 s) accepted", len(stale_taken), goal=Goal("==", 0)),
    ]
