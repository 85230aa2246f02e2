"""One Problem exception for every error, rendered in the error dialect of the route's blueprint."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response, g, request
from playhouse.pool import MaxConnectionsExceeded
from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

log = logging.getLogger(__name__)


class Problem(HTTPException):
    """An error answer: HTTP status, short title, human detail, and optional field errors.

    Views and services raise it (or a domain error a plugin maps to it); the blueprint's
    dialect decides the JSON shape.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        errors: dict | None = None,
        headers: dict | None = None,
        code: str | None = None,
        extra: dict | None = None,
    ):
        super().__init__(description=detail or title)
        self.code = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.extra_headers = headers or {}
        self.error_code = code
        self.extra = extra or {}

    @property
    def status(self) -> int:
        return self.code


class Dialect:
    """How a blueprint spells errors. Subclass and override `body` (and `content_type`), and say what
    it sends in `schema` (JSON Schema of `body`, documented as the component `schema_name`)."""

    content_type = "application/problem+json"
    validation_status = 422  # status of a request-validation error in this dialect
    schema_name = "Problem"
    schema: dict[str, Any] = {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "description": "Always about:blank."},
            "title": {"type": "string", "description": "Short summary of the problem class."},
            "status": {"type": "integer", "description": "The HTTP status."},
            "detail": {"type": "string", "description": "What went wrong, for people."},
            "errors": {
                "type": "object",
                "description": "Invalid input: messages per field.",
                "additionalProperties": True,
            },
            "request_id": {"type": "string", "description": "Quote it to the operator."},
        },
    }
    descriptions: dict[int, str] = {}  # per status, more precise than core.openapi's generic wording

    @property
    def media_type(self) -> str:
        """The documented media type: the content type without parameters."""
        return self.content_type.split(";")[0].strip()

    def body(self, problem: Problem) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "about:blank", "title": problem.title, "status": problem.status}
        if problem.detail:
            out["detail"] = problem.detail
        if problem.errors:
            out["errors"] = problem.errors
        request_id = g.get("request_id")
        if request_id:
            out["request_id"] = request_id
        out.update(problem.extra)
        return out

    def render(self, problem: Problem) -> Response:
        response = Response(
            json.dumps(self.body(problem)), status=problem.status, content_type=self.content_type
        )
        for name, value in problem.extra_headers.items():
            response.headers[name] = value
        return response


PROBLEM_JSON = Dialect()


RTCSTACK_ERRORS = "https://rtcstack.dev/errors/"
# status -> (type slug, title). The first five are rtcstack's own (its clients may switch on them);
# the others follow the same pattern for answers rtcstack never gave.
RTCSTACK_TYPES = {
    400: ("validation", "Validation Error"),
    401: ("unauthorized", "Unauthorized"),
    404: ("not-found", "Not Found"),
    500: ("internal", "Internal Server Error"),
    503: ("unavailable", "Service Unavailable"),
    403: ("forbidden", "Forbidden"),
    405: ("method-not-allowed", "Method Not Allowed"),
    408: ("timeout", "Request Timeout"),
    409: ("conflict", "Conflict"),
    412: ("precondition-failed", "Precondition Failed"),
    413: ("payload-too-large", "Payload Too Large"),
    415: ("unsupported-media-type", "Unsupported Media Type"),
    422: ("validation", "Validation Error"),
    429: ("rate-limited", "Too Many Requests"),
    501: ("not-implemented", "Not Implemented"),
    502: ("bad-gateway", "Bad Gateway"),
    504: ("gateway-timeout", "Gateway Timeout"),
}


