"""The built wheel, installed into an empty virtualenv, runs mediaplane from a folder with no repository
files: --version, migrate, accounts and keys, serve with a report round trip, templates and static files.

Slow (about 1-2 min, mostly pip installing the dependencies, from its cache when warm): it builds the
wheel with `pip wheel --no-deps` from a copy of the source tree and installs it with its dependencies
from the package index.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import core
from tests.conftest import EXAMPLE_REPORT
from tests.core.test_server import call, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# Not part of a source tree that is built: local state and caches of a working copy.
NOT_SOURCE = {".venv", ".git", "build", "data", "dist", ".ruff_cache", ".pytest_cache", "__pycache__"}


def copy_source(dest: Path) -> Path:
    def ignore(folder, names):
        return [n for n in names if n in NOT_SOURCE or n.endswith(".egg-info")]

    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh virtualenv with the wheel (and its dependencies) installed."""
    root = tmp_path_factory.mktemp("package")
    source = copy_source(root / "source")
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", str(source), "-w", str(root / "dist")],
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # setuptools reports undeclared data folders and the like as ...Warning; the build must have none.
    warnings = re.findall(r".*\w+Warning\b.*", built.stdout + built.stderr)
    assert warnings == [], "\n".join(warnings)
    (wheel,) = (root / "dist").glob("mediaplane-*.whl")
    venv = root / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], timeout=120).returncode == 0
    started = time.monotonic()
    done = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"installed the wheel and its dependencies in {time.monotonic() - started:.0f} s")
    return venv / "bin"


@pytest.fixture
def workdir(tmp_path, redis_url):
    """(an empty folder, the environment): SQLite and data under ./data, the test Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE") and k != "PYTHONPATH"}
    env["MEDIAPLANE__CORE__REDIS_URL"] = redis_url
    folder = tmp_path / "somewhere"
    folder.mkdir()
    return folder, env


def test_the_installed_modules_come_from_the_wheel(installed, workdir):
    folder, env = workdir
    code = (
        "import importlib.util as u; "
        "print([u.find_spec(m).origin for m in ('core', 'plugins', 'app', 'plugins.rtcstats.viewer')])"
    )
    done = run([str(installed / "python"), "-c", code], cwd=folder, env=env, timeout=60)
    origins = json.loads(done.stdout.replace("'", '"'))
    site = str(installed.parent / "lib")
    assert all(origin.startswith(site) for origin in origins), origins
    package = Path(origins[0]).parent
    assert (package / "default.toml").is_file()
    # Every data file of the source packages is in the wheel (a new kind of file needs package_data).
    data_files = [
        path.relative_to(REPO)
        for top in ("core", "plugins")
        for path in (REPO / top).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert any(p.parts[-2] == "templates" for p in data_files)
    missing = [str(p) for p in data_files if not (package.parent / p).is_file()]
    assert missing == []
    # The wheel build compiled the rtcstats parser modules (Cython, setup.py) and they are in use.
    code = "from plugins.rtcstats.compiled import summary; print(summary())"
    done = run([str(installed / "python"), "-c", code], cwd=folder, env=env, timeout=60)
    # every module of the list (read from the source tree, so that adding one needs no edit here)
    modules = runpy.run_path(str(REPO / "plugins" / "rtcstats" / "compiled.py"))["MODULES"]
    assert len(modules) >= 5
    expected = "compiled (Cython): " + ", ".join(name.rsplit(".", 1)[1] for name in modules) + "\n"
    assert done.stdout == expected, done.stdout + done.stderr


def test_version_migrate_keys_serve_and_a_report_round_trip(installed, workdir):
    folder, env = workdir
    mediaplane = str(installed / "mediaplane")

    def cli(*args):
        done = run([mediaplane, *args], cwd=folder, env=env, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert cli("--version") == f"mediaplane, version {core.__version__}\n"
    assert "applied report:0001_initial" in cli("migrate")
    assert (folder / "data").is_dir()  # the default data dir, under the working directory
    cli("accounts", "create", "acme")
    key = cli("keys", "create", "--account", "acme", "--scopes", "*").splitlines()[-1]

    port = free_port()
    log_path = folder / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [mediaplane, "serve", "--port", str(port), "--workers", "1"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if call("GET", f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, log_path.read_text()
            time.sleep(0.3)
        else:
            pytest.fail(log_path.read_text())

        status, body = call("POST", f"{base}/report/metrics", key, EXAMPLE_REPORT)
        assert (status, json.loads(body)["code"]) == (200, 0), body
        status, body = call("GET", f"{base}/report/metrics/room-1/u1", key)
        assert status == 200, body
        stream = json.loads(body)["data"]["streams"][0]
        assert stream["stream_id"] == "camera" and stream["network"]["rtt"] == 45

        # Package data: a static file and a template of the rtcstats viewer, the Swagger UI.
        status, body = call("GET", f"{base}/rtcstats/assets/viewer.js")
        assert status == 200 and body == (REPO / "plugins/rtcstats/static/viewer.js").read_bytes()
        status, body = call("GET", f"{base}/rtcstats/view/{uuid.uuid4()}", key)
        assert status == 404 and b"<html" in body.lower()
        assert call("GET", f"{base}/docs")[0] == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    log = log_path.read_text()
    assert "Traceback" not in log, log
