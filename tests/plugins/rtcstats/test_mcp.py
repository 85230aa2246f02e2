"""The MCP endpoint (/api/rtcstats/v1.0/mcp and /v1.0/mcp): the vendor's tool list verbatim, results that
validate against its outputSchemas, tool errors, JSON-RPC and transport errors, stateless sessions, and a
run of the official `mcp` Python client over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid

import pytest
import yaml
from jsonschema import Draft7Validator
from werkzeug.serving import make_server

from tests.plugins.rtcstats.fixtures import dump_bytes
from tests.plugins.rtcstats.test_api_common import untokened
from tests.shared_data import require, vendor_dir

API = "/api/rtcstats/v1.0"
MCP = f"{API}/mcp"
ALIAS_MCP = "/v1.0/mcp"
ACCEPT = {"Accept": "application/json, text/event-stream"}
SMALL_DUMP = "jitsi_legacy_firefox-relay.jsonl"  # 28 KB, one relayed PC
CHROME_DUMP = "internals_chrome144_p2p_audio_video.txt"  # has medium observations


def vendor_tools() -> list[dict]:
    return json.loads(require(vendor_dir() / "rtcstats-mcp-tools.json").read_text())["result"]["tools"]


def output_validator(name: str) -> Draft7Validator:
    schema = next(t["outputSchema"] for t in vendor_tools() if t["name"] == name)
    return Draft7Validator(schema)


def transport_error_schema() -> dict:
    spec = yaml.safe_load(require(vendor_dir() / "rtcstats-openapi.yml").read_text())
    schema = spec["components"]["schemas"]["McpStreamableHttpTransportError"]
    # OpenAPI 3.0 spells a nullable value `nullable: true`; JSON Schema spells it with null in the type.
    schema["properties"]["id"] = {"type": "null"}
    return schema


def assert_transport_error(response, status: int, code: int) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    Draft7Validator(transport_error_schema()).validate(body)
    assert body["id"] is None and body["error"]["code"] == code, body
    return body


def rpc(client, method: str, params: dict | None = None, *, id=1, headers=None, url=MCP):
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return client.post(url, json=message, headers={**ACCEPT, **(headers or {})})


def call(client, name: str, arguments: dict | None = None, headers=None, url=MCP) -> dict:
    params = {"name": name} if arguments is None else {"name": name, "arguments": arguments}
    response = rpc(client, "tools/call", params, headers=headers, url=url)
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert "result" in body, body
    return body["result"]


def tool_error(result: dict) -> dict:
    assert result["isError"] is True, result
    assert "structuredContent" not in result
    return json.loads(result["content"][0]["text"])


@pytest.fixture
def bearer(new_key) -> dict:
    return {"Authorization": f"Bearer {new_key('rtcstats:read', 'rtcstats:write')}"}


def store(client, headers: dict, name: str = SMALL_DUMP) -> str:
    """Analyse a real dump with ?save=true; the stored session's id."""
    response = client.post(f"{API}/analyze?save=true&fileName={name}", data=dump_bytes(name), headers=headers)
    assert response.status_code == 200, response.data
    return response.get_json()["rtcstatsId"]


