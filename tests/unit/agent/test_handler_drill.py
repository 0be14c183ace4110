"""The malformed-input drill's in-process mode at a small size (the full 1,000,000 + 100,000
run is `python -m drills.handler_drill`, docs/drills.md): the real handler and store, the sim
backend, no MQTT."""

from drills import handler_drill


def test_in_process_drill_small_size_has_no_escapes_and_no_executions_beyond_the_rules(tmp_path):
    """3,000 random/mutated payloads + 300 duplicates: 0 exceptions escape, 0 executions beyond
    the rules, and the valid commands mixed in did run up to the lockout (the count can fail)."""
    figures = handler_drill.run_in_process(3000, 300, seed=4, workdir=tmp_path, say=lambda _m: None)
    assert figures["exceptions"] == 0, figures["exception_example"]
    assert figures["beyond_rules"] == 0, figures
    assert figures["valid_refused_state_lost"] == 0, figures
    assert 1 <= figures["executions"] <= figures["lockout_max"]
    assert figures["outcomes"].get("rejected", 0) > 0 and figures["outcomes"].get("duplicate", 0) > 0
