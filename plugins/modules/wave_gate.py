# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.wave_gate (runs on the controller)."""

DOCUMENTATION = r"""
module: wave_gate
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Decide whether the remaining waves of a rollout may run
description:
  - Reads a wave's counts from the ledger and returns C(stop=true) when fewer than O(min_executed)
    commands were executed in the wave (zero included - broker unreachable, every client blocked by
    the lockout, no valid host - nothing sent is never a pass), or when
    (failed + timed_out + unreachable) / (executed + unreachable) is B(strictly greater) than O(threshold_pct).
  - Executed means sent (the broker acknowledged the publish); blocked hosts, hosts with a bad
    C(client_uuid) and commands the broker never took are not executed. C(expired) and
    completed-above-the-reconnect-ceiling count as failed. Hosts that dropped out of the play before
    the command (state C(unreachable)) count against the wave.
  - In check mode nothing is sent, so the gate is not judged (continue, said in C(reason)).
  - Records the decision in the ledger. Never fails; the playbook stops the remaining waves when C(stop) is true.
options:
  wave_id:
    description: The C(wave_id) returned by M(infoscreen.fleet.lifecycle_wave).
    type: str
    required: true
  threshold_pct:
    description: Highest tolerated (failed + timed_out + unreachable) / (executed + unreachable) in percent, 0 to 100.
    type: float
    default: 5
  min_executed:
    description: Fewest executed commands for a wave to pass (at least 1); fewer is a stop.
    type: int
    default: 1
extends_documentation_fragment:
  - infoscreen.fleet.ledger
attributes:
  check_mode:
    support: full
    description: Does not judge the dry-run wave (nothing was sent; it continues and says so) and records nothing.
  action:
    support: full
    description: Runs on the controller as an action plugin.
seealso:
  - module: infoscreen.fleet.lifecycle_wave
"""

EXAMPLES = r"""
- name: Judge the wave
  infoscreen.fleet.wave_gate:
    wave_id: "{{ wave.wave_id }}"
    threshold_pct: 5
    min_executed: 5
  run_once: true
  register: gate

- name: Stop the remaining waves (exit code 2)
  ansible.builtin.assert:
    that: not gate.stop
    fail_msg: "remaining waves stopped: {{ gate.msg }}"
  run_once: true
  any_errors_fatal: true
"""

RETURN = r"""
decision:
  description: continue or stop.
  returned: always
  type: str
stop:
  description: True when the remaining waves must not run.
  returned: always
  type: bool
reason:
  description: The arithmetic behind the decision.
  returned: always
  type: str
executed:
  description: Commands published in the wave.
  returned: always
  type: int
failed_count:
  description: Executed commands that failed or expired (or completed above the reconnect ceiling).
  returned: always
  type: int
unreachable_count:
  description: Hosts of the wave that dropped out of the play before its command (count against the wave).
  returned: always
  type: int
timed_out_count:
  description: Executed commands without a terminal ack in time.
  returned: always
  type: int
ratio_pct:
  description: (failed + timed_out + unreachable) / (executed + unreachable) in percent.
  returned: always
  type: float
threshold_pct:
  description: The threshold applied.
  returned: always
  type: float
min_executed:
  description: The minimum executed count applied.
  returned: always
  type: int
wave:
  description: Number of the wave.
  returned: always
  type: int
wave_id:
  description: Id of the wave.
  returned: always
  type: str
"""
