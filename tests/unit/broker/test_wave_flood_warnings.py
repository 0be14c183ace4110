"""A client flooding its own ack topic with garbage does not flood the play output: the wave
warns about the first INVALID_ACK_WARNINGS invalid acks and only counts the rest."""

from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import (
    INVALID_ACK_WARNINGS,
    WaveOptions,
    WaveRun,
)

FLOODER = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_invalid_acks_are_counted_and_warned_about_a_bounded_number_of_times():
    warnings = []
    wave = WaveRun([], WaveOptions("restart_app"), None, {}, warn=warnings.append)
    for index in range(500):
        wave._on_message(f"infoscreen/{FLOODER}/commands/ack", b"not json %d" % index, float(index))
    assert wave.stats["invalid_acks"] == 500
    assert len(warnings) == INVALID_ACK_WARNINGS
    assert "only counted" in warnings[-1]
