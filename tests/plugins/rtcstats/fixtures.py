"""Real dump fixtures and facts: MIT ones copied to tests/fixtures/dumps, the rest in the shared folder."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from tests.shared_data import LOCAL_DUMPS, available, require, shared_dumps_dir

FACTS = "facts.json"


def dump_path(name: str) -> Path:
    """The dump from the repository's copies if it is there, else from the shared folder (the test is
    skipped, or failed under CI=true, when it is in neither)."""
    local = LOCAL_DUMPS / name
    if local.is_file():
        return local
    return require(shared_dumps_dir() / name)


def dump_bytes(name: str) -> bytes:
    return dump_path(name).read_bytes()


def local_facts() -> dict:
    """Facts of the copied dumps: the shared facts.json entries for them (test_local_fixtures compares)."""
    return _read_facts(LOCAL_DUMPS / FACTS)


def shared_facts() -> dict:
    """The shared facts.json, or {} when it is absent (noted for the summary line)."""
    path = shared_dumps_dir() / FACTS
    return _read_facts(path) if available(path) else {}


@functools.cache
def _read_facts(path: Path) -> dict:
    return json.loads(path.read_text())


def require_shared_facts() -> None:
    """Skip the calling test (fail under CI=true) without the shared facts.json, e.g. one that counts
    every fixture."""
    require(shared_dumps_dir() / FACTS)


def facts() -> dict:
    return {**shared_facts(), **local_facts()}


def truth(name: str) -> dict:
    known = facts()
    if name not in known:
        require(shared_dumps_dir() / FACTS)  # skips: only the shared facts know this dump
    return known[name]["truth"]


def fixture_names(prefix: str = "") -> list[str]:
    """Every dump with facts (only the copied ones without the shared folder), for parametrizing."""
    return sorted(n for n in facts() if not n.startswith("_") and n.startswith(prefix))


def with_configuration(name: str, configuration: dict | None) -> bytes:
    """A line-format fixture with every `create` line's RTCConfiguration replaced, or (None) those lines
    removed: the same call with a recorded-empty or an unrecorded ICE configuration."""
    out = []
    for line in dump_bytes(name).decode().splitlines():
        if line.startswith('["create"'):
            if configuration is None:
                continue
            entry = json.loads(line)
            entry[2] = configuration
            line = json.dumps(entry)
        out.append(line)
    return "\n".join(out).encode()
