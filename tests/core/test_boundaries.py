"""Architecture rules read from the source: plugins meet only through interface.py and hookspecs.py."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_FOREIGN_MODULES = {"interface", "hookspecs"}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.count(".") >= 2:  # from plugins.x.service import f -> plugins.x.service
                names.append(node.module)
            else:  # from plugins.x import interface -> plugins.x.interface
                names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def violations(plugin_dir: Path) -> list[str]:
    owner = plugin_dir.name
    found = []
    for path in plugin_dir.rglob("*.py"):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] != "plugins" or len(parts) < 2 or parts[1] == owner:
                continue
            if len(parts) == 2 or parts[2] not in ALLOWED_FOREIGN_MODULES:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_plugins_import_only_interfaces_of_other_plugins():
    plugin_dirs = [p for p in (ROOT / "plugins").iterdir() if (p / "plugin.py").exists()]
    assert plugin_dirs, "no plugins found"
    problems = [v for d in plugin_dirs for v in violations(d)]
    assert problems == []


def test_the_rule_catches_a_violation(tmp_path):
    fake = tmp_path / "plugins" / "spy"
    fake.mkdir(parents=True)
    (fake / "plugin.py").write_text(
        "from plugins.report.service import ingest\nfrom plugins.report import interface\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert violations(fake) == ["plugins/spy/plugin.py imports plugins.report.service"]
    finally:
        ROOT = saved


def test_core_does_not_import_plugins():
    problems = []
    for path in (ROOT / "core").rglob("*.py"):
        for name in imported_modules(path):
            if name.startswith("plugins.") and name != "plugins.__init__":
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_every_module_starts_with_a_docstring():
    missing = []
    for folder in ("core", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text())) is None:
                missing.append(str(path.relative_to(ROOT)))
    assert missing == []


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_cycles(plugin_dir: Path, root: Path) -> list[list[str]]:
    """Groups of the plugin's modules that import one another in a circle, counting imports inside
    functions too (a deferred import hides a cycle from Python, not from a reader). A package naming
    its own submodules in __init__.py is not a cycle."""
    modules = {module_name(p, root): p for p in plugin_dir.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_modules(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not imported.startswith(f"{name}."):
                targets.add(imported)
        graph[name] = targets
    cycles, seen = [], set()
    for start in sorted(graph):
        stack, path = [(start, iter(sorted(graph[start])))], [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
            elif child == start:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    cycles.append([*path, start])
            elif child not in path and child > start:
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return cycles


def test_rtcstats_modules_import_one_another_without_cycles():
    """The service layer never imports the viewer or the blueprint back (issue 13: service <-> viewer)."""
    assert import_cycles(ROOT / "plugins" / "rtcstats", ROOT) == []


def test_the_cycle_rule_catches_a_deferred_import(tmp_path):
    plugin = tmp_path / "plugins" / "spy"
    plugin.mkdir(parents=True)
    (plugin / "service.py").write_text('"""s."""\nfrom plugins.spy.viewer import page\n')
    (plugin / "viewer.py").write_text('"""v."""\n\n\ndef page():\n    from plugins.spy import service\n')
    assert import_cycles(plugin, tmp_path) == [
        ["plugins.spy.service", "plugins.spy.viewer", "plugins.spy.service"]
    ]
