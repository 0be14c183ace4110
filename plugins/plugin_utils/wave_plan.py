# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan the waves of a rollout before any client is touched (pure functions, no Ansible).

Used by the wave_plan action plugin (canary.yml, reboot.yml, shutdown.yml, restart_app.yml).
Every option is checked here and a bad one raises PlanError naming it and what to do; the
plan is computed from the hosts the play really targets (``--limit`` applied), and returned
as exact batch sizes for Ansible's ``serial`` (a list of integers that sums to the number of
hosts), so Ansible never has to interpret a percentage or a zero itself (serial 0 would mean
"every host in one batch", and "2.5%" is a crash there).
"""

import math
import re

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import check_gate_options

_COUNT_RE = re.compile(r"^\s*([0-9]+)\s*$")
_PCT_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


class PlanError(ValueError):
    """A rollout option or the inventory does not allow a safe plan."""


def is_size(value):
    """True for something that looks like a batch size (count or percentage), valid or not."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(re.match(r"^\s*-?[0-9.]+\s*%?\s*$", value))


def parse_size(value, name="wave size"):
    """``('count', n)`` for an integer >= 1, ``('pct', p)`` for a percentage in (0, 100].

    Decimal percentages ("2.5%") are allowed; decimal counts (2.5) and zero are refused.
    """
    if isinstance(value, bool):
        raise PlanError(f"{name} {value!r} is not a size: use an integer >= 1 or a percentage like '25%'")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise PlanError(f"{name} {value!r} is not a whole number of hosts: use an integer >= 1 or a "
                            f"percentage like '{value:g}%'")
        count = int(value)
    elif isinstance(value, str) and _COUNT_RE.match(value):
        count = int(value)
    elif isinstance(value, str) and _PCT_RE.match(value):
        pct = float(_PCT_RE.match(value).group(1))
        if not 0 < pct <= 100:
            raise PlanError(f"{name} {value!r} is out of range: a percentage must be above 0 and at most 100")
        return ("pct", pct)
    else:
        raise PlanError(f"{name} {value!r} is not a size: use an integer >= 1 or a percentage in (0, 100] "
                        "like '25%' or '2.5%'")
    if count < 1:
        raise PlanError(f"{name} {value!r} is out of range: a wave needs at least 1 host (0 would put every "
                        "host in one wave)")
    return ("count", count)


def size_of(parsed, total):
    """Hosts in a batch: a count as is, a percentage of ``total`` rounded down, at least 1
    (Ansible's rule for serial percentages, extended to decimals)."""
    kind, value = parsed
    if kind == "count":
        return value
    return max(1, int(math.floor(value * total / 100.0 + 1e-9)))


def batch_sizes(sizes, total):
    """Exact batch sizes for ``total`` hosts; the last size repeats, as with Ansible's serial."""
    parsed = [parse_size(size, f"wave size (item {i + 1})") for i, size in enumerate(sizes)]
    batches = []
    left = total
    index = 0
    while left > 0:
        size = min(size_of(parsed[min(index, len(parsed) - 1)], total), left)
        batches.append(size)
        left -= size
        index += 1
    return batches


RATE_KEYS = ("start", "factor", "max")


def rate_sizes(rate, total):
    """Batch sizes that grow: ``start`` hosts, then each wave ``factor`` times the one before
    (rounded up), never above ``max``, until ``total`` hosts are planned.

    ``start`` and ``max`` are counts or percentages of ``total`` (like a wave size); ``max``
    is optional (no cap); ``factor`` is a number above 1 (for waves that do not grow, give a
    plain size). Example: start 1, factor 2, max 50 over 200 hosts -> 1, 2, 4, 8, 16, 32, 50,
    50, 37.
    """
    unknown = sorted(str(key) for key in rate if key not in RATE_KEYS)
    if unknown:
        raise PlanError(f"wave rate: unknown key(s) {', '.join(unknown)}; a rate has start, factor and max "
                        "(e.g. {start: 1, factor: 2, max: '25%'})")
    if "start" not in rate or "factor" not in rate:
        raise PlanError("wave rate needs start (first wave: a count or a percentage) and factor (a number above 1); "
                        "max is optional")
    first = size_of(parse_size(rate["start"], "wave rate start"), total)
    cap = size_of(parse_size(rate["max"], "wave rate max"), total) if rate.get("max") not in (None, "") else None
    factor = rate["factor"]
    if isinstance(factor, str):
        try:
            factor = float(factor.strip())
        except ValueError:
            factor = None
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or math.isnan(factor) or factor <= 1 \
            or math.isinf(factor):
        raise PlanError(f"wave rate factor {rate['factor']!r} must be a number above 1 (each wave that many times "
                        "the one before); for waves of one size give a plain wave size instead")
    if cap is not None and cap < first:
        raise PlanError(f"wave rate max {rate['max']!r} ({cap} host(s)) is below start {rate['start']!r} "
                        f"({first} host(s)); raise max or lower start")
    batches = []
    left = total
    size = float(first)
    while left > 0:
        wanted = int(math.ceil(size - 1e-9))
        if cap is not None:
            wanted = min(wanted, cap)
        batch = min(max(1, wanted), left)
        batches.append(batch)
        left -= batch
        size = min(size * float(factor), float(total))
    return batches


