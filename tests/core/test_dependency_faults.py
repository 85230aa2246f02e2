"""Redis or PostgreSQL failing under a running app: 503 with Retry-After in each route's dialect, dead
pooled connections replaced, and nothing already accepted lost (chunks survive a failed assemble)."""

from __future__ import annotations

import io
import json
import uuid

import peewee
import pytest

from core.db import db
from plugins.report.models import Snapshot
from plugins.rtcstats.models import Session, UploadChunk
from tests.conftest import EXAMPLE_REPORT, PgSchema, count_rows
from tests.core.test_auth import signed
from tests.faults import OwnRedis, application_name, terminate_backends, with_application_name

API = "/api/rtcstats/v1.0"
SMALL_DUMP = b'{"peerConnections": {}, "UserAgent": "Mozilla/5.0 Firefox/118.0"}'


@pytest.fixture
def own_redis():
    with OwnRedis() as server:
        yield server


@pytest.fixture
def redis_app(make_app, own_redis):
    return make_app({"core": {"redis_url": own_redis.url}})


def make_key(app, *scopes: str) -> tuple[str, str]:
    from core.auth import create_account, create_key
    from core.models import Account

    with app.app_context(), db.connection_context():
        if not Account.select().where(Account.name == "acme").exists():
            create_account("acme")
        token = create_key("acme", list(scopes))[1]
    key_id, secret = token.split(".", 1)
    return token, key_id, secret


def assert_unavailable(response, dialect: str) -> None:
    assert response.status_code == 503, response.data
    assert int(response.headers["Retry-After"]) >= 1
    body = response.get_json()
    if dialect == "report":
        assert body["code"] == 503 and body["data"] is None and "retry" in body["message"]
    elif dialect == "rtcstats":
        assert body["errorCode"] == "unavailable" and "retry" in body["error"]
    else:
        assert body["status"] == 503 and response.mimetype == "application/problem+json"


def chunk(client, headers, file_id: str, index: int, data: bytes, total: int):
    form = {"chunk": (io.BytesIO(data), "blob"), "fileId": file_id, "chunkIndex": str(index)}
    form["totalChunks"] = str(total)
    return client.post(f"{API}/upload", data=form, headers=headers, content_type="multipart/form-data")


def test_redis_down_is_503_with_retry_after_and_the_retries_succeed(redis_app, own_redis):
    client = redis_app.test_client()
    token, key_id, secret = make_key(
        redis_app, "report:ingest", "report:read", "rtcstats:write", "rtcstats:read"
    )
    rtc = {"Authorization": f"Bearer {token}"}
    file_id = f"dump-{uuid.uuid4().hex}"
    parts = [SMALL_DUMP[:30], SMALL_DUMP[30:]]
    for index, part in enumerate(parts):
        assert chunk(client, rtc, file_id, index, part, len(parts)).status_code == 200
    quota_before = client.get(f"{API}/quota", headers=rtc).get_json()["remainingCredits"]
    body = json.dumps(EXAMPLE_REPORT).encode()

    own_redis.stop()
    ingest = client.post(
        "/report/metrics", data=body, headers={"X-API-Key": token, "Content-Type": "application/json"}
    )
    assert_unavailable(ingest, "report")
    sig = signed(key_id, secret, "POST", "/report/metrics", body)
    assert_unavailable(
        client.post("/report/metrics", data=body, headers={**sig, "Content-Type": "application/json"}),
        "report",
    )
    assemble = {"fileId": file_id, "assemble": True, "fileName": "d.json"}
    assert_unavailable(client.post(f"{API}/upload", json=assemble, headers=rtc), "rtcstats")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["redis"].startswith("error")
    # the failed assemble left nothing behind and took nothing: chunks kept, no session, no credit
    assert count_rows(redis_app, UploadChunk, UploadChunk.file_id == file_id) == 2
    assert count_rows(redis_app, Session) == 0
    assert count_rows(redis_app, Snapshot) == 0

    own_redis.start()  # same port, empty: as after a restart without persistence
    assert (
        client.post(
            "/report/metrics", data=body, headers={"X-API-Key": token, "Content-Type": "application/json"}
        ).status_code
        == 200
    )
    sig = signed(key_id, secret, "POST", "/report/metrics", body)
    retried = client.post("/report/metrics", data=body, headers={**sig, "Content-Type": "application/json"})
    assert retried.status_code == 200, retried.data
    answer = client.post(f"{API}/upload", json=assemble, headers=rtc)
    assert answer.status_code == 200, answer.data
    assert count_rows(redis_app, UploadChunk, UploadChunk.file_id == file_id) == 0
    sessions = count_rows(
        redis_app, Session, Session.rtcstats_id == uuid.UUID(answer.get_json()["rtcstatsId"])
    )
    assert sessions == 1
    assert client.get(f"{API}/quota", headers=rtc).get_json()["remainingCredits"] == quota_before - 1
    assert count_rows(redis_app, Snapshot) == 2
    queued = redis_app.extensions["mediaplane"].redis.llen("rq:queue:rtcstats")
    assert queued == 1


