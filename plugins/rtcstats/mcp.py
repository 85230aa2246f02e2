"""MCP Streamable HTTP endpoint of the rtcstats plugin (POST /api/rtcstats/v1.0/mcp and /v1.0/mcp).

Stateless: every POST carries whole JSON-RPC messages and is answered at once (application/json, or one
SSE event per response when the client accepts only text/event-stream), so any web worker can serve any
request. The Mcp-Session-Id handed out by `initialize` is self-validating (a nonce, its issue time and
their HMAC under the server key): a forged, foreign or expired id is refused with 404 as the transport
requires. The one thing kept per session is its end: DELETE records the id as terminated in Redis (until
it would have expired anyway), and every worker then answers 404 for it. GET offers no SSE stream (405,
as the transport allows): the server sends nothing outside the answer to a POST.

tools/list needs no credentials; tools/call needs a key with rtcstats:read (any core auth style, usually
`Authorization: Bearer`). Tool failures a model can act on (bad arguments, unknown session, analysis
pending) are tool results with isError; protocol failures are JSON-RPC errors; HTTP-level failures are
McpStreamableHttpTransportError bodies {jsonrpc, error: {code, message}, id: null}.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping

import redis
from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_cors import CORS
from flask_smorest import Blueprint

import core
from core.auth import current_actor
from core.errors import Dialect, Problem
from plugins.rtcstats import service
from plugins.rtcstats.mcp_tools import GET_QUOTA, GET_SESSION, LIST_SESSIONS

log = logging.getLogger("rtcstats")

# Newest first: an initialize asking for one of these gets it, any other gets the newest.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
SERVER_INFO = {"name": "rtcstats", "version": core.__version__}
SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "Mcp-Protocol-Version"
SCOPE = "rtcstats:read"
MAX_BODY_BYTES = 1024 * 1024  # JSON-RPC messages are small; tool arguments are filters and an id

# JSON-RPC 2.0 error codes, and the transport's own (-32000 bad request, -32001 session not found).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
BAD_REQUEST = -32000
SESSION_NOT_FOUND = -32001

RPC_CODE_OF_STATUS = {400: INVALID_REQUEST, 404: SESSION_NOT_FOUND, 413: INVALID_REQUEST}


class McpTransportDialect(Dialect):
    """HTTP-level errors as the vendor's McpStreamableHttpTransportError: {jsonrpc, error, id: null}."""

    content_type = "application/json"
    validation_status = 400
    schema_name = "McpTransportError"

    @property
    def schema(self) -> dict:
        return TRANSPORT_ERROR_SCHEMA  # defined below, beside the views that document it

    def body(self, problem: Problem) -> dict:
        code = problem.extra.get("rpc_code")
        if code is None:
            code = RPC_CODE_OF_STATUS.get(
                problem.status, INTERNAL_ERROR if problem.status >= 500 else BAD_REQUEST
            )
        error = {"code": code, "message": problem.detail or problem.title}
        if "rpc_data" in problem.extra:
            error["data"] = problem.extra["rpc_data"]
        return {"jsonrpc": "2.0", "error": error, "id": None}

    def render(self, problem: Problem) -> Response:
        response = super().render(problem)
        if problem.status == 405:  # also for PUT & co, which the router answers with its own Allow
            response.headers["Allow"] = "POST, DELETE"
        return response


def transport_error(
    status: int, code: int, message: str, *, data=None, headers: dict | None = None
) -> Problem:
    extra = {"rpc_code": code}
    if data is not None:
        extra["rpc_data"] = data
    return Problem(status, message, message, headers=headers, extra=extra)


