"""The quick-start path for real: bootstrap, then `mediaplane serve --with-worker` (gunicorn, gevent,
embedded Redis, SQLite) answering the report contract over HTTP, and stopping cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core.queue import EmbeddedRedis
from tests.conftest import EXAMPLE_REPORT

MEDIAPLANE = str(Path(sys.executable).parent / "mediaplane")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, key=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if key:
        request.add_header("X-API-Key", key)
    if data:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_healthy(base: str, deadline: float) -> bool:
    """Poll /healthz until it answers 200 (True) or the deadline passes (False)."""
    while time.time() < deadline:
        try:
            if call("GET", f"{base}/healthz")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


@pytest.fixture
def quickstart(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env["MEDIAPLANE__CORE__DATA_DIR"] = str(tmp_path / "data")
    boot = subprocess.run(
        [MEDIAPLANE, "bootstrap"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert boot.returncode == 0, boot.stderr
    key = boot.stdout.strip().splitlines()[-1]
    again = subprocess.run(
        [MEDIAPLANE, "bootstrap"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert key not in again.stdout and "accounts exist already" in again.stdout
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(
        [MEDIAPLANE, "serve", "--port", str(port), "--workers", "2", "--with-worker"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    if not wait_healthy(base, deadline):
        server.kill()
        pytest.fail((tmp_path / "serve.log").read_text())
    while "worker serving queues" not in (tmp_path / "serve.log").read_text() and time.time() < deadline:
        time.sleep(0.2)
    yield base, key, server, tmp_path
    if server.poll() is None:
        # SIGTERM first: the server stops the embedded Redis it started (its own session, so a
        # SIGKILL of the group would orphan it).
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    log.close()


def test_quickstart_serves_the_report_contract(quickstart):
    base, key, server, tmp_path = quickstart
    status, body = call("POST", f"{base}/report/metrics", key, EXAMPLE_REPORT)
    assert (status, json.loads(body)) == (200, {"code": 0, "message": "success", "data": None})
    for path, check in [
        ("/report/rooms", lambda d: d == ["room-1"]),
        ("/report/metrics/room-1", lambda d: d["users"][0]["user_id"] == "u1"),
        ("/report/metrics/room-1/u1", lambda d: d["streams"][0]["network"]["rtt"] == 45),
        ("/report/history/room-1", lambda d: d[0]["report_time"] == 1746616000),
    ]:
        status, body = call("GET", f"{base}{path}", key)
        assert status == 200, body
        assert check(json.loads(body)["data"]), body
    assert call("GET", f"{base}/readyz")[0] == 200
    status, body = call("GET", f"{base}/metrics")
    assert status == 200 and b'endpoint="/report/metrics"' in body and b"mediaplane_queue_depth" in body

    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=40)
    log = (tmp_path / "serve.log").read_text()
    assert "worker serving queues default" in log
    assert "Traceback" not in log and "MonkeyPatchWarning" not in log
    # Routine chatter of the shared embedded Redis is DEBUG: at the default INFO it stays out of the log.
    assert "embedded Redis" not in log
    assert not EmbeddedRedis(str(tmp_path / "data")).alive()  # stopped by the process that started it


def test_cli_module_does_not_import_ssl_before_serve_patches_it():
    """gevent must patch ssl before its first import, so core.cli itself must not pull in redis/ssl."""
    code = "import sys, core.cli; sys.exit('ssl' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0


def concurrent_posts(base: str, key: str, count: int = 40, threads: int = 16) -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    def post(i):
        body = {**EXAMPLE_REPORT, "user_id": f"u{i}", "report_time": EXAMPLE_REPORT["report_time"] + i}
        return call("POST", f"{base}/report/metrics", key, body)[0]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, range(count)))


def test_one_worker_serves_many_requests_at_once_on_sqlite(quickstart):
    """gevent runs many requests per worker: each needs its own database connection."""
    base, key, _server, _tmp = quickstart
    assert concurrent_posts(base, key) == [200] * 40


def test_one_worker_serves_many_requests_at_once_on_postgresql(tmp_path, redis_url):
    from tests.conftest import PgSchema

    with PgSchema() as schema:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
        env.update(
            MEDIAPLANE__CORE__DATA_DIR=str(tmp_path / "data"),
            MEDIAPLANE__CORE__DATABASE_URL=schema.url,
            MEDIAPLANE__CORE__REDIS_URL=redis_url,
        )
        run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 60}
        assert subprocess.run([MEDIAPLANE, "bootstrap"], **run).returncode == 0
        key = subprocess.run([MEDIAPLANE, "bootstrap"], **run).stdout  # accounts exist: no key
        created = subprocess.run(
            [MEDIAPLANE, "keys", "create", "--account", "default", "--scopes", "report:ingest"], **run
        )
        key = created.stdout.strip().splitlines()[-1]
        port = free_port()
        server = subprocess.Popen(
            [MEDIAPLANE, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_healthy(base, time.time() + 30)
            assert concurrent_posts(base, key) == [200] * 40
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=40)