def test_signed_rtcstats_requests_are_503_in_their_dialect_with_redis_down(redis_app, own_redis):
    client = redis_app.test_client()
    _token, key_id, secret = make_key(redis_app, "rtcstats:read")
    own_redis.stop()
    response = client.get(f"{API}/quota", headers=signed(key_id, secret, "GET", f"{API}/quota"))
    assert_unavailable(response, "rtcstats")
    own_redis.start()
    response = client.get(f"{API}/quota", headers=signed(key_id, secret, "GET", f"{API}/quota"))
    assert response.status_code == 200, response.data


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture
def pg_app(tmp_path, redis_url):
    """An app on a PostgreSQL schema of its own, its connections named so the test can kill them."""
    from core.app import create_app, migration_packages
    from core.db import migrate

    name = application_name()
    with PgSchema() as schema:
        config = {
            "core": {
                "data_dir": str(tmp_path / "pg-data"),
                "database_url": with_application_name(schema.url, name),
                "redis_url": redis_url,
            }
        }
        app = create_app(config=config, environ={})
        with app.app_context():
            migrate(migration_packages(app))
        app.application_name = name
        yield app
        db.obj.close_all()


def test_dead_pooled_connections_are_replaced_without_an_error(pg_app):
    client = pg_app.test_client()
    token = make_key(pg_app, "report:ingest", "report:read")[0]
    headers = {"X-API-Key": token}
    for round_ in range(3):
        # several pooled connections, all returned moments ago (trusted without a round trip)
        assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers).status_code == 200
        assert client.get("/readyz").status_code == 200
        assert terminate_backends(pg_app.application_name) >= 1
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.data
        response = client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers)
        assert response.status_code == 200, response.data
        history = client.get("/report/history/room-1", headers=headers)
        assert history.status_code == 200 and len(history.get_json()["data"]) == 2 * (round_ + 1)


def test_a_connection_lost_inside_a_transaction_is_not_retried(pg_app):
    with pg_app.app_context():
        with db.connection_context():
            db.execute_sql("SELECT 1")  # a pooled connection, returned right after (trusted)
        with pytest.raises((peewee.OperationalError, peewee.InterfaceError)):
            with db.atomic():
                db.execute_sql("CREATE TEMPORARY TABLE written (x int)")
                terminate_backends(pg_app.application_name)
                # what the transaction wrote died with the connection: no silent retry
                db.execute_sql("SELECT 1")
        if not db.is_closed():
            db.close()
        with db.connection_context():  # and the pool hands out a live connection again
            assert db.execute_sql("SELECT 2").fetchone() == (2,)


def test_database_down_is_503_and_readyz_names_the_failing_check(tmp_path, redis_url):
    from core.app import create_app
    from tests.faults import free_port

    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    app = create_app(
        config={"core": {"data_dir": str(tmp_path / "d"), "database_url": down, "redis_url": redis_url}},
        environ={},
    )
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.get_json()["checks"]
    assert checks["database"].startswith("error") and checks["redis"] == "ok"
    token = {"X-API-Key": "mpk_0123456789abcdef." + "a" * 43}
    assert_unavailable(client.get("/report/rooms", headers=token), "report")
    assert_unavailable(client.get(f"{API}/quota", headers=token), "rtcstats")
