# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback plugin infoscreen.fleet.rollout_report: per-host lifecycle report at the end of the run."""

DOCUMENTATION = r"""
name: rollout_report
type: aggregate
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Per-host report of lifecycle waves (state, reconnect time, error), wave totals and gate decisions
description:
  - The table gains an APP column when a host had a held or stability phase (for example
    C(app stable 45 s), C(app crashed (window 45 s)), C(held 120 s by signage-app)).
  - Collects the results of M(infoscreen.fleet.lifecycle_wave), M(infoscreen.fleet.lifecycle_outcome)
    and M(infoscreen.fleet.wave_gate) and, at the end of the run, prints a per-host table (state,
    reconnect time against the baseline and ceiling, error), totals per wave with the gate decision,
    and overall totals.
  - Unreachable hosts, blocked hosts and hosts the play never reached (the gate stopped the
    remaining waves) are listed too; no targeted host is dropped. The gate's reason is printed
    with each wave (a wave that executed nothing is a STOP, never a pass).
  - Optionally writes the report as JSON (data structure documented in
    C(plugins/plugin_utils/rollout_summary.py), schema C(infoscreen.rollout_report/1)) and as JUnit XML.
  - Prints nothing when the run had no lifecycle wave.
requirements:
  - enable in C(callbacks_enabled) (ansible.cfg C([defaults]) or E(ANSIBLE_CALLBACKS_ENABLED))
options:
  json_path:
    description: Write the report as JSON to this file.
    type: path
    env:
      - name: INFOSCREEN_ROLLOUT_JSON
    ini:
      - section: callback_rollout_report
        key: json_path
  junit_path:
    description:
      - Write the report as JUnit XML (one testsuite per wave, one testcase per host) to this file.
      - Each judged wave also has a testcase C(gate), failed with the gate's reason when it said stop
        (for example C(nothing executed) when the broker was unreachable or every client was blocked).
    type: path
    env:
      - name: INFOSCREEN_ROLLOUT_JUNIT
    ini:
      - section: callback_rollout_report
        key: junit_path
  html_file:
    description:
      - Write the report as one self-contained HTML page (inline CSS/SVG, nothing fetched from the
        network) to this file - wave summary (for C(playbooks/canary.yml) with release, gate, reconnect
        p50/p95/max and rollback), clients not ok, and a per-client timeline of the ack phases against the
        reconnect baseline and ceiling, with the controller's phases as bands - C(held) (the client's local
        hold) and C(stabilizing) (the "really back" window after the reboot). Rendered by
        C(plugins/plugin_utils/report_html.py).
    type: path
    env:
      - name: INFOSCREEN_ROLLOUT_HTML
    ini:
      - section: callback_rollout_report
        key: html_file
  show_table:
    description: Print the per-host table (the wave and total lines are always printed).
    type: bool
    default: true
    env:
      - name: INFOSCREEN_ROLLOUT_TABLE
    ini:
      - section: callback_rollout_report
        key: show_table
  reconnect_warn_s:
    description: Reconnect baseline in seconds shown in the table (results carry their own verdict).
    type: float
    default: 90
    env:
      - name: INFOSCREEN_RECONNECT_WARN_S
    ini:
      - section: callback_rollout_report
        key: reconnect_warn_s
  reconnect_ceiling_s:
    description: Reconnect ceiling in seconds shown in the table.
    type: float
    default: 150
    env:
      - name: INFOSCREEN_RECONNECT_CEILING_S
    ini:
      - section: callback_rollout_report
        key: reconnect_ceiling_s
"""

import json
import os

from ansible.plugins.callback import CallbackBase
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.report_html import render_html
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.rollout_summary import (
    build_report,
    host_record,
    render_junit,
    render_table,
)

_WAVE = "lifecycle_wave"
_OUTCOME = "lifecycle_outcome"
_GATE = "wave_gate"


def _kind(task):
    """Which of our actions a task ran (FQCN, short name or collections-keyword form)."""
    name = getattr(task, "resolved_action", None) or task.action or ""
    short = name.rsplit(".", 1)[-1]
    if short in (_WAVE, _OUTCOME, _GATE) and (name == short or name.startswith("infoscreen.fleet.")):
        return short
    return None


