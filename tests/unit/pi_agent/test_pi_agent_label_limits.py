"""The pi_agent role refuses the release labels the contract refuses, with the same limit."""

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from infoscreen_agent.contract.limits import release_label_problem, release_max_chars

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "pi_agent"
TASK = next(t for t in yaml.safe_load((ROLE / "tasks" / "validate.yml").read_text())
            if "contract limits" in t["name"])


def test_role_limit_equals_the_schema_limit():
    """The role's `length <= N` is the heartbeat/health schemas' maxLength for release."""
    assert f"pi_agent_release_label | length <= {release_max_chars()}" in TASK["ansible.builtin.assert"]["that"]


def _role_accepts(label, host="broker.example"):
    """Evaluate the task's conditions with ansible's own templar, as the assert module does."""
    templar = Templar(loader=DataLoader(), variables={"pi_agent_release_label": label, "pi_agent_mqtt_host": host})
    return all(templar.evaluate_conditional(trust_as_template(c)) for c in TASK["ansible.builtin.assert"]["that"])


@pytest.mark.parametrize("label", ["", "1.0.0+settings1+ssd1", "r" * 128, "r" * 129, "bad\tlabel", "new\nline"])
def test_role_and_agent_agree_on_each_label(label):
    """A label the role accepts is one the agent's contract check accepts, and vice versa."""
    assert _role_accepts(label) == (release_label_problem(label) is None)
