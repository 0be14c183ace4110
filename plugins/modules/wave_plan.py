# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.wave_plan (runs on the controller)."""

DOCUMENTATION = r"""
module: wave_plan
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Check the rollout options and plan the waves before any client is touched
description:
  - Checks the wave sizes (integers of at least 1, or percentages above 0 and at most 100, decimals
    such as C(2.5%) allowed; zero, negative, decimal counts and anything else refused), the gate threshold
    (0 to 100), O(min_executed) (an integer of at least 1, and not larger than the first wave) and the
    wave group names (known, non-empty, not overlapping).
  - Plans the waves from the hosts the play really targets (C(--limit) applied). Group waves keep the
    limited members of each group (a later group without a host in the limit is skipped and named; a
    first wave without one is refused), batch sizes are cut from the limited hosts.
  - Waves may also grow, C({start, factor, max}) (start and max a count or a percentage, factor above 1).
  - Returns exact batch sizes for the play's C(serial), so Ansible never sees a percentage or a zero.
  - The bulk guard (O(bulk_max_hosts), O(bulk_max_pct), O(bulk_confirm)) and every targeted host's maintenance
    windows (O(windows_var)) are checked here too. See docs/policy.md.
  - Fails with a message that names the option and says that nothing was changed.
options:
  waves:
    description:
      - Inventory group names (one wave per group, the first is the canary), or batch sizes (a list of
        counts or percentages, the last one repeating, as for Ansible's C(serial)), or one batch size.
    type: raw
    required: true
  hosts:
    description: The hosts of the rollout in play order. Defaults to C(ansible_play_hosts_all) (C(--limit) applied).
    type: list
    elements: str
  target:
    description: For batch sizes, the inventory group the batches are cut from (only its hosts among O(hosts)).
    type: str
  pattern:
    description:
      - The host pattern of the rollout play (for example C(infoscreen_clients) or C(lobby:hall)); every plain
        group or host name in it must exist in the inventory (Ansible itself only warns and goes on).
    type: str
  threshold_pct:
    description: The gate threshold to check, a number from 0 to 100.
    type: raw
    default: 5
  min_executed:
    description: The gate's minimum executed count to check, an integer of at least 1 and at most the first wave.
    type: raw
    default: 1
  unlimited_hosts:
    description:
      - The hosts the run would target without C(--limit), for the bulk guard (a limit that leaves all of them is
        no limit). Defaults to the wave groups (group waves) or the O(target) group.
    type: list
    elements: str
  limit:
    description: The C(--limit) of the run. Defaults to C(ansible_limit).
    type: str
  fleet_group:
    description: The inventory group that is the whole fleet, for the share of the bulk guard.
    type: str
    default: infoscreen_clients
  bulk_max_hosts:
    description:
      - Bulk guard. A run without C(--limit) that targets more hosts than this needs O(bulk_confirm).
    type: raw
    default: 10
  bulk_max_pct:
    description:
      - Bulk guard. A run without C(--limit) that targets more than this share (0 to 100) of O(fleet_group)
        needs O(bulk_confirm). Unset, the share is not checked.
    type: raw
  bulk_confirm:
    description:
      - The number of hosts the run targets (the refusal and check mode show it). Any other number is refused,
        also where no confirmation is needed, so a stale confirmation cannot approve another run.
      - Check mode never refuses a missing confirmation; it shows the count.
    type: raw
  windows_var:
    description:
      - The host variable with each client's maintenance windows (list of C({days, start, end, tz})); every
        targeted host's windows are checked here, before anything is sent. See docs/policy.md.
    type: str
    default: infoscreen_maintenance_windows
  window_policy:
    description: The wave policy for clients outside their windows, checked here (see infoscreen.fleet.lifecycle_wave).
    type: str
    default: skip
    choices: [skip, wait]
  window_max_wait_s:
    description: The longest a wave waits for a window with O(window_policy=wait), checked here (not negative).
    type: float
    default: 3600.0
  window_override_reason:
    description: Checked to be non-empty when given; the plan says which hosts it lets through outside their windows.
    type: str
  window_now:
    description:
      - Drills and tests only. Judge the windows at this RFC 3339 time (with an offset) instead of the controller
        clock; the plan says so.
    type: str
attributes:
  check_mode:
    support: full
    description: Plans only; it never changes anything.
  action:
    support: full
    description: Runs on the controller as an action plugin.
seealso:
  - module: infoscreen.fleet.wave_gate
  - module: infoscreen.fleet.lifecycle_wave
"""

EXAMPLES = r"""
- name: Plan the waves
  infoscreen.fleet.wave_plan:
    waves: ["10%", "50%", "100%"]
    target: infoscreen_clients
    min_executed: 2
  run_once: true
  register: plan
"""

RETURN = r"""
serial:
  description: Exact batch sizes for the play's serial (they sum to the number of hosts).
  returned: success
  type: list
  elements: int
waves:
  description: The planned waves, each with number, name and hosts.
  returned: success
  type: list
  elements: dict
skipped:
  description: Wave groups without a host in the limit (skipped).
  returned: success
  type: list
  elements: str
mode:
  description: groups or sizes.
  returned: success
  type: str
hosts:
  description: Number of hosts in the plan.
  returned: success
  type: int
first_wave:
  description: Number of hosts in the first wave.
  returned: success
  type: int
bulk:
  description: The bulk guard's verdict (targeted, fleet, share_pct, limited, needed, confirmed, msg).
  returned: success
  type: dict
windows:
  description: >-
    How many targeted hosts have maintenance windows (restricted) and which are outside them now
    (outside_now).
  returned: success
  type: dict
"""