class RtcstackProblemDialect(Dialect):
    """RFC 9457 problems with the rooms-API contract's type URIs (https://rtcstack.dev/errors/<slug>).

    Used by every blueprint under /v1 (room, webhooks, recording, transcription). `title` is fixed per
    type, as the contract's clients see it ("Not Found"); `detail` says what happened and, for invalid
    input, names the field ("name: Shorter than minimum length 1."); `errors` repeats the messages per
    field. Invalid input is a 400, as in the contract, not flask-smorest's 422.
    """

    validation_status = 400
    schema_name = "RtcstackProblem"
    schema: dict[str, Any] = {
        "type": "object",
        "description": "RFC 9457 problem details with the rooms-API contract's type URIs.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {
                "type": "string",
                "enum": sorted({RTCSTACK_ERRORS + s for s, _ in RTCSTACK_TYPES.values()} | {"about:blank"}),
                "description": "The problem class: https://rtcstack.dev/errors/<slug>, e.g. not-found.",
            },
            "title": {"type": "string", "description": "Short summary of the problem class."},
            "status": {"type": "integer", "description": "The HTTP status."},
            "detail": {"type": "string", "description": "What went wrong, for people; names the field."},
            "errors": {
                "type": "object",
                "description": "Invalid input: messages per field.",
                "additionalProperties": True,
            },
            "request_id": {"type": "string", "description": "Quote it to the operator."},
        },
    }

    def body(self, problem: Problem) -> dict[str, Any]:
        out = super().body(problem)
        slug, title = RTCSTACK_TYPES.get(problem.status, (None, problem.title))
        out["type"] = RTCSTACK_ERRORS + slug if slug else "about:blank"
        out["title"] = title
        if not problem.detail:
            out["detail"] = problem.title
        return out


RTCSTACK_PROBLEM = RtcstackProblemDialect()


def summarize_field_errors(errors: dict, prefix: str = "") -> str:
    """{"json": {"metrics": {"0": {"x": ["bad"]}}}} -> "metrics[0].x: bad"."""
    parts = []
    for key, value in errors.items():
        if prefix == "" and key in ("json", "query", "path", "form", "headers", "files", "view_args"):
            name = ""
        elif key == "_schema":  # marshmallow's key for "the value itself"
            name = prefix or "body"
        elif str(key).isdigit() or isinstance(key, int):
            name = f"{prefix}[{key}]"
        else:
            name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            parts.append(summarize_field_errors(value, name))
        else:
            messages = value if isinstance(value, list) else [value]
            text = " ".join(str(m) for m in messages)
            parts.append(f"{name}: {text}" if name else text)
    return "; ".join(p for p in parts if p)


def problem_from_http(error: HTTPException) -> Problem:
    """Turn werkzeug / webargs errors into a Problem, keeping their headers (e.g. Allow)."""
    if isinstance(error, Problem):
        return error
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if messages and error.code in (400, 422):
        flat = {k: v for k, v in messages.items()} if isinstance(messages, dict) else {"body": messages}
        # webargs nests messages under the location; the fields are what users need to see
        if len(flat) == 1 and next(iter(flat)) in ("json", "query", "path", "form", "headers"):
            flat = next(iter(flat.values()))
        if not isinstance(flat, dict):  # about the body as a whole (e.g. "Invalid JSON body.")
            flat = {"body": flat}
        detail = summarize_field_errors(messages) if isinstance(messages, dict) else str(messages)
        return Problem(error.code, "Invalid request", detail, errors=flat, headers=headers)
    if isinstance(error, WebsocketMismatch):
        # werkzeug's own text ("the browser sent a request this server could not understand")
        # does not say that the route and the request disagree on being a WebSocket.
        wanted = request.headers.get("Upgrade", "").lower() != "websocket"
        detail = (
            "this is a WebSocket endpoint: send GET with Upgrade: websocket"
            if wanted
            else "this route is not a WebSocket endpoint"
        )
        return Problem(400, "Invalid request", detail, headers=headers)
    detail = data.get("message") or error.description or ""
    return Problem(error.code or 500, error.name, detail, headers=headers)


REDIS_RETRY_AFTER_SECONDS = 5  # a Redis restart or Sentinel failover takes seconds
DATABASE_RETRY_AFTER_SECONDS = 2  # a dead connection is replaced at once; a restart takes longer


