"""The stub modules document exactly the options their action plugins accept (validate-modules
judges an action by its stub's docs; an option missing there is a lie to the operator)."""

import importlib
from pathlib import Path

import pytest
import yaml

FRAGMENTS = {"infoscreen.fleet.mqtt": "mqtt", "infoscreen.fleet.ledger": "ledger"}
BASE = "ansible_collections.infoscreen.fleet.plugins"
REPO = Path(__file__).resolve().parents[3]


ACTIONS = sorted(path.stem for path in (REPO / "plugins" / "action").glob("*.py"))


def test_every_action_plugin_has_a_stub_module():
    """ansible-doc and validate-modules see an action only through its stub in plugins/modules."""
    assert ACTIONS
    assert [name for name in ACTIONS if not (REPO / "plugins" / "modules" / f"{name}.py").exists()] == []


@pytest.mark.parametrize("name", ACTIONS)
def test_stub_documents_every_option_the_action_accepts(name):
    """The stub's options (its doc fragments included) are exactly the action's argument spec,
    and each documented type, default and choices match what the action enforces."""
    action = importlib.import_module(f"{BASE}.action.{name}")
    docs = yaml.safe_load(importlib.import_module(f"{BASE}.modules.{name}").DOCUMENTATION)
    documented = dict(docs.get("options") or {})
    for fragment in docs.get("extends_documentation_fragment") or []:
        module = importlib.import_module(f"{BASE}.doc_fragments.{FRAGMENTS[fragment]}")
        documented.update(yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"])
    assert set(documented) == set(action.ARGUMENT_SPEC)
    for option, spec in action.ARGUMENT_SPEC.items():
        doc = documented[option]
        assert doc.get("type", "str") == spec.get("type", "str"), option
        assert doc.get("elements") == spec.get("elements"), option
        assert doc.get("default") == spec.get("default"), option
        assert doc.get("choices") == (list(spec["choices"]) if "choices" in spec else None), option
        assert bool(doc.get("required")) == bool(spec.get("required")), option
    # Plain text everywhere (a stray ": " in YAML turns a sentence into a mapping).
    texts = list(docs["description"]) + [o["description"] for o in docs["options"].values()]
    assert all(isinstance(t, str) or isinstance(t, list) and all(isinstance(i, str) for i in t) for t in texts)
