"""Helpers of the Agora-style endpoint tests: an app with the analytics plugin, keys, Basic auth, appids."""

from __future__ import annotations

import base64

from core.db import db

# Limits far above what a test sends, unless the test is about limits.
HIGH_LIMITS = {
    "agora_call_lists_rate_limit": "10000/second",
    "agora_call_details_rate_limit": "10000/second",
    "agora_insight_rate_limit": "10000/second",
    "agora_live_rate_limit": "10000/second",
}

ENDPOINTS = {
    "call/lists": "/beta/analytics/call/lists",
    "call/details": "/beta/analytics/call/details",
    "usage": "/beta/insight/usage/by_time",
    "scale": "/beta/live/scale/by_time",
    "experience": "/beta/live/experience/by_time",
    "net": "/beta/live/net/by_time",
    "diagnosis": "/beta/live/diagnosis",
}

# A valid metric (or other endpoint-specific parameter) per endpoint.
EXTRA = {
    "call/lists": {},
    "call/details": {"call_id": "no-such-call"},
    "usage": {"metric": "userCount"},
    "scale": {"metric": "pcu"},
    "experience": {"metric": "joinSuccessRate"},
    "net": {"metric": "videoUpstreamExcellentTransRate"},
    "diagnosis": {},
}

# How far back each endpoint reaches by default (the contract's "available calls").
MAX_AGE = {
    "call/lists": 3 * 86400,
    "call/details": 3 * 86400,
    "usage": 7 * 86400,
    "scale": 3600,
    "experience": 3600,
    "net": 3600,
    "diagnosis": 3600,
}


def analytics_config(**settings) -> dict:
    return {"plugins": {"analytics": {"enabled": True, **HIGH_LIMITS, **settings}}}


def make_key(app, *scopes: str, account: str = "acme") -> tuple[str, str, str]:
    """(token, key_id, secret) of a new key of `account` (created on demand)."""
    from core.auth import create_account, create_key
    from core.models import Account

    with app.app_context(), db.connection_context():
        if not Account.select().where(Account.name == account).exists():
            create_account(account)
        token = create_key(account, list(scopes) or ["analytics:read"])[1]
    key_id, secret = token.split(".", 1)
    return token, key_id, secret


def basic(key_id: str, secret: str) -> dict:
    """Agora's authentication: Basic base64(api_key:api_secret)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()}


def appid_of(app, account: str = "acme") -> str:
    from core.auth import find_account
    from plugins.analytics.agora_projects import appid_of as project_appid

    with app.app_context(), db.connection_context():
        return project_appid(find_account(account).id)


def assert_error(response, status: int, *words: str) -> dict:
    """The answer is Agora's error envelope with `status`, and its message holds each of `words`."""
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"code", "message", "data"}, body
    assert body["code"] == status and body["data"] is None, body
    for word in words:
        assert word in body["message"], (word, body["message"])
    return body