def problem_from_dependency(error: Exception) -> Problem | None:
    """503 + Retry-After for Redis or the database being unreachable, and 404/400 for a value that
    PostgreSQL cannot store (a NUL character); None for anything else.

    Outages are not bugs: the client can retry, and work already accepted is kept (see the fault
    tests). Rate limits count in Redis too, so with Redis down they answer 503 as well: admitting
    without counting would let any key past its limit for as long as the outage lasts.
    """
    import peewee
    import redis

    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        log.warning("Redis unavailable in %s %r: %s", request.method, request.path, error)
        return Problem(
            503,
            "Service unavailable",
            "a backing service (Redis) is unavailable; retry shortly",
            headers={"Retry-After": str(REDIS_RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, peewee.OperationalError | peewee.InterfaceError):
        log.warning("database unavailable in %s %r: %s", request.method, request.path, error)
        return Problem(
            503,
            "Service unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, ValueError) and "NUL (0x00)" in str(error):
        # psycopg2 refuses to send a string holding NUL (PostgreSQL text cannot hold one). In a path,
        # it names nothing that can exist: 404, as every route with path parameters documents.
        if any("\x00" in str(value) for value in (request.view_args or {}).values()):
            return Problem(404, "Not found", "no such resource: a path segment holds a NUL character")
        return Problem(400, "Invalid request", "a value holds a NUL character, which cannot be stored")
    return None


def problem_from_bad_body(error: Exception) -> Problem | None:
    """400 for a request body the server's HTTP parser gave up on while the app read it; else None.

    gunicorn reads chunked bodies lazily, so a bad chunk size, a missing chunk terminator or a body
    cut off before its end raise out of `request.get_data` / form parsing, inside the app.
    """
    try:
        from gunicorn.http.errors import NoMoreData, ParseException
    except ImportError:  # pragma: no cover - gunicorn is a dependency; other servers raise their own
        return None
    if isinstance(error, ParseException | NoMoreData):
        return Problem(
            400,
            "Invalid request",
            f"body: the chunked transfer encoding is malformed or cut off ({type(error).__name__})",
        )
    return None


class ErrorRouter:
    """Chooses the dialect of the current request: by blueprint, else by the longest URL prefix."""

    def __init__(self):
        self.by_blueprint: dict[str, Dialect] = {}
        self.by_prefix: list[tuple[str, Dialect]] = []

    def add(self, blueprint_name: str, url_prefix: str, dialect: Dialect) -> None:
        self.by_blueprint[blueprint_name] = dialect
        self.by_prefix.append((url_prefix.rstrip("/"), dialect))
        self.by_prefix.sort(key=lambda item: len(item[0]), reverse=True)

    def dialect(self) -> Dialect:
        if request.blueprint in self.by_blueprint:
            return self.by_blueprint[request.blueprint]
        path = request.path
        for prefix, dialect in self.by_prefix:
            if prefix and (path == prefix or path.startswith(prefix + "/")):
                return dialect
        return PROBLEM_JSON

    def handle(self, error: Exception) -> Response:
        dialect = self.dialect()
        if isinstance(error, HTTPException):
            problem = problem_from_http(error)
            if problem.status == 422 and not isinstance(error, Problem):
                problem.code = dialect.validation_status
        else:
            from core.plugins import current_plugins

            problem = current_plugins().pm.hook.problem_from_exception(exception=error)
            if problem is None:
                problem = problem_from_dependency(error) or problem_from_bad_body(error)
            if problem is None and isinstance(error, MaxConnectionsExceeded):
                # Overload, not a bug: every pooled connection of this process stayed busy for
                # core.database_pool_timeout seconds. The client may retry; the operator may raise
                # core.database_max_connections or add workers.
                log.warning("database pool exhausted in %s %s", request.method, request.path)
                problem = Problem(
                    503,
                    "Service unavailable",
                    "the server is busy (no free database connection); retry shortly",
                    headers={"Retry-After": "1"},
                )
            if problem is None:
                log.error("unhandled error in %s %s", request.method, request.path, exc_info=error)
                problem = Problem(
                    500,
                    "Internal server error",
                    f"the server failed; quote request id {g.get('request_id', '-')} to the operator",
                )
        if problem.status == 503:
            from core.auth import release_signature

            release_signature()
        return dialect.render(problem)
