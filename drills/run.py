"""The drill runner: run the chosen drills, print one table (drill, measured, goal, met?).

    python -m drills                         # every drill, full size (about 10-15 min)
    python -m drills --quick                 # smaller sizes (a few minutes)
    python -m drills --only scale --sizes 100,250,500,1000
    python -m drills --json out.json --markdown out.md

Exit status 0 when every goal is met, 1 when one is not (or a drill could not finish), 2 on
bad options. Scratch files (they hold broker passwords) go to a private temporary folder that
is removed at the end unless --keep.
"""

import argparse
import json
import os
import shutil
import tempfile
import time
import traceback

from . import acl, broker_restart, clock_skew, duplicates, lockout, malformed, poe, scale
from .kit import Context
from .report import failed_drill_row, machine_facts, machine_text, markdown_table, summary, text_table

DRILLS = {
    "scale": scale,
    "broker_restart": broker_restart,
    "duplicates": duplicates,
    "malformed": malformed,
    "clock_skew": clock_skew,
    "acl": acl,
    "poe": poe,
    "lockout": lockout,
}


def choose(only, skip):
    """Drill names to run, in the table's order; unknown names are an error that lists the known ones."""
    for name in (only or []) + (skip or []):
        if name not in DRILLS:
            raise ValueError(f"unknown drill {name!r}; drills: {', '.join(DRILLS)}")
    return [name for name in DRILLS if (not only or name in only) and name not in (skip or [])]


def _names(text):
    return [part.strip() for part in text.split(",") if part.strip()] if text else []


def parse_sizes(text):
    if not text:
        return None
    try:
        sizes = sorted({int(part) for part in _names(text)})
    except ValueError:
        raise ValueError(f"--sizes {text!r}: use comma-separated client counts, e.g. 100,250,500,1000") from None
    if not sizes or sizes[0] < 1:
        raise ValueError(f"--sizes {text!r}: client counts must be at least 1")
    return sizes


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__.partition("\n")[0])
    parser.add_argument("--only", help=f"comma-separated drills to run (default all): {', '.join(DRILLS)}")
    parser.add_argument("--skip", help="comma-separated drills to leave out")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    parser.add_argument("--sizes", help="scale drill client counts (default 100,250,500,1000; quick 50,100)")
    parser.add_argument("--seed", type=int, default=9, help="seed of the random payloads and client ids")
    parser.add_argument("--workdir", help="scratch folder (default: a private temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (holds passwords; 0700)")
    parser.add_argument("--json", help="also write rows, machine facts and details as JSON here")
    parser.add_argument("--markdown", help="also write the table (and the scale detail) as Markdown here")
    parser.add_argument("--list", action="store_true", help="list the drills and exit")
    return parser


def run_drills(names, ctx):
    rows, timings = [], {}
    for name in names:
        ctx.say(f"== drill {name}")
        started = time.monotonic()
        try:
            rows.extend(DRILLS[name].run(ctx))
        except Exception as exc:  # one broken drill must not hide the others' figures
            traceback.print_exc()
            rows.append(failed_drill_row(getattr(DRILLS[name], "NAME", name), exc))
        timings[name] = round(time.monotonic() - started, 1)
        ctx.say(f"   {name} took {timings[name]:.0f} s")
    return rows, timings


def write_outputs(args, rows, facts, timings, load_end):
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"machine": facts, "load_at_end": load_end, "timings_s": timings,
                       "rows": [r.as_dict() for r in rows]}, handle, indent=1, default=str)
    if args.markdown:
        text = [machine_text(facts), f"load average at end: {load_end}", "", markdown_table(rows)]
        points = next((r.extra.get("points") for r in rows if r.extra.get("points")), None)
        if points:
            text += ["", scale.detail_table(points)]
        notes = [f"- **{r.drill} / {r.figure}**: {r.note}" for r in rows if r.note]
        durations = ", ".join(f"{k} {v:g}" for k, v in timings.items())
        text += ["", "Notes:", *notes, "", f"Drill durations (s): {durations}"]
        with open(args.markdown, "w", encoding="utf-8") as handle:
            handle.write("\n".join(text) + "\n")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        for name, module in DRILLS.items():
            print(f"{name:15} {module.__doc__.strip().splitlines()[0]}")
        return 0
    try:
        names = choose(_names(args.only), _names(args.skip))
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        parser.error(str(exc))
    workdir = args.workdir or tempfile.mkdtemp(prefix="infoscreen-drills-")
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    os.chmod(workdir, 0o700)
    ctx = Context(workdir, quick=args.quick, seed=args.seed, sizes=sizes,
                  say=lambda line: print(line, flush=True))
    facts = machine_facts()
    print(machine_text(facts), flush=True)
    print(f"drills: {', '.join(names)}{' (quick)' if args.quick else ''}; scratch {workdir}", flush=True)
    try:
        rows, timings = run_drills(names, ctx)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    load_end = " ".join(f"{load:.2f}" for load in os.getloadavg())
    print()
    print(text_table(rows))
    print("\nnotes:")
    for row in rows:
        if row.note:
            print(f"- {row.drill} / {row.figure}: {row.note}")
    met, total, missed = summary(rows)
    print(f"\ngoals met: {met}/{total}; load average at end {load_end}; drill durations (s): "
          + ", ".join(f"{k} {v:g}" for k, v in timings.items()))
    for row in missed:
        print(f"NOT MET: {row.drill} / {row.figure}: {row.value!r} (goal {row.goal.text()}) {row.note}")
    write_outputs(args, rows, facts, timings, load_end)
    return 0 if not missed else 1
