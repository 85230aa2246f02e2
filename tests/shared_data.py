"""Where tests find the data kept beside the repository (the shared folder), and what they do without it.

The shared folder (fixtures/dumps with facts.json, specs/vendor) is named by MEDIAPLANE_SHARED_DIR, by
default ../shared beside the repository; MEDIAPLANE_DUMPS_DIR still overrides its dumps folder alone.
A fresh clone has no such folder: a test needing a missing file is skipped (under CI=true it fails, so CI
never silently loses coverage) and tests/conftest.py prints one summary line naming what was missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SETTING = "MEDIAPLANE_SHARED_DIR"
DUMPS_SETTING = "MEDIAPLANE_DUMPS_DIR"
ROOT = Path(__file__).resolve().parents[1]
# MIT-licensed dumps copied into the repository (see their NOTICE), so a fresh clone tests every parser.
LOCAL_DUMPS = ROOT / "tests" / "fixtures" / "dumps"

# Every missing path some test asked for during this run, for the summary line.
_missing: set[Path] = set()


def shared_dir() -> Path:
    return Path(os.environ.get(SETTING) or ROOT.parent / "shared")


def shared_dumps_dir() -> Path:
    return Path(os.environ.get(DUMPS_SETTING) or shared_dir() / "fixtures" / "dumps")


def vendor_dir() -> Path:
    return shared_dir() / "specs" / "vendor"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_unless_ci(message: str) -> None:
    """A test needs something this machine lacks: skip it with `message`, or fail it under CI=true,
    where everything the suite needs must be installed."""
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def available(path: Path) -> bool:
    """Whether `path` exists; a missing one is noted for the summary line. For collection time, where a
    test can be neither skipped nor failed."""
    if path.exists():
        return True
    _missing.add(path)
    return False


def require(path: Path) -> Path:
    """`path`, or skip the calling test (fail it under CI=true) because the shared data is absent."""
    if available(path):
        return path
    if in_ci():
        pytest.fail(f"{path} is missing; CI=true requires the shared data ({SETTING})", pytrace=False)
    # One reason for every such skip, so that pytest's -ra list groups them; the summary line that
    # tests/conftest.py prints names the missing files.
    pytest.skip(f"shared test data missing ({SETTING} names the shared folder, default ../shared)")


def require_for_module(path: Path) -> Path:
    """`path`, or skip the whole calling module, at import time. Under CI=true the run still fails: the
    path is noted and tests/conftest.py turns any missing shared data into a failed run."""
    if available(path):
        return path
    pytest.skip(f"shared test data missing ({SETTING} names the shared folder)", allow_module_level=True)


def note_missing(path: Path) -> None:
    """A path found missing by another process of this run (a pytest-xdist worker)."""
    _missing.add(path)


def missing() -> list[Path]:
    return sorted(_missing)


def summary_line() -> str | None:
    """One line naming what was missing and the setting, or None when nothing was."""
    if not _missing:
        return None
    named = ", ".join(_short(path) for path in missing()[:4])
    more = f" and {len(_missing) - 4} more" if len(_missing) > 4 else ""
    verdict = "CI=true: the run fails" if in_ci() else "tests needing them were skipped"
    return (
        f"shared test data missing: {named}{more}; {verdict}. "
        f"Set {SETTING} to the shared folder (now {shared_dir()})."
    )


def _short(path: Path) -> str:
    for base in (shared_dir(), ROOT.parent):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)
