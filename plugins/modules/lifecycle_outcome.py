# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.lifecycle_outcome (runs on the controller)."""

DOCUMENTATION = r"""
module: lifecycle_outcome
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Turn this host's result of a lifecycle wave into a per-host ok or failure
description:
  - Reads the current host's result of a wave run by M(infoscreen.fleet.lifecycle_wave) from the
    ledger and returns it; the host fails unless its command completed (and, for C(reboot_host),
    reconnected within the ceiling).
  - Controller-only and cheap (one ledger read, no connection to the host), so it can run for
    every host; Ansible's recap, C(max_fail_percentage) and callbacks see each client's outcome.
  - C(blocked) hosts fail with the time they become eligible; hosts with a bad C(client_uuid)
    fail with a message naming the host and the variable.
  - With O(ladder=true) (used by C(playbooks/recover.yml)) it judges the result as a step of the
    recovery ladder and returns RV(ladder) instead of failing the host. A step counts as tried
    (verdict C(escalate)) only when its command was published and its outcome is known (a failure
    the client reported after taking the command on, or no answer by the deadline after
    publication). Not sent (broker unreachable, no PUBACK), blocked, refused by the client, or a
    wave that failed as a whole (O(wave_error)) give verdict C(stop).
options:
  wave_id:
    description:
      - The C(wave_id) returned by M(infoscreen.fleet.lifecycle_wave).
      - Required unless O(ladder=true) with O(result) or O(wave_error).
    type: str
  ladder:
    description: Judge the result as a recovery ladder step (RV(ladder)); the host is not failed by this task.
    type: bool
    default: false
  action:
    description: The ladder step's action, for the messages (with O(ladder=true)).
    type: str
  result:
    description:
      - With O(ladder=true), this host's entry of the wave task's C(results), used instead of reading the ledger.
    type: dict
  wave_error:
    description:
      - With O(ladder=true), the message of a wave task that failed as a whole (no per-host result);
        the step was not sent, and the verdict is C(stop).
    type: str
extends_documentation_fragment:
  - infoscreen.fleet.ledger
attributes:
  check_mode:
    support: full
    description: Reports what the dry-run wave would have sent.
  action:
    support: full
    description: Runs on the controller as an action plugin.
seealso:
  - module: infoscreen.fleet.lifecycle_wave
"""

EXAMPLES = r"""
- name: Report each host's outcome of the wave
  infoscreen.fleet.lifecycle_outcome:
    wave_id: "{{ wave.wave_id }}"
"""

RETURN = r"""
state:
  description: completed, failed, timed_out, expired, blocked or not_sent (check mode).
  returned: always
  type: str
client_uuid:
  description: The client's UUID (null when the inventory had none).
  returned: always
  type: str
command_id:
  description: The command's UUID (null when none was created).
  returned: always
  type: str
action:
  description: The lifecycle action.
  returned: always
  type: str
wave:
  description: Number of the wave within the rollout.
  returned: always
  type: int
wave_id:
  description: Id of the wave.
  returned: always
  type: str
executed:
  description: Whether a command was published for this host.
  returned: always
  type: bool
reused:
  description: Whether a retry reused the earlier command.
  returned: always
  type: bool
transitions:
  description: Every controller-side state with its time (C(at)) and seconds since the wave started (C(elapsed_s)).
  returned: always
  type: list
  elements: dict
reconnect_s:
  description: For reboot_host, seconds from execution_started to the completed ack.
  returned: always
  type: float
reconnect_verdict:
  description: ok, slow or over_ceiling against the 90 s baseline and 150 s ceiling (configurable), or null.
  returned: always
  type: str
boot_id_before:
  description: Boot id seen in heartbeats before the reboot, if any.
  returned: always
  type: str
boot_id_after:
  description: A different boot id seen after the helper ran, if any.
  returned: always
  type: str
boot_id_changed:
  description: Whether the heartbeat boot id changed (null when not both were seen).
  returned: always
  type: bool
republished:
  description: How often the same command was published again to recover lost acks.
  returned: always
  type: int
duplicate_acks:
  description: Acks received more than once (both ack topics, redelivery) and counted once.
  returned: always
  type: int
error_code:
  description: Machine-readable error, or null.
  returned: always
  type: str
error_message:
  description: Readable error naming the host, or null.
  returned: always
  type: str
eligible_at:
  description: For blocked hosts, when the client becomes eligible again (RFC 3339).
  returned: always
  type: str
would_send:
  description: In check mode, the topic and payload that would be sent.
  returned: check mode
  type: dict
ladder:
  description: With O(ladder=true), the verdict on this host's step.
  returned: when ladder is true
  type: dict
  contains:
    verdict:
      description: >-
        C(recovered), C(escalate) (tried, did not help), C(stop) (not tried, the ladder stops) or C(check_mode).
      type: str
    tried:
      description: Whether the step's command was published and its outcome is known.
      type: bool
    reason:
      description: Why, naming the step.
      type: str
    stop_code:
      description: >-
        With C(stop), a machine-readable cause (for example C(broker_unreachable), C(blocked), C(step_failed)).
      type: str
"""
