"""Who may do what: scopes, tenancy (404 across accounts), ingest rate limit, CORS."""

from __future__ import annotations

from types import SimpleNamespace

from core import ratelimit
from tests.conftest import EXAMPLE_REPORT, REPORT_READ_URLS


def test_ingest_only_key_reads_nothing(client, new_key):
    key = {"X-API-Key": new_key("report:ingest")}
    assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=key).status_code == 200
    for url in REPORT_READ_URLS:
        response = client.get(url, headers=key)
        assert response.status_code == 403, url
        assert response.get_json() == {
            "code": 403,
            "message": "this key lacks the 'report:read' scope",
            "data": None,
        }


def test_read_only_key_cannot_ingest(client, new_key):
    response = client.post(
        "/report/metrics", json=EXAMPLE_REPORT, headers={"X-API-Key": new_key("report:read")}
    )
    assert response.status_code == 403


def test_no_or_bad_credentials_are_401(client, new_key):
    assert client.get("/report/rooms").status_code == 401
    bad = new_key("report:read")[:-4] + "AAAA"
    response = client.get("/report/rooms", headers={"X-API-Key": bad})
    assert response.status_code == 401
    assert response.get_json() == {"code": 401, "message": "invalid API key", "data": None}


def test_another_accounts_rooms_are_invisible(client, new_key):
    mine = {"X-API-Key": new_key("report:ingest", "report:read", account="acme")}
    theirs = {"X-API-Key": new_key("report:ingest", "report:read", account="globex")}
    client.post("/report/metrics", json=EXAMPLE_REPORT, headers=mine)
    assert client.get("/report/rooms", headers=theirs).get_json()["data"] == []
    for url in ("/report/metrics/room-1", "/report/metrics/room-1/u1", "/report/history/room-1"):
        assert client.get(url, headers=theirs).status_code == 404, url
        assert client.get(url, headers=mine).status_code == 200, url


def test_same_room_id_in_two_accounts_stays_apart(client, new_key):
    mine = {"X-API-Key": new_key("report:ingest", "report:read", account="acme")}
    theirs = {"X-API-Key": new_key("report:ingest", "report:read", account="globex")}
    client.post("/report/metrics", json=EXAMPLE_REPORT, headers=mine)
    other = {
        **EXAMPLE_REPORT,
        "user_id": "zed",
        "metrics": [{**EXAMPLE_REPORT["metrics"][0], "user_id": "zed"}],
    }
    client.post("/report/metrics", json=other, headers=theirs)
    assert [
        u["user_id"] for u in client.get("/report/metrics/room-1", headers=mine).get_json()["data"]["users"]
    ] == ["u1"]
    assert client.get("/report/metrics/room-1/zed", headers=mine).status_code == 404


def test_ingest_is_rate_limited_per_key(make_app, new_key, monkeypatch):
    # Windows are aligned to the clock: hold it at the start of a minute, or a slow run could
    # straddle two windows.
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_800_000_000.0))
    app = make_app({"plugins": {"report": {"ingest_rate_limit": "3/minute"}}})
    client = app.test_client()
    first = {"X-API-Key": new_key("report:ingest")}
    second = {"X-API-Key": new_key("report:ingest")}
    statuses = [
        client.post("/report/metrics", json=EXAMPLE_REPORT, headers=first).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = client.post("/report/metrics", json=EXAMPLE_REPORT, headers=first)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["code"] == 429 and limited.get_json()["data"] is None
    assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=second).status_code == 200


def test_cors_preflight_and_headers_for_allowed_origin(make_app, new_key):
    app = make_app({"plugins": {"report": {"cors_origins": ["https://app.example"]}}})
    client = app.test_client()
    preflight = client.options(
        "/report/metrics",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "x-api-key" in preflight.headers["Access-Control-Allow-Headers"].lower()
    key = {"X-API-Key": new_key("report:ingest"), "Origin": "https://app.example"}
    response = client.post("/report/metrics", json=EXAMPLE_REPORT, headers=key)
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = client.post(
        "/report/metrics", json=EXAMPLE_REPORT, headers={**key, "Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
