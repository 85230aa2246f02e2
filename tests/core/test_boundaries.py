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
