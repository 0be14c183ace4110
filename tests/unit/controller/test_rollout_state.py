"""Rollout state file (plugins/plugin_utils/rollout_state.py): the pre-rollout release of each
client is recorded once per rollout and survives interruption; re-runs resume or refuse."""

import json
import os
import stat

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import rollout_state as rs

OLD = {"label": "1.0"}
NEW = {"label": "2.0"}


def test_first_record_of_a_rollout_wins_across_an_interruption(tmp_path):
    """A resumed run records the new release it finds, but the first record is kept: the
    rollback target stays the release the client ran before the rollout."""
    rs.begin(tmp_path, "r1", "2.0", now=1000)
    effective, new = rs.record(tmp_path, "r1", {"a": OLD}, 1, now=1001)
    assert (effective, new) == ({"a": OLD}, ["a"])
    # ... interrupted (nothing else written); re-run with the same id:
    state, message = rs.begin(tmp_path, "r1", "2.0", now=2000)
    assert "RESUMING" in message and state["runs"] == 2
    effective, new = rs.record(tmp_path, "r1", {"a": NEW, "b": OLD}, 1, now=2001)
    assert effective == {"a": OLD, "b": OLD}
    assert new == ["b"]
    path = tmp_path / "r1.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["clients"]["a"]["recorded"] == OLD


def test_another_rollout_is_refused_while_one_is_open(tmp_path):
    rs.begin(tmp_path, "r1", "2.0")
    with pytest.raises(rs.RolloutStateError, match="rollout r1 .release 2.0. did not finish.*canary_rollout_id=r1"):
        rs.begin(tmp_path, "r2", "3.0")


@pytest.mark.parametrize("status", ["passed", "rolled_back"])
def test_a_finished_rollout_id_is_not_run_again_but_a_new_one_may_start(tmp_path, status):
    rs.begin(tmp_path, "r1", "2.0")
    rs.finish(tmp_path, "r1", status, wave=1, name="canary", reason="why")
    with pytest.raises(rs.RolloutStateError, match=f"already finished: {status}"):
        rs.begin(tmp_path, "r1", "2.0")
    state, _unused = rs.begin(tmp_path, "r2", "2.0")
    assert state["status"] == "running"


def test_same_id_for_another_release_is_refused(tmp_path):
    rs.begin(tmp_path, "r1", "2.0")
    with pytest.raises(rs.RolloutStateError, match="started for release 2.0, not 3.0"):
        rs.begin(tmp_path, "r1", "3.0")


def test_check_mode_writes_nothing(tmp_path):
    rs.begin(tmp_path, "r1", "2.0", check_mode=True)
    effective, _unused = rs.record(tmp_path, "r1", {"a": OLD}, 1, check_mode=True)
    assert effective == {"a": OLD}
    assert list(tmp_path.iterdir()) == []


def test_record_without_begin_and_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(rs.RolloutStateError, match="must be begun first"):
        rs.record(tmp_path, "r1", {"a": OLD}, 1)
    (tmp_path / "r2.json").write_text("{not json")
    with pytest.raises(rs.RolloutStateError, match="cannot be read"):
        rs.begin(tmp_path, "r3", "2.0")
    with pytest.raises(rs.RolloutStateError, match="not usable as a name"):
        rs.state_path(tmp_path, "../etc/passwd")
