"""Rate limits of the Agora-style endpoints: per key, shared by every process through Redis (two app
instances stand for two server processes), 429 with Retry-After in Agora's envelope; configurable; and
Redis down -> 503 with Retry-After in the envelope."""

from __future__ import annotations

import time

import pytest

from tests.faults import OwnRedis
from tests.plugins.analytics.agora_support import (
    ENDPOINTS,
    EXTRA,
    analytics_config,
    appid_of,
    assert_error,
    basic,
    make_key,
)


def params(endpoint: str, appid: str) -> dict:
    now = int(time.time())
    return {"start_ts": now - 600, "end_ts": now, "appid": appid, **EXTRA[endpoint]}


def wait_for_fresh_second() -> None:
    """Start a burst just after a clock second begins: per-second windows are aligned to the clock."""
    time.sleep(1.01 - time.time() % 1)


def test_contract_limits_are_the_defaults(make_app):
    app = make_app({"plugins": {"analytics": {"enabled": True}}})
    from core.plugins import plugin_settings

    with app.app_context():
        settings = plugin_settings("analytics")
    assert settings["agora_call_lists_rate_limit"] == "3/second; 1000/day"
    assert settings["agora_call_details_rate_limit"] == "1/second; 1000/day"
    assert settings["agora_insight_rate_limit"] == "1/minute; 10/day"
    assert settings["agora_live_rate_limit"] == "1/second; 1000/day"


def test_call_lists_three_per_second_across_two_processes(make_app):
    """3/s per key: two app instances on one Redis admit three requests together, then 429."""
    config = analytics_config(agora_call_lists_rate_limit="3/second; 1000/day")
    first, second = make_app(config), make_app(config)
    token, key_id, secret = make_key(first)
    auth, appid = basic(key_id, secret), appid_of(first)
    clients = [first.test_client(), second.test_client()]
    for _attempt in range(3):  # a loaded machine may cross a second boundary mid-burst: try again
        wait_for_fresh_second()
        started = int(time.time())
        statuses = [
            clients[i % 2].get(
                ENDPOINTS["call/lists"], query_string=params("call/lists", appid), headers=auth
            )
            for i in range(5)
        ]
        if int(time.time()) == started:
            break
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    body = assert_error(statuses[3], 429, "rate limit", "3 per 1 second")
    assert 1 <= int(statuses[3].headers["Retry-After"]) <= 1
    assert body["data"] is None
    # another key of the same account has its own budget
    other_token, other_id, other_secret = make_key(first)
    response = clients[1].get(
        ENDPOINTS["call/lists"],
        query_string=params("call/lists", appid),
        headers=basic(other_id, other_secret),
    )
    assert response.status_code == 200


def test_the_daily_limit_is_enforced_too_and_configurable(make_app):
    config = analytics_config(agora_insight_rate_limit="1000/second; 3/day")
    first, second = make_app(config), make_app(config)
    token, key_id, secret = make_key(first)
    auth, appid = basic(key_id, secret), appid_of(first)
    codes = []
    for i in range(4):
        app = first if i % 2 == 0 else second
        response = app.test_client().get(
            ENDPOINTS["usage"], query_string=params("usage", appid), headers=auth
        )
        codes.append(response.status_code)
    assert codes == [200, 200, 200, 429]
    assert_error(response, 429, "3 per 1 day")
    wait = int(response.headers["Retry-After"])
    seconds_to_midnight = 86400 - int(time.time()) % 86400
    assert abs(wait - seconds_to_midnight) <= 2  # the day window ends at 00:00 UTC


@pytest.mark.parametrize("endpoint", ["scale", "experience", "net", "diagnosis"])
def test_each_live_endpoint_counts_on_its_own(make_app, endpoint):
    app = make_app(analytics_config(agora_live_rate_limit="1/minute"))
    token, key_id, secret = make_key(app)
    auth, appid = basic(key_id, secret), appid_of(app)
    client = app.test_client()
    assert (
        client.get(ENDPOINTS[endpoint], query_string=params(endpoint, appid), headers=auth).status_code == 200
    )
    assert_error(client.get(ENDPOINTS[endpoint], query_string=params(endpoint, appid), headers=auth), 429)
    other = next(e for e in ("scale", "net") if e != endpoint)
    assert client.get(ENDPOINTS[other], query_string=params(other, appid), headers=auth).status_code == 200


def test_bad_requests_count_against_the_limit(make_app):
    """Agora counts requests, not successes: a burst of malformed requests cannot probe for free."""
    app = make_app(analytics_config(agora_call_details_rate_limit="2/minute"))
    token, key_id, secret = make_key(app)
    client, auth = app.test_client(), basic(key_id, secret)
    assert_error(client.get(ENDPOINTS["call/details"], headers=auth), 400)
    assert_error(client.get(ENDPOINTS["call/details"], headers=auth), 400)
    assert_error(client.get(ENDPOINTS["call/details"], headers=auth), 429)


def test_unauthenticated_requests_are_401_not_counted(make_app):
    app = make_app(analytics_config(agora_call_lists_rate_limit="1/minute"))
    token, key_id, secret = make_key(app)
    client, appid = app.test_client(), appid_of(app)
    for _ in range(3):
        assert_error(client.get(ENDPOINTS["call/lists"], query_string=params("call/lists", appid)), 401)
    response = client.get(
        ENDPOINTS["call/lists"], query_string=params("call/lists", appid), headers=basic(key_id, secret)
    )
    assert response.status_code == 200


@pytest.fixture
def own_redis():
    with OwnRedis() as server:
        yield server


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_redis_down_is_503_with_retry_after_in_the_envelope(make_app, own_redis, endpoint):
    """Limits are counted in Redis: with Redis gone nothing can be admitted safely, so the answer is a
    503 the client retries, in Agora's envelope; once Redis is back the same request is served."""
    app = make_app({**analytics_config(), "core": {"redis_url": own_redis.url}})
    token, key_id, secret = make_key(app)
    auth, appid = basic(key_id, secret), appid_of(app)
    client = app.test_client()
    own_redis.stop()
    response = client.get(ENDPOINTS[endpoint], query_string=params(endpoint, appid), headers=auth)
    body = assert_error(response, 503, "Redis", "retry")
    assert int(response.headers["Retry-After"]) >= 1 and body["data"] is None
    own_redis.start()
    response = client.get(ENDPOINTS[endpoint], query_string=params(endpoint, appid), headers=auth)
    assert response.status_code == (404 if endpoint == "call/details" else 200), response.data


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_database_down_is_503_with_retry_after_in_the_envelope(tmp_path, redis_url, endpoint):
    """PostgreSQL unreachable (nothing listens on its port): the key cannot be checked, the answer is a
    503 with Retry-After in Agora's envelope, never a 500."""
    from core.app import create_app
    from tests.faults import free_port

    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    app = create_app(
        config={
            "core": {"data_dir": str(tmp_path / "d"), "database_url": down, "redis_url": redis_url},
            **analytics_config(),
        },
        environ={},
    )
    token = basic("mpk_0123456789abcdef", "a" * 43)
    response = app.test_client().get(
        ENDPOINTS[endpoint], query_string=params(endpoint, "0" * 32), headers=token
    )
    assert_error(response, 503, "database", "retry")
    assert int(response.headers["Retry-After"]) >= 1
