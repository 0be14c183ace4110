"""The stub modules document exactly the options their action plugins accept (validate-modules
judges an action by its stub's docs; an option missing there is a lie to the operator).

The stubs hold documentation only, as ansible-core's own action-backed modules do
(ansible.builtin.debug): validate-modules then checks their docs (schema, markup, license
header) but not an argument spec, because the spec lives in the action plugin, where it
cannot look. These tests are that check: options, types, defaults, choices and check mode
of each stub against what its action plugin enforces."""

import ast
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


@pytest.mark.parametrize("name", ACTIONS)
def test_stub_is_documentation_only(name):
    """Code in a stub never runs (Ansible always picks the action plugin of the same name), and
    a stub with an AnsibleModule call would make validate-modules compare the docs with that
    call's spec instead of the action's: argument_spec={} made every documented option
    "nonexistent-parameter-documented" and every check_mode attribute a lie."""
    tree = ast.parse((REPO / "plugins" / "modules" / f"{name}.py").read_text())
    code = [node for node in tree.body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            and not (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets]
                     in (["DOCUMENTATION"], ["EXAMPLES"], ["RETURN"]))]
    assert [ast.dump(node)[:60] for node in code] == []


@pytest.mark.parametrize("name", ACTIONS)
def test_stub_check_mode_attribute_agrees_with_the_action(name):
    """attributes.check_mode.support is full or partial exactly when the action plugin declares
    _supports_check_mode (Ansible skips an action without it in check mode)."""
    action = importlib.import_module(f"{BASE}.action.{name}")
    docs = yaml.safe_load(importlib.import_module(f"{BASE}.modules.{name}").DOCUMENTATION)
    support = docs["attributes"]["check_mode"]["support"]
    assert support in ("full", "partial", "none")
    assert (support != "none") == bool(action.ActionModule._supports_check_mode)
