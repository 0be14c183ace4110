# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin infoscreen.fleet.lifecycle_wave (runs on the controller)."""

DOCUMENTATION = r"""
module: lifecycle_wave
author: infoscreen-fleet maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Send a lifecycle command to a wave of signage clients over one MQTT connection
description:
  - Creates one contract v1 command per host (C(reboot_host), C(shutdown_host) or C(restart_app)),
    publishes them with QoS 1 on the canonical topic C(infoscreen/{uuid}/commands) (the transitional
    C(infoscreen/{uuid}/command) too when asked) and waits for the acks of all clients at once over
    B(one) MQTT v5 connection with a persistent session, so a broker restart mid-wave loses no ack.
  - Accepts acks from both ack topics, counts each status once, validates them against the contract.
  - Every command and every transition (queued, published, accepted, execution_started, completed,
    failed, timed_out, expired, blocked) is recorded with its timestamp in the controller's ledger.
  - Applies the safety lockout before publishing (at most O(lockout_limit) reboot-class commands per
    client in O(lockout_window_s), O(cooldown_s) after a failure, none while another is in flight);
    refused commands are never published and end C(blocked) with C(eligible_at).
  - A host without a valid, unique C(client_uuid) gets no command and a C(failed) result naming it;
    the other hosts proceed.
  - Use with C(run_once=true); then run M(infoscreen.fleet.lifecycle_outcome) per host so each
    client's outcome is a per-host ok/failed. See C(playbooks/tasks/wave.yml).
  - "Retry safety: a retried task (same task in the same run, or the same O(request_id) across runs)
    reuses the command_id of the earlier attempt while it is valid: completed stays completed and
    nothing is sent; anything not known to be done is published again with the same command_id,
    which the agent de-duplicates. Only after a definitive C(failed) or after expiry is a new command
    made (and counted by the lockout)."
  - Check mode sends nothing, records no command, and returns the payloads it would send
    (lockout decisions included).
  - Progress lines (accepted / started / completed / failed / waiting, elapsed) are printed every
    O(progress_interval_s) while waiting.
options:
  command:
    description: The lifecycle action.
    type: str
    required: true
    choices: [reboot_host, shutdown_host, restart_app]
  hosts:
    description: Inventory hostnames of the wave. Defaults to C(ansible_play_batch).
    type: list
    elements: str
  absent_hosts:
    description:
      - Inventory hostnames of the wave that dropped out of the play before this task (Ansible-unreachable,
        or failed in an earlier task of the wave). They get no command and stay in the wave as
        C(unreachable), so that they count against it in M(infoscreen.fleet.wave_gate) and in the report.
    type: list
    elements: str
    default: []
  client_uuid_var:
    description: Host variable that holds each client's UUID.
    type: str
    default: client_uuid
  validity_s:
    description: Seconds from C(issued_at) to C(expires_at) of each command.
    type: int
    default: 240
  timeout_s:
    description:
      - Seconds to wait for a terminal ack after publishing; then the command is C(timed_out).
      - Default 180 for C(reboot_host) (the 150 s ceiling plus margin), 120 for the others.
    type: float
  transitional_topic:
    description: Also publish on the transitional alias topic C(infoscreen/{uuid}/command).
    type: bool
    default: false
  requested_by:
    description: Operator id put in the command's C(requested_by).
    type: int
  reason:
    description: Free text put in the command's C(reason) (at most 2000 characters).
    type: str
  request_id:
    description:
      - Idempotency key. Re-running with the same value reuses still-valid commands instead of
        sending new ones. Default is the task's own id, which is stable across retries
        (C(until)/C(retries)) within one run.
    type: str
  override_lockout_reason:
    description:
      - Send even where the safety lockout refuses, for this stated reason. Logged in the ledger
        (overrides table and the transition) and shown as a warning.
    type: str
  lockout_limit:
    description: Reboot-class commands allowed per client in O(lockout_window_s).
    type: int
    default: 3
  lockout_window_s:
    description: The rolling lockout window in seconds.
    type: float
    default: 900
  cooldown_s:
    description: Seconds a client waits after a failed reboot-class command (escalation cooldown).
    type: float
    default: 60
  reconnect_warn_s:
    description: Reconnect baseline for C(reboot_host); slower is reported C(slow) with a warning.
    type: float
    default: 90
  reconnect_ceiling_s:
    description: Reconnect ceiling for C(reboot_host); slower counts as a failure (C(over_ceiling)).
    type: float
    default: 150
  connect_timeout_s:
    description: Seconds to connect and subscribe before the wave gives up (nothing is sent then).
    type: float
    default: 15
  progress_interval_s:
    description: Seconds between progress lines.
    type: float
    default: 5
  reannounce_s:
    description:
      - When a command has not progressed for this many seconds (doubling after each try), publish
        the same command again. The agent de-duplicates by command_id and re-announces its status,
        so acks lost at the broker (its per-client queue limit, a restart without persistence) are
        recovered without a second execution. V(0) disables it.
    type: float
    default: 15
  stability_s:
    description:
      - "\"Really back\": for C(reboot_host) (and a C(shutdown_host) whose client is seen back on a new boot) the
        agent's C(completed) ack only starts a stability phase; the client counts as completed when its health
        reports of the new boot show the signage app C(running) over at least this many seconds of the client's
        own uptime. An app reported crashed, going from running to stopped (flapping), a second boot, or no
        such window within O(stability_timeout_s) ends C(failed) with error code C(app_not_stable), which counts
        against the gate."
      - The agent sends health every C(health_interval_s) (60 s by default), so completion comes with the first
        report after the window.
      - Default is each host's inventory variable C(infoscreen_stability_s), else 45. V(0) disables the phase
        (the agent's C(completed) ack is enough, the behaviour before issue 18).
    type: float
  stability_timeout_s:
    description:
      - Seconds after the agent's C(completed) ack within which the stability window must be reached. Cover the
        window plus one health interval of the agent.
    type: float
    default: 150
  rollout_id:
    description: Groups waves for numbering; default is the play's id, so the waves of one C(serial) play are 1, 2, ...
    type: str
  windows_var:
    description:
      - The host variable with each client's maintenance windows (list of C({days, start, end, tz}); unset = no
        restriction). A reboot-class command for a client outside every window of its own is judged when the wave
        sends. See docs/policy.md.
    type: str
    default: infoscreen_maintenance_windows
  window_policy:
    description:
      - C(skip) - a client outside its windows is C(blocked) with error code C(outside_maintenance_window) and
        C(eligible_at) the next window start, recorded in the ledger, never published.
      - C(wait) - the wave first waits for the windows that open within O(window_max_wait_s), then sends; the
        clients still outside are blocked as with C(skip).
      - C(allow) - sent outside the windows, with a warning and C(window_override) in the host's result
        (recover.yml's documented emergency policy).
    type: str
    default: skip
    choices: [skip, wait, allow]
  window_max_wait_s:
    description: With O(window_policy=wait), the longest the wave waits for a window to open.
    type: float
    default: 3600.0
  window_override_reason:
    description:
      - Send to clients outside their windows anyway. The reason is logged (a warning per host and
        C(window_override) in the host's result in the ledger and the rollout report).
    type: str
  window_now:
    description:
      - Drills and tests only. Judge the windows as if the wave started at this RFC 3339 time (with an offset);
        the clock runs on from it. The wave warns that it is set.
    type: str
extends_documentation_fragment:
  - infoscreen.fleet.mqtt
  - infoscreen.fleet.ledger
attributes:
  check_mode:
    support: full
    description: Sends nothing and records no command.
  action:
    support: full
    description: Runs on the controller as an action plugin.
notes:
  - Does not contact the managed hosts; only the broker.
  - Deadlines use a monotonic clock.
  - A reboot counts as completed only on the agent's C(completed) ack, which it sends after coming back with
    a new boot id, followed by the stability window (O(stability_s)); the controller also records the boot ids it
    sees in heartbeats.
  - A client that reports a local hold (health C(hold), see docs/agent.md) keeps an accepted command waiting; the
    wave shows it as held and times it out only after the command's expiry plus O(timeout_s).
seealso:
  - module: infoscreen.fleet.lifecycle_outcome
  - module: infoscreen.fleet.wave_gate
  - plugin: infoscreen.fleet.ledger
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Reboot this batch of clients (one MQTT connection for all)
  infoscreen.fleet.lifecycle_wave:
    command: reboot_host
    reason: monthly maintenance
    mqtt_host: broker.example
    mqtt_password: "{{ vault_controller_mqtt_password }}"
  run_once: true
  register: wave

- name: Report each host's outcome
  infoscreen.fleet.lifecycle_outcome:
    wave_id: "{{ wave.wave_id }}"
"""

