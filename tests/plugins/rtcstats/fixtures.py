"""The shared real dump fixtures (../shared/fixtures/dumps, never copied here) and their facts."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DUMPS = Path(os.environ.get("MEDIAPLANE_DUMPS_DIR", ROOT.parent / "shared" / "fixtures" / "dumps"))


def dump_path(name: str) -> Path:
    path = DUMPS / name
    if not path.exists():
        pytest.fail(f"fixture {path} is missing: the shared fixtures must lie beside the repository")
    return path


def dump_bytes(name: str) -> bytes:
    return dump_path(name).read_bytes()


@functools.cache
def facts() -> dict:
    return json.loads((DUMPS / "facts.json").read_text())


def truth(name: str) -> dict:
    return facts()[name]["truth"]


def fixture_names(prefix: str = "") -> list[str]:
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
