"""HTTP routes of the recording plugin under /v1 (rooms-api.md, Recording): start / stop / status per
room, and the account's recordings: list, get, download, delete."""

from __future__ import annotations

import re

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.wsgi import wrap_file

from core.auth import current_actor, require
from core.errors import RTCSTACK_PROBLEM
from core.openapi import errors
from plugins.recording import schemas, service

SCOPE = "recording:admin"
ROOM_RE = re.compile(schemas.ROOM_PATTERN)
ID_RE = re.compile(schemas.ID_PATTERN)
DOWNLOAD_CHUNK = 256 * 1024
LIVEKIT_UNAVAILABLE = (
    "LiveKit is not configured, unreachable, or refuses this server's credentials; or the object "
    "storage cannot take recordings (not S3, unreachable, credentials refused); the detail says which. "
    "Retry after Retry-After seconds"
)
STORAGE_UNAVAILABLE = "The object storage is unreachable or refuses this server's credentials; retry later"


def _account() -> int:
    return current_actor().account_id


def _room_limit() -> int:
    from core.plugins import plugin_settings

    return plugin_settings("room")["max_room_name_length"]


def _room_id(value: str) -> str:
    # A name no room can have (as the room plugin's routes say) is simply not found.
    if not (1 <= len(value) <= _room_limit() and ROOM_RE.match(value)):
        raise service.NotFound("Room not found")
    return value


def _recording_id(value: str) -> str:
    if not ID_RE.match(value):
        raise service.NotFound("Recording not found")
    return value


def make_blueprint(settings: dict) -> Blueprint:
    from core.plugins import plugin_settings

    room_limit = plugin_settings("room")["max_room_name_length"]
    blp = Blueprint(
        "recording",
        __name__,
        url_prefix="/v1",
        description="Room recordings: LiveKit room-composite egress writing MP4 files to the S3 / MinIO "
        "bucket of the object storage; the recordings of the account listed, downloaded (presigned "
        "URL) and deleted. Errors are RFC 9457 problems with https://rtcstack.dev/errors/<slug> types; "
        "LiveKit or the object storage unusable is a 503 with Retry-After.",
    )
    blp.error_dialect = RTCSTACK_PROBLEM
    room_param = {
        "in": "path",
        "name": "roomId",
        "required": True,
        "description": "Room name, as created.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": room_limit,
            "pattern": schemas.ROOM_PATTERN,
        },
    }
    recording_param = {
        "in": "path",
        "name": "recordingId",
        "required": True,
        "description": "Recording id: LiveKit's egress id (EG_...).",
        "schema": {"type": "string", "pattern": schemas.ID_PATTERN},
    }
    query_args = schemas.query_args_schema(settings)

    @blp.route("/rooms/<string:roomId>/recording/start", parameters=[room_param])
    class RecordingStartViews(MethodView):
        @require(SCOPE)
        @blp.response(201, schemas.RecordingStartSchema)
        @blp.alt_response(
            200, schema=schemas.RecordingStartSchema, description="Already recording", success=True
        )
        @errors(409, 502, _404="No such active room in this account", _503=LIVEKIT_UNAVAILABLE)
        def post(self, roomId):  # noqa: N803 - the contract's name
            """Start a room-composite MP4 recording (idempotent: 200 "already_recording" while one runs)."""
            answer, created = service.start_recording(_account(), _room_id(roomId))
            return jsonify(answer), 201 if created else 200

    @blp.route("/rooms/<string:roomId>/recording/stop", parameters=[room_param])
    class RecordingStopViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.RecordingStopSchema)
        @errors(409, 502, _404="No recording is running in this room", _503=LIVEKIT_UNAVAILABLE)
        def post(self, roomId):  # noqa: N803
            """Stop the room's recording; it becomes complete (downloadable) once LiveKit has uploaded it."""
            return jsonify(service.stop_recording(_account(), _room_id(roomId)))

    @blp.route("/rooms/<string:roomId>/recording", parameters=[room_param])
    class RecordingStatusViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.RecordingStatusSchema)
        @errors(_404="Not a possible room name")
        def get(self, roomId):  # noqa: N803
            """Whether the room is being recorded (starting or active), and by which egress."""
            return jsonify(service.recording_status(_account(), _room_id(roomId)))

    @blp.route("/recordings")
    class RecordingsViews(MethodView):
        @require(SCOPE)
        @blp.arguments(query_args, location="query")
        @blp.response(200, schemas.RecordingListSchema)
        def get(self, args):
            """The account's recordings, newest first (filters: roomId, status; paging: limit, offset)."""
            return jsonify(
                service.list_recordings(
                    _account(),
                    room_id=args.get("roomId"),
                    status=args.get("status"),
                    limit=args["limit"],
                    offset=args["offset"],
                )
            )

    @blp.route("/recordings/<string:recordingId>", parameters=[recording_param])
    class RecordingByIdViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.RecordingSchema)
        @errors(_404="No such recording in this account")
        def get(self, recordingId):  # noqa: N803
            """One recording: status, file key, size and duration once complete, error if it failed."""
            return jsonify(service.recording_json(service.get_row(_account(), _recording_id(recordingId))))

        @require(SCOPE)
        @blp.response(204)
        @errors(
            _404="No such recording in this account",
            _409="The recording is still running or uploading",
            _503=STORAGE_UNAVAILABLE,
        )
        def delete(self, recordingId):  # noqa: N803
            """Delete the recording's file from the storage, then the recording."""
            service.delete_recording(_account(), _recording_id(recordingId))
            return Response(status=204)

    @blp.route("/recordings/<string:recordingId>/download", parameters=[recording_param])
    class RecordingDownloadViews(MethodView):
        @require(SCOPE)
        @blp.response(
            302,
            schemas.DownloadLinkSchema,
            description="S3 storage: redirect to a presigned URL of the MP4 (also in the body)",
            headers={"Location": {"description": "The presigned URL.", "schema": {"type": "string"}}},
        )
        @blp.doc(
            responses={
                "200": {
                    "description": "Directory storage: the MP4 itself, streamed",
                    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                }
            }
        )
        @errors(
            _404="No such recording in this account, or its file is gone",
            _409="The recording is not complete",
            _503=STORAGE_UNAVAILABLE,
        )
        def get(self, recordingId):  # noqa: N803
            """The recording's MP4: a redirect to a presigned URL (valid download_url_expiry_seconds) with
            S3 storage, the file streamed with directory storage."""
            recording_id = _recording_id(recordingId)
            if service.uses_presigned_urls():
                link = service.download_link(_account(), recording_id)
                answer = jsonify(link)
                answer.status_code = 302
                answer.headers["Location"] = link["url"]
                return answer
            row = service.get_row(_account(), recording_id)
            if row.status != "complete":
                raise service.Conflict(
                    f"Recording {row.id} is {row.status}: its file can be downloaded once it is complete"
                )
            stream, size = service.open_file(_account(), recording_id)
            return Response(
                wrap_file(request.environ, stream, DOWNLOAD_CHUNK),
                status=200,
                mimetype="video/mp4",
                direct_passthrough=True,
                headers={
                    "Content-Length": str(size),
                    "Content-Disposition": f'attachment; filename="{row.id}.mp4"',
                },
            )

    return blp
