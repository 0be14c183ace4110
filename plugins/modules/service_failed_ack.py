# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.service_failed_ack (runs on the controller)."""

DOCUMENTATION = r"""
module: service_failed_ack
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Acknowledge signage clients' retained service_failed reports (clear them, note it in the ledger)
description:
  - A client reports a failed systemd unit retained on C(infoscreen/{uuid}/service_failed), so every new subscriber
    sees it until someone acknowledges it. This reads the retained reports of the given hosts over one MQTT
    connection and, for each host that has one, notes the acknowledgement in the ledger (action
    C(service_failed_ack), with O(reason)), publishes an empty retained message on the topic (the broker drops
    the report) and checks that the broker delivered the empty message back.
  - With O(expect), a host's report is cleared only when it is the one expected (same unit, failed_at and boot
    id); a newer report is left for the operator. playbooks/recover.yml passes the reports it judged.
  - A host without a retained report is listed in RV(not_open) and left alone.
  - The ledger note comes first; when the ledger cannot be written, nothing more is cleared.
  - Use with C(run_once=true).
options:
  hosts:
    description: Inventory hostnames whose report to acknowledge. Defaults to C(ansible_play_batch).
    type: list
    elements: str
  client_uuid_var:
    description: Host variable that holds each client's UUID.
    type: str
    default: client_uuid
  reason:
    description: Why the reports are acknowledged; stored in the ledger with each acknowledgement.
    type: str
    required: true
  expect:
    description:
      - Per host, the report judged earlier (a mapping with C(unit), C(failed_at), C(boot_id)); only that report is
        cleared. Hosts not named here have whatever report is retained cleared.
    type: dict
    default: {}
  requested_by:
    description: Operator id stored with the ledger note (integer of at least 1).
    type: int
  connect_timeout_s:
    description: Seconds to connect to the broker and read the retained reports.
    type: float
    default: 15
  clear_timeout_s:
    description: Seconds to wait, per report, for the broker to acknowledge and deliver the empty retained message.
    type: float
    default: 10
extends_documentation_fragment:
  - infoscreen.fleet.mqtt
  - infoscreen.fleet.ledger
attributes:
  check_mode:
    support: full
    description: Reads the retained reports and lists what would be cleared (RV(would_clear)); writes nothing.
  action:
    support: full
    description: Runs on the controller as an action plugin.
notes:
  - Does not contact the managed hosts; only the broker and the ledger. See docs/fleet-status.md.
"""

EXAMPLES = r"""
- name: Acknowledge the service_failed reports of two clients
  infoscreen.fleet.service_failed_ack:
    hosts: [lobby-01, lobby-02]
    reason: "display firmware replaced on site, ticket 4711"
  run_once: true
"""

RETURN = r"""
results:
  description:
    - Per host - client_uuid, report (the retained report, or null), cleared (bool), would_clear (check mode),
      skipped (why nothing was done, or null), error (why clearing failed, or null) and command_id (the ledger
      note).
  returned: always
  type: dict
cleared:
  description: Hosts whose report was cleared.
  returned: always
  type: list
  elements: str
would_clear:
  description: Hosts whose report would be cleared (check mode).
  returned: always
  type: list
  elements: str
not_open:
  description: Hosts that had no retained report.
  returned: always
  type: list
  elements: str
left_open:
  description: Hosts whose report stays (not the one expected, or clearing failed).
  returned: always
  type: list
  elements: str
broker:
  description: Connection settings used (never the password).
  returned: always
  type: dict
"""
