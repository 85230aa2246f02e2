"""Malformed chunked transfer encoding on every body route of a real gunicorn server (gevent worker):
gunicorn's parser raises out of `request.get_data` (InvalidChunkSize, a missing terminator, a body cut
off), which must be a 400 in the route's dialect, not a 500."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLE_REPORT
from tests.faults import Server

pytestmark = pytest.mark.slow

API = "/api/rtcstats/v1.0"
BODY_ROUTES = [
    ("/report/metrics", "application/json", "report"),
    (f"{API}/upload", "multipart/form-data; boundary=xyz", "rtcstats"),
    (f"{API}/upload", "application/json", "rtcstats"),
    (f"{API}/analyze", "application/octet-stream", "rtcstats"),
    (f"{API}/analyze", "multipart/form-data; boundary=xyz", "rtcstats"),
    (f"{API}/enrich", "application/octet-stream", "rtcstats"),
    ("/v1.0/upload", "application/json", "rtcstats"),
    ("/v1.0/analyze", "application/octet-stream", "rtcstats"),
    ("/v1.0/enrich", "application/octet-stream", "rtcstats"),
    (f"{API}/mcp", "application/json", "mcp"),
    ("/v1.0/mcp", "application/json", "mcp"),
    ("/v1/rooms", "application/json", "rtcstack"),
    ("/v1/token", "application/json", "rtcstack"),
    ("/v1/livekit/webhook", "application/webhook+json", "rtcstack"),
]
BAD_CHUNKS = {
    "size zz": b"zz\r\nabc\r\n0\r\n\r\n",
    "size without its line end": b"5\r\nabcdeXX0\r\n\r\n",
    "size past the end": b"ffff\r\nabc",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("chunked")
    with Server(root, {"MEDIAPLANE__CORE__LOG_LEVEL": "DEBUG"}) as running:
        yield running


def chunked_request(path: str, content_type: str, key: str, body: bytes, auth: str = "bearer") -> bytes:
    credentials = f"Authorization: Bearer {key}" if auth == "bearer" else f"X-API-Key: {key}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{credentials}\r\n"
        f"Content-Type: {content_type}\r\nAccept: application/json, text/event-stream\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def error_message(dialect: str, body: dict) -> str:
    """The message of a 400 in the dialect, checking the dialect's shape."""
    if dialect == "report":
        assert body["code"] == 400 and body["data"] is None, body
        return body["message"]
    if dialect == "rtcstats":
        assert body["errorCode"] == "invalid_request", body
        return body["error"]
    if dialect == "rtcstack":
        assert body["type"] == "https://rtcstack.dev/errors/validation" and body["status"] == 400, body
        return body["detail"]
    assert body["jsonrpc"] == "2.0" and body["id"] is None, body
    return body["error"]["message"]


@pytest.mark.parametrize("bad", BAD_CHUNKS.values(), ids=BAD_CHUNKS.keys())
@pytest.mark.parametrize(("path", "content_type", "dialect"), BODY_ROUTES)
def test_malformed_chunked_bodies_are_400_in_the_routes_dialect(server, path, content_type, dialect, bad):
    status, _headers, body = server.raw(chunked_request(path, content_type, server.key, bad))
    assert status == 400, body
    message = error_message(dialect, json.loads(body))
    if bad == BAD_CHUNKS["size zz"]:
        assert "chunked transfer encoding" in message


def test_a_well_formed_chunked_report_is_still_accepted(server):
    payload = json.dumps(EXAMPLE_REPORT).encode()
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (payload[:50], payload[50:]))
    request = chunked_request("/report/metrics", "application/json", server.key, chunks + b"0\r\n\r\n", "key")
    status, _headers, body = server.raw(request)
    assert status == 200, body
    assert "Traceback" not in server.log.read_text()
