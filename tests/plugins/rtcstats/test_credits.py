"""Credits: monthly allowance per account, atomic consume under concurrency, refunds, grants, GET /quota."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from core.db import db
from plugins.rtcstats import credits
from plugins.rtcstats.models import CreditUsage
from tests.plugins.rtcstats.test_api_common import (
    ALIAS,
    API,
    account_id,
    error_of,
)

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)


@pytest.fixture
def ctx(app):
    with app.app_context(), db.connection_context():
        yield app


def test_consume_until_none_left_then_refund(ctx):
    assert credits.balance(1, 3) == (3, 3)
    periods = [credits.consume(1, 3) for _ in range(3)]
    assert periods == [credits.current_period()] * 3
    assert credits.balance(1, 3) == (3, 0)
    with pytest.raises(credits.InsufficientCredits):
        credits.consume(1, 3)
    with pytest.raises(credits.InsufficientCredits):
        credits.ensure_available(1, 3)
    credits.refund(1, periods[0])
    assert credits.balance(1, 3) == (3, 1)
    credits.ensure_available(1, 3)
    assert credits.balance(2, 3) == (3, 3)  # another account's credits are its own


def test_refunds_never_go_below_zero_used(ctx):
    credits.refund(1, credits.current_period())
    credits.consume(1, 5)
    credits.refund(1, credits.current_period())
    credits.refund(1, credits.current_period())
    assert credits.balance(1, 5) == (5, 5)


def test_each_month_starts_afresh(ctx):
    for _ in range(2):
        credits.consume(1, 2)
    last_month = (dt.datetime(2026, 3, 15) - dt.timedelta(days=31)).strftime("%Y-%m")
    CreditUsage.update(period=last_month).execute()
    assert credits.balance(1, 2) == (2, 2)
    assert credits.balance(1, 2, last_month) == (2, 0)
    assert credits.current_period(dt.datetime(2026, 12, 31, 23, 59)) == "2026-12"


def test_grants_raise_this_months_allowance(ctx):
    credits.grant(1, 5)
    assert credits.balance(1, 0) == (5, 5)
    credits.consume(1, 0)
    credits.grant(1, -2)
    assert credits.balance(1, 0) == (3, 2)
    credits.grant(1, -10)
    assert credits.balance(1, 0)[1] == 0


def test_concurrent_requests_cannot_overdraw(app):
    won, refused = [], []

    def take():
        with app.app_context(), db.connection_context():
            try:
                credits.consume(7, 5)
                won.append(1)
            except credits.InsufficientCredits:
                refused.append(1)

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(won), len(refused)) == (5, 7)
    with app.app_context(), db.connection_context():
        assert credits.balance(7, 5) == (5, 0)


def test_quota_answers_the_accounts_credits(app, client, auth):
    body = client.get(f"{API}/quota", headers=auth).get_json()
    assert body == {
        "accountName": "acme",
        "accountPlan": "enterprise",
        "allowedCredits": 1000,
        "remainingCredits": 1000,
    }
    with app.app_context(), db.connection_context():
        owner = account_id(app)
        credits.grant(owner, 50)
        credits.consume(owner, 1000)
    body = client.get(f"{ALIAS}/quota", headers=auth).get_json()
    assert (body["allowedCredits"], body["remainingCredits"]) == (1050, 1049)


def test_monthly_credits_and_plan_are_settings(make_app, new_key):
    app = make_app({"plugins": {"rtcstats": {"monthly_credits": 0, "account_plan": "trial_developer"}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:read", "rtcstats:write")}
    assert client.get(f"{API}/quota", headers=headers).get_json() == {
        "accountName": "acme",
        "accountPlan": "trial_developer",
        "allowedCredits": 0,
        "remainingCredits": 0,
    }
    error_of(client.post(f"{API}/analyze", data=b"[]", headers=headers), 402, "insufficient_credits")


def test_bad_credit_settings_stop_startup(make_app):
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="plugins.rtcstats.monthly_credits"):
        make_app({"plugins": {"rtcstats": {"monthly_credits": -1}}})
    with pytest.raises(ConfigError, match="plugins.rtcstats.account_plan"):
        make_app({"plugins": {"rtcstats": {"account_plan": "platinum"}}})
    with pytest.raises(ConfigError, match="plugins.rtcstats.public_url"):
        make_app({"plugins": {"rtcstats": {"public_url": "media.example.com"}}})
    with pytest.raises(ConfigError, match="plugins.rtcstats.sessions_default_limit"):
        make_app({"plugins": {"rtcstats": {"sessions_default_limit": 50, "sessions_max_limit": 10}}})
