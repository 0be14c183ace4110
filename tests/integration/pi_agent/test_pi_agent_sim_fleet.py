"""Upgrade and roll back simulated clients for real with the pi_agent role.

A real simulated fleet (real broker, real agents) runs whatever release its client roots
hold: the role installs releases A and B (built from this tree with rewritten versions)
into each client's scratch root, switches ``current`` and points the fleet's agent command
at it; after a simulated reboot the agent's heartbeat reports the release's version.
"""

import json
import os
import queue
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from fixtures.pi_agent import run_agent_playbook, write_sim_agent_vars

pytestmark = pytest.mark.integration

RELEASE_A = "1.0.0+sima"
RELEASE_B = "1.0.0+simb"


class HeartbeatVersions:
    """One controller connection that remembers each client's last reported agent_version."""

    def __init__(self, manifest):
        self.inbox = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pi-agent-test-{uuid.uuid4().hex[:8]}")
        self.client.username_pw_set(manifest["controller"]["username"], manifest["controller"]["password"])
        self.client.on_message = lambda _c, _u, msg: self.inbox.put(json.loads(msg.payload))
        self.client.connect(manifest["broker"]["host"], manifest["broker"]["port"])
        self.client.subscribe("infoscreen/+/heartbeat", 0)
        self.client.loop_start()

    def wait_for(self, expected, timeout=60.0):
        """Wait until every client_uuid in ``expected`` reported its expected version."""
        seen = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                body = self.inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            seen[body["client_uuid"]] = body["agent_version"]
            if all(seen.get(u) == v for u, v in expected.items()):
                return seen
        return seen

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fleet_broker):
    fleet = fleet_broker.fleet(tmp_path_factory.mktemp("pi-agent-fleet"), 3, groups=[("canary", 1), ("wave1", None)],
                               agent_options={"agent.heartbeat_interval_s": 1})
    yield fleet
    fleet.stop()


def reboot_and_wait(fleet, names):
    for name in names:
        fleet.power_cycle(name)
    fleet.wait_ready(timeout=60, names=names)


def pointer(fleet, name, which="current"):
    return os.readlink(f"{fleet.clients[name].root}/opt/infoscreen-agent/{which}")


def test_upgrade_then_rollback_runs_the_release_in_the_client_root(fleet, tmp_path):
    names = sorted(fleet.clients)
    canary = fleet.manifest["groups"]["canary"][0]
    uuids = {n: fleet.clients[n].client_uuid for n in names}
    versions = HeartbeatVersions(fleet.manifest)
    try:
        (tmp_path / "a").mkdir()
        vars_a = write_sim_agent_vars(tmp_path / "a", pi_agent_build_version=RELEASE_A)
        rc, out, recap = run_agent_playbook(fleet.inventory_path, "-e", "pi_agent_action=upgrade", "-e", f"@{vars_a}")
        assert rc == 0, out[-4000:]
        assert all(pointer(fleet, n) == f"releases/{RELEASE_A}" for n in names)
        # Nothing restarts a simulated client's agent: it picks the release up at its next boot.
        reboot_and_wait(fleet, names)
        seen = versions.wait_for({uuids[n]: RELEASE_A for n in names})
        assert seen == {uuids[n]: RELEASE_A for n in names}

        # (Same release twice = no change is checked by molecule's idempotence step.)

        (tmp_path / "b").mkdir()
        vars_b = write_sim_agent_vars(tmp_path / "b", pi_agent_build_version=RELEASE_B,
                                      pi_agent_release_cache_dir=str(tmp_path / "a" / "release-cache"))

        def switch_canary(action, current, previous):
            """Run one entry point on the canary, check its pointers, reboot it onto the release."""
            rc, out, _recap = run_agent_playbook(fleet.inventory_path, "-e", f"pi_agent_action={action}",
                                                 "-e", f"@{vars_b}", "--limit", canary)
            assert rc == 0, out[-4000:]
            assert pointer(fleet, canary) == f"releases/{current}"
            assert pointer(fleet, canary, "previous") == f"releases/{previous}"
            reboot_and_wait(fleet, [canary])
            expected = {uuids[n]: (current if n == canary else RELEASE_A) for n in names}
            assert versions.wait_for(expected) == expected

        switch_canary("upgrade", RELEASE_B, RELEASE_A)
        switch_canary("rollback", RELEASE_A, RELEASE_B)
    finally:
        versions.close()

    # One virtualenv per release for the whole fleet; the clients' releases link to it.
    cache = tmp_path / "a" / "release-cache"
    assert sorted(p.name for p in cache.iterdir()) == [RELEASE_A, RELEASE_B]
    for name in names:
        release = fleet.clients[name].root / "opt/infoscreen-agent/releases" / RELEASE_A
        assert release.is_symlink() and os.path.realpath(release) == str(cache / RELEASE_A)
