"""HTTP routes of the rtcstats plugin under /api/rtcstats/v1.0 (and /v1.0), errors as {error, errorCode}."""

from __future__ import annotations

import json
import tempfile
from typing import BinaryIO

from flask import jsonify, request
from flask.views import MethodView
from flask_cors import CORS
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.errors import Dialect, Problem
from core.openapi import errors
from plugins.rtcstats import schemas, service
from plugins.rtcstats.uploads import UploadTooLarge

PREFIX = "/api/rtcstats/v1.0"
ALIAS_PREFIX = "/v1.0"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and the small form fields around a chunk
PENDING_RETRY_AFTER = 5  # seconds a client waits before fetching a queued analysis
ASSEMBLE_MAX_BYTES = 1024  # a JSON body this small shaped {fileId, assemble} is an assemble request
JSON_BODY_MAX_BYTES = 64 * 1024
BODY_SPOOL_BYTES = 1024 * 1024  # a dump body larger than this is spooled to disk
BODY_BLOCK = 256 * 1024

ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "file_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    503: "unavailable",
}
ERROR_DESCRIPTIONS = {
    400: "Invalid request (errorCode invalid_request; assemble with missing chunks adds missingChunks)",
    401: "Missing or invalid credentials (unauthorized)",
    402: "No credits left this month (insufficient_credits)",
    403: "The key lacks the scope (forbidden)",
    404: "Session not found for this account (not_found)",
    409: "The session is still being analysed (analysis_pending), or is live: its collector socket is "
    "open (session_live, with state live); retry after Retry-After seconds",
    413: "File exceeds a size limit (file_too_large)",
    415: "The file is not a dump the parser can read (parsing_issue); the message names the problem",
    422: "The stored dump could not be analysed (analysis_failed) or re-analysed (reprocess_failed)",
    500: "Unexpected error (internal_error); the message carries a request id for the operator",
    503: "A dependency is unavailable or busy (unavailable); retry after Retry-After seconds",
}
UUID_PATH = [
    {
        "in": "path",
        "name": "rtcstatsId",
        "required": True,
        "description": "The session's id (a UUID; anything else is a 400).",
        "schema": {"type": "string", "format": "uuid"},
    }
]


class ErrorCodeDialect(Dialect):
    """Errors as {error, errorCode} (plus missingChunks for an incomplete assemble); invalid input is 400."""

    content_type = "application/json"
    validation_status = 400
    schema_name = "RtcstatsError"
    schema = schemas.RtcstatsErrorSchema
    descriptions = ERROR_DESCRIPTIONS

    def body(self, problem: Problem) -> dict:
        code = problem.error_code or ERROR_CODES.get(
            problem.status, "internal_error" if problem.status >= 500 else "invalid_request"
        )
        return {"error": problem.detail or problem.title, "errorCode": code, **problem.extra}


def _cap_body(limit: int) -> None:
    """Refuse bodies over `limit` bytes (413), also chunked ones that announce no length."""
    if request.content_length is not None and request.content_length > limit:
        raise UploadTooLarge(f"the request body exceeds the limit of {limit} bytes")
    # werkzeug stops reading at max_content_length; reading limit + 1 bytes is the signal.
    request.max_content_length = limit + 1


def _raw_body(limit: int) -> bytes:
    _cap_body(limit)
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise UploadTooLarge(f"the request body exceeds the limit of {limit} bytes")
    return data


def _spooled_body(limit: int) -> tuple[BinaryIO, int]:
    """The request body in a temporary file and its size: in memory while small, then on disk, so a
    64 MiB dump never sits in a web worker's memory.

    :raises UploadTooLarge: more than `limit` bytes.
    """
    _cap_body(limit)
    out = tempfile.SpooledTemporaryFile(max_size=BODY_SPOOL_BYTES)
    size = 0
    try:
        while block := request.stream.read(BODY_BLOCK):
            size += len(block)
            if size > limit:
                raise UploadTooLarge(f"the request body exceeds the limit of {limit} bytes")
            out.write(block)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, size


def _is_multipart() -> bool:
    return request.mimetype == "multipart/form-data"


def _is_json() -> bool:
    return request.mimetype == "application/json" or request.mimetype.endswith("+json")