RETURN = r"""
wave_id:
  description: Id of this wave in the ledger.
  returned: always
  type: str
wave:
  description: Number of this wave within the rollout (1-based).
  returned: always
  type: int
rollout_id:
  description: Id grouping the waves of this rollout.
  returned: always
  type: str
command:
  description: The action sent.
  returned: always
  type: str
check_mode:
  description: Whether this was a dry run.
  returned: always
  type: bool
counts:
  description: Per-state counts and the gate inputs (hosts, states, executed, failed, timed_out, ok).
  returned: always
  type: dict
stats:
  description: MQTT figures (published, republished, acks, duplicate_acks, invalid_acks, foreign_acks, reconnects,
    heartbeats, health).
  returned: always
  type: dict
timing:
  description: Wall-clock figures of the wave in seconds (connected_s, published_s, wall_s).
  returned: always
  type: dict
results:
  description: Per host (keyed by inventory hostname) the outcome.
  returned: always
  type: dict
  contains:
    command_id:
      description: The command's UUID (null when none was created).
      type: str
    state:
      description: completed, failed, timed_out, expired, blocked, or not_sent (check mode).
      type: str
    stability:
      description:
        - For commands with a stability phase, its judgement - C(window_s), C(verdict) (stable, crashed,
          flapping, rebooted, not_running, waiting, not_stable), C(running_s), C(reports), C(boot_id),
          C(app_states) (the last ones seen), C(stable_s) (seconds from the agent's ack to stable). Null otherwise.
      type: dict
    hold:
      description: The local hold (C(owner), C(reason), C(since)) the client reported while the command waited, or null.
      type: dict
    held_s:
      description: Seconds the command waited for the client's hold to clear, or null.
      type: float
    ok:
      description: Whether the host did what was asked (completed within the reconnect ceiling).
      type: bool
    executed:
      description: Whether a command was published for the host.
      type: bool
    reused:
      description: Whether an earlier attempt's command was reused (retry safety).
      type: bool
    transitions:
      description: Every state with its time (C(at), RFC 3339) and seconds since the wave started (C(elapsed_s)).
      type: list
      elements: dict
    reconnect_s:
      description: For reboot_host, seconds from execution_started to the completed ack.
      type: float
    reconnect_verdict:
      description: ok (<= baseline), slow (<= ceiling), over_ceiling, or null.
      type: str
    boot_id_before:
      description: Boot id seen in heartbeats before the reboot, if any.
      type: str
    boot_id_after:
      description: A different boot id seen in heartbeats after the helper ran, if any.
      type: str
    error_code:
      description: The agent's error code, or timeout, expired, lockout, cooldown, in_flight,
        invalid_inventory, broker_unreachable, reconnect_ceiling_exceeded, app_not_stable (the app did not run for the
        stability window after the reboot), busy (the agent's code when a local hold did not clear in time).
      type: str
    error_message:
      description: Readable error naming the host.
      type: str
    republished:
      description: How often the same command was published again to recover lost acks (O(reannounce_s)).
      type: int
    eligible_at:
      description: For blocked hosts, when the client becomes eligible again (RFC 3339).
      type: str
would_send:
  description: In check mode, the topic and payload of each command that would be sent.
  returned: check mode
  type: list
  elements: dict
ledger:
  description: Path of the ledger used.
  returned: always
  type: str
broker:
  description: Broker host, port, username and TLS flag (never the password).
  returned: always
  type: dict
request_key:
  description: The idempotency key the commands were recorded under.
  returned: always
  type: str
"""
