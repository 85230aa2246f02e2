"""Shared fixtures: apps on SQLite and on PostgreSQL (a fresh schema each), real Redis, API keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import peewee
import psycopg2
import pytest
import redis

from core.app import create_app
from core.config import deep_merge
from core.db import db, migrate
from tests import shared_data

PG_URL = os.environ.get("MEDIAPLANE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _redis_url_of_this_process(base: str) -> str:
    """The Redis db of this pytest process. Tests flush their db, so the parallel workers of
    pytest-xdist (scripts/test runs several) each take their own: worker gwN uses the base db
    index minus N (15, 14, 13, ... by default). PostgreSQL needs nothing alike: every test has a
    schema of its own (PgSchema)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return base
    url = redis.connection.parse_url(base)
    index = (int(url.get("db", 0)) - int(worker[2:])) % 16
    head, _, _ = base.partition("?")
    root = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{root}/{index}"


REDIS_URL = _redis_url_of_this_process(
    os.environ.get("MEDIAPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
)

# Every read endpoint of the report plugin, for a room "room-1" with user "u1".
REPORT_READ_URLS = (
    "/report/rooms",
    "/report/metrics/room-1",
    "/report/metrics/room-1/u1",
    "/report/history/room-1",
)

EXAMPLE_REPORT = {
    "user_id": "u1",
    "room_id": "room-1",
    "sdk_version": "1.2.0",
    "report_time": 1746616000,
    "metrics": [
        {
            "user_id": "u1",
            "streams": [
                {
                    "stream_id": "camera",
                    "direction": "send",
                    "video": {
                        "timestamp": 1746616000,
                        "frame_rate": 25,
                        "width": 1280,
                        "height": 720,
                        "bitrate": 1200,
                    },
                    "audio": {"timestamp": 1746616000, "sample_rate": 48000, "channels": 2, "bitrate": 64},
                    "network": {"rtt": 45, "packet_loss": 0.3, "jitter": 8},
                }
            ],
        }
    ],
}


def pytest_sessionfinish(session, exitstatus):
    """Under CI=true missing shared data fails the run, also when it only skipped whole modules.
    A pytest-xdist worker hands what it missed to the controller (pytest_testnodedown), whose exit
    status is the run's."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["shared_data_missing"] = [str(path) for path in shared_data.missing()]
        return
    passed = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if shared_data.in_ci() and shared_data.missing() and passed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: note the shared data a worker found missing."""
    for path in getattr(node, "workeroutput", {}).get("shared_data_missing", []):
        shared_data.note_missing(Path(path))


def pytest_terminal_summary(terminalreporter):
    """One line naming the shared data that was missing and the setting that names its folder."""
    line = shared_data.summary_line()
    if line:
        terminalreporter.write_line(line, red=shared_data.in_ci(), yellow=not shared_data.in_ci(), bold=True)


@pytest.fixture(autouse=True)
def forget_process_caches():
    """Per-process caches (verified keys, recently touched rooms) must not leak from one test's
    database into the next one's."""
    from core import auth
    from plugins.report import service

    auth._key_cache.clear()
    service._recently_touched.clear()
    yield


@pytest.fixture
def redis_url():
    """The machine's real Redis, on a db index of its own, emptied before and after each test."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


class PgSchema:
    """A schema of its own in the test database, so runs never see each other's tables."""

    def __init__(self):
        self.name = f"mp_test_{uuid.uuid4().hex[:12]}"
        self.url = f"{PG_URL}?options=-csearch_path%3D{self.name}"

    def __enter__(self):
        with psycopg2.connect(PG_URL) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {self.name}")
        return self

    def __exit__(self, *exc):
        conn = psycopg2.connect(PG_URL)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
        conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Every test that uses it runs twice: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        yield ""
        return
    with PgSchema() as schema:
        yield schema.url


def _close_database():
    if db.obj is not None:
        if hasattr(db.obj, "close_all"):
            db.obj.close_all()
        elif not db.obj.is_closed():
            db.obj.close()


@pytest.fixture
def make_app(tmp_path, database_url, redis_url) -> Callable:
    """Build a migrated app; keyword arguments are config overrides merged over the test defaults."""
    built = []

    def factory(config: dict | None = None, migrated: bool = True):
        base = {
            "core": {"data_dir": str(tmp_path / "data"), "database_url": database_url, "redis_url": redis_url}
        }
        app = create_app(config=deep_merge(base, config or {}), environ={})
        app.config["TESTING"] = True
        if migrated:
            with app.app_context():
                from core.app import migration_packages

                migrate(migration_packages(app))
        built.append(app)
        return app

    yield factory
    _close_database()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def new_key(app) -> Callable[..., str]:
    """new_key("report:read", account="acme") -> token of a fresh key (account created on demand)."""
    from core.auth import create_account, create_key
    from core.models import Account

    def factory(*scopes: str, account: str = "acme") -> str:
        with app.app_context(), db.connection_context():
            if not Account.select().where(Account.name == account).exists():
                create_account(account)
            return create_key(account, list(scopes) or ["*"])[1]

    return factory


@pytest.fixture
def headers(new_key) -> dict:
    """Headers of a key holding both report scopes."""
    return {"X-API-Key": new_key("report:ingest", "report:read")}


def count_rows(app, model: type[peewee.Model], *where) -> int:
    with app.app_context(), db.connection_context():
        query = model.select()
        if where:
            query = query.where(*where)
        return query.count()


@pytest.fixture
def livekit():
    """A LiveKit server double on a loopback port of its own (tests/livekit_double.py), with an API key
    and a 48-character secret; `livekit.settings()` are the room plugin's settings for it."""
    from tests.livekit_double import LiveKitDouble

    with LiveKitDouble() as double:
        yield double


@pytest.fixture(scope="session")
def s3_server():
    """host:port of an S3 server on 127.0.0.1 (moto's server mode, a free port) for the whole run.

    No MinIO server installs on this machine: moto speaks the S3 HTTP protocol (signed requests, XML
    answers, S3 error codes) and the production minio client talks to it as it would to MinIO. Use a
    bucket of the test's own.
    """
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()
