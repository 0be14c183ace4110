"""Code layout of the collection: plugins/module_utils holds only what modules (sent to targets)
or the agent need, and never imports controller-only plugins/plugin_utils; everything a module
does not need lives in plugin_utils."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PLUGINS = REPO / "plugins"
PREFIX = "ansible_collections.infoscreen.fleet.plugins."


def _imports(path):
    """Collection files ('module_utils/x', 'plugin_utils/y') that a Python file imports."""
    found = set()
    package = path.parent.relative_to(PLUGINS).as_posix()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside the same package
                base = package
                found.update(f"{base}/{node.module}" if node.module else f"{base}/{alias.name}"
                             for alias in node.names)
                continue
            module = node.module or ""
            if module.startswith(PREFIX):
                base = module[len(PREFIX):].replace(".", "/")
                found.add(base)
                found.update(f"{base}/{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(PREFIX):].replace(".", "/") for alias in node.names
                         if alias.name.startswith(PREFIX))
    return found


def _existing(name):
    """The file or package for an import target, if it is one of ours."""
    for candidate in (PLUGINS / f"{name}.py", PLUGINS / name / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def test_module_utils_never_imports_plugin_utils():
    """A module shipped to a target carries its module_utils; plugin_utils is not there."""
    offenders = {path.relative_to(REPO).as_posix(): sorted(i for i in _imports(path) if i.startswith("plugin_utils"))
                 for path in sorted((PLUGINS / "module_utils").rglob("*.py"))}
    offenders.update({path.relative_to(REPO).as_posix(): sorted(i for i in _imports(path)
                                                                if i.startswith("plugin_utils"))
                      for path in sorted((PLUGINS / "modules").glob("*.py"))})
    assert {name: found for name, found in offenders.items() if found} == {}


def test_every_module_utils_file_is_needed_by_a_module_or_the_agent():
    """A module_utils file no module reaches (and that is not the agent's contract package) is
    controller-only code in the wrong place: it belongs in plugin_utils."""
    reached = set()
    todo = sorted((PLUGINS / "modules").glob("*.py"))
    todo += sorted((PLUGINS / "module_utils" / "contract").glob("*.py"))  # shipped in the agent
    while todo:
        path = todo.pop()
        if path in reached:
            continue
        reached.add(path)
        for name in _imports(path):
            target = _existing(name)
            if target is not None and target not in reached:
                todo.append(target)
    unreached = [path.relative_to(REPO).as_posix() for path in sorted((PLUGINS / "module_utils").rglob("*.py"))
                 if path not in reached]
    assert unreached == []
