# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vendor profiles: which object switches PoE power on a port and what its values mean.

Both profiles verify with RFC 3621 pethPsePortDetectionStatus; they differ in the object
written. Indexes are {pethPsePortGroupIndex}.{pethPsePortIndex} (the Cisco table AUGMENTS
pethPsePortTable, so it shares the index).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PETH_PSE_PORT_ADMIN_ENABLE = "1.3.6.1.2.1.105.1.1.1.3"
PETH_PSE_PORT_DETECTION_STATUS = "1.3.6.1.2.1.105.1.1.1.6"
CPE_EXT_PSE_PORT_ENABLE = "1.3.6.1.4.1.9.9.402.1.2.1.1"

DETECTION_STATUS = {1: "disabled", 2: "searching", 3: "deliveringPower", 4: "fault", 5: "test", 6: "otherFault"}
DELIVERING_POWER = 3


class Profile:
    def __init__(self, name, admin_name, admin_oid, *, on_value, off_value, off_values):
        self.name = name
        self.admin_name = admin_name
        self.admin_oid = admin_oid
        self.on_value = on_value
        self.off_value = off_value
        self.off_values = off_values

    def admin_instance(self, group, port):
        return "%s.%d.%d" % (self.admin_oid, group, port)

    def is_on(self, value):
        return value not in self.off_values

    def valid_values(self):
        return self.on_value, self.off_value


PROFILES = {
    # RFC 3621: true(1) / false(2)
    "standard": Profile("standard", "pethPsePortAdminEnable", PETH_PSE_PORT_ADMIN_ENABLE,
                        on_value=1, off_value=2, off_values=(2,)),
    # CISCO-POWER-ETHERNET-EXT-MIB: auto(1), static(2), limit(3), disable(4); "on" writes auto
    "cisco": Profile("cisco", "cpeExtPsePortEnable", CPE_EXT_PSE_PORT_ENABLE,
                     on_value=1, off_value=4, off_values=(4,)),
}


def get_profile(name):
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join(sorted(PROFILES))
        raise ValueError("unknown PoE vendor profile %r; choose one of: %s" % (name, choices)) from None


def detection_instance(group, port):
    return "%s.%d.%d" % (PETH_PSE_PORT_DETECTION_STATUS, group, port)


def detection_name(value):
    return DETECTION_STATUS.get(value, "unknown(%d)" % value)
