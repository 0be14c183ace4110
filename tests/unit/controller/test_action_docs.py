"""The stub modules document exactly the options their action plugins accept (validate-modules
judges an action by its stub's docs; an option missing there is a lie to the operator)."""

import importlib

import pytest
import yaml

FRAGMENTS = {"infoscreen.fleet.mqtt": "mqtt", "infoscreen.fleet.ledger": "ledger"}
BASE = "ansible_collections.infoscreen.fleet.plugins"


@pytest.mark.parametrize("name", ["lifecycle_wave", "wave_gate", "wave_plan", "rollout_state"])
def test_stub_documents_every_option_the_action_accepts(name):
    action = importlib.import_module(f"{BASE}.action.{name}")
    docs = yaml.safe_load(importlib.import_module(f"{BASE}.modules.{name}").DOCUMENTATION)
    documented = set(docs.get("options") or {})
    for fragment in docs.get("extends_documentation_fragment") or []:
        module = importlib.import_module(f"{BASE}.doc_fragments.{FRAGMENTS[fragment]}")
        documented |= set(yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"])
    assert documented == set(action.ARGUMENT_SPEC)
    # Plain text everywhere (a stray ": " in YAML turns a sentence into a mapping).
    texts = list(docs["description"]) + [o["description"] for o in docs["options"].values()]
    assert all(isinstance(t, str) or isinstance(t, list) and all(isinstance(i, str) for i in t) for t in texts)
