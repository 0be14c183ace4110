"""The pi_agent role refuses the release labels the contract refuses, with the same limit."""

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core 2.18 (no data tagging) templates every string it is given
    def trust_as_template(value):
        return value
from infoscreen_agent.contract.limits import release_label_problem, release_max_chars

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "pi_agent"
# validate.yml checks in one task per host; its check of the strings the agent reports is the
# entry of _pi_agent_checks whose message names pi_agent_release_label.
TASK = next(t for t in yaml.safe_load((ROLE / "tasks" / "validate.yml").read_text())
            if "strings the agent reports" in t["name"])
CHECK = next(c for c in TASK["vars"]["_pi_agent_checks"] if "pi_agent_release_label must be" in c["msg"])


def test_role_limit_equals_the_schema_limit():
    """The role's `length <= N` is the heartbeat/health schemas' maxLength for release."""
    assert f"pi_agent_release_label | length <= {release_max_chars()}" in CHECK["bad"]


def _role_accepts(label, host="broker.example"):
    """Evaluate the check with ansible's own templar, as the role's task does."""
    templar = Templar(loader=DataLoader(), variables={"pi_agent_release_label": label, "pi_agent_mqtt_host": host})
    bad = templar.template(trust_as_template(CHECK["bad"]))
    assert isinstance(bad, bool), bad
    return not bad


@pytest.mark.parametrize("label", ["", "1.0.0+settings1+ssd1", "r" * 128, "r" * 129, "bad\tlabel", "new\nline"])
def test_role_and_agent_agree_on_each_label(label):
    """A label the role accepts is one the agent's contract check accepts, and vice versa."""
    assert _role_accepts(label) == (release_label_problem(label) is None)
