"""The rtcstats modules that setup compiles with Cython, and the Python fallback for each of them.

The hot loops of the legacy (jitsi-format) parser, and the analysis modules where compiling pays, are
compiled from their own ``.py`` sources (Cython's pure-Python mode; a ``.pxd`` beside a source, e.g.
``legacy_tracks.pxd``, adds C types), so there is one source and no second implementation: a module
that was not built runs as the plain Python it is, with the same results.

setup.py builds an extension next to each source (in place for ``pip install -e .``, in the wheel
otherwise) and writes ``compiled-build.json``: the SHA-256 of every source it compiled. ``install()``,
run when ``plugins.rtcstats`` is imported, keeps a compiled module only when its source is unchanged
since that build; an edited source (a stale extension) runs as Python until setup builds it again, so a
change is never hidden behind an old binary. ``MEDIAPLANE_RTCSTATS_PURE_PYTHON=1`` runs everything as
Python (the equivalence tests compare both paths).

Nothing here imports more than the standard library: setup.py reads ``MODULES`` from this file.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

__all__ = ["MODULES", "MANIFEST_NAME", "PURE_ENV", "install", "source_digest", "status", "summary"]

# Dotted names, in import order. Chosen by profile: the per-value work of legacy getstats lines, and the
# per-interval E-model (analysis/mos.py) that streams of tens of intervals paid thirty numpy calls for.
# The analysis modules after mos are those whose compiling paid, each measured alone (callgrind, analyze
# of the 13 jitsi-format fixtures, 514 M instructions with none of them compiled): response -27 M,
# metrics_values -19 M, metrics_streams -12 M, metrics_model -8 M, observations -6 M, metrics_pc -4 M,
# rules_connectivity -4 M, scores -3 M, parsed_dump -3 M, metrics_pairs -2 M. Left as Python (1 M or
# less each, not worth their build time): metrics, metrics_client, rules_client, rules_media, summary.
MODULES = (
    "plugins.rtcstats.parsed_dump",
    "plugins.rtcstats.parsing.lines",
    "plugins.rtcstats.parsing.legacy_tracks",
    "plugins.rtcstats.parsing.legacy",
    "plugins.rtcstats.parsing.internals_stats",  # the internals series reader: its type checks (.pxd)
    "plugins.rtcstats.analysis.mos",
    "plugins.rtcstats.analysis.metrics_values",
    "plugins.rtcstats.analysis.metrics_model",
    "plugins.rtcstats.analysis.metrics_pairs",
    "plugins.rtcstats.analysis.metrics_pc",
    "plugins.rtcstats.analysis.metrics_streams",
    "plugins.rtcstats.analysis.observations",
    "plugins.rtcstats.analysis.rules_connectivity",
    "plugins.rtcstats.analysis.scores",
    "plugins.rtcstats.analysis.response",
)
MANIFEST_NAME = "compiled-build.json"
PURE_ENV = "MEDIAPLANE_RTCSTATS_PURE_PYTHON"

_ROOT = Path(__file__).resolve().parents[2]  # the folder holding plugins/
_status: dict[str, str] = {}


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _paths(name: str) -> tuple[Path, list[Path]]:
    """The module's .py source and the extension files that would shadow it."""
    base = _ROOT.joinpath(*name.split("."))
    extensions = [base.with_name(base.name + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    return base.with_suffix(".py"), [path for path in extensions if path.is_file()]


def _decide(name: str, manifest: dict) -> str:
    source, extensions = _paths(name)
    if not extensions:
        return "python: not built"
    if os.environ.get(PURE_ENV) == "1":
        return f"python: {PURE_ENV}=1"
    if not source.is_file():  # an installed wheel may hold the extension only
        return "compiled"
    if manifest.get(name) != source_digest(source):
        return "python: the source changed since the build (run scripts/setup)"
    return "compiled"


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Imports the named modules from their .py file although an extension of the same name is there."""

    def __init__(self, sources: dict[str, Path]):
        self.sources = sources

    def find_spec(self, fullname, path=None, target=None):
        source = self.sources.get(fullname)
        return importlib.util.spec_from_file_location(fullname, source) if source else None


def install() -> None:
    """Decide, once per process, which modules run compiled; route the others to their .py source."""
    if _status:
        return
    try:
        manifest = json.loads((_ROOT / "plugins" / "rtcstats" / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        manifest = {}
    fallback = {}
    for name in MODULES:
        _status[name] = _decide(name, manifest)
        if _status[name] != "compiled":
            source, extensions = _paths(name)
            if extensions:
                fallback[name] = source
    if fallback:
        sys.meta_path.insert(0, _SourceFinder(fallback))


def status() -> dict[str, str]:
    """module -> "compiled" or "python: <why>", checked against the file each imported module came from."""
    install()
    result = dict(_status)
    for name, decided in _status.items():
        module = sys.modules.get(name)
        if module is not None and decided == "compiled" and str(module.__file__).endswith(".py"):
            result[name] = "python: the extension was not the module imported"
    return result


def summary() -> str:
    """One line for logs: which path the parser runs."""
    states = status()
    compiled = [name.rsplit(".", 1)[1] for name, state in states.items() if state == "compiled"]
    if len(compiled) == len(states):
        return f"compiled (Cython): {', '.join(compiled)}"
    python = "; ".join(
        f"{name.rsplit('.', 1)[1]} {state}" for name, state in states.items() if state != "compiled"
    )
    return f"compiled (Cython): {', '.join(compiled) or 'none'}; as {python}"