class RpcError(Exception):
    """A JSON-RPC error answer to one request (HTTP 200, the request's id)."""

    def __init__(self, code: int, message: str, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class ToolError(Exception):
    """A tool failed in a way the caller can act on: a result with isError, {error, errorCode}."""

    def __init__(self, message: str, error_code: str):
        super().__init__(message)
        self.message = message
        self.error_code = error_code


# -- sessions (self-validating ids, terminated ones remembered in Redis) --------------------------

ENDED_KEY = "rtcstats:mcp:ended:"  # + the session's nonce; set by DELETE, expires with the session


def _session_key() -> bytes:
    secret = current_app.extensions["mediaplane"].secret_key
    return hmac.new(secret, b"rtcstats-mcp-session-id", hashlib.sha256).digest()


def _mac(nonce: str, issued: str) -> str:
    return hmac.new(_session_key(), f"{nonce}.{issued}".encode(), hashlib.sha256).hexdigest()[:32]


def new_session_id(now: float | None = None) -> str:
    nonce, issued = secrets.token_hex(16), str(int(time.time() if now is None else now))
    return f"{nonce}.{issued}.{_mac(nonce, issued)}"


def session_expiry(value: str, now: float | None = None) -> tuple[str, int] | None:
    """(nonce, seconds left) of a session id this server signed and that has not expired, else None."""
    if value.count(".") != 2:
        return None
    nonce, issued, mac = value.split(".")
    if len(nonce) != 32 or len(mac) != 32 or not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        return None
    if not hmac.compare_digest(_mac(nonce, issued), mac):
        return None
    left = (
        int(issued)
        + service.settings()["mcp_session_max_age_seconds"]
        - int(time.time() if now is None else now)
    )
    return (nonce, left) if left > 0 else None


def valid_session_id(value: str) -> bool:
    return session_expiry(value) is not None


def _redis():
    return current_app.extensions["mediaplane"].redis


def _redis_unavailable(err: Exception) -> Problem:
    log.warning("MCP session state: Redis unavailable (%s)", type(err).__name__)
    return transport_error(
        503, BAD_REQUEST, "Service Unavailable: try again shortly", headers={"Retry-After": "5"}
    )


def check_session_header() -> str | None:
    """The session id of the request, if any. One we did not sign, that expired or that was ended by
    DELETE is unknown: 404, so that the client starts a new session."""
    value = request.headers.get(SESSION_HEADER)
    if value is None:
        return None
    value = value.strip()
    known = session_expiry(value)
    if known is None:
        raise transport_error(404, SESSION_NOT_FOUND, "Session not found")
    try:
        ended = _redis().exists(ENDED_KEY + known[0])
    except redis.RedisError as err:
        raise _redis_unavailable(err) from None
    if ended:
        raise transport_error(404, SESSION_NOT_FOUND, "Session not found")
    return value


def end_session(value: str) -> None:
    """Remember the session as terminated, for as long as its id would otherwise be valid."""
    known = session_expiry(value)
    if known is None:
        return
    nonce, left = known
    try:
        _redis().set(ENDED_KEY + nonce, "1", ex=left + 60)  # a minute over: clocks of workers differ
    except redis.RedisError as err:
        raise _redis_unavailable(err) from None


def check_version_header() -> None:
    version = request.headers.get(VERSION_HEADER)
    if version is not None and version.strip() not in PROTOCOL_VERSIONS:
        raise transport_error(
            400,
            BAD_REQUEST,
            f"Bad Request: Unsupported protocol version: {version.strip()[:40]} "
            f"(supported versions: {', '.join(PROTOCOL_VERSIONS)})",
        )


# -- tools ----------------------------------------------------------------------------------------


def _project(value, schema: Mapping):
    """`value` without the object keys `schema` forbids (additionalProperties false), recursively.

    The service may grow fields (the REST layer's observationFlags alias, say) that the vendor's
    outputSchema does not allow; strict clients abort on any of them.
    """
    if "anyOf" in schema:
        for branch in schema["anyOf"]:
            if branch.get("type") == "object" and isinstance(value, dict):
                return _project(value, branch)
        return value
    if schema.get("type") == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        closed = schema.get("additionalProperties") is False
        return {
            key: _project(item, properties[key]) if key in properties else item
            for key, item in value.items()
            if key in properties or not closed
        }
    if schema.get("type") == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_project(item, schema["items"]) for item in value]
    return value


def _actor():
    return current_actor()  # authenticated and scope-checked before any tool runs


def get_quota(arguments: dict) -> dict:
    return service.quota(_actor())


def list_sessions(arguments: dict) -> dict:
    """:raises service.InvalidRequest: a filter or limit/offset is invalid."""
    filters = service.parse_filters(arguments)
    limit, offset = service.parse_paging(arguments)
    _matching, items = service.list_sessions(_actor().account_id, filters, limit, offset)
    # As GET /sessions: `total` is the number of sessions in `data`.
    return {"total": len(items), "data": [service.without_aliases(item) for item in items]}


def get_session(arguments: dict) -> dict:
    """:raises: as service.get_session."""
    return service.get_session(_actor().account_id, arguments["rtcstatsId"])


HANDLERS: dict[str, Callable[[dict], dict]] = {
    "get_quota": get_quota,
    "list_sessions": list_sessions,
    "get_session": get_session,
}
TOOLS = {tool["name"]: tool for tool in (GET_QUOTA, LIST_SESSIONS, GET_SESSION)}


