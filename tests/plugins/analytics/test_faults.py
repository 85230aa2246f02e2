"""peer-stats with Redis or PostgreSQL down: reads need only the database; what needs Redis (a signed
request's replay guard) and a database outage answer 503 with Retry-After in the 100ms dialect."""

from __future__ import annotations

import pytest

from tests.core.test_auth import signed
from tests.faults import OwnRedis, free_port
from tests.plugins.analytics.helpers import (
    CONFIG,
    aligned_base,
    in_db,
    post_reports,
    recv_stream,
    report,
    rollup,
    send_stream,
)
from tests.plugins.analytics.test_peer_stats import URL, sdk_headers


@pytest.fixture
def own_redis():
    with OwnRedis() as server:
        yield server


def test_redis_down_reads_still_answer_and_signed_requests_are_503(make_app, new_key, own_redis):
    from core.config import deep_merge
    from plugins.analytics.models import Call

    app = make_app(deep_merge(CONFIG, {"core": {"redis_url": own_redis.url}}))
    key = new_key("report:ingest", "analytics:read")
    base = aligned_base(5)
    post_reports(
        app.test_client(),
        key,
        [report("u1", "r", t, [send_stream(), recv_stream()]) for t in range(base, base + 30)],
    )
    rollup(app)
    call = in_db(app, lambda: Call.get())
    query = {"peer_id": "u1", "session_id": call.call_id, "live": "true"}
    client = app.test_client()
    own_redis.stop()
    assert client.get(URL, query_string=query, headers=sdk_headers(key)).status_code == 200
    key_id, secret = key.split(".", 1)
    path = f"{URL}?peer_id=u1&session_id={call.call_id}&live=true"
    response = client.get(path, headers=signed(key_id, secret, "GET", path))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    body = response.get_json()
    assert body["code"] == 503 and "Redis" in body["message"]
    own_redis.start()
    response = client.get(path, headers=signed(key_id, secret, "GET", path))
    assert response.status_code == 200, response.get_json()


def test_database_down_is_503_in_the_dialect(tmp_path, redis_url):
    from core.app import create_app

    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    app = create_app(
        config={"core": {"data_dir": str(tmp_path / "d"), "database_url": down, "redis_url": redis_url}},
        environ={},
    )
    token = "mpk_0123456789abcdef." + "a" * 43
    response = app.test_client().get(
        URL, query_string={"peer_id": "p", "session_id": "s"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    body = response.get_json()
    assert body == {"code": 503, "message": "the database is unavailable; retry shortly"}
