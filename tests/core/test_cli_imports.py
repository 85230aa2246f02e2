"""What a command line imports: each command loads only what it runs (start-up time is measured by
scripts/bench/cli_startup.py; the import graph is deterministic, so it is checked here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Heavy or server-side packages that neither help nor the offline analysis need.
SERVER_SIDE = ("flask", "werkzeug", "gunicorn", "gevent", "redis", "rq", "peewee", "psycopg2", "minio")
ANALYSIS = ("numpy", "plugins.rtcstats.analysis", "plugins.rtcstats.parsing")

PROBE = """
import json, sys
from core.cli import main
sys.argv = ["mediaplane", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported_by(*args: str, env: dict | None = None) -> tuple[int, set[str], str]:
    """(exit status, modules imported, stdout + stderr) of `mediaplane ARGS` in a fresh interpreter."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output, _, tail = done.stdout.rpartition("\nMODULES ")
    assert tail, done.stderr
    report = json.loads(tail)
    return report["code"], set(report["modules"]), output + done.stderr


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


# The real 477-byte dump copied into the repository (MIT, see its NOTICE): one getUserMedia call, no
# peer connection.
SMALL_DUMP = (
    Path(__file__).resolve().parents[1] / "fixtures" / "dumps" / "internals_chrome142_getusermedia_only.gz"
)


def test_help_imports_neither_the_server_nor_the_analysis():
    code, modules, output = imported_by("--help")
    assert code == 0 and "rtcstats" in output and "serve" in output
    assert loaded(modules, SERVER_SIDE + ANALYSIS) == []


def test_version_reads_no_configuration():
    code, modules, output = imported_by("--version", env={"MEDIAPLANE__CORE__SERVER__PORT": "x"})
    assert code == 0 and output.strip() == "mediaplane, version 0.1.0"
    assert loaded(modules, ("marshmallow", "core.config", "plugins") + SERVER_SIDE) == []


def test_offline_analysis_imports_the_analysis_but_not_the_server():
    code, modules, output = imported_by("rtcstats", "analyze", str(SMALL_DUMP))
    assert code == 0, output
    assert "peer connections      0" in output
    assert loaded(modules, SERVER_SIDE) == []
    assert "numpy" in modules and "plugins.rtcstats.analysis" in modules


def test_a_disabled_plugin_adds_no_command_and_is_not_imported_beyond_its_hooks():
    code, modules, output = imported_by("--help", env={"MEDIAPLANE__PLUGINS__RTCSTATS__ENABLED": "false"})
    assert code == 0 and "rtcstats" not in output
    assert "plugins.rtcstats.cli" not in modules
    code, _, output = imported_by("rtcstats", "--help", env={"MEDIAPLANE__PLUGINS__RTCSTATS__ENABLED": "0"})
    assert code == 2 and "No such command 'rtcstats'" in output


def test_the_installed_command_refuses_a_bad_setting_on_stderr():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    mediaplane = os.path.join(os.path.dirname(sys.executable), "mediaplane")
    done = subprocess.run(
        [mediaplane, "plugins"],
        env={**clean, "MEDIAPLANE__CORE__SERVER__PORT": "notaport"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "Error: configuration: core.server.port: Not a valid integer.\n"
