"""Harness faults of the simulated signage app after a boot (issue 18, "really back").

The agent comes back with a new boot id, but the screen is not: these faults change the
client's ``run/app_state`` file (what the simulated machine, sim_power.py, reports as the
app's state in health) after every boot but the first:

- ``app_crashes_after_boot``: the app runs ``APP_CRASH_AFTER_S`` Pi seconds, then is
  ``crashed`` (systemd gave up on it) until a ``restart_app``;
- ``app_flaps_after_boot``: the app alternates ``running`` / ``stopped`` every
  ``APP_FLAP_S`` Pi seconds.

Pi seconds are scaled by the fleet's time scale like boot times (faults.py). The supervisor
calls ``tick`` for every running client (supervisor.py, ``_watch_running``).
"""

APP_FAULTS = {
    "app_crashes_after_boot": "after every reboot the signage app crashes shortly after the agent is back",
    "app_flaps_after_boot": "after every reboot the signage app alternates running/stopped",
}
APP_CRASH_AFTER_S = 5.0
APP_FLAP_S = 50.0

_seen = {}  # client name -> (boots seen, next change at (monotonic), next state)


def tick(client, now, time_scale):
    """Apply the client's app faults; cheap when it has none."""
    faults = APP_FAULTS.keys() & client.faults
    if not faults:
        return
    boots, due, state = _seen.get(client.name, (0, None, None))
    if client.boots != boots:
        boots, due, state = client.boots, None, None
        if client.boots > 1 and "app_crashes_after_boot" in faults:
            due, state = now + APP_CRASH_AFTER_S * time_scale, "crashed"
        elif client.boots > 1:
            due, state = now + APP_FLAP_S * time_scale, "stopped"
    if due is not None and now >= due:
        client.app_state_path.write_text(state + "\n")
        client.note(f"app fault: app {state}")
        if "app_crashes_after_boot" in faults:
            due, state = None, None
        else:
            due, state = now + APP_FLAP_S * time_scale, "running" if state == "stopped" else "stopped"
    _seen[client.name] = (boots, due, state)
