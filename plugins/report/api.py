"""HTTP routes of the report plugin under /report, in the {code, message, data} envelope."""

from __future__ import annotations

import functools
import json
import re

import msgspec
from flask import Response, jsonify, request
from flask.views import MethodView
from flask_cors import CORS
from flask_smorest import Blueprint
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from core.auth import current_actor, require
from core.errors import Dialect, Problem
from core.events import fire
from core.openapi import add_errors, errors
from core.plugins import plugin_settings
from core.ratelimit import enforce
from plugins.report import metrics, schemas, service

JSON_TYPES = {"application/json", "text/plain", ""}


def id_parameter(name: str, description: str) -> dict:
    """A room or user id in the path: as accepted at ingest (1-255 characters, no NUL), one segment."""
    return {
        "in": "path",
        "name": name,
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": schemas.MAX_ID, "pattern": "^[^\\x00/]+$"},
    }


ROOM_ID = id_parameter("room_id", "Room id, as reported.")
USER_ID = id_parameter("user_id", "User id, as reported.")


class EnvelopeDialect(Dialect):
    """Errors as {code: <HTTP status>, message, data: null}; invalid input is a 400 as in the contract."""

    content_type = "application/json"
    validation_status = 400
    schema_name = "ReportError"
    schema = {
        "type": "object",
        "description": "The report error envelope.",
        "required": ["code", "message", "data"],
        "properties": {
            "code": {"type": "integer", "description": "The HTTP status."},
            "message": {"type": "string", "description": "What went wrong, for people."},
            "data": {"nullable": True, "enum": [None], "description": "Always null on errors."},
        },
    }

    def body(self, problem: Problem) -> dict:
        return {"code": problem.status, "message": problem.detail or problem.title, "data": None}


_decode_json = msgspec.json.Decoder().decode
# A \uD800-\uDFFF escape: either half of a surrogate pair (fine) or a lone surrogate, which decodes
# to a str that no UTF-8 database column (or encoder) accepts.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _invalid_body(detail: str) -> Problem:
    return Problem(400, "Invalid request", f"body: {detail}")


def _refuse_lone_surrogates(data) -> None:
    """:raises Problem: a decoded string holds a lone surrogate (valid JSON syntax, invalid text)."""
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except RecursionError:
        raise _invalid_body("JSON nested too deeply") from None
    except UnicodeEncodeError:
        raise _invalid_body("a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff)") from None


class LenientJsonParser(FlaskParser):
    """Also reads JSON sent as text/plain or without a type: browsers' sendBeacon posts text/plain.

    Bodies are decoded by msgspec (several times faster than json.loads on the ingest hot path).
    What msgspec refuses goes to webargs' json.loads, which gives the usual invalid-JSON error or
    accepts what only it reads (NaN, UTF-16 bodies), exactly as before.

    Both decoders accept JSON that is no usable value and would raise deep inside the request (a
    500): nesting past the recursion limit, integers of more digits than Python converts, and lone
    surrogate escapes. Those are 400s here. The surrogate check walks the value only when the body
    has such an escape at all, a byte search that costs the hot path next to nothing.
    """

    def _raw_load_json(self, req):
        if req.mimetype in JSON_TYPES or req.mimetype.endswith("+json"):
            body = req.get_data(cache=True)
            try:
                data = _decode_json(body)
            except RecursionError:
                raise _invalid_body("JSON nested too deeply") from None
            except msgspec.MsgspecError:
                data = self._standard_decode(body)
            if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
                _refuse_lone_surrogates(data)
            return data
        return webargs_core.missing

    @staticmethod
    def _standard_decode(body: bytes):
        try:
            return webargs_core.parse_json(body)
        except json.JSONDecodeError:
            raise  # webargs answers it as invalid JSON
        except RecursionError:
            raise _invalid_body("JSON nested too deeply") from None
        except ValueError:  # int() refuses more than sys.get_int_max_str_digits() (4300) digits
            raise _invalid_body("a number has too many digits") from None


class ReportBlueprint(Blueprint):
    ARGUMENTS_PARSER = LenientJsonParser()


def ok(data=None) -> dict:
    return {"code": 0, "message": "success", "data": data}


_accepted_body: bytes | None = None


def accepted() -> Response:
    """The ingest answer. It never changes, so it is encoded once per process: ingest is the hot path
    and flask-smorest would dump and encode it for every report (it passes Response objects through)."""
    global _accepted_body
    if _accepted_body is None:
        _accepted_body = jsonify(ok()).get_data()
    return Response(_accepted_body, mimetype="application/json")