def _write(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "infoscreen.fleet.rollout_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.records = {}
        self.waves = {}
        self.play_hosts = []
        self._play_hosts_current = []
        self._play_had_wave = False

    # -- collecting -----------------------------------------------------------------------

    def v2_playbook_on_play_start(self, play):
        self._flush_play_hosts()
        try:
            inventory = play.get_variable_manager()._inventory
            self._play_hosts_current = [h.name for h in inventory.get_hosts(play.hosts, ignore_restrictions=True)]
        except Exception:  # noqa: BLE001 - a report without not_run rows beats a crashed run
            self._play_hosts_current = []
        self._play_had_wave = False

    def _flush_play_hosts(self):
        if self._play_had_wave:
            for host in self._play_hosts_current:
                if host not in self.play_hosts:
                    self.play_hosts.append(host)
        self._play_hosts_current = []

    def _on_result(self, result):
        kind = _kind(result._task)
        if kind is None:
            return
        data = result._result
        host = result._host.get_name()
        self._html_collect(kind, data)
        if kind == _WAVE:
            self._play_had_wave = True
            wave_id = data.get("wave_id")
            if not wave_id:
                return
            wave = self.waves.setdefault(wave_id, {"wave_id": wave_id, "gate": None})
            wave.update(number=data.get("wave"), action=data.get("command"), counts=data.get("counts") or {})
            for name, res in (data.get("results") or {}).items():
                if name not in self.records or self.records[name].get("wave_id") != wave_id:
                    self.records[name] = host_record(name, res)
        elif kind == _OUTCOME:
            self._play_had_wave = True
            if "state" in data and data.get("wave_id"):
                self.records[host] = host_record(host, data)
            elif host not in self.records:
                self.records[host] = host_record(host, state="failed", error_message=data.get("msg"))
        elif kind == _GATE and data.get("wave_id"):
            wave = self.waves.setdefault(data["wave_id"], {"wave_id": data["wave_id"], "number": data.get("wave")})
            wave["gate"] = {key: data.get(key) for key in ("decision", "reason", "executed", "ratio_pct",
                                                           "threshold_pct", "min_executed")}
            wave["gate"].update(failed=data.get("failed_count"), timed_out=data.get("timed_out_count"),
                                unreachable=data.get("unreachable_count") or 0)

    def v2_runner_on_ok(self, result):
        self._on_result(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._on_result(result)

    def v2_runner_on_unreachable(self, result):
        host = result._host.get_name()
        message = result._result.get("msg") or "unreachable"
        previous = self.records.get(host)
        self.records[host] = host_record(host, previous if previous else None, state="unreachable",
                                         error_message=message)

    # -- reporting ------------------------------------------------------------------------

    def v2_playbook_on_stats(self, stats):
        self._flush_play_hosts()
        if not self.records and not self.waves:
            return
        report = build_report(self.records, list(self.waves.values()), play_hosts=self.play_hosts,
                              warn_s=self.get_option("reconnect_warn_s"),
                              ceiling_s=self.get_option("reconnect_ceiling_s"))
        self._display.banner("ROLLOUT REPORT")
        lines = render_table(report)
        if not self.get_option("show_table"):
            lines = lines[len(report["hosts"]) + 2:]
        for line in lines:
            self._display.display(line)
        json_path = self.get_option("json_path")
        if json_path:
            _write(json_path, json.dumps(report, indent=1, sort_keys=True) + "\n")
            self._display.display(f"rollout report JSON: {json_path}")
        junit_path = self.get_option("junit_path")
        if junit_path:
            _write(junit_path, render_junit(report))
            self._display.display(f"rollout report JUnit: {junit_path}")
        self._html_write(report, stats)

    # -- HTML report (option html_file; issue 6, owned with playbooks/canary.yml) -----------
    # Kept apart from the rest: it only reads what the collectors above saw, plus every
    # lifecycle_wave result in full (the per-client transitions for the timeline) and the
    # canary_waves custom stats that playbooks/canary.yml sets with set_stats.

    def _html_collect(self, kind, data):
        if kind != _WAVE or not data.get("wave_id"):
            return
        waves = self.__dict__.setdefault("_html_waves", {})
        waves[data["wave_id"]] = {"wave_id": data["wave_id"], "number": data.get("wave"), "action": data.get("command"),
                                  "started_at": (data.get("timing") or {}).get("started_at"),
                                  "results": data.get("results") or {}}

    def _html_write(self, report, stats):
        html_file = self.get_option("html_file")
        if not html_file:
            return
        custom = (getattr(stats, "custom", None) or {}).get("_run", {})
        canary_waves = sorted(custom.get("canary_waves") or [], key=lambda w: int(w.get("number") or 0))
        title = f"canary rollout of release {canary_waves[0].get('release')}" if canary_waves else "rollout report"
        summary = {"title": title, "report": report, "canary_waves": canary_waves,
                   "lifecycle_waves": list(self.__dict__.get("_html_waves", {}).values())}
        _write(html_file, render_html(summary))
        self._display.display(f"rollout report HTML: {html_file}")
