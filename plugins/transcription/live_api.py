"""HTTP routes of live transcription under /v1/rooms/{roomId}/transcription (rooms-api.md, live)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time

import marshmallow as ma
from flask import Response, current_app, jsonify
from flask.views import MethodView
from marshmallow import fields, validate

from core.auth import current_actor, require
from core.errors import RTCSTACK_PROBLEM
from core.openapi import errors
from plugins.transcription import live_service, schemas
from plugins.transcription.api import SCOPE, TranscriptionBlueprint
from plugins.transcription.service import NotFound

log = logging.getLogger("plugins.transcription")

# Room names as the room plugin takes them: one path segment, no control characters.
ROOM_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
ROOM_RE = re.compile(ROOM_PATTERN)
ROOM_MAX = 512
UNAVAILABLE = (
    "Live transcription is not available: no live worker heartbeat (`mediaplane transcribe-live` is not "
    "running), no usable Vosk model, LiveKit not configured, or the room plugin disabled; the detail "
    "says which. Retry after Retry-After seconds"
)
ROOM_PARAM = {
    "in": "path",
    "name": "roomId",
    "required": True,
    "description": "Room name, as created with POST /v1/rooms.",
    "schema": {"type": "string", "minLength": 1, "maxLength": ROOM_MAX, "pattern": ROOM_PATTERN},
}


def _settings() -> dict:
    from core.plugins import plugin_settings

    return plugin_settings("transcription")


def _account() -> int:
    return current_actor().account_id


def _room(value: str) -> str:
    if not (1 <= len(value) <= ROOM_MAX and ROOM_RE.match(value)):
        raise NotFound("Room not found")
    return value


def _redis():
    return current_app.extensions["mediaplane"].redis


# -- capability ------------------------------------------------------------------------------------

_capability: dict[str, tuple[float, bool]] = {}


def live_usable() -> bool:
    """transcriptionLive of GET /v1/health: a model is configured and a live worker beats. Cached per
    app for capability_cache_seconds (at most a third of the heartbeat, so a stopped worker shows)."""
    settings = _settings()
    key = str(id(current_app.extensions["mediaplane"]))
    now = time.monotonic()
    cache_for = min(settings["capability_cache_seconds"], settings["live_heartbeat_seconds"] / 3)
    cached = _capability.get(key)
    if cached and now - cached[0] < cache_for:
        return cached[1]
    try:
        live_service.check_live(settings, _redis())
        usable = True
    except live_service.LiveUnavailable:
        usable = False
    _capability.clear()
    _capability[key] = (now, usable)
    return usable


# -- schemas ---------------------------------------------------------------------------------------


def _participants_field(limits: schemas.Limits, required: bool = False) -> fields.Dict:
    # Keys are not checked beyond being strings: OpenAPI 3.0 cannot declare a key's length, and a key
    # that is no identity or track sid simply never names a speaker.
    return fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(1, 255)),
        validate=validate.Length(max=limits.participants),
        required=required,
        metadata={
            "description": "Speaker map: participant identity (or track sid) -> display name; applies to "
            "segments already written too."
        },
    )


class LiveOptionsSchema(ma.Schema):
    partialResults = fields.Boolean(
        metadata={"description": "Write partial segments while an utterance is in progress (default true)."}
    )
    punctuation = fields.Boolean(metadata={"description": "Accepted; Vosk models add no punctuation."})
    profanityFilter = fields.Boolean(metadata={"description": "Accepted; not applied."})


def start_schema(limits: schemas.Limits) -> type[ma.Schema]:
    class LiveStartRequestSchema(ma.Schema):
        language = fields.String(
            validate=[validate.Length(max=35), validate.Regexp(schemas.LANGUAGE_PATTERN)],
            metadata={"description": "BCP-47 language code, stored (default en-US); the model decides."},
        )
        participants = _participants_field(limits)
        options = fields.Nested(LiveOptionsSchema)
        phrases = schemas._phrases_field(
            limits,
            "Phrase hints: recognition is restricted to these phrases. Absent: the account's phrase list; "
            "an empty list: free recognition.",
        )

        @ma.validates("phrases")
        def check_phrases(self, value, **kwargs):
            schemas._no_blank_phrases(value)

    return LiveStartRequestSchema


def speakers_schema(limits: schemas.Limits) -> type[ma.Schema]:
    class LiveSpeakersRequestSchema(ma.Schema):
        participants = _participants_field(limits, required=True)

    return LiveSpeakersRequestSchema


class LiveQueryArgsSchema(ma.Schema):
    since = fields.AwareDateTime(
        format="iso",
        default_timezone=dt.UTC,
        metadata={"description": "ISO time: only segments written or changed after it (use `until`)."},
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "text"]),
        metadata={"description": "json (default) or text: `[HH:MM:SS] name: text` lines of final segments."},
    )


class LiveStartedSchema(ma.Schema):
    transcriptionId = fields.String(required=True)
    roomId = fields.String(required=True)
    status = fields.String(required=True)
    language = fields.String(required=True)
    startedAt = fields.String(required=True)


class LiveStoppedSchema(ma.Schema):
    transcriptionId = fields.String(required=True)
    status = fields.String(required=True)
    stoppedAt = fields.String(allow_none=True, required=True)
    segmentCount = fields.Integer(required=True, metadata={"description": "Final segments."})


class LiveWordSchema(ma.Schema):
    word = fields.String(required=True)
    start = fields.String(required=True, metadata={"description": "ISO time."})
    end = fields.String(required=True)
    confidence = fields.Float(metadata={"description": "Final segments only."})


class LiveSegmentSchema(ma.Schema):
    segmentId = fields.String(
        required=True, metadata={"description": "Stable: a partial keeps its id when final."}
    )
    final = fields.Boolean(required=True)
    speakerId = fields.String(required=True, metadata={"description": "The participant's identity."})
    speakerName = fields.String(required=True)
    trackSid = fields.String(required=True)
    text = fields.String(required=True)
    confidence = fields.Float(allow_none=True, required=True)
    startMs = fields.Integer(required=True, metadata={"description": "ms from the transcription's start."})
    endMs = fields.Integer(required=True)
    startTime = fields.String(required=True, metadata={"description": "ISO time."})
    endTime = fields.String(required=True)
    updatedAt = fields.String(required=True)
    words = fields.List(fields.Nested(LiveWordSchema), required=True)


class LiveTranscriptSchema(ma.Schema):
    transcriptionId = fields.String(required=True)
    roomId = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["active", "stopped"]))
    language = fields.String(required=True)
    startedAt = fields.String(required=True)
    stoppedAt = fields.String(allow_none=True, required=True)
    segmentCount = fields.Integer(required=True)
    error = fields.String(
        allow_none=True, required=True, metadata={"description": "Why the worker cannot join."}
    )
    speakers = fields.List(fields.Dict(), required=True, metadata={"description": "[{sid, name}]"})
    segments = fields.List(fields.Nested(LiveSegmentSchema), required=True)
    until = fields.String(allow_none=True, required=True, metadata={"description": "The next `since`."})
    hasMore = fields.Boolean(required=True)


# -- routes ----------------------------------------------------------------------------------------


def _livekit_room(account_id: int, room_name: str) -> str:
    """:raises LiveUnavailable: no room plugin or no LiveKit; room NotFound: no such room."""
    from core.plugins import current_plugins

    if not current_plugins().is_enabled("room"):
        raise live_service.LiveUnavailable("live transcription needs the room plugin, which is disabled")
    from plugins.room import interface

    if not interface.livekit_configured():
        raise live_service.LiveUnavailable(
            "LiveKit is not configured: set plugins.room.livekit_url, livekit_api_key and livekit_api_secret"
        )
    return interface.resolve_room(account_id, room_name)


def make_live_blueprint(settings: dict) -> TranscriptionBlueprint:
    limits = schemas.Limits(settings)
    blp = TranscriptionBlueprint(
        "transcription_live",
        __name__,
        url_prefix="/v1",
        description="Live transcription of a room: a `mediaplane transcribe-live` worker joins it as a "
        "hidden participant and writes partial and final segments per speaker (one Vosk recognizer per audio "
        "track). Errors are RFC 9457 problems; no live worker or no model is a 503 with Retry-After.",
    )
    blp.error_dialect = RTCSTACK_PROBLEM
    start_body = start_schema(limits)
    speakers_body = speakers_schema(limits)

    @blp.route("/rooms/<string:roomId>/transcription/start", parameters=[ROOM_PARAM])
    class LiveStartViews(MethodView):
        @require(SCOPE)
        @blp.arguments(start_body, location="json", required=False)
        @blp.response(201, LiveStartedSchema)
        @blp.alt_response(200, schema=LiveStartedSchema, description="Already active: the running one")
        @errors(415, _404="No such room in this account", _503=UNAVAILABLE)
        def post(self, body, roomId):  # noqa: N803 - the contract's name
            """Start live transcription of a room (idempotent: an active one answers 200 as it is)."""
            settings = _settings()
            room = _room(roomId)
            live_service.check_live(settings, _redis())
            livekit_room = _livekit_room(_account(), room)
            answer, created = live_service.start(
                settings,
                _account(),
                room,
                livekit_room,
                language=body.get("language"),
                participants=body.get("participants"),
                phrases=body.get("phrases"),
                options=body.get("options"),
            )
            if created:
                try:
                    live_service.wake(_redis())
                except Exception as error:  # noqa: BLE001 - workers re-read on their timer anyway
                    log.warning("waking the live workers failed: %s", error)
            return jsonify(answer), 201 if created else 200

    @blp.route("/rooms/<string:roomId>/transcription/stop", parameters=[ROOM_PARAM])
    class LiveStopViews(MethodView):
        @require(SCOPE)
        @blp.response(200, LiveStoppedSchema)
        @errors(_404="Live transcription of this room was never started (or no such room in this account)")
        def post(self, roomId):  # noqa: N803
            """Stop live transcription (the worker flushes the last words and leaves the room)."""
            answer = live_service.stop(_account(), _room(roomId))
            try:
                live_service.wake(_redis())
            except Exception as error:  # noqa: BLE001
                log.warning("waking the live workers failed: %s", error)
            return jsonify(answer)

    @blp.route("/rooms/<string:roomId>/transcription", parameters=[ROOM_PARAM])
    class LiveTranscriptViews(MethodView):
        @require(SCOPE)
        @blp.arguments(LiveQueryArgsSchema, location="query")
        @blp.response(200, LiveTranscriptSchema)
        @blp.doc(
            responses={
                "200": {
                    "description": "The room's current (or latest) live transcription and its segments, or "
                    "its final segments as text",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/LiveTranscript"}},
                        "text/plain": {"schema": {"type": "string"}},
                    },
                }
            }
        )
        @errors(_404="Live transcription of this room was never started (or no such room in this account)")
        def get(self, args, roomId):  # noqa: N803
            """Segments of the room's live transcription, partial and final, per speaker."""
            room = _room(roomId)
            limit = _settings()["live_segments_max"]
            if args["format"] == "text":
                body = live_service.transcript_text(_account(), room, args.get("since"), limit)
                return Response(body, content_type="text/plain; charset=utf-8")
            return jsonify(live_service.transcript(_account(), room, args.get("since"), limit))

    @blp.route("/rooms/<string:roomId>/transcription/speakers", parameters=[ROOM_PARAM])
    class LiveSpeakersViews(MethodView):
        @require(SCOPE)
        @blp.arguments(speakers_body, location="json")
        @blp.response(204)
        @errors(
            415, _404="Live transcription of this room was never started (or no such room in this account)"
        )
        def patch(self, body, roomId):  # noqa: N803
            """Rename speakers: identity (or track sid) -> display name, for past and future segments."""
            live_service.rename_speakers(_account(), _room(roomId), body["participants"])
            return Response(status=204)

    return blp