def check_pattern(pattern, groups, hostnames):
    """Refuse a host pattern that names an unknown group or host (Ansible would only warn and
    go on with the rest). Terms with wildcards or regular expressions are left to Ansible."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PlanError(f"target {pattern!r} is empty: name an inventory group (default infoscreen_clients)")
    known = set(groups) | set(hostnames)
    unknown = []
    for term in re.split(r"[:,]", pattern):
        name = term.strip().lstrip("&!")
        if not name or any(char in name for char in "*?[~"):
            continue
        if name not in known:
            unknown.append(name)
    if unknown:
        raise PlanError(f"target {pattern!r}: {', '.join(unknown)} is not a group or host of the inventory; known "
                        f"groups: {', '.join(sorted(g for g in groups if g not in ('all', 'ungrouped')))}")


def plan(hosts, waves, *, groups=None, target=None, threshold_pct=5.0, min_executed=1):
    """The waves for ``hosts`` (the play's hosts, ``--limit`` applied, in play order).

    waves: list of inventory group names (each group is one wave, in order), or list of batch
    sizes (counts / percentages of the targeted hosts), or one size, or a growing rate
    ``{"start", "factor", "max"}`` (rate_sizes). groups: the ``groups``
    magic variable (group -> hosts), needed for group waves and for ``target``. target: the
    group (or host pattern resolved by the caller) the batches are cut from.

    Returns {"mode", "serial", "waves": [{"number", "name", "hosts"}], "skipped": [names],
    "hosts": n, "first_wave": n}.
    """
    try:
        threshold = float(threshold_pct)
    except (TypeError, ValueError):
        raise PlanError(f"gate threshold {threshold_pct!r} is not a number: use a percentage between 0 and 100") \
            from None
    if isinstance(min_executed, str) and _COUNT_RE.match(min_executed):
        min_executed = int(min_executed)
    try:
        check_gate_options(threshold, min_executed)
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    groups = groups or {}
    if isinstance(waves, dict):
        return _plan_sizes(list(dict.fromkeys(hosts)), waves, groups, target, min_executed)
    if isinstance(waves, (list, tuple)):
        items = list(waves)
    else:
        items = [waves]
    if not items:
        raise PlanError("the wave list is empty: give inventory groups (first = canary) or batch sizes")
    hosts = list(dict.fromkeys(hosts))
    if all(is_size(item) for item in items):
        return _plan_sizes(hosts, items, groups, target, min_executed)
    if any(is_size(item) for item in items):
        raise PlanError(f"waves {items!r} mix group names and batch sizes: use one or the other")
    return _plan_groups(hosts, items, groups, min_executed)


def _plan_sizes(hosts, items, groups, target, min_executed):
    targeted = hosts
    if target is not None:
        if target not in groups:
            raise PlanError(f"target group {target!r} is not in the inventory; known groups: "
                            f"{', '.join(sorted(g for g in groups if g not in ('all', 'ungrouped')))}")
        limited = set(hosts)  # the group's order, as the play on that group will see it
        targeted = [h for h in dict.fromkeys(groups[target]) if h in limited]
    if not targeted:
        raise PlanError(f"no host to target{f' in group {target!r}' if target else ''} within the play's "
                        "hosts (--limit applied)")
    if isinstance(items, dict):
        sizes = rate_sizes(items, len(targeted))
        labels = [f"rate x{float(items['factor']):g}"] * len(sizes)
    else:
        sizes = batch_sizes(items, len(targeted))
        labels = [items[min(number, len(items)) - 1] for number in range(1, len(sizes) + 1)]
    waves = []
    start = 0
    for number, size in enumerate(sizes, 1):
        label = labels[number - 1]
        waves.append({"number": number, "name": f"batch {number} ({label})", "hosts": targeted[start:start + size]})
        start += size
    return _finish("sizes", waves, [], min_executed)


def _plan_groups(hosts, items, groups, min_executed):
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise PlanError(f"wave {item!r} is neither an inventory group name nor a batch size")
    unknown = [item for item in items if item not in groups]
    if unknown:
        raise PlanError(f"wave group(s) {', '.join(unknown)} not in the inventory; known groups: "
                        f"{', '.join(sorted(g for g in groups if g not in ('all', 'ungrouped')))}")
    if len(set(items)) != len(items):
        raise PlanError(f"waves {items!r} name a group twice")
    for item in items:
        if not groups[item]:
            raise PlanError(f"wave group {item} is empty in the inventory; each wave must be its own non-empty group")
        for other in items:
            shared = sorted(set(groups[item]) & set(groups[other])) if other != item else []
            if shared:
                raise PlanError(f"wave group {item} shares hosts {', '.join(shared)} with wave group {other}; "
                                "each host must be in one wave")
    limited = set(hosts)
    waves = []
    skipped = []
    for item in items:
        members = [h for h in groups[item] if h in limited]
        if members:
            waves.append({"number": len(waves) + 1, "name": item, "hosts": members})
        elif not waves:
            raise PlanError(f"the first wave (canary group {item}) has no host within --limit: the rollout would "
                            "start without its canary; include it in --limit")
        else:
            skipped.append(item)
    return _finish("groups", waves, skipped, min_executed)


def _count_option(value, name, *, allow_none=False, minimum=0):
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_none:
            return None
        raise PlanError(f"{name} is empty: give a whole number")
    if isinstance(value, bool):
        raise PlanError(f"{name} {value!r} is not a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _COUNT_RE.match(value):
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise PlanError(f"{name} {value!r} must be a whole number of at least {minimum}")
    return value


def bulk_guard(targeted, *, unlimited=None, fleet=None, limit=None, max_hosts=10, max_pct=None, confirm=None,
               check_mode=False):
    """The bulk guard: a run without --limit that targets more than ``max_hosts`` hosts, or more
    than ``max_pct`` % of ``fleet``, needs ``confirm`` equal to the number of hosts it targets.

    targeted: the hosts the run will touch (--limit applied); unlimited: the hosts it would
    touch without the limit (a --limit that leaves all of them is no limit); fleet: the whole
    fleet (group infoscreen_clients) the share is taken of; limit: the --limit text
    (ansible_limit), None or empty when not given. A confirmation that differs from the
    count is refused even where none is needed: it was meant for another run (stale), so the
    operator's picture of this one is wrong. Check mode never refuses: it shows the count.

    Returns {"targeted", "fleet", "share_pct", "limited", "needed", "confirmed", "msg"};
    raises PlanError when a real run is not confirmed.
    """
    targeted = list(dict.fromkeys(targeted))
    count = len(targeted)
    max_hosts = _count_option(max_hosts, "infoscreen_bulk_max_hosts")
    if max_pct is not None and not (isinstance(max_pct, str) and not max_pct.strip()):
        try:
            pct = float(str(max_pct).strip().rstrip("%")) if not isinstance(max_pct, bool) else None
        except ValueError:
            pct = None
        if pct is None or math.isnan(pct) or not 0 <= pct <= 100:
            raise PlanError(f"infoscreen_bulk_max_pct {max_pct!r} must be a share between 0 and 100 (or unset)")
        max_pct = pct
    else:
        max_pct = None
    confirm = _count_option(confirm, "infoscreen_bulk_confirm", allow_none=True, minimum=1)
    fleet_hosts = set(fleet or ()) | set(targeted)
    share = round(100.0 * count / len(fleet_hosts), 3) if fleet_hosts else 0.0
    limited = bool(limit and str(limit).strip()) and (unlimited is None or set(unlimited) != set(targeted))
    reasons = []
    if not limited:
        if count > max_hosts:
            reasons.append(f"more than infoscreen_bulk_max_hosts={max_hosts} host(s)")
        if max_pct is not None and share > max_pct:
            reasons.append(f"{share:g} % of the fleet ({count} of {len(fleet_hosts)}), more than "
                           f"infoscreen_bulk_max_pct={max_pct:g} %")
    needed = bool(reasons)
    result = {"targeted": count, "fleet": len(fleet_hosts), "share_pct": share, "limited": limited, "needed": needed,
              "confirmed": confirm == count}
    if confirm is not None and confirm != count:
        raise PlanError(f"infoscreen_bulk_confirm={confirm} but this run targets {count} host(s): a confirmation "
                        f"approves one exact count (a stale one cannot approve another run); pass "
                        f"-e infoscreen_bulk_confirm={count} if you mean all of them, or narrow the run with --limit")
    if not needed:
        result["msg"] = (f"bulk guard: {count} host(s)" + (" (--limit given)" if limited else "")
                         + ", no confirmation needed")
        return result
    ask = (f"bulk guard: this run targets {count} host(s) without --limit ({'; '.join(reasons)}); "
           f"confirm with -e infoscreen_bulk_confirm={count}, or narrow it with --limit")
    if result["confirmed"]:
        result["msg"] = f"bulk guard: {count} host(s) without --limit, confirmed (infoscreen_bulk_confirm={count})"
        return result
    if check_mode:
        result["msg"] = f"{ask} (check mode: not refused)"
        return result
    raise PlanError(ask)


def _finish(mode, waves, skipped, min_executed):
    first = len(waves[0]["hosts"])
    if min_executed > first:
        raise PlanError(f"min_executed {min_executed} is larger than the first wave ({waves[0]['name']}: {first} "
                        f"host(s)): that wave could never pass; lower min_executed or make the first wave larger")
    return {"mode": mode, "serial": [len(w["hosts"]) for w in waves], "waves": waves, "skipped": skipped,
            "hosts": sum(len(w["hosts"]) for w in waves), "first_wave": first}


__all__ = ["PlanError", "batch_sizes", "bulk_guard", "check_pattern", "is_size", "parse_size", "plan", "rate_sizes",
           "size_of"]
