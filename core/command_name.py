"""How messages name the `mediaplane` command so that the user can paste and run what they print."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def mediaplane_command() -> str:
    """`mediaplane` when that name on PATH is this installation's command, else its absolute path
    (a quick-start checkout has it only in .venv/bin, which is rarely on PATH)."""
    script = Path(sys.executable).parent / "mediaplane"  # console scripts sit beside their interpreter
    if not script.exists():
        return "mediaplane"
    on_path = shutil.which("mediaplane")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "mediaplane"
    return str(script.absolute())