def mcp_tools() -> list[dict]:
    """The tools in the shape of the core's register_mcp_tools hook: the vendor's definitions plus a
    handler taking the arguments (to be called inside an authenticated request)."""
    return [{**tool, "handler": HANDLERS[name]} for name, tool in TOOLS.items()]


@functools.cache
def _validator(tool_name: str, which: str):
    from jsonschema import Draft7Validator

    return Draft7Validator(TOOLS[tool_name][which])


def _argument_errors(tool_name: str, arguments: dict) -> str | None:
    errors = sorted(_validator(tool_name, "inputSchema").iter_errors(arguments), key=lambda e: list(e.path))
    if not errors:
        return None
    parts = []
    for error in errors[:10]:
        where = ".".join(str(p) for p in error.absolute_path)
        parts.append(f"{where}: {error.message}" if where else error.message)
    return "; ".join(parts)


def _tool_failure(err: Exception) -> ToolError | None:
    """A domain error as the REST API would answer it (plugin.problem_from_exception), for a tool
    result; None for errors that are not the caller's to fix."""
    from core.plugins import current_plugins

    if isinstance(err, Problem):
        problem = err
    else:
        problem = current_plugins().pm.hook.problem_from_exception(exception=err)
    if problem is None or problem.status >= 500:
        return None
    return ToolError(problem.detail or problem.title, problem.error_code or "invalid_request")


def _tool_result(structured: dict | None, error: ToolError | None = None) -> dict:
    if error is not None:
        body = {"error": error.message, "errorCode": error.error_code}
        return {"content": [{"type": "text", "text": json.dumps(body)}], "isError": True}
    return {
        "content": [{"type": "text", "text": json.dumps(structured, separators=(",", ":"))}],
        "structuredContent": structured,
        "isError": False,
    }


def call_tool(params: Mapping) -> dict:
    """tools/call: the tool's result (isError for failures the caller can fix).

    :raises RpcError: unknown tool or malformed params (JSON-RPC -32602).
    """
    name = params.get("name")
    if not isinstance(name, str) or name not in TOOLS:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {str(name)[:100]}")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: arguments must be an object")
    problems = _argument_errors(name, arguments)
    if problems:
        return _tool_result(
            None, ToolError(f"Invalid arguments for tool {name}: {problems}", "invalid_request")
        )
    try:
        structured = HANDLERS[name](arguments)
    except Exception as err:
        failure = _tool_failure(err)
        if failure is None:
            raise
        return _tool_result(None, failure)
    structured = _project(structured, TOOLS[name]["outputSchema"])
    invalid = next(iter(_validator(name, "outputSchema").iter_errors(structured)), None)
    if invalid is not None:
        # Clients abort on such a result; say so here rather than through a client's stack trace.
        log.error("tool %s produced a result outside its outputSchema: %s", name, invalid.message)
        raise RpcError(INTERNAL_ERROR, f"Internal error: the {name} result does not match its outputSchema")
    return _tool_result(structured)


# -- JSON-RPC dispatch ----------------------------------------------------------------------------


def _initialize(params: Mapping) -> dict:
    requested = params.get("protocolVersion")
    version = requested if requested in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
    g.mcp_session_id = new_session_id()
    return {
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": SERVER_INFO,
        "instructions": "WebRTC stats sessions of the account of your API key: get_quota, list_sessions "
        "(filters) and get_session (one session's summary, observations and scores).",
    }


def _authorize() -> None:
    """tools/call needs a key holding rtcstats:read: HTTP 401/403 with a JSON-RPC error body."""
    try:
        actor = current_actor()
    except Problem as problem:
        raise transport_error(
            problem.status,
            BAD_REQUEST,
            f"Unauthorized: {problem.detail}; send Authorization: Bearer <API key>",
            data={"errorCode": "unauthorized"},
            headers=problem.extra_headers,
        ) from None
    if not actor.has_scope(SCOPE):
        raise transport_error(
            403,
            BAD_REQUEST,
            f"Forbidden: this key lacks the '{SCOPE}' scope",
            data={"errorCode": "forbidden"},
        )


