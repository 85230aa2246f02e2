"""JSON that Python's or msgspec's decoders choke on, and NUL bytes in paths: a clear 4xx on every JSON
body route and every route with path parameters, in that route's dialect, never a 500."""

from __future__ import annotations

import json
import uuid

import pytest

from plugins.report.models import Snapshot
from tests.conftest import EXAMPLE_REPORT, count_rows

API = "/api/rtcstats/v1.0"
MCP = f"{API}/mcp"
ACCEPT = {"Accept": "application/json, text/event-stream"}

LONE_SURROGATE = b'"x\\ud800"'  # valid JSON syntax, but no UTF-8 text can hold it
DEEP = b"[" * 1000 + b"1" + b"]" * 1000
HUGE_INT = b"1" + b"0" * 5000  # more digits than Python converts (sys.int_info.default_max_str_digits)


def report_body(**replace: bytes) -> bytes:
    """EXAMPLE_REPORT as JSON bytes with top-level values replaced by raw JSON text."""
    body = json.dumps(EXAMPLE_REPORT).encode()
    for key, raw in replace.items():
        body = body.replace(
            json.dumps({key: EXAMPLE_REPORT[key]})[1:-1].encode(), f'"{key}": '.encode() + raw
        )
    assert all(raw in body for raw in replace.values())
    return body


def report_error(response, status: int = 400) -> str:
    assert response.status_code == status, response.data
    body = response.get_json()
    assert body["code"] == status and body["data"] is None, body
    return body["message"]


REPORT_CASES = {
    "lone surrogate in room_id": report_body(room_id=b'"x\\ud800"'),
    "lone low surrogate in sdk_version": report_body(sdk_version=b'"1.0\\uDC00"'),
    "surrogate as raw bytes": report_body(room_id=b'"x\xed\xa0\x80"'),
    "nested 1000 deep": report_body(user_id=DEEP),
    "nested object 1000 deep": report_body(room_id=b'{"a":' * 1000 + b"1" + b"}" * 1000),
    "integer of 5000 digits": report_body(report_time=HUGE_INT),
    "integer of 5000 digits, msgspec refuses the body": report_body(report_time=HUGE_INT + b", NaN"),
}


@pytest.mark.parametrize("body", REPORT_CASES.values(), ids=REPORT_CASES.keys())
def test_report_ingest_refuses_undecodable_json_with_400(app, client, headers, body):
    response = client.post(
        "/report/metrics", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    report_error(response)
    assert count_rows(app, Snapshot) == 0


def test_report_ingest_still_accepts_a_valid_surrogate_pair(app, client, headers):
    body = report_body(room_id=b'"room-\\ud83d\\ude00"')  # an emoji, escaped as JSON does
    response = client.post(
        "/report/metrics", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.data
    assert client.get("/report/rooms", headers=headers).get_json()["data"] == ["room-\U0001f600"]


RTCSTATS_JSON_BODIES = {
    "lone surrogate": b'{"fileId": "x\\ud800", "assemble": true}',
    "lone surrogate in fileName": b'{"fileId": "f1", "assemble": true, "fileName": "a\\udfff"}',
    "nested 1000 deep": b'{"fileId": ' + DEEP + b', "assemble": true}',
    "integer of 5000 digits": b'{"fileId": ' + HUGE_INT + b', "assemble": true}',
}


@pytest.fixture
def rtc_auth(new_key) -> dict:
    return {"Authorization": f"Bearer {new_key('rtcstats:write', 'rtcstats:read')}"}


@pytest.mark.parametrize("route", ["upload", "analyze", "enrich"])
@pytest.mark.parametrize("body", RTCSTATS_JSON_BODIES.values(), ids=RTCSTATS_JSON_BODIES.keys())
def test_rtcstats_json_bodies_refuse_undecodable_json_with_400(client, rtc_auth, route, body):
    response = client.post(
        f"{API}/{route}", data=body, headers={**rtc_auth, "Content-Type": "application/json"}
    )
    # /analyze and /enrich read a body that is no assemble request as a dump: a 4xx either way
    assert response.status_code in (400, 413, 415), response.data
    assert response.get_json()["errorCode"] in ("invalid_request", "parsing_issue", "file_too_large")


def mcp_message(arguments: bytes) -> bytes:
    return (
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_sessions", '
        b'"arguments": ' + arguments + b"}}"
    )


MCP_BODIES = {
    "lone surrogate in a filter": mcp_message(b'{"name": ["x\\ud800"]}'),
    "lone surrogate in the method": b'{"jsonrpc": "2.0", "id": 1, "method": "tools/\\ud800"}',
    "lone surrogate in get_session": b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
    b'{"name": "get_session", "arguments": {"rtcstatsId": "\\ud800"}}}',
    "nested 1000 deep": mcp_message(DEEP),
    "integer of 5000 digits": mcp_message(b'{"limit": ' + HUGE_INT + b"}"),
}


@pytest.mark.parametrize("body", MCP_BODIES.values(), ids=MCP_BODIES.keys())
def test_mcp_refuses_undecodable_json_without_a_500(client, rtc_auth, body):
    response = client.post(MCP, data=body, headers={**rtc_auth, **ACCEPT, "Content-Type": "application/json"})
    assert response.status_code in (200, 400), response.data
    answer = response.get_json()
    # a transport error (parse error) or a JSON-RPC / tool error: never a result that pretends success
    if response.status_code == 400:
        assert answer["error"]["code"] in (-32700, -32600), answer
    else:
        assert "error" in answer or answer["result"]["isError"] is True, answer


# -- NUL in path parameters (PostgreSQL text cannot hold it) -------------------------------------------


_NUL_GET_PATHS = [
    "/report/history/a%00b",
    "/report/metrics/a%00b",
    "/report/metrics/room-1/u%00",
    "/report/metrics/a%00/u1",
    "/rtcstats/view/{id}%00",
    "/rtcstats/embed/a%00b",
    "/rtcstats/assets/viewer%00.js",
    "/docs/assets/swagger-ui%00.css",
]
# Only rtcstats sessions have a DELETE route as well as a GET one.
_NUL_SESSION_PATHS = [f"{API}/sessions/a%00b", f"{API}/sessions/{{id}}%00", "/v1.0/sessions/{id}%00"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", path) for path in _NUL_GET_PATHS + _NUL_SESSION_PATHS]
    + [("DELETE", path) for path in _NUL_SESSION_PATHS],
)
def test_nul_in_a_path_parameter_is_4xx_not_500(client, new_key, path, method):
    path = path.format(id=uuid.uuid4())
    key = new_key("*")
    response = client.open(path, method=method, headers={"X-API-Key": key})
    assert response.status_code in (400, 404), response.data
    body = response.get_json()
    if path.startswith("/report"):
        assert response.status_code == 404  # documented for every route with path parameters
        assert body["code"] == 404 and body["data"] is None
    elif path.startswith(("/rtcstats/", "/docs/")):
        assert response.status_code == 404  # an HTML viewer page or a static file: not found
    else:
        assert body["errorCode"] in ("not_found", "invalid_request"), body
