"""canary.yml honours the bulk guard and checks the maintenance windows in its first play,
before any client is touched, and takes a growing wave rate (issue 18 items 1, 4, 5). No
broker needed: nothing gets past the first play (a 12-host inventory of local hosts)."""

import json
import sys

import pytest
from fixtures.pi_agent import run_ansible_playbook

pytestmark = [pytest.mark.integration]

REPO_PLAYBOOKS = __import__("pathlib").Path(__file__).resolve().parents[3] / "playbooks"
GROUPS = {"canary": 2, "wave1": 4, "wave2": 6}


def inventory(tmp_path, windows=None):
    children, index = {}, 0
    for group, count in GROUPS.items():
        hosts = {}
        for _n in range(count):
            hosts[f"pi-{index:02d}"] = {"client_uuid": f"0b6f1a52-4e4c-4a8e-9d53-1f0d8a6c2b{index:02d}"}
            index += 1
        children[group] = {"hosts": hosts}
    if windows is not None:
        children["wave1"]["vars"] = {"infoscreen_maintenance_windows": windows}
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({"all": {"children": {"infoscreen_clients": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": children}}}}))
    return path


def run(tmp_path, extra, *args, windows=None):
    extra = {"canary_release": {"label": "2.0"}, **extra}
    rc, output, _recap = run_ansible_playbook(inventory(tmp_path, windows), "canary.yml", "-e", json.dumps(extra),
                                              *args, timeout=300)
    return rc, " ".join(output.split())


def test_a_whole_fleet_canary_needs_its_exact_count_confirmed(tmp_path):
    rc, out = run(tmp_path, {})
    assert rc != 0, out
    assert "this run targets 12 host(s) without --limit" in out
    assert "-e infoscreen_bulk_confirm=12" in out and "Nothing was changed" in out
    assert "PLAY [Roll the release out wave by wave]" not in out
    rc, out = run(tmp_path, {"infoscreen_bulk_confirm": 11})
    assert rc != 0, out
    assert "infoscreen_bulk_confirm=11 but this run targets 12 host(s)" in out
    assert "PLAY [Roll the release out wave by wave]" not in out


def test_a_bad_window_in_a_wave_group_is_refused_in_the_first_play(tmp_path):
    rc, out = run(tmp_path, {"infoscreen_bulk_confirm": 12},
                  windows=[{"days": ["mon"], "start": "02:00", "end": "02:00", "tz": "Europe/Berlin"}])
    assert rc != 0, out
    assert "host pi-02: infoscreen_maintenance_windows item 1: start and end are both 02:00" in out
    assert "PLAY [Roll the release out wave by wave]" not in out


def test_a_bad_rate_is_refused_and_a_rate_is_batch_mode(tmp_path):
    rc, out = run(tmp_path, {"infoscreen_bulk_confirm": 12, "canary_waves": {"start": 1, "factor": 0.5}})
    assert rc != 0, out
    assert "wave rate factor 0.5 must be a number above 1" in out
    # The derived host pattern of the wave play: a rate is cut from canary_target, as batch sizes are.
    probe = tmp_path / "probe.yml"
    probe.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                  "vars_files": [str(REPO_PLAYBOOKS / "vars" / "canary_defaults.yml")],
                                  "tasks": [{"ansible.builtin.debug": {"msg": "hosts={{ _canary_hosts }}"}}]}]))
    rc, output, _recap = run_ansible_playbook(inventory(tmp_path), str(probe), "-e",
                                              json.dumps({"canary_waves": {"start": 1, "factor": 2}}), timeout=120)
    assert rc == 0, output
    assert "hosts=infoscreen_clients" in output


def test_a_wave_outside_its_windows_stops_before_anything_is_applied(tmp_path):
    """3 clients (below the bulk guard), the canary group's window 02:00-05:00 Berlin judged at
    06:00: the first play passes and names the client outside; the wave play stops before its
    record and apply tasks (no broker is needed to get that far)."""
    global GROUPS
    saved, GROUPS = GROUPS, {"canary": 1, "wave1": 1, "wave2": 1}
    try:
        night = [{"start": "02:00", "end": "05:00", "tz": "Europe/Berlin"}]
        path = inventory(tmp_path)
        data = json.loads(path.read_text())
        data["all"]["children"]["infoscreen_clients"]["children"]["canary"]["vars"] = {
            "infoscreen_maintenance_windows": night}
        path.write_text(json.dumps(data))
        extra = {"canary_release": {"label": "2.0"}, "infoscreen_wave_window_now": "2026-07-15T06:00:00+02:00",
                 "infoscreen_ledger": str(tmp_path / "ledger.sqlite3")}  # the rollout state file goes beside it
        rc, output, _recap = run_ansible_playbook(path, "canary.yml", "-e", json.dumps(extra), timeout=300)
    finally:
        GROUPS = saved
    out = " ".join(output.split())
    assert rc != 0, out
    assert "wave 1 (canary): pi-00 outside their maintenance windows now (first opening 2026-07-16T00:00:00.000Z)" \
        in out
    assert "Nothing of this wave was applied" in out
    assert "TASK [Apply the new release" not in out and "TASK [Record the release" not in out