def _chunk_request(settings: dict) -> tuple[dict, bytes]:
    """The form fields and bytes of a multipart chunk request (`chunk` part, or `blob`)."""
    limit = settings["max_chunk_bytes"]
    _cap_body(limit + MULTIPART_OVERHEAD)
    form, files = request.form, request.files
    part = files.get("chunk") or files.get("blob")
    if part is not None:
        data = part.read(limit + 1)
    elif "chunk" in form:
        data = form["chunk"].encode()
    else:
        raise service.InvalidRequest("chunk: required (the file part of the multipart body)")
    if len(data) > limit:
        raise UploadTooLarge(f"chunk: more than {limit} bytes")
    name = form.get("fileName") or (part.filename if part is not None else None)
    fields = {
        "fileId": form.get("fileId"),
        "chunkIndex": form.get("chunkIndex"),
        "totalChunks": form.get("totalChunks"),
        # Browsers name a Blob part "blob": that is no file name.
        "fileName": name if name and name != "blob" else None,
    }
    return fields, data


def _json_body() -> object:
    data = _raw_body(JSON_BODY_MAX_BYTES)
    try:
        return json.loads(data)
    except ValueError:
        raise service.InvalidRequest("body: not valid JSON") from None
    except RecursionError:  # "[[[[..." within the size limit: json gives up, the client gets a 400
        raise service.InvalidRequest("body: JSON nested too deeply") from None


def _assemble_request(data: bytes) -> tuple[str, str | None] | None:
    """(fileId, fileName) when a small JSON body has the assemble shape, else None (a raw dump)."""
    if len(data) > ASSEMBLE_MAX_BYTES or not data.lstrip().startswith(b"{"):
        return None
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or "fileId" not in body or "assemble" not in body:
        return None
    return service.parse_assemble(body)


# A dump in the body, or in chunks then a JSON assemble request (as /upload): /analyze and /enrich.
DUMP_REQUEST_BODY = {
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": schemas.UploadChunkFormSchema},
        "application/json": {"schema": schemas.AssembleSchema},
    }
}


def or_chunk_accepted(schema, description: str) -> dict:
    """The 200 of an operation that also takes chunks: its own answer, or {success: true} for a chunk."""
    return {
        "description": f"{description}; or, for a multipart chunk, {{success: true}}",
        "content": {"application/json": {"schema": {"oneOf": [schema, schemas.ChunkAcceptedSchema]}}},
    }


