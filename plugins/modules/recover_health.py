# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.recover_health (runs on the controller)."""

DOCUMENTATION = r"""
module: recover_health
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Read signage clients' health over MQTT to decide who needs recovery, or wait for them to return
description:
  - Listens on one MQTT connection to C(infoscreen/{uuid}/heartbeat), C(infoscreen/{uuid}/health) and the
    retained C(infoscreen/{uuid}/service_failed) of the given hosts; payloads are validated against contract v1.
  - O(mode=snapshot) listens up to O(listen_s) (less once every client sent a health message) and marks a
    client as needing recovery when it was silent (no heartbeat/health in the window, or the last one older
    than O(max_heartbeat_age_s)), its C(app_state) is C(crashed) or C(stopped), or it reported
    C(service_failed) during its current boot.
  - O(mode=wait_reconnect) waits until each host sends a heartbeat or health with a boot id different from
    O(boot_ids) (any message for hosts without one), at most O(timeout_s) after O(since).
  - A heartbeat or health delivered as a retained message is never taken as proof of life (the contract never
    retains them; anyone could have left one on the broker); such messages are counted in RV(retained_ignored).
  - A client whose heartbeats return to a boot id it had left has two machines behind one identity (a cloned SD
    card with the same client_uuid and password). It is flagged C(identity_conflict) (its only reason), listed in
    RV(identity_conflicts), not offered for recovery and never counted as reconnected.
  - Use with C(run_once=true); it only listens and never publishes.
options:
  mode:
    description: C(snapshot) or C(wait_reconnect).
    type: str
    choices: [snapshot, wait_reconnect]
    default: snapshot
  hosts:
    description: Inventory hostnames to look at. Defaults to C(ansible_play_batch).
    type: list
    elements: str
  client_uuid_var:
    description: Host variable that holds each client's UUID.
    type: str
    default: client_uuid
  listen_s:
    description: Longest time a snapshot listens; cover one health interval (the agent's default is 60 s).
    type: float
    default: 65
  wait_for:
    description:
      - What ends a snapshot before O(listen_s) - C(health) (every client sent a health message, which
        carries C(app_state)) or C(heartbeat) (every client sent a heartbeat or health, enough to read
        its C(release) and C(boot_id)).
    type: str
    choices: [health, heartbeat]
    default: health
  max_heartbeat_age_s:
    description: A client whose last heartbeat is older than this counts as silent.
    type: float
    default: 90
  boot_ids:
    description: For O(mode=wait_reconnect), per host the boot id the client must move away from.
    type: dict
    default: {}
  since:
    description: For O(mode=wait_reconnect), epoch seconds of the power-on the clients return from (default now).
    type: float
  timeout_s:
    description: For O(mode=wait_reconnect), seconds after O(since) to wait (the 150 s cold-boot ceiling).
    type: float
    default: 150
  connect_timeout_s:
    description: Seconds to connect to the broker.
    type: float
    default: 15
extends_documentation_fragment:
  - infoscreen.fleet.mqtt
attributes:
  check_mode:
    support: full
    description: Only listens, so it runs the same in check mode.
  action:
    support: full
    description: Runs on the controller as an action plugin.
notes:
  - Does not contact the managed hosts; only the broker.
"""

EXAMPLES = r"""
- name: Who needs recovery?
  infoscreen.fleet.recover_health:
    mode: snapshot
    mqtt_host: broker.example
    mqtt_password: "{{ vault_controller_mqtt_password }}"
  run_once: true
  register: health

- name: Wait until the power-cycled clients are back
  infoscreen.fleet.recover_health:
    mode: wait_reconnect
    hosts: "{{ cycled_hosts }}"
    boot_ids: "{{ boot_ids_before }}"
    since: "{{ power_on_epoch }}"
    timeout_s: 150
  run_once: true
"""

RETURN = r"""
mode:
  description: The mode that ran.
  returned: always
  type: str
broker:
  description: Connection settings used (never the password).
  returned: always
  type: dict
clients:
  description:
    - Per host. Snapshot keys are client_uuid, seen, heartbeat_age_s, boot_id, app_state, agent_version,
      release (the label the client reports), service_failed, identity_conflict (bool), boot_ids_seen (the boot
      ids that alternated, else empty), reasons (list of str) and needs_recovery (bool).
    - wait_reconnect keys are reconnected (bool), reconnect_s, boot_id, boot_id_before and identity_conflict.
  returned: always
  type: dict
needs_recovery:
  description: Hosts that need recovery (snapshot).
  returned: mode=snapshot
  type: list
  elements: str
healthy:
  description: Hosts that look healthy (snapshot); a host with an identity conflict is in neither list.
  returned: mode=snapshot
  type: list
  elements: str
listened_s:
  description: Seconds the snapshot listened.
  returned: mode=snapshot
  type: float
reconnected:
  description: Hosts seen back with a new boot id (wait_reconnect).
  returned: mode=wait_reconnect
  type: list
  elements: str
missing:
  description: Hosts not seen back in time (wait_reconnect).
  returned: mode=wait_reconnect
  type: list
  elements: str
invalid_payloads:
  description: Messages that failed contract validation and were ignored.
  returned: always
  type: int
retained_ignored:
  description: Retained heartbeat or health messages ignored (never proof of life).
  returned: always
  type: int
identity_conflicts:
  description: Hosts whose heartbeats alternate between boot ids (two machines share the identity).
  returned: always
  type: list
  elements: str
"""