def ingest_rate_limited(view):
    """Per-key ingest limit: keys holding report:ingest ship inside browsers and apps."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        enforce(plugin_settings("report")["ingest_rate_limit"], "report-ingest", current_actor().key_id)
        return view(*args, **kwargs)

    add_errors(
        wrapper, {429: "Ingest rate limit of this key exceeded (ingest_rate_limit); retry after Retry-After"}
    )
    return wrapper


def make_blueprint(settings: dict) -> Blueprint:
    blp = ReportBlueprint(
        "report",
        __name__,
        url_prefix="/report",
        description="SDK quality metrics: ingest, live rooms, latest metrics and history. "
        "Times are Unix seconds (milliseconds are accepted on input), bitrates kbps, packet_loss percent "
        "0-100, rtt and jitter ms. Answers are {code, message, data}; code is 0 on success and the HTTP "
        "status on errors.",
    )
    blp.error_dialect = EnvelopeDialect()
    CORS(
        blp,
        origins=settings["cors_origins"],
        allow_headers=[
            "Content-Type",
            "Authorization",
            "X-API-Key",
            "X-Request-Id",
            "X-RTCstack-Timestamp",
            "X-RTCstack-Signature",
        ],
        expose_headers=["X-Request-Id", "Retry-After", "X-Next-Cursor"],
        max_age=600,
    )

    @blp.before_request
    def check_body():
        if request.method != "POST":
            return
        limit = plugin_settings("report")["max_body_bytes"]
        if request.content_length is not None:
            too_large = request.content_length > limit
        else:
            # A chunked body has no length to check: read at most one byte past the limit. (werkzeug
            # truncates silently at max_content_length, so reaching limit + 1 is the signal.)
            request.max_content_length = limit + 1
            too_large = len(request.get_data(cache=True)) > limit
        if too_large:
            raise Problem(413, "Payload too large", f"the body exceeds the limit of {limit} bytes")
        if not (request.mimetype in JSON_TYPES or request.mimetype.endswith("+json")):
            raise Problem(
                415, "Unsupported media type", f"send JSON (application/json), not {request.mimetype}"
            )

    @blp.after_request
    def count_report(response):
        # After the error handlers too: refusals raised by check_body or auth are counted by reason.
        if (
            request.method == "POST"
            and request.url_rule is not None
            and request.url_rule.endpoint == (f"{blp.name}.MetricsViews")
        ):
            metrics.report_answered(response.status_code)
        return response

    @blp.route("/metrics")
    class MetricsViews(MethodView):
        @require("report:ingest")
        @ingest_rate_limited
        @blp.arguments(schemas.MetricsReportSchema(), location="json")  # one instance: built once
        @blp.response(200, schemas.NullEnvelopeSchema)
        @errors(
            400,
            _413="The body exceeds max_body_bytes, or the report has over max_streams_per_report streams",
            _415="The body is not JSON (application/json, text/plain or no type)",
        )
        def post(self, report):
            """Ingest one report (needs report:ingest; safe to ship in SDKs)."""
            actor = current_actor()
            result = service.ingest(
                actor.account_id, report, plugin_settings("report")["max_streams_per_report"]
            )
            metrics.samples_stored(result["samples"])
            if result["room_started"]:
                fire(
                    "report_room_started",
                    account_id=actor.account_id,
                    room_id=report["room_id"],
                    started_at=result["received_at"],
                )
            return accepted()

    @blp.route("/rooms")
    class RoomsViews(MethodView):
        @require("report:read")
        @blp.arguments(schemas.RoomsQueryArgsSchema, location="query")
        @blp.response(200, schemas.RoomListEnvelopeSchema)
        def get(self, args):
            """Room ids with a report within the live window (live_window_seconds)."""
            cfg = plugin_settings("report")
            return ok(
                service.list_rooms(
                    current_actor().account_id, cfg["live_window_seconds"], args["include_idle"]
                )
            )

    @blp.route("/metrics/<string:room_id>", parameters=[ROOM_ID])
    class RoomMetricsViews(MethodView):
        @require("report:read")
        @blp.response(200, schemas.RoomMetricsEnvelopeSchema)
        @errors(_404="No report of this room in this account")
        def get(self, room_id):
            """Room aggregate and the newest metrics of every user."""
            window = plugin_settings("report")["live_window_seconds"]
            return ok(service.room_metrics(current_actor().account_id, room_id, window))

    @blp.route("/metrics/<string:room_id>/<string:user_id>", parameters=[ROOM_ID, USER_ID])
    class UserMetricsViews(MethodView):
        @require("report:read")
        @blp.response(200, schemas.UserMetricsEnvelopeSchema)
        @errors(_404="No report of this user in this room of this account")
        def get(self, room_id, user_id):
            """Newest metrics of one user, per stream."""
            window = plugin_settings("report")["live_window_seconds"]
            return ok(service.user_metrics(current_actor().account_id, room_id, user_id, window))

    @blp.route("/history/<string:room_id>", parameters=[ROOM_ID])
    class HistoryViews(MethodView):
        @require("report:read")
        @blp.arguments(schemas.history_query_args(settings["history_max_limit"]), location="query")
        @blp.response(
            200,
            schemas.HistoryEnvelopeSchema,
            headers={
                "X-Next-Cursor": {
                    "description": "Set when the page is full: the `cursor` of the next, older page.",
                    "schema": {"type": "string", "pattern": schemas.CURSOR_PATTERN},
                }
            },
        )
        @errors(_404="No report of this room in this account")
        def get(self, args, room_id):
            """Accepted reports of the room, newest first; follow X-Next-Cursor for older pages."""
            cfg = plugin_settings("report")
            limit = args.get("limit", cfg["history_default_limit"])
            if "since" in args and "until" in args and args["since"] >= args["until"]:
                raise Problem(400, "Invalid request", "since: must be before until")
            items, next_cursor = service.history(
                current_actor().account_id,
                room_id,
                args.get("since"),
                args.get("until"),
                limit,
                args.get("cursor"),
            )
            return ok(items), 200, {"X-Next-Cursor": next_cursor} if next_cursor else {}

    return blp
