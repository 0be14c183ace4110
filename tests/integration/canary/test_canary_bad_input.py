"""canary.yml refuses bad options in its first play (localhost), before any client is
touched: the message names what is wrong and says nothing was changed. No broker needed:
nothing gets that far."""

import json
import sys

import pytest
from fixtures.pi_agent import run_ansible_playbook

pytestmark = [pytest.mark.integration]

UUIDS = [f"0b6f1a52-4e4c-4a8e-9d53-1f0d8a6c2b1{i}" for i in range(3)]


def run(tmp_path, extra, *args):
    inventory = {"all": {"children": {"infoscreen_clients": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {group: {"hosts": {f"pi-{i}": {"client_uuid": UUIDS[i]}}}
                     for i, group in enumerate(["canary", "wave1", "wave2"])}}}}}
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    rc, output, _recap = run_ansible_playbook(path, "canary.yml", "-e", json.dumps(extra), *args, timeout=300)
    return rc, output


@pytest.mark.parametrize(("extra", "words"), [
    ({"canary_release": {"label": "2.0", "settings": {"pi_agent_no_such_thing": 1}}},
     "pi_agent_no_such_thing - each key must be a pi_agent_* variable"),
    ({"canary_release": {"label": "2.0", "settings": {"pi_agent_release_label": "x"}}},
     "pi_agent_release_label - each key must be a pi_agent_* variable"),
    ({"canary_release": {"label": "2.0", "ssd_profile_version": "two"}}, "must be empty or a positive integer"),
    # Issue 14: no apply mode other than the roles; the removed option is refused, not ignored.
    ({"canary_release": {"label": "2.0"}, "canary_apply_mode": "simulated"},
     "canary_apply_mode=simulated is no longer an option: canary.yml always applies, records and rolls back"),
    # Issue 14: product decisions are never scaled; the removed scale factor is refused, not ignored.
    ({"canary_release": {"label": "2.0"}, "canary_time_scale": 0.02},
     "canary_time_scale=0.02 is no longer an option: the drill's reconnect limits are never scaled"),
    # Issue 12: waves, gate options and --limit are checked before anything is touched.
    ({"canary_release": {"label": "2.0"}, "canary_waves": ["0", "100%"]}, "a wave needs at least 1 host"),
    ({"canary_release": {"label": "2.0"}, "canary_waves": ["150%"]}, "above 0 and at most 100"),
    ({"canary_release": {"label": "2.0"}, "canary_threshold_pct": 500},
     "threshold_pct must be a number between 0 and 100"),
    ({"canary_release": {"label": "2.0"}, "canary_min_executed": 2},
     "min_executed 2 is larger than the first wave (canary: 1 host(s))"),
])
def test_bad_options_fail_before_any_client_is_touched(tmp_path, extra, words):
    """Each bad option fails the first play with a message naming it; no wave play starts."""
    rc, out = run(tmp_path, extra)
    assert rc != 0, out
    assert words in " ".join(out.split()), out[-3000:]
    assert "Nothing was changed" in out or "Fix the inventory" in out
    assert "PLAY [Roll the release out wave by wave]" not in out


def test_a_limit_without_the_canary_is_refused_before_any_client_is_touched(tmp_path):
    """--limit without localhost and without the canary group: the checks still run (first
    play on hosts: all) and refuse a rollout that would start without its canary."""
    rc, out = run(tmp_path, {"canary_release": {"label": "2.0"}}, "-l", "pi-1,pi-2")
    assert rc != 0, out
    assert "the first wave (canary group canary) has no host within --limit" in " ".join(out.split()), out[-3000:]
    assert "PLAY [Roll the release out wave by wave]" not in out
