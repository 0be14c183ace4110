# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.fleet_status (runs on the controller)."""

DOCUMENTATION = r"""
module: fleet_status
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Show every signage client at a glance, from one MQTT listen plus the controller's ledger
description:
  - Listens once, on one MQTT connection, to C(infoscreen/{uuid}/heartbeat), C(infoscreen/{uuid}/health) and the
    retained C(infoscreen/{uuid}/service_failed) of the given hosts, with the same judging as
    M(infoscreen.fleet.recover_health) (a retained heartbeat or health is never proof of life; heartbeats that
    alternate between boot ids are an identity conflict).
  - Reads the ledger per client - the safety lockout decision (budget left and when the next reboot-class
    command is allowed), the last commands and their outcome, the last service_failed acknowledgement.
  - Per client - online or silent, heartbeat age, boot id, release, app state, C(reconnect_count) and
    C(last_disconnect_at) of health's C(broker_connection) block, the open service_failed report (unit, since),
    lockout, last command, identity conflict and who holds the client (health's optional C(hold) object).
  - Rows come problems first (silent, crashed, service_failed of the current boot, identity conflict, locked
    out, bad inventory), then those to look at (held, an unacknowledged report of an earlier boot, cooldown,
    last command failed), then the rest.
  - Prints a console table, returns the rows, and writes them as JSON (O(json_file)) and as one self-contained
    HTML page (O(html_file); sortable, no network needed).
  - A host whose inventory has no valid client_uuid is shown as a problem row; nothing is sent to any client.
  - Use with C(run_once=true).
options:
  hosts:
    description: Inventory hostnames to show. Defaults to C(ansible_play_batch).
    type: list
    elements: str
  client_uuid_var:
    description: Host variable that holds each client's UUID.
    type: str
    default: client_uuid
  listen_s:
    description:
      - Longest time to listen; the read ends earlier once every client sent a health message. Cover one health
        interval (the agent's default is 60 s); a silent client always costs the whole window.
    type: float
    default: 65
  max_heartbeat_age_s:
    description: A client whose last heartbeat is older than this counts as silent.
    type: float
    default: 90
  connect_timeout_s:
    description: Seconds to connect to the broker.
    type: float
    default: 15
  lockout_limit:
    description: Reboot-class commands allowed per client in O(lockout_window_s) (the budget shown).
    type: int
    default: 3
  lockout_window_s:
    description: The safety lockout's rolling window in seconds.
    type: float
    default: 900
  cooldown_s:
    description: Escalation cooldown after a failed reboot-class command, in seconds.
    type: float
    default: 60
  json_file:
    description: Write the status (every row) as JSON to this file on the controller (mode 0640).
    type: path
  html_file:
    description: Write the status page (self-contained HTML) to this file on the controller (mode 0640).
    type: path
  title:
    description: Title of the HTML page.
    type: str
    default: infoscreen fleet status
  show_table:
    description: Print the console table.
    type: bool
    default: true
extends_documentation_fragment:
  - infoscreen.fleet.mqtt
  - infoscreen.fleet.ledger
attributes:
  check_mode:
    support: full
    description: Only listens and reads the ledger, so it runs the same in check mode.
  action:
    support: full
    description: Runs on the controller as an action plugin.
notes:
  - Does not contact the managed hosts; only the broker and the ledger. See docs/fleet-status.md.
"""

EXAMPLES = r"""
- name: Fleet status as a table, JSON and an HTML page
  infoscreen.fleet.fleet_status:
    hosts: "{{ ansible_play_hosts }}"
    json_file: /var/tmp/fleet-status.json
    html_file: /var/tmp/fleet-status.html
  run_once: true
  register: fleet
"""

RETURN = r"""
clients:
  description:
    - One row per host, problems first. Keys - host, client_uuid, online (bool), liveness (online, silent or
      not_checked), heartbeat_age_s, boot_id, release, agent_version, app_state, reconnect_count,
      last_disconnect_at, service_failed (unit, since, boot_id, current_boot) or null, lockout (allowed, code,
      limit, recent_count, budget_left, eligible_at, eligible_in_s, text) or null, last_command and
      recent_commands (action, state, issued_at, finished_at, error_code, error_message), last_ack,
      identity_conflict, identity_detail, held (owner, reason, since, text) or null, agent_state, severity
      (problem, attention or ok), rank and problems (list of str).
  returned: always
  type: list
  elements: dict
counts:
  description: Clients per severity and how many are online, silent, locked out, with service_failed, held.
  returned: always
  type: dict
table:
  description: The console table, one string per line.
  returned: always
  type: list
  elements: str
problems:
  description: Hosts whose severity is problem.
  returned: always
  type: list
  elements: str
attention:
  description: Hosts whose severity is attention.
  returned: always
  type: list
  elements: str
generated_at:
  description: When the status was taken (RFC 3339 UTC).
  returned: always
  type: str
listened_s:
  description: Seconds the listen took.
  returned: always
  type: float
ledger_error:
  description: Why the ledger could not be read (the lockout and command columns are then empty), else null.
  returned: always
  type: str
broker:
  description: Connection settings used (never the password).
  returned: always
  type: dict
timings:
  description: Seconds spent reading the inventory (inventory_s), listening and reading the ledger (read_s), in all
    (total_s).
  returned: always
  type: dict
json_file:
  description: The JSON file written.
  returned: when O(json_file) is set
  type: str
html_file:
  description: The HTML page written.
  returned: when O(html_file) is set
  type: str
"""
