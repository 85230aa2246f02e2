"""Redis down under a running app: the routes that need it answer 503 problems (never 500), the ones
that do not keep working, and an event that arrives meanwhile is kept and delivered once Redis is
back (the sweep queues it). A Redis server of the test's own, stopped and restarted empty."""

from __future__ import annotations

import pytest

from core.db import db
from core.queue import set_worker_app
from plugins.webhooks import service
from tests.faults import OwnRedis
from tests.plugins.webhooks.common import (
    FAST,
    account_headers,
    all_finished,
    delivery_rows,
    fire_in,
    subscribe,
    work_until,
)
from tests.plugins.webhooks.receiver import Receiver


@pytest.fixture
def own_redis():
    with OwnRedis() as server:
        yield server


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def test_redis_down_is_503_on_test_and_nothing_accepted_is_lost(make_app, own_redis, receiver):
    app = make_app({"core": {"redis_url": own_redis.url}, "plugins": {"webhooks": FAST}})
    set_worker_app(app)
    client = app.test_client()
    headers, account = account_headers(app)
    hook = subscribe(client, headers, receiver.url)

    own_redis.stop()
    # the test route counts its rate limit in Redis: 503 in the rooms dialect, nothing sent
    down = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers)
    assert down.status_code == 503 and int(down.headers["Retry-After"]) >= 1
    assert down.mimetype == "application/problem+json"
    problem = down.get_json()
    assert problem["type"] == "https://rtcstack.dev/errors/unavailable" and "Redis" in problem["detail"]
    assert receiver.requests == []
    # managing webhooks needs only the database: it keeps working
    second = subscribe(client, headers, receiver.url + "&second=1")
    assert client.get("/v1/webhooks", headers=headers).status_code == 200
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=headers).status_code == 200
    # an event while Redis is down: the deliveries are written, their jobs cannot be queued
    fire_in(app, "room_started", account_id=account, room_name="during-outage", started_at=1767225600.0)
    rows = delivery_rows(app)
    assert {r.webhook_id for r in rows} == {hook["id"], second["id"]}
    assert all(r.status == "pending" for r in rows)

    own_redis.start()  # empty, as after a restart without persistence: the jobs are gone
    with app.app_context(), db.connection_context():
        settings = app.extensions["mediaplane"].plugins.settings("webhooks")
        assert service.sweep(settings) == 0  # not overdue yet (stuck_after_seconds)
        assert service.sweep({**settings, "stuck_after_seconds": 0}) == 2
    work_until(app, all_finished(app, 2))
    assert {r.status for r in delivery_rows(app)} == {"succeeded"}
    assert len(receiver.requests) == 2
    assert client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()["delivered"] is True