@contextlib.contextmanager
def serving(app):
    """The app under a real WSGI server on 127.0.0.1 (an ephemeral port) in a thread: its base URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def live_server(app):
    with serving(app) as url:
        yield url


# -- protocol -------------------------------------------------------------------------------------


def test_tools_list_is_the_vendor_list_verbatim_and_needs_no_credentials(client):
    response = rpc(client, "tools/list")
    assert response.status_code == 200
    assert response.get_json() == {"jsonrpc": "2.0", "id": 1, "result": {"tools": vendor_tools()}}


def test_the_hook_shape_carries_the_same_tools_with_handlers():
    from plugins.rtcstats.mcp import mcp_tools

    tools = mcp_tools()
    assert [{k: v for k, v in t.items() if k != "handler"} for t in tools] == vendor_tools()
    assert all(callable(t["handler"]) for t in tools)


def test_initialize_answers_version_capabilities_server_info_and_a_signed_session_id(client):
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    response = rpc(client, "initialize", params)
    assert response.status_code == 200 and response.mimetype == "application/json"
    result = response.get_json()["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "rtcstats"
    session_id = response.headers["Mcp-Session-Id"]
    assert all(0x21 <= ord(c) <= 0x7E for c in session_id)
    # Stateless: the id is accepted by any worker because it verifies itself.
    again = rpc(
        client, "tools/list", headers={"Mcp-Session-Id": session_id, "Mcp-Protocol-Version": "2025-06-18"}
    )
    assert again.status_code == 200 and "result" in again.get_json()
    other = rpc(client, "initialize", {**params, "protocolVersion": "2099-01-01"})
    assert other.get_json()["result"]["protocolVersion"] == "2025-11-25"
    assert other.headers["Mcp-Session-Id"] != session_id


def test_a_session_id_this_server_did_not_sign_is_404_session_not_found(client):
    session_id = rpc(client, "initialize", {"protocolVersion": "2025-06-18"}).headers["Mcp-Session-Id"]
    nonce, issued, mac = session_id.split(".")
    for forged in (
        f"{nonce}.{issued}.{'0' * 32}",
        "abc",
        f"{uuid.uuid4().hex}.{issued}.{mac}",
        f"{nonce}.{int(issued) + 1}.{mac}",  # a later issue time: the MAC covers it
        f"{nonce}.{mac}",  # the format before issue times
    ):
        body = assert_transport_error(
            rpc(client, "tools/list", headers={"Mcp-Session-Id": forged}), 404, -32001
        )
        assert body["error"]["message"] == "Session not found"
        assert_transport_error(client.delete(MCP, headers={"Mcp-Session-Id": forged}), 404, -32001)
    assert client.delete(MCP, headers={"Mcp-Session-Id": session_id}).status_code == 204
    assert client.delete(MCP).status_code == 204


def test_a_session_id_from_one_worker_is_good_at_another(make_app):
    # Two apps built on the same data dir share the server key, as gunicorn workers do.
    first, second = make_app().test_client(), make_app().test_client()
    session_id = rpc(first, "initialize", {"protocolVersion": "2025-06-18"}).headers["Mcp-Session-Id"]
    assert rpc(second, "tools/list", headers={"Mcp-Session-Id": session_id}).status_code == 200
    assert second.delete(MCP, headers={"Mcp-Session-Id": session_id}).status_code == 204


def test_after_delete_the_session_is_404_at_every_worker(make_app, new_key):
    """The MCP transport: after the client ends a session with DELETE, every request with its id is a
    404 (then a client starts a new session). Kept in Redis, so the other workers know it too."""
    first, second = make_app().test_client(), make_app().test_client()
    bearer = {"Authorization": f"Bearer {new_key('rtcstats:read')}"}
    ended = rpc(first, "initialize", {"protocolVersion": "2025-06-18"}).headers["Mcp-Session-Id"]
    kept = rpc(first, "initialize", {"protocolVersion": "2025-06-18"}).headers["Mcp-Session-Id"]
    assert rpc(second, "tools/list", headers={"Mcp-Session-Id": ended}).status_code == 200
    assert first.delete(MCP, headers={"Mcp-Session-Id": ended}).status_code == 204
    for client in (first, second):
        assert_transport_error(rpc(client, "tools/list", headers={"Mcp-Session-Id": ended}), 404, -32001)
        response = rpc(
            client, "tools/call", {"name": "get_quota"}, headers={"Mcp-Session-Id": ended, **bearer}
        )
        assert_transport_error(response, 404, -32001)
        assert_transport_error(client.delete(MCP, headers={"Mcp-Session-Id": ended}), 404, -32001)
        notification = client.post(
            MCP,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers={**ACCEPT, "Mcp-Session-Id": ended},
        )
        assert_transport_error(notification, 404, -32001)
        # Another session is not affected, and a new initialize gives a working one.
        assert rpc(client, "tools/list", headers={"Mcp-Session-Id": kept}).status_code == 200
        fresh = rpc(client, "initialize", {"protocolVersion": "2025-06-18"}).headers["Mcp-Session-Id"]
        assert fresh != ended and rpc(client, "ping", headers={"Mcp-Session-Id": fresh}).status_code == 200


def test_the_end_of_a_session_is_kept_until_the_id_would_expire(app, client):
    from plugins.rtcstats import mcp

    max_age = app.extensions["mediaplane"].config["plugins"]["rtcstats"]["mcp_session_max_age_seconds"]
    session_id = rpc(client, "initialize", {"protocolVersion": "2025-06-18"}).headers["Mcp-Session-Id"]
    assert client.delete(MCP, headers={"Mcp-Session-Id": session_id}).status_code == 204
    redis = app.extensions["mediaplane"].redis
    ttl = redis.ttl(mcp.ENDED_KEY + session_id.split(".")[0])
    assert max_age <= ttl <= max_age + 60
    # An id older than the session lifetime is unknown without any stored state.
    with app.app_context():
        old = mcp.new_session_id(now=time.time() - max_age - 1)
        young = mcp.new_session_id(now=time.time() - max_age + 30)
    assert_transport_error(rpc(client, "tools/list", headers={"Mcp-Session-Id": old}), 404, -32001)
    assert rpc(client, "tools/list", headers={"Mcp-Session-Id": young}).status_code == 200


def test_session_state_unreachable_is_503_with_retry_after(client, monkeypatch):
    import redis

    from plugins.rtcstats import mcp

    session_id = rpc(client, "initialize", {"protocolVersion": "2025-06-18"}).headers["Mcp-Session-Id"]

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise redis.ConnectionError("Connection refused")

            return fail

    monkeypatch.setattr(mcp, "_redis", Down)
    for response in (
        rpc(client, "tools/list", headers={"Mcp-Session-Id": session_id}),
        client.delete(MCP, headers={"Mcp-Session-Id": session_id}),
    ):
        assert_transport_error(response, 503, -32000)
        assert response.headers["Retry-After"] == "5"
    # Without a session id nothing is looked up: tools/list still answers.
    assert rpc(client, "tools/list").status_code == 200


def test_browsers_may_call_it_across_origins(client):
    preflight = client.options(
        MCP,
        headers={
            "Origin": "https://inspector.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, mcp-session-id, "
            "mcp-protocol-version",
        },
    )
    assert preflight.status_code == 200
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert all(h in allowed for h in ("authorization", "mcp-session-id", "mcp-protocol-version"))
    answer = rpc(
        client,
        "initialize",
        {"protocolVersion": "2025-06-18"},
        headers={"Origin": "https://inspector.example"},
    )
    assert "mcp-session-id" in answer.headers["Access-Control-Expose-Headers"].lower()


def test_notifications_and_client_responses_are_202_without_a_body(client):
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {"jsonrpc": "2.0", "id": 7, "result": {}},
        [
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 8, "result": {}},
        ],
    ):
        response = client.post(MCP, json=message, headers=ACCEPT)
        assert response.status_code == 202 and response.data == b"", message


def test_unknown_method_is_32601_and_ping_is_empty(client):
    body = rpc(client, "resources/list", id="abc").get_json()
    assert body["id"] == "abc" and body["error"]["code"] == -32601
    assert "resources/list" in body["error"]["message"]
    # The official client's auto mode probes server/discover first and falls back on -32601.
    assert rpc(client, "server/discover").get_json()["error"]["code"] == -32601
    assert rpc(client, "ping", id=3).get_json() == {"jsonrpc": "2.0", "id": 3, "result": {}}


def test_malformed_json_is_400_parse_error_in_the_transport_error_shape(client):
    # The last: nesting deep enough for json to give up (a RecursionError, once a 500).
    for body in (b"{not json", b"", b"\xff\xfe", b"[" * 100_000):
        response = client.post(MCP, data=body, content_type="application/json", headers=ACCEPT)
        error = assert_transport_error(response, 400, -32700)
        assert error["error"]["message"].startswith("Parse error")


def test_invalid_json_rpc_is_400_invalid_request(client):
    for message in ({"id": 1, "method": "ping"}, {"jsonrpc": "1.0", "id": 1, "method": "ping"}, [], 42, "x"):
        assert_transport_error(client.post(MCP, json=message, headers=ACCEPT), 400, -32600)
    twice = [{"jsonrpc": "2.0", "id": i, "method": "initialize", "params": {}} for i in (1, 2)]
    body = assert_transport_error(client.post(MCP, json=twice, headers=ACCEPT), 400, -32600)
    assert "Only one initialization request" in body["error"]["message"]


def test_a_batch_gets_one_answer_per_request(client):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},
    ]
    answers = client.post(MCP, json=batch, headers=ACCEPT).get_json()
    assert [a["id"] for a in answers] == [1, 2, 3, None]
    assert answers[0]["result"] == {} and len(answers[1]["result"]["tools"]) == 3
    assert answers[2]["error"]["code"] == -32601 and answers[3]["error"]["code"] == -32600


def test_unsupported_protocol_version_header_is_400(client):
    body = assert_transport_error(
        rpc(client, "tools/list", headers={"Mcp-Protocol-Version": "2099-01-01"}), 400, -32000
    )
    assert "Unsupported protocol version: 2099-01-01" in body["error"]["message"]
    for version in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"):
        assert rpc(client, "tools/list", headers={"Mcp-Protocol-Version": version}).status_code == 200


def test_get_is_405_with_allow_and_other_methods_too(client):
    for method in ("GET", "PUT", "PATCH"):
        response = client.open(MCP, method=method, headers=ACCEPT)
        assert_transport_error(response, 405, -32000)
        assert response.headers["Allow"] == "POST, DELETE"


def test_a_client_accepting_only_the_event_stream_gets_sse(client):
    response = rpc(client, "tools/list", id=9, headers={"Accept": "text/event-stream"})
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    assert text.startswith("event: message\ndata: ") and text.endswith("\n\n")
    message = json.loads(text.split("data: ", 1)[1])
    assert message["id"] == 9 and len(message["result"]["tools"]) == 3
    refused = rpc(client, "tools/list", headers={"Accept": "text/html"})
    assert_transport_error(refused, 406, -32000)


def test_both_bases_serve_the_endpoint(client, bearer):
    assert rpc(client, "tools/list", url=ALIAS_MCP).get_json()["result"]["tools"] == vendor_tools()
    assert call(client, "get_quota", {}, bearer, url=ALIAS_MCP)["isError"] is False


def test_a_body_over_one_mib_is_413(client):
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "a" * (1024 * 1024)}})
    assert_transport_error(
        client.post(MCP, data=big, content_type="application/json", headers=ACCEPT), 413, -32600
    )


# -- auth -----------------------------------------------------------------------------------------


def test_tools_call_needs_credentials_with_rtcstats_read(client, new_key):
    response = rpc(client, "tools/call", {"name": "get_quota", "arguments": {}})
    body = assert_transport_error(response, 401, -32000)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["error"]["data"] == {"errorCode": "unauthorized"}
    bad = rpc(
        client,
        "tools/call",
        {"name": "get_quota"},
        headers={"Authorization": "Bearer mpk_0000000000000000.nope-nope-nope-nope-nope"},
    )
    assert_transport_error(bad, 401, -32000)
    report_only = {"Authorization": f"Bearer {new_key('report:read')}"}
    forbidden = rpc(client, "tools/call", {"name": "get_quota"}, headers=report_only)
    assert_transport_error(forbidden, 403, -32000)
    read_only = {"Authorization": f"Bearer {new_key('rtcstats:read')}"}
    assert call(client, "get_quota", {}, read_only)["isError"] is False
    assert call(client, "get_quota", {}, {"X-API-Key": new_key("rtcstats:read")})["isError"] is False


# -- tools ----------------------------------------------------------------------------------------


def test_get_quota_is_the_quota_of_the_key_account(client, bearer):
    result = call(client, "get_quota", None, bearer)
    assert result["isError"] is False
    quota = result["structuredContent"]
    output_validator("get_quota").validate(quota)
    assert json.loads(result["content"][0]["text"]) == quota
    assert quota == client.get(f"{API}/quota", headers=bearer).get_json()
    assert quota["accountName"] == "acme"


@pytest.mark.parametrize("plan", ["enterprise", "developer"])
def test_every_tool_result_validates_against_the_vendor_output_schema(make_app, new_key, plan):
    app = make_app({"plugins": {"rtcstats": {"account_plan": plan}}})
    client = app.test_client()
    from core.auth import create_account, create_key
    from core.db import db

    with app.app_context(), db.connection_context():
        create_account("acme")
        headers = {"Authorization": f"Bearer {create_key('acme', ['rtcstats:read', 'rtcstats:write'])[1]}"}
    first = store(client, headers, SMALL_DUMP)
    second = store(client, headers, CHROME_DUMP)
    results = {
        "get_quota": [call(client, "get_quota", {}, headers)],
        "list_sessions": [
            call(client, "list_sessions", {}, headers),
            call(client, "list_sessions", {"hasMedium": True, "name": ["internals"]}, headers),
            call(client, "list_sessions", {"browser": "NoSuchBrowser"}, headers),
        ],
        "get_session": [call(client, "get_session", {"rtcstatsId": i}, headers) for i in (first, second)],
    }
    for name, answers in results.items():
        validator = output_validator(name)
        for result in answers:
            assert result["isError"] is False, result
            errors = [e.message for e in validator.iter_errors(result["structuredContent"])]
            assert errors == [], (name, errors)
            assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    listed = results["list_sessions"][0]["structuredContent"]
    assert listed["total"] == 2 and [s["rtcstatsId"] for s in listed["data"]] == [second, first]
    assert all(("embedUrl" in s) == (plan == "enterprise") for s in listed["data"])
    assert all(
        "observationTypes" in s["abstract"] and "observationFlags" not in s["abstract"]
        for s in listed["data"]
    )
    filtered = results["list_sessions"][1]["structuredContent"]
    assert [s["rtcstatsId"] for s in filtered["data"]] == [second]
    assert results["list_sessions"][2]["structuredContent"] == {"total": 0, "data": []}
    session = results["get_session"][1]["structuredContent"]
    rest = client.get(f"{API}/sessions/{second}", headers=headers).get_json()
    # The viewer URLs carry tokens signed in the second of each answer.
    assert untokened(session) == untokened(rest)
    assert session["data"]["observations"] and session["processorVersion"]


def test_list_sessions_takes_the_rest_filters_and_paging(client, bearer):
    first = store(client, bearer, SMALL_DUMP)
    second = store(client, bearer, CHROME_DUMP)
    page = call(client, "list_sessions", {"limit": 1, "offset": 1}, bearer)["structuredContent"]
    assert page["total"] == 1 and page["data"][0]["rtcstatsId"] == first
    by_type = call(client, "list_sessions", {"observationTypes": ["qualityLimitationBandwidth"]}, bearer)
    assert [s["rtcstatsId"] for s in by_type["structuredContent"]["data"]] == [second]
    bad_tag = tool_error(call(client, "list_sessions", {"observationTags": ["nonsense"]}, bearer))
    assert bad_tag["errorCode"] == "invalid_request" and "observationTags" in bad_tag["error"]


def test_argument_errors_are_tool_errors_checked_on_the_server(client, bearer):
    missing = tool_error(call(client, "get_session", {}, bearer))
    assert missing["errorCode"] == "invalid_request" and "rtcstatsId" in missing["error"]
    assert tool_error(call(client, "get_session", None, bearer))["errorCode"] == "invalid_request"
    empty = tool_error(call(client, "get_session", {"rtcstatsId": ""}, bearer))
    assert "rtcstatsId" in empty["error"]
    wrong_type = tool_error(call(client, "list_sessions", {"hasCritical": "yes"}, bearer))
    assert "hasCritical" in wrong_type["error"]
    too_many = tool_error(call(client, "list_sessions", {"name": ["x"] * 21}, bearer))
    assert "name" in too_many["error"]
    response = rpc(client, "tools/call", {"name": "get_session", "arguments": ["x"]}, headers=bearer)
    assert response.get_json()["error"]["code"] == -32602


def test_unknown_and_foreign_sessions_and_bad_ids_are_tool_errors(client, bearer, new_key):
    mine = store(client, bearer)
    other = {"Authorization": f"Bearer {new_key('rtcstats:read', account='globex')}"}
    unknown = tool_error(call(client, "get_session", {"rtcstatsId": str(uuid.uuid4())}, bearer))
    assert unknown["errorCode"] == "not_found"
    foreign = tool_error(call(client, "get_session", {"rtcstatsId": mine}, other))
    assert foreign == {**unknown, "error": foreign["error"]} and foreign["errorCode"] == "not_found"
    bad = tool_error(call(client, "get_session", {"rtcstatsId": "not-a-uuid"}, bearer))
    assert bad["errorCode"] == "invalid_request" and "UUID" in bad["error"]
    assert call(client, "list_sessions", {}, other)["structuredContent"] == {"total": 0, "data": []}


def test_a_session_still_being_analysed_is_a_tool_error(client, bearer, app):
    from core.db import db
    from plugins.rtcstats.models import PENDING, Session

    rtcstats_id = store(client, bearer)
    with app.app_context(), db.connection_context():
        Session.update(status=PENDING).where(Session.rtcstats_id == uuid.UUID(rtcstats_id)).execute()
    pending = tool_error(call(client, "get_session", {"rtcstatsId": rtcstats_id}, bearer))
    assert pending["errorCode"] == "analysis_pending"
    listed = call(client, "list_sessions", {}, bearer)
    assert listed["structuredContent"]["data"][0]["abstract"] is None
    output_validator("list_sessions").validate(listed["structuredContent"])


def test_unknown_tool_is_invalid_params(client, bearer):
    body = rpc(
        client, "tools/call", {"name": "delete_everything", "arguments": {}}, headers=bearer
    ).get_json()
    assert body["error"]["code"] == -32602 and "delete_everything" in body["error"]["message"]


# -- the official client over real HTTP -----------------------------------------------------------


async def drive_official_client(url: str, token: str, session_id: str) -> dict:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    out: dict = {}
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                out["init"] = await session.initialize()
                out["tools"] = await session.list_tools()
                # call_tool validates every result against the listed outputSchema and raises otherwise.
                out["quota"] = await session.call_tool("get_quota", {})
                out["list"] = await session.call_tool("list_sessions", {})
                out["filtered"] = await session.call_tool("list_sessions", {"hasMedium": True})
                out["session"] = await session.call_tool("get_session", {"rtcstatsId": session_id})
                out["unknown"] = await session.call_tool("get_session", {"rtcstatsId": str(uuid.uuid4())})
                out["missing"] = await session.call_tool("get_session", {})
    return out


async def drive_without_credentials(url: str) -> tuple:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    async with httpx2.AsyncClient(timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                with pytest.raises(MCPError) as refused:
                    await session.call_tool("get_quota", {})
    return tools, refused.value


async def drive_auto_mode(url: str, token: str):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        # Client probes server/discover (2026 stateless protocol) and falls back to initialize.
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await client.call_tool("get_quota", {})


def test_the_official_mcp_client_over_real_http(app, client, bearer, new_key, live_server):
    rtcstats_id = store(client, bearer, CHROME_DUMP)
    token = new_key("rtcstats:read")
    url = f"{live_server}{MCP}"
    out = asyncio.run(drive_official_client(url, token, rtcstats_id))

    assert out["init"].server_info.name == "rtcstats"
    assert out["init"].protocol_version in ("2025-11-25", "2025-06-18")
    assert out["init"].capabilities.tools is not None
    listed = {t.name: t for t in out["tools"].tools}
    for tool in vendor_tools():
        assert listed[tool["name"]].description == tool["description"]
        assert listed[tool["name"]].input_schema == tool["inputSchema"]
        assert listed[tool["name"]].output_schema == tool["outputSchema"]
    assert out["quota"].is_error is False and out["quota"].structured_content["accountName"] == "acme"
    assert out["list"].structured_content["total"] == 1
    assert out["list"].structured_content["data"][0]["rtcstatsId"] == rtcstats_id
    assert out["filtered"].structured_content["total"] == 1
    session = out["session"].structured_content
    assert session["rtcstatsId"] == rtcstats_id and session["data"]["durationMs"] > 0
    assert json.loads(out["session"].content[0].text) == session
    assert out["unknown"].is_error is True and "not_found" in out["unknown"].content[0].text
    assert out["missing"].is_error is True and "rtcstatsId" in out["missing"].content[0].text

    tools, refused = asyncio.run(drive_without_credentials(url))
    assert len(tools.tools) == 3
    assert "Unauthorized" in str(refused)

    auto = asyncio.run(drive_auto_mode(f"{live_server}{ALIAS_MCP}", token))
    assert auto.is_error is False and auto.structured_content["accountName"] == "acme"