def _is_id(value) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _answer(message: dict) -> dict:
    """The JSON-RPC response to one request."""
    method, request_id = message["method"], message["id"]
    params = message.get("params")
    if params is None:
        params = {}
    try:
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "Invalid params: params must be an object")
        if method == "initialize":
            result = _initialize(params)
        elif method == "ping":
            result = {}
        elif method == "tools/list":
            result = {"tools": list(TOOLS.values())}
        elif method == "tools/call":
            result = call_tool(params)
        else:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {str(method)[:100]}")
    except RpcError as err:
        error = {"code": err.code, "message": err.message}
        if err.data is not None:
            error["data"] = err.data
        return {"jsonrpc": "2.0", "id": request_id, "error": error}
    except Exception:
        log.exception("MCP %s failed", method)
        request_ref = g.get("request_id", "-")
        error = {
            "code": INTERNAL_ERROR,
            "message": f"Internal error; quote request id {request_ref} to the operator",
        }
        return {"jsonrpc": "2.0", "id": request_id, "error": error}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _kind(message) -> str:
    """request | notification | response (from the client, answering nothing we sent) | invalid."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return "invalid"
    if "method" in message:
        if not isinstance(message["method"], str):
            return "invalid"
        if "id" not in message:
            return "notification"
        return "request" if _is_id(message["id"]) else "invalid"
    if ("result" in message or "error" in message) and "id" in message:
        return "response"
    return "invalid"


def _body() -> object:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise transport_error(413, INVALID_REQUEST, f"Request body exceeds {MAX_BODY_BYTES} bytes")
    request.max_content_length = MAX_BODY_BYTES + 1  # werkzeug stops there: chunked bodies too
    data = request.get_data(cache=True)
    if len(data) > MAX_BODY_BYTES:
        raise transport_error(413, INVALID_REQUEST, f"Request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise transport_error(400, PARSE_ERROR, "Parse error: Invalid JSON", data=str(err)[:200]) from None
    except RecursionError:  # "[[[[..." within the size limit: json gives up; a parse error, not a 500
        raise transport_error(400, PARSE_ERROR, "Parse error: JSON nested too deeply") from None


def _wants_sse() -> bool:
    """JSON unless the client accepts only the event stream (no Accept at all: JSON too)."""
    accept = request.accept_mimetypes
    if not accept or accept["application/json"]:
        return False
    if accept["text/event-stream"]:
        return True
    raise transport_error(
        406, BAD_REQUEST, "Not Acceptable: Client must accept application/json or text/event-stream"
    )


def _respond(answers: list[dict], batch: bool) -> Response:
    sse = _wants_sse()
    if sse:
        text = "".join(f"event: message\ndata: {json.dumps(a, separators=(',', ':'))}\n\n" for a in answers)
        response = Response(text, status=200, content_type="text/event-stream")
    else:
        payload = answers if batch else answers[0]
        response = Response(
            json.dumps(payload, separators=(",", ":")), status=200, content_type="application/json"
        )
    response.headers["Cache-Control"] = "no-store"
    if g.get("mcp_session_id"):
        response.headers[SESSION_HEADER] = g.mcp_session_id
    return response


def handle_post() -> Response:
    _wants_sse()  # refuse an unacceptable Accept header before any work
    body = _body()
    batch = isinstance(body, list)
    messages = body if batch else [body]
    if batch and not messages:
        raise transport_error(400, INVALID_REQUEST, "Invalid Request: empty batch")
    kinds = [_kind(m) for m in messages]
    if not batch and kinds[0] == "invalid":
        raise transport_error(400, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
    initializing = [
        m for m, k in zip(messages, kinds, strict=True) if k == "request" and m["method"] == "initialize"
    ]
    if initializing and len(messages) > 1:
        raise transport_error(
            400, INVALID_REQUEST, "Invalid Request: Only one initialization request is allowed"
        )
    if not initializing:
        check_session_header()
        check_version_header()
    if any(k == "request" and m["method"] == "tools/call" for m, k in zip(messages, kinds, strict=True)):
        _authorize()
    answers = []
    for message, kind in zip(messages, kinds, strict=True):
        if kind == "request":
            answers.append(_answer(message))
        elif kind == "invalid":
            bad_id = message.get("id") if isinstance(message, dict) and _is_id(message.get("id")) else None
            answers.append(
                {
                    "jsonrpc": "2.0",
                    "id": bad_id,
                    "error": {"code": INVALID_REQUEST, "message": "Invalid Request"},
                }
            )
    if not answers:  # only notifications and responses: accepted, nothing to say
        return Response(status=202)
    return _respond(answers, batch)


# -- blueprint ------------------------------------------------------------------------------------

# One JSON-RPC message, or a batch of them (answered with an array).
JSON_RPC_MESSAGES = {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}
TRANSPORT_ERROR_SCHEMA = {
    "type": "object",
    "required": ["jsonrpc", "error", "id"],
    "properties": {
        "jsonrpc": {"type": "string", "enum": ["2.0"]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
        "id": {"nullable": True},
    },
}


def _error_doc(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": TRANSPORT_ERROR_SCHEMA}}}


def make_mcp_blueprint(
    settings: dict, name: str = "rtcstats_mcp", url_prefix: str = "/api/rtcstats/v1.0/mcp"
):
    """The MCP endpoint at `url_prefix` (mount it under both bases: /api/rtcstats/v1.0/mcp and /v1.0/mcp)."""
    blp = Blueprint(
        name,
        __name__,
        url_prefix=url_prefix,
        description="Model Context Protocol (Streamable HTTP, stateless) with the tools get_quota, "
        "list_sessions and get_session. tools/call needs a key with rtcstats:read "
        "(Authorization: Bearer). HTTP-level errors are {jsonrpc, error: {code, message}, id: null}.",
    )
    blp.error_dialect = McpTransportDialect()
    CORS(
        blp,
        origins=settings.get("cors_origins", ["*"]),
        allow_headers=[
            "Content-Type",
            "Authorization",
            "X-API-Key",
            SESSION_HEADER,
            VERSION_HEADER,
            "Last-Event-ID",
        ],
        expose_headers=[SESSION_HEADER, "X-Request-Id", "WWW-Authenticate"],
        max_age=600,
    )

    @blp.route("")
    class McpViews(MethodView):
        @blp.doc(
            summary="MCP Streamable HTTP",
            security=[{"Bearer": []}, {"ApiKey": []}, {}],
            requestBody={
                "description": "One JSON-RPC 2.0 message (or a batch): initialize, ping, tools/list, "
                "tools/call, notifications.",
                "content": {"application/json": {"schema": JSON_RPC_MESSAGES}},
            },
            responses={
                "200": {
                    "description": "JSON-RPC response (application/json; text/event-stream when the client "
                    "accepts only that). initialize sets the Mcp-Session-Id header.",
                    "content": {
                        "application/json": {"schema": JSON_RPC_MESSAGES},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                "202": {"description": "Notifications or responses only: accepted, no body."},
                "400": _error_doc(
                    "Invalid JSON (-32700), invalid JSON-RPC (-32600), unsupported "
                    "Mcp-Protocol-Version (-32000)"
                ),
                "401": _error_doc(
                    "tools/call without valid credentials (-32000, data.errorCode unauthorized)"
                ),
                "403": _error_doc("tools/call with a key lacking rtcstats:read (-32000)"),
                "404": _error_doc(
                    "Mcp-Session-Id not issued by this server, expired or ended by DELETE (-32001 Session "
                    "not found)"
                ),
                "413": _error_doc("Body over 1 MiB (-32600)"),
                "503": _error_doc("Redis (where ended sessions are kept) is unavailable; retry (-32000)"),
            },
        )
        def post(self):
            """MCP JSON-RPC over POST (tools/list without credentials; tools/call needs rtcstats:read)."""
            return handle_post()

        @blp.doc(
            summary="No server-to-client stream (always 405)",
            responses={
                "405": _error_doc(
                    "Always: this server offers no SSE stream outside POST answers, which the MCP "
                    "Streamable HTTP transport allows (Allow: POST, DELETE)"
                )
            },
        )
        def get(self):
            """Not offered: the server never sends messages outside the answer to a POST, so there is no
            stream to open; clients fall back to POST only, as the transport specifies."""
            raise transport_error(405, BAD_REQUEST, "Method not allowed.", headers={"Allow": "POST, DELETE"})

        @blp.doc(
            summary="End an MCP session",
            responses={
                "204": {
                    "description": "Session ended: every later request with this Mcp-Session-Id is a 404 "
                    "(-32001). Without the header there is nothing to end (204 too)."
                },
                "404": _error_doc(
                    "Mcp-Session-Id not issued by this server, expired or already ended (-32001)"
                ),
                "503": _error_doc("Redis (where ended sessions are kept) is unavailable; retry (-32000)"),
            },
        )
        def delete(self):
            """End a session: its id is refused with 404 from then on, by every worker."""
            session_id = check_session_header()
            if session_id is not None:
                end_session(session_id)
            return Response(status=204)

    return blp
