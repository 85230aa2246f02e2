"""HTTP routes of the transcription plugin under /v1 (rooms-api.md, post-call transcription)."""

from __future__ import annotations

import functools
import re

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from core.auth import current_actor, require
from core.errors import RTCSTACK_PROBLEM, Problem
from core.openapi import errors
from plugins.transcription import schemas, service

SCOPE = "transcription:admin"
JSON_TYPES = {"application/json", "text/plain", ""}
TRANSCRIPTION_ID = re.compile(r"^tr_[0-9a-f]{24}$")
UNAVAILABLE = (
    "No usable Vosk model is configured (plugins.transcription.model_path), or a backing service is "
    "down; the detail says which. Retry after Retry-After seconds"
)


class TolerantJsonParser(FlaskParser):
    """An empty body is no body (the contract's clients post /transcribe with none or `{}`); JSON under
    text/plain or no type is JSON; any other type is a 415."""

    def _raw_load_json(self, req):
        body = req.get_data(cache=True)
        if not body.strip():
            return webargs_core.missing
        if not (req.mimetype in JSON_TYPES or req.mimetype.endswith("+json")):
            raise Problem(415, "Unsupported media type", f"send JSON (application/json), not {req.mimetype}")
        return webargs_core.parse_json(body)


class TranscriptionBlueprint(Blueprint):
    ARGUMENTS_PARSER = TolerantJsonParser()


def _account() -> int:
    return current_actor().account_id


def _settings() -> dict:
    from core.plugins import plugin_settings

    return plugin_settings("transcription")


def _transcription_id(value: str) -> str:
    if not TRANSCRIPTION_ID.match(value):
        raise service.NotFound("Transcription not found")
    return value


def _recording_id(value: str) -> str:
    # Ids are one path segment without NUL (which PostgreSQL text cannot hold): others name nothing.
    if not value or len(value) > 255 or "\x00" in value or "/" in value:
        raise service.NotFound("Recording not found")
    return value


def model_required(view):
    """Every route answers 503 while no usable model is configured (nothing can be transcribed)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        service.check_model(_settings())
        return view(*args, **kwargs)

    return wrapper


def _enqueue(transcription_id: str) -> None:
    from core.queue import enqueue

    enqueue("transcription.transcribe_recording", transcription_id)


RECORDING_PARAM = {
    "in": "path",
    "name": "recordingId",
    "required": True,
    "description": "The recording's id (as the recordings API lists it).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": schemas.ID_PATTERN},
}
TRANSCRIPTION_PARAM = {
    "in": "path",
    "name": "transcriptionId",
    "required": True,
    "description": "The transcription's id (tr_ and 24 hex digits; anything else is a 404).",
    "schema": {"type": "string", "maxLength": 64},
}
TRANSCRIPT_CONTENT = {
    "application/json": {"schema": {"$ref": "#/components/schemas/Transcription"}},
    "text/plain": {"schema": {"type": "string"}},
    "application/x-subrip": {"schema": {"type": "string"}},
    "text/vtt": {"schema": {"type": "string"}},
}


def make_blueprint(settings: dict) -> Blueprint:
    limits = schemas.Limits(settings)
    blp = TranscriptionBlueprint(
        "transcription",
        __name__,
        url_prefix="/v1",
        description="Post-call transcription of recordings with Vosk (offline speech recognition): queue a "
        "job, follow its progress, read the transcript as JSON, text, SRT or WebVTT; phrase hints per "
        "request and per account. Errors are RFC 9457 problems with https://rtcstack.dev/errors/<slug> "
        "types; no usable model is a 503 with Retry-After.",
    )
    blp.error_dialect = RTCSTACK_PROBLEM
    transcribe_body = schemas.transcribe_schema(limits)
    phrase_body = schemas.phrase_list_schema(limits)
    list_args = schemas.list_args_schema(limits)

    @blp.route("/recordings/<string:recordingId>/transcribe", parameters=[RECORDING_PARAM])
    class TranscribeViews(MethodView):
        @require(SCOPE)
        @model_required
        @blp.arguments(transcribe_body, location="json", required=False)
        @blp.response(202, schemas.QueuedSchema)
        @errors(
            415,
            _404="No such recording in this account",
            _409="The recording's file is not complete yet",
            _503=UNAVAILABLE,
        )
        def post(self, body, recordingId):  # noqa: N803 - the contract's name
            """Queue a post-call transcription of a recording; follow it with GET /v1/transcriptions/{id}."""
            queued = service.queue_transcription(
                _settings(),
                _account(),
                _recording_id(recordingId),
                language=body.get("language"),
                participants=body.get("participants"),
                phrases=body.get("phrases"),
                enqueue=_enqueue,
            )
            return jsonify(queued), 202

    @blp.route("/transcriptions")
    class TranscriptionsViews(MethodView):
        @require(SCOPE)
        @model_required
        @blp.arguments(list_args, location="query")
        @blp.response(200, schemas.TranscriptionListSchema)
        @errors(_503=UNAVAILABLE)
        def get(self, args):
            """The account's post-call transcriptions, newest first (filters: recordingId, roomId, status)."""
            return jsonify(
                service.list_transcriptions(
                    _account(),
                    recording_id=args.get("recordingId"),
                    room_id=args.get("roomId"),
                    status=args.get("status"),
                    limit=args["limit"],
                    offset=args["offset"],
                )
            )

    @blp.route("/transcriptions/<string:transcriptionId>", parameters=[TRANSCRIPTION_PARAM])
    class TranscriptionByIdViews(MethodView):
        @require(SCOPE)
        @model_required
        @blp.arguments(schemas.FormatArgsSchema, location="query")
        @blp.response(200, schemas.TranscriptionSchema)
        @blp.doc(
            responses={
                "200": {
                    "description": "The transcription (JSON) or its transcript",
                    "content": TRANSCRIPT_CONTENT,
                }
            }
        )
        @errors(
            _404="No such transcription in this account",
            _409="format=text, srt or vtt of a transcription that has not completed",
            _503=UNAVAILABLE,
        )
        def get(self, args, transcriptionId):  # noqa: N803
            """One transcription: status, progress and segments (JSON), or its transcript as text, SRT or
            WebVTT (`format`)."""
            row = service.get_row(_account(), _transcription_id(transcriptionId))
            if args["format"] == "json":
                return jsonify(service.detail(row))
            body, content_type = service.render(row, args["format"])
            return Response(body, content_type=content_type)

        @require(SCOPE)
        @model_required
        @blp.response(204)
        @errors(_404="No such transcription in this account", _503=UNAVAILABLE)
        def delete(self, transcriptionId):  # noqa: N803
            """Delete a transcription and all its segments (a running job stops when it notices)."""
            service.delete_transcription(_account(), _transcription_id(transcriptionId))
            return Response(status=204)

    @blp.route("/transcription/phrases")
    class PhraseListViews(MethodView):
        @require(SCOPE)
        @model_required
        @blp.response(200, schemas.PhraseListSchema)
        @errors(_503=UNAVAILABLE)
        def get(self):
            """The account's phrase hints, used by transcriptions whose request sends no `phrases`."""
            return jsonify(service.phrase_list(_account()))

        @require(SCOPE)
        @model_required
        @blp.arguments(phrase_body, location="json")
        @blp.response(200, schemas.PhraseListSchema)
        @errors(415, _503=UNAVAILABLE)
        def put(self, body):
            """Replace the account's phrase hints (lower-cased, spaces collapsed, duplicates dropped)."""
            return jsonify(service.set_phrase_list(_account(), body["phrases"]))

    return blp
