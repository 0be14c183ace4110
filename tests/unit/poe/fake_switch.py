"""An in-memory stand-in for SnmpSession, for unit tests of the cycle logic only
(integration tests use the real snmpsim agent)."""

from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_snmp import SnmpTimeout
from pyasn1.type import univ
from pysnmp.proto import rfc1902


class FakeSwitch:
    def __init__(self, admin=1, detection_when_on=3):
        self.admin = admin
        self.detection_when_on = detection_when_on
        self.writes = []
        self.fail_reads = 0  # the next N reads time out
        self.fail_writes_on = False  # every write of "on" times out
        self.on_write = None  # callback(value) run after each accepted write
        self.sessions = 0
        self.detection_stuck = False  # DetectionStatus reads deliveringPower(3) whatever AdminEnable says

    def factory(self):
        self.sessions += 1
        return FakeSession(self)


class FakeSession:
    def __init__(self, switch):
        self.switch = switch
        self.closed = False

    def close(self):
        self.closed = True

    def get(self, named_oids):
        sw = self.switch
        if sw.fail_reads:
            sw.fail_reads -= 1
            raise SnmpTimeout("fake: no response")
        detection = 3 if sw.detection_stuck else (sw.detection_when_on if sw.admin == 1 else 1)
        out = {}
        for name, oid in named_oids:
            out[name] = rfc1902.Integer32(detection if "105.1.1.1.6." in oid else sw.admin)
        return out

    def set_integer(self, name, oid, value):
        sw = self.switch
        if value == 1 and sw.fail_writes_on:
            raise SnmpTimeout("fake: no response to on")
        sw.writes.append(value)
        sw.admin = int(value)
        if sw.on_write:
            sw.on_write(value)


def octets(text):
    return univ.OctetString(text)
