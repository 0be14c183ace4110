"""Faults the harness injects into a real agent process, from outside the agent's code.

- ``helper_fails``: ``FailingHelper`` wraps the power backend; every ``invoke`` raises the
  agent's own ``HelperFailed``, as a broken sudo rule or helper would make it;
- ``drops_acks``: ``AckDroppingClient`` wraps the agent's MQTT client; an ack publish is
  taken and "delivered" (the agent sees its PUBACK, as when the broker's ACL silently
  discards a publish) but never reaches the broker. Heartbeats and health still flow.

Both are installed through the agent's documented seam (``cli.main(backend_factory=...,
wrap_client=...)``, docs/agent.md "Embedding the agent") by agent_runner.py.
"""

import itertools
import logging

import paho.mqtt.client as mqtt
from infoscreen_agent.power import VERBS, HelperFailed

from .faults import AGENT_FAULTS

__all__ = ["AGENT_FAULTS", "AckDroppingClient", "FailingHelper", "backend_factory", "client_wrapper"]
LOG = logging.getLogger("infoscreen_sim.faults")
# Message ids paho never hands out (it uses 1..65535), so a fake PUBACK never matches a real one.
_FAKE_MIDS = itertools.count(1 << 20)


class FailingHelper:
    def __init__(self, inner):
        self.inner = inner

    def invoke(self, action, command_id):
        raise HelperFailed(f"simulated helper failure for {VERBS[action]}")

    def app_state(self):
        return self.inner.app_state()

    def uptime_s(self):
        return self.inner.uptime_s()


class AckDroppingClient:
    """Everything passes to the real paho client except publishes on ack topics."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def publish(self, topic, payload=None, qos=0, retain=False, properties=None):
        if not topic.endswith("/ack"):
            return self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        LOG.warning("fault drops_acks: the ack on %s never reaches the broker", topic)
        info = mqtt.MQTTMessageInfo(next(_FAKE_MIDS))
        info.rc = mqtt.MQTT_ERR_SUCCESS
        info._set_as_published()  # noqa: SLF001 - what paho does when the PUBACK arrives
        if qos and self._client.on_publish is not None:
            self._client.on_publish(self._client, None, info.mid, None, None)
        return info


def backend_factory(request_path, app_state_path, faults):
    """The ``backend_factory`` for cli.main: the simulated machine, with its helper faults."""
    from .sim_power import SimPowerBackend  # noqa: PLC0415

    def make(config):
        backend = SimPowerBackend(request_path, app_state_path, config.boot_id_path)
        return FailingHelper(backend) if "helper_fails" in faults else backend

    return make


def client_wrapper(faults):
    """The ``wrap_client`` for cli.main, or None when the client's acks are not dropped."""
    return AckDroppingClient if "drops_acks" in faults else None
