"""The drill table: rows of (drill, figure, measured, goal, met?), goals, and the machine.

Pure functions except ``machine_facts`` (reads /proc and runs ``mosquitto -h``), so the
formatting and goal evaluation are unit-tested without any broker.
"""

import datetime
import os
import platform
import re
import subprocess
from dataclasses import asdict, dataclass, field

# Goal operators: the measured value must be ==, <=, >=, < or > the target. None = a figure
# reported for information, with no goal of its own.
_OPS = {
    "==": lambda value, target: value == target,
    "<=": lambda value, target: value <= target,
    ">=": lambda value, target: value >= target,
    "<": lambda value, target: value < target,
    ">": lambda value, target: value > target,
}


@dataclass(frozen=True)
class Goal:
    op: str
    target: float

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"goal operator {self.op!r} is not one of {', '.join(_OPS)}")

    def met(self, value):
        """True/False; False also when nothing was measured (None) or the value is not a number."""
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return _OPS[self.op](value, self.target)

    def text(self):
        return f"{self.op} {format_value(self.target)}"


@dataclass
class Row:
    drill: str
    figure: str
    value: object  # int/float measured, None when the drill could not measure it
    unit: str = ""
    goal: Goal = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def met(self):
        return None if self.goal is None else self.goal.met(self.value)

    def as_dict(self):
        data = asdict(self)
        data["goal"] = self.goal.text() if self.goal else None
        data["met"] = self.met
        return data


def format_value(value, unit=""):
    if value is None:
        text = "not measured"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 1 else f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip() if value is not None else text


def met_text(row):
    if row.goal is None:
        return "(info)"
    return "yes" if row.met else "NO"


def _cells(row):
    goal = f"{row.goal.text()} {row.unit}".strip() if row.goal else "-"
    return [row.drill, row.figure, format_value(row.value, row.unit), goal, met_text(row)]


HEADER = ["drill", "figure", "measured", "goal", "met?"]


def text_table(rows):
    """A plain aligned table for the terminal."""
    lines = [HEADER] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = []
    for index, line in enumerate(lines):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _md_escape(text):
    return text.replace("|", "\\|")


def markdown_table(rows):
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(_md_escape(c) for c in _cells(row)) + " |")
    return "\n".join(lines)


def summary(rows):
    """(goals met, goals total, [rows whose goal is not met])."""
    judged = [r for r in rows if r.goal is not None]
    missed = [r for r in judged if not r.met]
    return len(judged) - len(missed), len(judged), missed


def failed_drill_row(drill, exc):
    """A drill that could not finish still gets a row, never a silent gap."""
    return Row(drill, "drill finished", None, goal=Goal("==", 1), note=f"{type(exc).__name__}: {exc}"[:500])


# -- the machine the drills ran on ----------------------------------------------------------
def _first_line(command):
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def cpu_model(cpuinfo_text):
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo_text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def memory_text(meminfo_path="/proc/meminfo"):
    """'23.4 GiB total, 21.9 GiB available' (what `free -h` shows in its Mem: line)."""
    try:
        with open(meminfo_path, encoding="ascii") as handle:
            info = dict(line.split(":", 1) for line in handle if ":" in line)
        total, available = (int(info[key].split()[0]) / 1024 / 1024 for key in ("MemTotal", "MemAvailable"))
    except (OSError, KeyError, ValueError):
        return "unknown"
    return f"{total:.1f} GiB total, {available:.1f} GiB available"


def machine_facts():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = cpu_model(handle.read())
    except OSError:
        model = "unknown"
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory": memory_text(),
        "loadavg": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "python": platform.python_version(),
        "mosquitto": _first_line(["sh", "-c", "mosquitto -h 2>&1 | head -1"]),
        "kernel": platform.release(),
    }


def machine_text(facts):
    return (f"machine: {facts['nproc']} CPUs ({facts['cpu_model']}); memory {facts['memory']}; "
            f"load average at start {facts['loadavg']}; Python {facts['python']}; {facts['mosquitto']}; "
            f"kernel {facts['kernel']}; {facts['date_utc']}")
