"""The drill table's pure parts: goals, formatting, summary, runner options."""

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
