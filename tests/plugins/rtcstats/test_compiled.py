"""The Cython-compiled parser and analysis modules (plugins/rtcstats/compiled.py) against the same sources run
as Python.

Both paths run in fresh interpreters on every dump fixture (the repository's copies and the shared MIT
dumps): the analyze JSON must be byte-identical. MEDIAPLANE_REQUIRE_NATIVE=1 (set by scripts/test, so by
.ci/run) makes a machine where setup did not build the extensions fail instead of skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.rtcstats import compiled
from tests.shared_data import LOCAL_DUMPS, shared_dumps_dir

REPO = Path(__file__).resolve().parents[3]
NOT_DUMPS = {"facts.json", "MANIFEST.md", "NOTICE"}
REQUIRED = os.environ.get("MEDIAPLANE_REQUIRE_NATIVE") == "1"

# Analyzes every file named on the command line; prints which path ran, then one JSON line per file.
# uploaded_ms is fixed (a dump without events is dated by it); uploadTimestamp, the clock's, is left out.
ANALYZE_ALL = """
import importlib, json, sys
from pathlib import Path
from plugins.rtcstats import compiled
from plugins.rtcstats.analysis import analyze
from plugins.rtcstats.parsing import DumpFormatError, parse
for name in compiled.MODULES:  # each one, whether or not the first dump would import it
    importlib.import_module(name)
print(json.dumps({name: sys.modules[name].__file__ for name in compiled.MODULES}))
for path in map(Path, sys.argv[1:]):
    data = path.read_bytes()
    try:
        result = analyze(parse(data), file_name=path.name, file_size=len(data), uploaded_ms=1.7e12)
        del result["uploadTimestamp"]
    except DumpFormatError as err:
        result = {"error": str(err)}
    print(json.dumps(result, sort_keys=True))
"""

# The per-interval E-model (mos.py) on values the dumps rarely hold: the compiled C doubles and Python's
# floats must agree to the last bit (repr), signed zeros, infinities, NaN, None and bools included.
MOS_SAMPLES = """
import json, math, random
from plugins.rtcstats.analysis import mos
print(json.dumps({"plugins.rtcstats.analysis.mos": mos.__file__}))
rng = random.Random(13)
odd = [None, math.nan, math.inf, -math.inf, -0.0, 0.0, 100.0, 177.3, 1e308, -1e308, 5e-324, True, 3]
def column():
    return [rng.choice(odd) if rng.random() < 0.2 else rng.uniform(-100.0, 2000.0) for _ in range(20000)]
loss, rtt, jitter, buffer = (column() for _ in range(4))
for bpl in (mos.OPUS_BPL, mos.OTHER_BPL):
    print(repr(mos.interval_mos_all(loss, rtt, jitter, buffer, bpl).tolist()))
    print(repr(mos.audio_mos_all(loss, rtt, jitter, buffer, bpl).tolist()))
print(repr([mos.r_to_mos(r / 7.0) for r in range(-70, 800)]))
"""


def _dumps() -> list[Path]:
    folders = [LOCAL_DUMPS, shared_dumps_dir()]
    return sorted(
        path
        for folder in folders
        if folder.is_dir()
        for path in folder.iterdir()
        if path.name not in NOT_DUMPS
    )


def _run(files: list[Path], pure: bool, script: str = ANALYZE_ALL) -> tuple[dict, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
    if pure:
        env[compiled.PURE_ENV] = "1"
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, files)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    first, *results = done.stdout.splitlines()
    return json.loads(first), results


def _all_compiled() -> bool:
    return all(state == "compiled" for state in compiled.status().values())


def test_the_extensions_are_built_and_in_use_when_required():
    if not REQUIRED:
        pytest.skip("MEDIAPLANE_REQUIRE_NATIVE is not 1 (scripts/test sets it)")
    assert compiled.status() == {name: "compiled" for name in compiled.MODULES}, compiled.summary()
    for name in compiled.MODULES:
        __import__(name)
        assert not sys.modules[name].__file__.endswith(".py"), sys.modules[name].__file__


def test_compiled_and_python_paths_give_byte_identical_analyze_json():
    if not _all_compiled():
        if REQUIRED:
            pytest.fail(compiled.summary())
        pytest.skip(f"the extensions are not in use: {compiled.summary()}")
    files = _dumps()
    assert sum(path.name.startswith("jitsi_legacy_") for path in files) >= 4
    native_files, native = _run(files, pure=False)
    python_files, python = _run(files, pure=True)
    assert all(not origin.endswith(".py") for origin in native_files.values()), native_files
    assert all(origin.endswith(".py") for origin in python_files.values()), python_files
    assert len(native) == len(python) == len(files)
    for path, ours, reference in zip(files, native, python, strict=True):
        assert "error" not in json.loads(ours), path.name
        assert ours == reference, path.name


def test_compiled_and_python_mos_give_the_same_floats():
    if not _all_compiled():
        if REQUIRED:
            pytest.fail(compiled.summary())
        pytest.skip(f"the extensions are not in use: {compiled.summary()}")
    native_file, native = _run([], pure=False, script=MOS_SAMPLES)
    python_file, python = _run([], pure=True, script=MOS_SAMPLES)
    assert not native_file["plugins.rtcstats.analysis.mos"].endswith(".py"), native_file
    assert python_file["plugins.rtcstats.analysis.mos"].endswith(".py"), python_file
    assert len(native) == len(python) == 5
    assert native == python


def test_an_edited_source_runs_as_python_until_it_is_built_again(monkeypatch):
    # the decision as a process without the pure-Python switch makes it (a run of the suite under
    # MEDIAPLANE_RTCSTATS_PURE_PYTHON=1 would otherwise see the switch's answer, not the digest's)
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    name = "plugins.rtcstats.parsing.legacy_tracks"
    source = REPO / "plugins" / "rtcstats" / "parsing" / "legacy_tracks.py"
    stale = compiled._decide(name, {name: "0" * 64})
    if compiled._paths(name)[1]:
        assert stale == "python: the source changed since the build (run scripts/setup)"
        assert compiled._decide(name, {name: compiled.source_digest(source)}) == "compiled"
    else:
        assert stale == "python: not built"


def test_the_python_fallback_is_imported_from_the_source_beside_the_extension():
    if not compiled._paths("plugins.rtcstats.parsing.legacy_tracks")[1]:
        pytest.skip("not built: the source is the only module there")
    origins, results = _run([LOCAL_DUMPS / "jitsi_legacy_chrome-relay.jsonl"], pure=True)
    assert origins == {name: str(compiled._paths(name)[0]) for name in compiled.MODULES}
    assert json.loads(results[0])["pConnectionsNumber"] >= 1
