# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.rollout_state (runs on the controller)."""

DOCUMENTATION = r"""
module: rollout_state
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Keep a rollout's pre-rollout releases in a state file that survives interruption
description:
  - One JSON file per rollout id in C(rollouts/) beside the ledger (0600), written atomically.
  - O(op=begin) starts a rollout, or resumes one with the same id that did not finish (an interrupted run);
    it refuses, saying what to do, when another rollout did not finish, when the id was started for another
    release, or when the id already finished.
  - O(op=record) stores what each client of O(recorded) runs now, before the first apply, once per rollout;
    a client recorded by an earlier (interrupted) run keeps its first record, and the record in effect is
    returned, so a rollback always returns to the release the client ran before the rollout.
  - O(op=finish) closes the rollout as C(passed) or C(rolled_back).
  - Used by C(playbooks/canary.yml).
options:
  op:
    description: What to do.
    type: str
    required: true
    choices: [begin, record, finish]
  rollout_id:
    description: The rollout's id (letters, digits, . + ! _ ~ -).
    type: str
    required: true
  release:
    description: The release label being rolled out (O(op=begin)).
    type: str
  recorded:
    description: For O(op=record), what each client runs now, by inventory hostname.
    type: dict
    default: {}
  wave:
    description: The wave number (O(op=record), O(op=finish)).
    type: int
  wave_name:
    description: The wave's name (O(op=finish)).
    type: str
  status:
    description: How the rollout ended (O(op=finish)).
    type: str
    choices: [passed, rolled_back]
  reason:
    description: Why it ended so (O(op=finish)).
    type: str
  state_dir:
    description: Folder of the state files. Defaults to C(rollouts/) beside the ledger.
    type: path
extends_documentation_fragment:
  - infoscreen.fleet.ledger
attributes:
  check_mode:
    support: full
    description: Reads the state and answers as it would, writes nothing.
  action:
    support: full
    description: Runs on the controller as an action plugin.
"""

EXAMPLES = r"""
- name: Start or resume the rollout
  infoscreen.fleet.rollout_state:
    op: begin
    rollout_id: canary-1.1.0
    release: 1.1.0
  run_once: true
"""

RETURN = r"""
recorded:
  description: For O(op=record), the record in effect per host (the first one of this rollout).
  returned: op=record
  type: dict
new:
  description: Hosts recorded by this call.
  returned: op=record
  type: list
  elements: str
kept:
  description: Hosts whose earlier record of this rollout was kept.
  returned: op=record
  type: list
  elements: str
resumed:
  description: True when O(op=begin) resumed an interrupted rollout.
  returned: op=begin
  type: bool
"""