def make_blueprint(settings: dict, name: str, url_prefix: str) -> Blueprint:
    alias = url_prefix != PREFIX
    blp = Blueprint(
        name,
        __name__,
        url_prefix=url_prefix,
        description=(
            f"The same routes as {PREFIX} (the vendor's newer base path)."
            if alias
            else "WebRTC stats dumps (rtcStats API v1.0): chunked upload, synchronous analyze, stored "
            "sessions with filters, quota and the observation catalogue. Errors are {error, errorCode}. "
            "A stored upload is analysed by a job: until it is done, GET /sessions/{id} answers 409 "
            "analysis_pending with Retry-After. Credits: an upload and an analyze use one each; none "
            "left is 402 before any work; a dump that cannot be analysed gives its credit back."
        ),
    )
    blp.error_dialect = ErrorCodeDialect()
    sessions_query = schemas.sessions_query_args(settings["sessions_max_limit"])
    CORS(
        blp,
        origins=settings["cors_origins"],
        allow_headers=["Content-Type", "Authorization", "X-API-Key", "X-Request-Id"],
        expose_headers=["X-Request-Id", "Retry-After", "X-Total-Count"],
        max_age=600,
    )

    @blp.route("/upload")
    class UploadViews(MethodView):
        @require("rtcstats:write")
        @blp.doc(
            requestBody={
                "content": {
                    "multipart/form-data": {"schema": schemas.UploadChunkFormSchema},
                    "application/json": {"schema": schemas.AssembleSchema},
                }
            }
        )
        @blp.alt_response(200, schema=schemas.UploadResponseSchema, description="Chunk stored, or assembled")
        @errors(400, 402, 403, 413, 415)
        def post(self):
            """Upload a dump in chunks (multipart), then assemble it (JSON); uses one credit.

            Chunks (`chunk` file part, `fileId`, `chunkIndex`, optional `totalChunks`, `fileName`) may
            come in any order and again; assembling with a chunk missing answers 400 listing them.
            The assembled dump is stored and analysed by a job.
            """
            actor = current_actor()
            if _is_multipart():
                fields, data = _chunk_request(settings)
                return jsonify(service.upload_chunk(actor.account_id, fields, data))
            if _is_json():
                file_id, file_name = service.parse_assemble(_json_body())
                return jsonify(service.assemble_upload(actor.account_id, file_id, file_name))
            raise service.InvalidRequest(
                "send the chunks as multipart/form-data, then {fileId, assemble: true, fileName} as JSON"
            )

    def dump_or_chunk():
        """A multipart chunk is stored at once: ({success: true}, None, None). Any other body is the
        dump itself or, when small and shaped so, an assemble request: (None, (spooled file, size),
        (fileId, fileName) or None)."""
        if _is_multipart():
            fields, data = _chunk_request(settings)
            return service.upload_chunk(current_actor().account_id, fields, data), None, None
        body, size = _spooled_body(settings["max_analyze_bytes"])
        assemble = None
        if size <= ASSEMBLE_MAX_BYTES:
            assemble = _assemble_request(body.read())
            body.seek(0)
        return None, (body, size), assemble

    @blp.route("/analyze")
    class AnalyzeViews(MethodView):
        @require("rtcstats:write")
        @blp.arguments(schemas.AnalyzeQueryArgsSchema, location="query")
        @blp.doc(requestBody=DUMP_REQUEST_BODY)
        @blp.doc(responses={"200": or_chunk_accepted(schemas.AnalyzeResponseSchema, "The analysis")})
        @blp.alt_response(
            202,
            schema=schemas.AnalyzePendingSchema,
            description="A dump larger than analyze_inline_max_bytes after gunzip (a gzip body is judged "
            "from its size and trailer, decoding no more than that): stored as a session and analysed by "
            "a job; GET the Location (/sessions/{rtcstatsId}) after Retry-After seconds (409 "
            "analysis_pending until it is ready; 422 analysis_failed if the job finds the dump damaged "
            "or a decompression bomb)",
            headers={
                "Location": {"description": "The session to fetch", "schema": {"type": "string"}},
                "Retry-After": {"description": "Seconds to wait first", "schema": {"type": "integer"}},
            },
        )
        @errors(400, 402, 403, 413, 415)
        def post(self, args):
            """Analyse a dump in the request (any content type); uses one credit.

            `?save=true` (or 1) also stores it as a session, like /upload. The dump may also come in
            chunks as for /upload (each answered {success: true}), then a JSON assemble request.
            A dump that expands to more than analyze_inline_max_bytes is stored and analysed in the
            background instead: 202 with its rtcstatsId (also when save is not set). Such a gzip body
            is checked whole by the job, not here: if it is damaged, or a bomb whose gzip trailer
            understates it, the session fails (GET /sessions/{id}: 422 with the reason).
            """
            chunk_answer, body, assemble = dump_or_chunk()
            if chunk_answer is not None:
                return jsonify(chunk_answer)
            account_id = current_actor().account_id
            save = service.truthy(args.get("save", ""))
            file, size = body
            with file:
                if assemble is not None:
                    file_id, file_name = assemble
                    name = file_name or args.get("fileName")
                    answer, queued = service.analyze_assembled(account_id, file_id, save=save, file_name=name)
                else:
                    answer, queued = service.analyze_body(
                        account_id, file, size, save=save, file_name=args.get("fileName")
                    )
            if not queued:
                return jsonify(answer)
            location = f"{blp.url_prefix}/sessions/{answer['rtcstatsId']}"
            return jsonify(answer), 202, {"Location": location, "Retry-After": str(PENDING_RETRY_AFTER)}

    @blp.route("/enrich")
    class EnrichViews(MethodView):
        @require("rtcstats:write")
        @blp.doc(requestBody=DUMP_REQUEST_BODY)
        @blp.doc(
            responses={"200": or_chunk_accepted(schemas.EnrichResponseSchema, "Scores and observations")}
        )
        @errors(400, 402, 403, 413, 415)
        def post(self):
            """Analyse a dump and answer only scores, observation counts, flat observations and the
            user agent; never stored; uses one credit. Accepts the same bodies as /analyze. A dump that
            expands to more than analyze_inline_max_bytes is refused (413): send it to /analyze."""
            chunk_answer, body, assemble = dump_or_chunk()
            if chunk_answer is not None:
                return jsonify(chunk_answer)
            account_id = current_actor().account_id
            file, size = body
            with file:
                if assemble is not None:
                    return jsonify(service.enrich_assembled(account_id, assemble[0]))
                return jsonify(service.enrich_body(account_id, file, size))

    @blp.route("/collector", websocket=True)
    class CollectorViews(MethodView):
        @blp.doc(
            parameters=[
                {
                    "in": "query",
                    "name": "rtcstats-token",
                    "required": False,
                    "description": "An HS256 JWT signed with the secret of a key holding rtcstats:write "
                    "(iss = the key id, exp required), or an API key; X-API-Key / Authorization work too",
                    "schema": {"type": "string"},
                }
            ],
            responses={
                "101": {
                    "description": "WebSocket (subprotocol rtcstats#5.0): every message a JSON array "
                    "[method, pcId, value, timeDelta]; bad credentials close it with 1008; the close "
                    "codes of the limits are in docs/rtcstats-collector.md"
                }
            },
        )
        @errors(400)
        def get(self):
            """Live collection of an rtcstats-js client over a WebSocket (rtcstats#5.0).

            Each message is written to the session's dump as it arrives; when the socket closes (or
            idles collector_idle_timeout_seconds) the dump is stored as a session and analysed, as an
            upload is. A request without `Upgrade: websocket` is a 400.
            """
            from plugins.rtcstats import collector_route

            # werkzeug routes only `Upgrade: websocket` requests here (others: 400, core/errors.py).
            return collector_route.collect(settings)

    @blp.route("/collector/<path:meeting>", websocket=True)
    class CollectorMeetingViews(MethodView):
        @blp.doc(
            responses={
                "101": {
                    "description": "WebSocket of the jitsi rtcstats protocol (subprotocol 3.1_STANDARD): "
                    "JSON objects {statsSessionId, type, data}, one dump per statsSessionId; see "
                    "docs/rtcstats-collector.md"
                }
            },
        )
        @errors(400)
        def get(self, meeting):
            """The collector for a jitsi rtcstats client, which appends `/<meetingFqn>` to the endpoint.

            The same WebSocket as /collector (credentials as there); `meeting` becomes the `path` of
            the dump's connectionInfo line. A request without `Upgrade: websocket` is a 400.
            """
            from plugins.rtcstats import collector_route

            return collector_route.collect(settings)

    @blp.route("/quota")
    class QuotaViews(MethodView):
        @require("rtcstats:read")
        @blp.response(200, schemas.QuotaSchema)
        @errors(403)
        def get(self):
            """Credits of this month: allowed (monthly allocation plus grants) and remaining."""
            return service.quota(current_actor())

    @blp.route("/observations")
    class ObservationsViews(MethodView):
        @require("rtcstats:read")
        @blp.response(200, schemas.ObservationTypesSchema)
        @errors(403)
        def get(self):
            """The observation types the analyzer can emit, with their severities and tags."""
            return service.observation_catalogue()

    @blp.route("/sessions")
    class SessionsViews(MethodView):
        @require("rtcstats:read")
        @blp.doc(parameters=[{"in": "query", "schema": sessions_query}])
        @blp.response(
            200,
            schemas.SessionsListSchema,
            headers={
                "X-Total-Count": {
                    "description": "Sessions matching the filters (all pages)",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
        )
        @errors(400, 403)
        def get(self):
            """Stored sessions, newest first. Filters are AND-combined, values of one filter OR-combined;
            list filters take repeated keys or comma-separated values. `total` counts this page."""
            filters = service.parse_filters(request.args)
            limit, offset = service.parse_paging(request.args)
            matching, items = service.list_sessions(current_actor().account_id, filters, limit, offset)
            # The items are built in the documented shape (SessionsListSchema, tested against the
            # vendor's schema): jsonify skips re-dumping them, a fifth of a 100-item page's time.
            body = jsonify({"total": len(items), "data": items})
            return body, 200, {"X-Total-Count": str(matching)}

    @blp.route("/sessions/<string:rtcstatsId>", parameters=UUID_PATH)
    class SessionByIdViews(MethodView):
        @require("rtcstats:read")
        @blp.response(200, schemas.SessionResponseSchema)
        @errors(400, 403, 404, 409, 422)
        def get(self, rtcstatsId):  # noqa: N803 - the contract's name
            """One session: summary, observations and scores (re-analysed first if the analyzer changed)."""
            return service.get_session(current_actor().account_id, rtcstatsId)

        @require("rtcstats:write")
        @blp.response(200, schemas.SuccessSchema)
        @errors(400, 403, 404, 409)
        def delete(self, rtcstatsId):  # noqa: N803
            """Delete a session and its stored dump (a live session only once its socket closed)."""
            return service.delete_session(current_actor().account_id, rtcstatsId)

    return blp
