"""docs/policy.md has one table of every policy option, and the defaults it states for items
1, 4 and 5 are the ones the plugins and playbooks use."""

import re
from pathlib import Path

from ansible_collections.infoscreen.fleet.plugins.action import lifecycle_wave, wave_plan

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "policy.md").read_text()


def table():
    section = DOC.split("## All policy options", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    # One table: no blank line between its rows.
    block = section[section.index("| variable |"):section.index(rows[-1]) + len(rows[-1])]
    assert "\n\n" not in block
    return {re.match(r"\| `([^`]+)`", row).group(1): [cell.strip() for cell in row.split("|")[1:-1]]
            for row in rows}


def test_every_window_bulk_and_rate_variable_of_the_playbooks_is_in_the_table():
    used = set()
    for name in ("tasks/wave_plan.yml", "tasks/wave_drive.yml", "tasks/canary_validate.yml",
                 "tasks/recover_lifecycle.yml", "tasks/recover_poe.yml", "tasks/recover_validate.yml"):
        text = (REPO / "playbooks" / name).read_text()
        used |= set(re.findall(r"\b(infoscreen_(?:window|bulk|recover_\w+_window|wave_window|maintenance)\w*)", text))
    rows = table()
    missing = sorted(used - set(rows))
    assert not missing, missing
    assert "infoscreen_wave_size" in rows and "{start, factor, max}" in rows["infoscreen_wave_size"][3]


def test_stated_defaults_match_the_code():
    rows = table()
    assert rows["infoscreen_bulk_max_hosts"][2] == f"`{wave_plan.ARGUMENT_SPEC['bulk_max_hosts']['default']}`"
    assert rows["infoscreen_window_policy"][2] == f"`{lifecycle_wave.ARGUMENT_SPEC['window_policy']['default']}`"
    assert rows["infoscreen_window_max_wait_s"][2] == \
        f"`{int(lifecycle_wave.ARGUMENT_SPEC['window_max_wait_s']['default'])}`"
    plan_yml = (REPO / "playbooks" / "tasks" / "wave_plan.yml").read_text()
    assert "infoscreen_bulk_max_hosts | default(10)" in plan_yml
    assert "infoscreen_window_max_wait_s | default(3600)" in plan_yml
    lifecycle = (REPO / "playbooks" / "tasks" / "recover_lifecycle.yml").read_text()
    assert "infoscreen_recover_restart_app_window | default('allow')" in lifecycle
    assert rows["infoscreen_recover_restart_app_window"][2] == "`allow`"
    assert "infoscreen_recover_reboot_window | default('skip')" in lifecycle
    assert rows["infoscreen_recover_reboot_window"][2] == "`skip`"
