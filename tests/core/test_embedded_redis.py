"""The embedded Redis of the quick start: started once per data dir, shared, stopped by its starter."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rq import Queue

from core.queue import EmbeddedRedis


@pytest.fixture
def embedded(tmp_path):
    server = EmbeddedRedis(str(tmp_path / "data"))
    yield server
    server.stop()


def test_starts_once_and_is_found_by_others(embedded, tmp_path):
    embedded.ensure()
    assert embedded.alive()
    embedded.client().set("k", "v")
    other = EmbeddedRedis(str(tmp_path / "data"))
    other.ensure()
    assert other.process is None  # found the running one, started nothing
    assert other.client().get("k") == b"v"


def user_process(data_dir: str) -> subprocess.Popen:
    """Another process that uses the server until it is killed (like an idle web process)."""
    code = (
        "import sys, time; from core.queue import EmbeddedRedis; "
        f"EmbeddedRedis({data_dir!r}).ensure(); print('ready', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def test_left_running_while_another_process_uses_it(embedded, tmp_path):
    embedded.ensure()
    child = user_process(str(tmp_path / "data"))
    try:
        embedded.stop()  # the starter leaves first, e.g. a CLI command beside an idle server
        assert embedded.alive()
    finally:
        child.kill()
        child.wait()
    # The user died without leaving: its PID no longer counts, so the next one out stops it.
    last = EmbeddedRedis(str(tmp_path / "data"))
    last.ensure()
    last.stop()
    assert not embedded.alive()


def test_stop_saves_data_for_the_next_start(embedded, tmp_path):
    embedded.ensure()
    embedded.client().set("kept", "1")
    embedded.stop()
    assert not embedded.alive()
    again = EmbeddedRedis(str(tmp_path / "data"))
    again.ensure()
    try:
        assert again.client().get("kept") == b"1"
    finally:
        again.stop()


def test_another_process_can_use_it(embedded, tmp_path):
    embedded.ensure()
    code = (
        "import sys; from core.queue import EmbeddedRedis; "
        f"r = EmbeddedRedis({str(tmp_path / 'data')!r}); r.ensure(); "
        "assert r.process is None; r.client().set('from-child', '1')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert embedded.client().get("from-child") == b"1"


def test_deep_data_dirs_get_a_short_socket_path(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedRedis(str(deep))
    try:
        server.ensure()
        assert len(str(server.socket)) < 100 and server.alive()
    finally:
        server.stop()


def test_app_without_redis_url_uses_the_embedded_redis(tmp_path):
    from core.app import create_app, migration_packages
    from core.db import migrate, migration_modules

    app = create_app({"core": {"data_dir": str(tmp_path / "data")}}, environ={})
    state = app.extensions["mediaplane"]
    try:
        assert state.embedded_redis is not None
        state.redis.ping()
        Queue("default", connection=state.redis).enqueue(print, "x")
        assert Queue("default", connection=state.redis).count == 1
        not_migrated = app.test_client().get("/readyz")
        assert not_migrated.status_code == 503
        with app.app_context():
            packages = migration_packages(app)
        shipped = [f"{owner}:{name}" for owner, package in packages for name, _ in migration_modules(package)]
        assert shipped[0] == "core:0001_initial" and "report:0001_initial" in shipped
        assert not_migrated.get_json()["checks"]["migrations"] == "pending: " + ", ".join(shipped)
        with app.app_context():
            migrate(packages)
        assert app.test_client().get("/readyz").get_json()["checks"] == {
            "database": "ok",
            "redis": "ok",
            "migrations": "ok",
        }
    finally:
        state.embedded_redis.stop()
