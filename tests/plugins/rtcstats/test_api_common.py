"""Shared helpers of the rtcstats API tests, and what every route has in common: the {error, errorCode}
dialect for every error (also routing 404/405 and 500), auth and scopes, the /v1.0 alias, the docs."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from rq import SimpleWorker

from core.db import db
from core.queue import set_worker_app
from plugins.rtcstats import analysis, service
from plugins.rtcstats.models import Session

API = "/api/rtcstats/v1.0"
ALIAS = "/v1.0"
FIREFOX = "jitsi_legacy_firefox-relay.jsonl"  # small real dump (28 KB)


# -- helpers shared by the rtcstats test modules ----------------------------------------------------


@pytest.fixture
def auth(new_key) -> dict:
    """Bearer headers of a key with both rtcstats scopes in account "acme"."""
    return {"Authorization": f"Bearer {new_key('rtcstats:write', 'rtcstats:read')}"}


def fake_result(dump, file_name: str = "", file_size: int = 0) -> dict:
    """A small AnalyzeResponseData made from a parsed dump (stands in for the analyzer)."""
    return {
        "callStart": "2024-01-01T10:00:00.000Z",
        "callEnd": "2024-01-01T10:05:00.000Z",
        "durationMs": 300000,
        "userAgentData": {"browser": "Firefox", "browserVersion": "118.0", "os": "Linux"},
        "pConnectionsNumber": len(dump.peer_connections),
        "metadata": {"userId": "alice", "conferenceId": "conf-1", "sessionId": "sess-1"},
        "connectivity": "RELAY/TLS",
        "title": "https://meet.example/room",
        "fileName": file_name,
        "fileSize": file_size,
        "experienceScore": 72.5,
        "observationsScore": 30,
        "observations": [
            {"type": "turnOverTls", "severity": "medium", "category": "pairs", "tags": ["network"]},
            {"type": "lowBitrate", "severity": "low", "category": "streams", "tags": ["video"]},
        ],
        "observationsCount": {"critical": 0, "high": 0, "medium": 1, "low": 1, "info": 0},
    }


class FakeAnalyzer:
    """Replaces analysis.analyze: records calls, can fail, can return a prepared result."""

    def __init__(self):
        self.calls = 0
        self.fail: Exception | None = None
        self.result: dict | None = None

    def __call__(self, dump, *, file_name="", file_size=0, uploaded_ms=None):
        self.calls += 1
        self.uploaded_ms = uploaded_ms
        if self.fail is not None:
            raise self.fail
        return dict(self.result) if self.result is not None else fake_result(dump, file_name, file_size)


@pytest.fixture
def fake_analyzer(monkeypatch) -> FakeAnalyzer:
    fake = FakeAnalyzer()
    monkeypatch.setattr(analysis, "analyze", fake)
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-1")
    return fake


def chunk_form(data: bytes, file_id: str, index: int, total: int | None = None, name: str | None = None):
    """A multipart chunk as the official uploader sends it (part named chunk, filename blob)."""
    form = {"chunk": (io.BytesIO(data), "blob"), "fileId": file_id, "chunkIndex": str(index)}
    if total is not None:
        form["totalChunks"] = str(total)
    if name is not None:
        form["fileName"] = name
    return form


def send_chunks(
    client,
    headers,
    data: bytes,
    file_id: str,
    chunk_size: int = 1 << 20,
    order=None,
    name: str = "dump.txt",
    base: str = API,
    skip=(),
):
    """Post `data` in chunks (in `order`, default ascending); returns the number of chunks."""
    parts = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    for index in order if order is not None else range(len(parts)):
        if index in skip:
            continue
        response = client.post(
            f"{base}/upload",
            data=chunk_form(parts[index], file_id, index, len(parts), name),
            headers=headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {"success": True}
    return len(parts)


def assemble(client, headers, file_id: str, name: str = "dump.txt", base: str = API):
    return client.post(
        f"{base}/upload", json={"fileId": file_id, "assemble": True, "fileName": name}, headers=headers
    )


def upload(client, headers, data: bytes, name: str = "dump.txt", file_id: str | None = None, **kwargs):
    file_id = file_id or f"{name}-1700000000000-{uuid.uuid4().hex[:8]}"
    send_chunks(client, headers, data, file_id, name=name, **kwargs)
    response = assemble(client, headers, file_id, name)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def run_worker(app):
    """Run every queued job in this process through a real RQ SimpleWorker on the real Redis."""
    set_worker_app(app)
    SimpleWorker(["rtcstats", "default"], connection=app.extensions["mediaplane"].redis).work(burst=True)


def account_id(app, name: str = "acme") -> int:
    from core.models import Account

    with app.app_context(), db.connection_context():
        return Account.get(Account.name == name).id


def make_session(
    app,
    owner: int,
    data: dict | None,
    *,
    file_name: str = "call.txt",
    created_at: dt.datetime | None = None,
    version: str = "test-1",
) -> str:
    """A stored session with the given analysis (None: still pending); returns its id."""
    with app.app_context(), db.connection_context():
        rtcstats_id = uuid.uuid4()
        key = service.dump_key(owner, rtcstats_id)
        app.extensions["mediaplane"].storage.put(key, io.BytesIO(b"{}"), 2)
        row = Session.create(
            rtcstats_id=rtcstats_id,
            account_id=owner,
            source="upload",
            file_name=file_name,
            file_size=2,
            dump_key=key,
            title=service.title_for(file_name),
            **({"created_at": created_at} if created_at else {}),
        )
        if data is not None:
            service.store_analysis(row, data, version)
        return str(rtcstats_id)


def untokened(value):
    """`value` with the viewer tokens cut off its URLs: a token carries the second it was signed in,
    so two answers a second apart differ there and nowhere else."""
    if isinstance(value, dict):
        return {key: untokened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [untokened(item) for item in value]
    if isinstance(value, str) and "?token=" in value:
        return value.split("?token=")[0]
    return value


def error_of(response, status: int, code: str) -> str:
    """Assert an error answer in the rtcstats dialect; returns its message."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    body = response.get_json()
    # missingChunks (assemble) and state (session_live) are our documented additions.
    assert set(body) - {"missingChunks", "state"} == {"error", "errorCode"}, body
    assert body["errorCode"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


# -- tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [API, ALIAS])
def test_routing_errors_are_in_the_dialect(client, auth, base):
    error_of(client.get(f"{base}/nothing-here", headers=auth), 404, "not_found")
    response = client.put(f"{base}/quota", headers=auth)
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    error_of(client.get(f"{base}/upload", headers=auth), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/upload"),
        ("post", "/analyze"),
        ("post", "/enrich"),
        ("get", "/quota"),
        ("get", "/observations"),
        ("get", "/sessions"),
        # Fixed ids: parallel workers must collect the same test names (pytest-xdist).
        ("get", "/sessions/6f1c9d2e-0000-4000-8000-000000000001"),
        ("delete", "/sessions/6f1c9d2e-0000-4000-8000-000000000002"),
    ],
)
def test_every_route_needs_credentials(client, method, path):
    for base in (API, ALIAS):
        response = getattr(client, method)(f"{base}{path}")
        error_of(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = {"Authorization": "Bearer mpk_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAA"}
    error_of(getattr(client, method)(f"{API}{path}", headers=bad), 401, "unauthorized")


def test_scopes_split_reading_and_writing(client, new_key, fake_analyzer):
    reader = {"Authorization": f"Bearer {new_key('rtcstats:read')}"}
    writer = {"X-API-Key": new_key("rtcstats:write")}
    assert client.get(f"{API}/quota", headers=reader).status_code == 200
    assert client.get(f"{API}/sessions", headers=reader).status_code == 200
    message = error_of(client.post(f"{API}/analyze", data=b"x", headers=reader), 403, "forbidden")
    assert "rtcstats:write" in message
    error_of(client.post(f"{API}/upload", json={}, headers=reader), 403, "forbidden")
    error_of(client.delete(f"{API}/sessions/{uuid.uuid4()}", headers=reader), 403, "forbidden")
    error_of(client.get(f"{API}/quota", headers=writer), 403, "forbidden")
    error_of(client.get(f"{API}/sessions", headers=writer), 403, "forbidden")
    report_only = {"X-API-Key": new_key("report:read")}
    error_of(client.get(f"{API}/quota", headers=report_only), 403, "forbidden")


def test_every_auth_style_resolves_the_account(client, new_key):
    token = new_key("rtcstats:read")
    key_id, secret = token.split(".")
    import base64

    basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    for headers in (
        {"X-API-Key": token},
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"Basic {basic}"},
    ):
        assert client.get(f"{ALIAS}/quota", headers=headers).get_json()["accountName"] == "acme"


