"""The docs that are generated or promised stay true: configuration reference, quick start, docs links."""

from __future__ import annotations

import re
from pathlib import Path

from core.config_reference import render

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_generated_from_the_schemas():
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "run: mediaplane config-reference > docs/configuration.md"


def test_readme_opens_with_the_two_quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S)
    assert [b.strip() for b in blocks[:2]] == ["scripts/run", "scripts/test"]


def test_links_between_docs_resolve():
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            if not (doc.parent / target).resolve().exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert broken == []
