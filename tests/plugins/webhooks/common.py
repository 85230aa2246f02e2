"""Helpers of the webhooks tests: an app that may reach loopback, keys, firing events, running workers."""

from __future__ import annotations

import time

from rq import SimpleWorker

from core.db import db
from core.events import fire
from plugins.webhooks.models import Delivery

FAST = {
    "allow_private_cidrs": ["127.0.0.0/8"],
    "max_attempts": 3,
    "retry_base_seconds": 1,
    "retry_max_seconds": 2,
    "connect_timeout_seconds": 1.0,
    "timeout_seconds": 2.5,
    "max_response_bytes": 64,
}


def account_headers(app, name: str = "acme") -> tuple[dict, int]:
    """(headers of a new webhooks:admin key, account id)."""
    from core.auth import create_account, create_key
    from core.models import Account

    with app.app_context(), db.connection_context():
        account = Account.get_or_none(Account.name == name) or create_account(name)
        return {"X-API-Key": create_key(name, ["webhooks:admin"])[1]}, account.id


def subscribe(client, headers, url: str, events=None) -> dict:
    body = {"url": url} if events is None else {"url": url, "events": events}
    response = client.post("/v1/webhooks", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fire_in(app, name: str, **kwargs) -> None:
    with app.app_context(), db.connection_context():
        fire(name, **kwargs)


def deliveries(client, headers, webhook_id: str, **query) -> list[dict]:
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deliveries"]


def delivery_rows(app) -> list[Delivery]:
    with app.app_context(), db.connection_context():
        return list(Delivery.select().order_by(Delivery.seq))


def work_until(app, done, seconds: float = 15.0, what: str = "deliveries finished"):
    """Run a real RQ SimpleWorker (burst, with its scheduler, so retries come due) until `done()`."""
    redis = app.extensions["mediaplane"].redis
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        SimpleWorker(["webhooks"], connection=redis).work(burst=True, with_scheduler=True)
        value = done()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(
        f"{what}: not within {seconds} s; rows: "
        f"{[(r.status, r.attempts, r.error) for r in delivery_rows(app)]}"
    )


def all_finished(app, count: int):
    def check():
        rows = delivery_rows(app)
        return len(rows) >= count and all(r.status in ("succeeded", "failed") for r in rows)

    return check