def test_unexpected_errors_are_500_in_the_dialect_without_internals(client, auth, fake_analyzer):
    fake_analyzer.fail = RuntimeError("secret internals")
    dump = open_fixture(FIREFOX)
    response = client.post(f"{API}/analyze", data=dump, headers={**auth, "X-Request-Id": "req-42"})
    message = error_of(response, 500, "internal_error")
    assert "req-42" in message and "secret" not in message


def test_alias_serves_the_same_data(app, client, auth, fake_analyzer):
    made = upload(client, auth, open_fixture(FIREFOX), name="ff.jsonl", base=ALIAS)
    run_worker(app)
    one = client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth).get_json()
    two = client.get(f"{ALIAS}/sessions/{made['rtcstatsId']}", headers=auth).get_json()
    assert untokened(one) == untokened(two) and one["rtcstatsId"] == made["rtcstatsId"]
    assert untokened(client.get(f"{ALIAS}/sessions", headers=auth).get_json()) == untokened(
        client.get(f"{API}/sessions", headers=auth).get_json()
    )


def test_openapi_documents_both_bases_and_the_error_shape(client):
    spec = client.get("/openapi.json").get_json()
    for base in (API, ALIAS):
        for path in (
            "/upload",
            "/analyze",
            "/enrich",
            "/quota",
            "/observations",
            "/sessions",
            "/sessions/{rtcstatsId}",
        ):
            assert f"{base}{path}" in spec["paths"], f"{base}{path}"
    listing = spec["paths"][f"{API}/sessions"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {
        "name",
        "observationTypes",
        "observationFlags",
        "observationTags",
        "os",
        "browser",
        "browserVersion",
        "userId",
        "conferenceId",
        "sessionId",
        "hasCritical",
        "hasHigh",
        "hasMedium",
        "hasLowScore",
        "hasMediumScore",
        "hasHighScore",
        "limit",
        "offset",
    } <= names
    error = spec["components"]["schemas"]["RtcstatsError"]
    assert set(error["required"]) == {"error", "errorCode"}
    upload_doc = spec["paths"][f"{API}/upload"]["post"]
    assert {"multipart/form-data", "application/json"} <= set(upload_doc["requestBody"]["content"])
    assert {"400", "401", "402", "413"} <= set(upload_doc["responses"])


def test_cors_allows_browser_uploaders(client):
    preflight = client.options(
        f"{ALIAS}/upload",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", "https://app.example")


def open_fixture(name: str) -> bytes:
    from tests.plugins.rtcstats.fixtures import dump_bytes

    return dump_bytes(name)


def test_abstract_of_reads_every_property():
    data = {
        "userAgentData": {
            "browser": {"name": "Chrome", "version": "142.0.7444.59"},
            "os": "macOS",
            "osVersion": "15.1",
        },
        "metadata": {"user": "u-7", "conference": "c-9", "session": "s-3"},
        "experienceScore": 80,
        "connectivity": "DIRECT/UDP",
        "observations": [
            {"type": "b", "severity": "critical", "tags": ["network", "audio"]},
            {"type": "a", "severity": "high", "tags": ["network"]},
            {"type": "c", "severity": "info", "tags": ["cpu"]},
        ],
    }
    abstract = service.abstract_of(data)
    assert abstract == {
        "observationTypes": ["a", "b"],
        "observationFlags": ["a", "b"],
        "observationTags": ["audio", "network"],
        "browser": "Chrome",
        "browserVersion": "142",
        "os": "macOS",
        "osVersion": "15.1",
        "conferenceId": "c-9",
        "sessionId": "s-3",
        "userId": "u-7",
        "experienceScore": 80.0,
        "connectivity": "DIRECT/UDP",
        "observationsCritical": 1,
        "observationsHigh": 1,
        "observationsMedium": 0,
        "scoreBand": "high",
    }
    empty = service.abstract_of({})
    assert empty["scoreBand"] == "unrated" and empty["observationTypes"] == [] and empty["browser"] is None
    assert [service.score_band(s) for s in (59.99, 60, 79.9, 80, None)] == [
        "low",
        "medium",
        "medium",
        "high",
        "unrated",
    ]


def test_titles_drop_dump_extensions():
    assert service.title_for("call-42.txt.gz") == "call-42"
    assert service.title_for("C:\\dumps\\room.jsonl") == "room"
    assert service.title_for("v1.2 call.json") == "v1.2 call"
    assert service.title_for("", {"title": "https://meet.example/x"}) == "https://meet.example/x"
    assert service.title_for(None) == "untitled"


def test_json_dumps_of_results_stay_valid():
    assert json.dumps(service._finite({"a": [float("nan"), 1.5], "b": float("inf")})) == (
        '{"a": [null, 1.5], "b": null}'
    )
