"""AWX/AAP path to the shared ledger (issue 17, item 5; docs/awx.md, "A shared ledger on
PostgreSQL"): a job gets the ledger only from the environment its custom credential type
injects (INFOSCREEN_LEDGER = a postgresql:// URL without password, PGPASSWORD beside it), and
reboot.yml, canary.yml, recover.yml and the fleet-watch rulebook all reach that one ledger.

- every ``ledger:`` option in the playbooks and the rulebook falls through to the environment
  when no extra var is given;
- the documented injector is valid YAML and injects exactly those variables;
- real ansible-playbook runs with only that environment: ledger_migrate.yml creates the
  tables, reboot.yml writes its commands to PostgreSQL, ledger_query.yml reads them back, the
  password is never in the output, nothing is kept in the job's working directory;
- recover's PoE step (module_utils/poe_ledger.py) and the fleet-watch source's ledger view,
  given no ledger, see the same commands.
"""

import re
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_ledger import LedgerStep

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
FALLS_THROUGH = {'"{{ infoscreen_ledger | default(omit) }}"', "\"{{ infoscreen_fleet_watch_ledger | default('') }}\""}


def test_every_ledger_option_of_the_playbooks_and_the_rulebook_falls_through_to_the_environment():
    files = [*sorted((REPO / "playbooks").rglob("*.yml")),
             REPO / "extensions" / "eda" / "rulebooks" / "fleet_watch.yml"]
    found = {}
    for path in files:
        for line in path.read_text().splitlines():
            match = re.match(r"\s+ledger:\s*(.+?)\s*$", line)
            if match:
                found.setdefault(match.group(1), []).append(path.relative_to(REPO).as_posix())
    users = {p for paths in found.values() for p in paths}
    for needed in ("playbooks/tasks/wave.yml", "playbooks/tasks/canary_validate.yml", "playbooks/tasks/recover_poe.yml",
                   "playbooks/tasks/recover_lifecycle.yml", "extensions/eda/rulebooks/fleet_watch.yml"):
        assert needed in users
    assert set(found) <= FALLS_THROUGH, found


def test_the_documented_credential_type_injects_the_ledger_url_and_password():
    text = (REPO / "docs" / "awx.md").read_text()
    section = text[text.index("A shared ledger on PostgreSQL"):]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    inputs, injectors = yaml.safe_load(blocks[0]), yaml.safe_load(blocks[1])
    secret = [field["id"] for field in inputs["fields"] if field.get("secret")]
    assert secret == ["password"]
    assert set(injectors["env"]) == {"INFOSCREEN_LEDGER", "PGPASSWORD"}
    assert "password" not in injectors["env"]["INFOSCREEN_LEDGER"]


@pytest.fixture
def awx_env(pg_cluster, pg_ledger_url):
    """What the credential type injects: the URL without password, the password in PGPASSWORD."""
    dbname = pg_ledger_url.rsplit("/", 1)[1]
    return {"INFOSCREEN_LEDGER": f"postgresql://ledger@127.0.0.1:{pg_cluster.port}/{dbname}",
            "PGPASSWORD": pg_cluster.password}


def test_reboot_yml_and_ledger_query_share_the_injected_ledger(fleet_factory, run_playbook, awx_env, tmp_path,
                                                               monkeypatch):
    password = awx_env["PGPASSWORD"]
    fleet = fleet_factory(clients=2, shared_broker=True, boot_time="fixed:25",
                          agent_options={"agent.lockout_max": 0})
    # The administrator's one-off: the tables ahead (then jobs need no CREATE right).
    rc, output, _unused = run_playbook(fleet, "ledger_migrate.yml", extra_env=awx_env)
    assert rc == 0 and "schema version 0 ->" in output and "applied 1, 2, 3" in output, output
    assert password not in output
    rc, output, report = run_playbook(fleet, "reboot.yml", "-v", extra_env=awx_env)
    assert rc == 0, output
    assert password not in output
    rc, query_output, _unused = run_playbook(fleet, "ledger_query.yml", "-e", "infoscreen_query_since=1h",
                                             extra_env=awx_env)
    assert rc == 0, query_output
    assert "2 command(s) matched" in query_output and password not in query_output
    for env, value in awx_env.items():
        monkeypatch.setenv(env, value)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    monkeypatch.chdir(job_dir)
    with Ledger() as ledger:  # what any plugin given no ledger opens
        assert ledger.backend == "postgresql"
        rows = ledger.commands(with_transitions=False)
    assert sorted(r["host"] for r in rows) == sorted(fleet.clients)
    assert {r["state"] for r in rows} == {"completed"}
    # recover.yml's PoE step (poe_port module, no ledger option) sees the lockout of that ledger.
    client = fleet.clients[sorted(fleet.clients)[0]]
    decision = LedgerStep(None, client.client_uuid, limit=1).preview()
    assert decision["allowed"] is False and decision["code"] in ("lockout", "in_flight")
    # The fleet-watch source's view of the ledger (extensions/eda), given no ledger, asks the same database.
    from ansible_collections.infoscreen.fleet.extensions.eda.plugins.event_source.fleet_watch import LedgerView

    assert "reboot_host" in (LedgerView(None, 150.0, 60.0).ours(client.client_uuid, time.time()) or "")
    assert list(job_dir.iterdir()) == []
