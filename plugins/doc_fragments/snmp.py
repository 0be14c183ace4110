# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SNMP connection and credential options shared by the PoE plugins (infoscreen.fleet.snmp)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  snmp_port:
    description: UDP port of the switch's SNMP agent.
    type: int
    default: 161
  snmp_version:
    description:
      - C(2c) uses O(snmp_community); C(3) uses a USM user with authentication and privacy (authPriv).
    type: str
    choices: ['2c', '3']
    default: '2c'
  snmp_community:
    description:
      - SNMPv2c community with write access to the PoE objects. Never logged.
      - Falls back to the environment variable E(INFOSCREEN_SNMP_COMMUNITY).
    type: str
  snmp_v3_user:
    description: SNMPv3 USM user name. Falls back to E(INFOSCREEN_SNMP_V3_USER).
    type: str
  snmp_v3_auth_key:
    description:
      - SNMPv3 authentication pass phrase (8 characters or more). Never logged.
      - Falls back to E(INFOSCREEN_SNMP_V3_AUTH_KEY).
    type: str
  snmp_v3_auth_protocol:
    description: SNMPv3 authentication protocol.
    type: str
    choices: [md5, sha, sha224, sha256, sha384, sha512]
    default: sha
  snmp_v3_priv_key:
    description:
      - SNMPv3 privacy pass phrase (8 characters or more). Never logged.
      - Falls back to E(INFOSCREEN_SNMP_V3_PRIV_KEY).
    type: str
  snmp_v3_priv_protocol:
    description: SNMPv3 privacy protocol.
    type: str
    choices: [des, 3des, aes, aes192, aes256]
    default: aes
  snmp_v3_context:
    description:
      - SNMPv3 context name. Most switches use the default empty context; an agent that serves
        several MIB views under one address (one per context) needs the context name here.
    type: str
    default: ''
  snmp_timeout:
    description:
      - Seconds to wait for each SNMP reply. An unreachable switch and a wrong community look the same
        (no reply), so a request fails after O(snmp_timeout) x (O(snmp_retries) + 1).
    type: float
    default: 2.0
  snmp_retries:
    description: Retransmissions of an unanswered SNMP request.
    type: int
    default: 1
requirements:
  - pysnmp >= 7.1 (asyncio API) on the host that runs the module (normally the controller)
"""
