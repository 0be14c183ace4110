"""Issue 18 item 2: canary.yml refuses a bad stability window in its first play, before any
client is touched (the drills would only refuse it after the release was applied). No broker
needed: nothing gets that far."""

import json
import sys

import pytest
from fixtures.pi_agent import run_ansible_playbook

pytestmark = [pytest.mark.integration]

UUIDS = [f"0b6f1a52-4e4c-4a8e-9d53-1f0d8a6c2b1{i}" for i in range(2)]


def run(tmp_path, extra, host_window=None):
    hosts = {f"pi-{i}": {"client_uuid": UUIDS[i]} for i in range(2)}
    if host_window is not None:
        hosts["pi-1"]["infoscreen_stability_s"] = host_window
    inventory = {"all": {"children": {"infoscreen_clients": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {"canary": {"hosts": {"pi-0": hosts["pi-0"]}}, "wave1": {"hosts": {"pi-1": hosts["pi-1"]}}}}}}}
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    extra = {"canary_release": {"label": "2.0"}, "canary_waves": ["canary", "wave1"], **extra}
    rc, output, _recap = run_ansible_playbook(path, "canary.yml", "-e", json.dumps(extra), timeout=300)
    return rc, " ".join(output.split())


def test_bad_stability_window_is_refused_before_anything_is_touched(tmp_path):
    # One run shows both: a run-wide value that is not a number and a client's own above 3600.
    rc, output = run(tmp_path, {"canary_stability_s": "-5"}, host_window=7200)
    assert rc != 0, output
    assert "the stability window must be a number of seconds between 0 and 3600" in output, output[-3000:]
    assert "canary_stability_s=-5" in output and "the clients' infoscreen_stability_s=7200" in output
    assert "Nothing was changed" in output
    assert "Record the release" not in output  # no client task ran


def test_good_windows_pass_the_check(tmp_path):
    rc, output = run(tmp_path, {"canary_stability_s": 2.5}, host_window=0)
    assert "TASK [Check the stability window" in output, output[-3000:]
    assert "the stability window must be" not in output, output[-3000:]
