"""The suite's own layout: pytest imports test modules by basename (rootdir-relative, no
packages under tests/ but tests/fixtures), so two test files with one name make the second an
"import file mismatch" collection error - but only when both are collected in one process, as
in CI's full run and never in a targeted one."""

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_names_are_unique():
    seen = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each pair (pytest cannot collect both): {clashes}"
