"""Product vs harness: nothing under plugins/, roles/, playbooks/, agent/ knows the simulator.

The simulated fleet (sim/infoscreen_sim) is hardware for the product, not a branch of it
(issue 14): the product never imports it, never names it, and carries no simulation switch.
A product file "names the harness" when its path or its text matches ``HARNESS`` below:
the harness package (``infoscreen_sim``), a path into it (``sim/``), the word ``simulated``
or ``simulation`` (any case), the old ``[sim]`` section or a ``sim`` value/word.

``ALLOWED`` lists (file, matched text) pairs that only document the boundary, each with its
reason; it is empty, nothing needs to. ``PENDING`` would list product files that still name
the harness during a transition, with the owner who removes them; it is empty (issue 14
cleaned up roles/ and playbooks/ too). A file listed there that no longer offends fails
``test_pending_list_is_not_stale``, so the list only shrinks, and any other file that
starts naming the harness fails at once.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("plugins", "roles", "playbooks", "agent")
HARNESS = re.compile(r"infoscreen_sim|simulat(?:ed|ion|or|e)|(?<![\w.-])sim/|\[sim\]|(?<![\w.-])sim(?![\w./-])",
                     re.IGNORECASE)
ALLOWED = {}  # {(relative path, matched text): reason}
# Transitional list of product files still naming the harness; issue 14 emptied it, so the
# boundary holds everywhere. It stays (with its staleness check) for a future transition.
PENDING = {}  # {relative path or folder/: "owner: reason"}


def _product_files():
    for top in PRODUCT:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".png"):
                yield path.relative_to(REPO).as_posix(), path


def _offences(rel, path):
    found = [(0, m.group(0)) for m in HARNESS.finditer(rel)]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return found
    for number, line in enumerate(text.splitlines(), 1):
        found += [(number, m.group(0)) for m in HARNESS.finditer(line) if (rel, m.group(0)) not in ALLOWED]
    return found


def _pending(rel):
    return next((key for key in PENDING if rel == key or (key.endswith("/") and rel.startswith(key))), None)


def test_the_pattern_catches_what_it_must():
    """The check is not vacuous: each way of naming the harness matches, product words do not."""
    for text in ("from infoscreen_sim import fleet", "PYTHONPATH=sim/", "a Simulated client", "[sim]",
                 "power_backend = sim", "'helper' or 'sim'", "the simulation"):
        assert HARNESS.search(text), text
    for text in ("# noqa: SIM115", "snmpsim", "similar", "simple", "pysim.py", "sim_rate"):
        assert not HARNESS.search(text), text


@pytest.mark.parametrize("top", PRODUCT)
def test_product_does_not_name_the_harness(top):
    """No file of this product tree imports or names the simulator, except the listed ones."""
    bad = []
    for rel, path in _product_files():
        if rel.split("/", 1)[0] != top or _pending(rel):
            continue
        bad += [f"{rel}:{number}: {text!r}" for number, text in _offences(rel, path)]
    assert not bad, ("product files name the harness (move the code to sim/infoscreen_sim or word it "
                     "product-neutrally):\n" + "\n".join(bad[:40]))


def test_pending_list_is_not_stale():
    """Every PENDING entry still offends; once its owner cleaned it up, the entry must go."""
    offending = {key: False for key in PENDING}
    for rel, path in _product_files():
        key = _pending(rel)
        if key and _offences(rel, path):
            offending[key] = True
    stale = sorted(key for key, still in offending.items() if not still)
    assert not stale, f"remove from PENDING (clean now): {', '.join(stale)}"


def test_agent_package_is_clean_without_exceptions():
    """The agent installed on Pis is never on the pending list: its boundary holds now."""
    assert not any(key.startswith("agent/") for key in PENDING)
    assert not any(rel.startswith("agent/") for rel, _text in ALLOWED)
