"""The drill table's pure parts: goals, formatting, summary, runner options."""

import json

import pytest

from drills.report import Goal, Row, cpu_model, failed_drill_row, format_value, markdown_table, summary, text_table
from drills.run import choose, parse_sizes
from drills.scale import growth


def test_goal_operators_and_unmeasured_values():
    assert Goal("==", 0).met(0) is True
    assert Goal("==", 0).met(1) is False
    assert Goal("<", 2.0).met(1.99) is True
    assert Goal("<", 2.0).met(2.0) is False
    assert Goal(">=", 1000).met(1000) is True
    assert Goal("==", 0).met(None) is False  # nothing measured never meets a goal
    assert Goal("==", 1).met(True) is False  # a boolean is not a count
    with pytest.raises(ValueError, match="operator"):
        Goal("=", 0)


def test_row_met_and_info_rows():
    assert Row("d", "f", 0, goal=Goal("==", 0)).met is True
    assert Row("d", "f", 3, goal=Goal("==", 0)).met is False
    assert Row("d", "f", 3.5, "s").met is None


def test_format_value():
    assert format_value(10000) == "10,000"
    assert format_value(1.23456, "s") == "1.23 s"
    assert format_value(0.01234) == "0.012"
    assert format_value(1234.5, "MB") == "1,234 MB"
    assert format_value(None, "s") == "not measured"


def test_tables_show_goal_and_verdict():
    rows = [Row("lockout", "beyond 3", 0, goal=Goal("==", 0)), Row("scale", "cpu", 2.5, "s"),
            Row("acl", "reads | writes", 2, goal=Goal("==", 0))]
    text = text_table(rows).splitlines()
    assert text[0].split() == ["drill", "figure", "measured", "goal", "met?"]
    assert text[2].endswith("yes") and "(info)" in text[3] and text[4].endswith("NO")
    md = markdown_table(rows).splitlines()
    assert md[0] == "| drill | figure | measured | goal | met? |"
    assert "reads \\| writes" in md[4]  # a pipe in a cell must not split the Markdown row


def test_summary_counts_only_rows_with_goals():
    rows = [Row("a", "x", 0, goal=Goal("==", 0)), Row("b", "y", 1, goal=Goal("==", 0)), Row("c", "z", 5)]
    met, total, missed = summary(rows)
    assert (met, total) == (1, 2)
    assert [r.drill for r in missed] == ["b"]


def test_a_drill_that_broke_is_a_failed_row():
    row = failed_drill_row("poe", RuntimeError("snmpsim did not start"))
    assert row.met is False and "snmpsim did not start" in row.note


def test_cpu_model_from_cpuinfo():
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    assert cpu_model("") == "unknown"


def test_runner_options():
    assert choose([], [])[0] == "scale"
    assert choose(["acl", "scale"], []) == ["scale", "acl"]  # table order, not argument order
    assert "poe" not in choose([], ["poe"])
    with pytest.raises(ValueError, match="unknown drill 'dns'.*scale"):
        choose(["dns"], [])
    assert parse_sizes("250,100, 250") == [100, 250]
    assert parse_sizes("") is None
    with pytest.raises(ValueError, match="--sizes"):
        parse_sizes("100,many")
    with pytest.raises(ValueError, match="at least 1"):
        parse_sizes("0")


def test_growth_relative_to_the_smallest_wave():
    points = [{"clients": 100, "cpu_s": 1.0}, {"clients": 1000, "cpu_s": 12.0}]
    trend = growth(points)
    assert trend[0]["cpu_per_client_ratio"] == 1.0
    assert trend[1]["cpu_per_client_ratio"] == pytest.approx(1.2)
    assert trend[1]["clients_ratio"] == 10
    assert growth([]) == []


def test_journal_figures_split_the_wave(tmp_path):
    from drills.scale import journal_figures

    lines = [{"client_uuid": "a", "command_id": "c1", "received": 100.5, "completed": 105.5},
             {"client_uuid": "b", "command_id": "c2", "received": 101.0, "completed": 107.0},
             {"client_uuid": "c", "command_id": "other-wave", "received": 1.0, "completed": 500.0}]
    (tmp_path / "reboots-0.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    figures = journal_figures(tmp_path, {"c1", "c2"}, mono_start=100.0, mono_end=107.5)
    assert figures == pytest.approx({"slowest_reboot_s": 6.0, "dispatch_s": 1.0, "tail_s": 0.5})
    assert journal_figures(tmp_path, {"nope"}, 0, 1)["slowest_reboot_s"] is None


def test_scale_rows_name_the_largest_size_that_fully_completed():
    from drills.scale import rows_for

    def point(clients, complete):
        return {"clients": clients, "all_completed": complete, "wall_s": 7.0, "slowest_reboot_s": 5.0,
                "overhead_s": 2.0, "dispatch_s": 0.5, "tail_s": 0.2, "cpu_s": 0.01 * clients, "peak_rss_mb": 40.0,
                "rss_before_mb": 30.0, "broker_cpu_s": 0.1, "broker_cpu_pct": 1.0, "timing": {"published_s": 0.3}}

    rows = rows_for([point(100, True), point(250, False)], [100, 250], 5.0, [])
    assert rows[0].value == 100 and rows[0].met is False  # 250 was asked for and did not complete
    assert rows[1].figure.startswith("tooling overhead at 100") and rows[1].met is False  # 2.0 is not < 2.0
    assert rows_for([], [100], 5.0, [])[0].value == 0
