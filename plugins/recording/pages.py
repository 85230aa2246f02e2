"""The recording plugin's console pages: the account's recordings with their state, file and download;
a recording's page with its delete form; start and stop of a room's recording.

Mounted by the console plugin (hook register_console_pages) under /console/recording. They need
recording:admin, as the /v1 recording routes do, and read only the caller's account (another account's
recording is a 404); download links are the API's route, which the console's session cookie
authenticates for GET. Forms carry the CSRF token; the actions go through this plugin's service.
"""

from __future__ import annotations

import re
import time

from flask import redirect, render_template, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.errors import Problem
from core.openapi import errors
from plugins.recording import schemas, service
from plugins.recording.models import Recording
from plugins.recording.statuses import RUNNING, STATUSES, UNFINISHED

SCOPE = "recording:admin"
PREFIX = "/console/recording"
NAME = "recording_console"
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
ID_RE = re.compile(schemas.ID_PATTERN)
ROOM_RE = re.compile(schemas.ROOM_PATTERN)
LIVEKIT_UNAVAILABLE = "LiveKit or the object storage is unavailable or not configured (HTML)"
RECORDING_PATH = [
    {
        "in": "path",
        "name": "recording_id",
        "required": True,
        "description": "The recording's id (LiveKit's egress id).",
        "schema": {"type": "string", "maxLength": 64},
    }
]


STATUS_PARAM = {
    "in": "query",
    "name": "status",
    "description": "Only recordings in this state (empty: any, as the page's form sends it).",
    "schema": {"type": "string", "enum": ["", *STATUSES]},
}


def _rows(account_id: int, limit: int, status: str | None = None) -> list[Recording]:
    query = Recording.select().where(Recording.account_id == account_id)
    if status:
        query = query.where(Recording.status == status)
    return list(query.order_by(Recording.created_at.desc(), Recording.id.desc()).limit(limit))


def _form(required: list[str], **properties) -> dict:
    """An OpenAPI request body of an HTML form that carries the CSRF token."""
    props = {"csrf_token": {"type": "string", "description": "From the form."}, **properties}
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "required": ["csrf_token", *required], "properties": props}
            }
        },
    }


def _recording(recording_id: str):
    """:raises service.NotFound: not an id this plugin could have made, or not this account's."""
    if not ID_RE.match(recording_id):
        raise service.NotFound("Recording not found")
    return service.get_row(current_actor().account_id, recording_id)


def _room_name(value: str) -> str:
    from core.plugins import plugin_settings

    value = value.strip()
    if not (1 <= len(value) <= plugin_settings("room")["max_room_name_length"] and ROOM_RE.match(value)):
        raise Problem(400, "Bad request", "room: a room name (no / or control characters)")
    return value


def _page(template: str, **context):
    from plugins.console.interface import page

    return page(template, **context)


def _see(endpoint: str, **values):
    from plugins.console.interface import security_headers

    return security_headers(redirect(url_for(endpoint, **values), code=303))


def make_pages_blueprint() -> Blueprint:
    blp = Blueprint(
        NAME,
        __name__,
        url_prefix=PREFIX,
        template_folder="templates",
        description="Console pages of the recording plugin (HTML): recordings, download, delete, start and "
        "stop. recording:admin.",
    )

    @blp.route("/recordings")
    class RecordingListViews(MethodView):
        @require(SCOPE)
        @blp.doc(parameters=[STATUS_PARAM], responses={"200": {"description": "Recordings page", **HTML}})
        @errors(_400="`status` is not a state of a recording (HTML)")
        def get(self):
            """The account's recordings, newest first (`status` filters): room, state, size, duration,
            download."""
            from core.plugins import plugin_settings

            status = request.args.get("status") or None
            if status is not None and status not in STATUSES:
                raise Problem(400, "Invalid request", f"status: must be one of {', '.join(STATUSES)}")
            limit = plugin_settings("console")["list_limit"]
            rows = _rows(current_actor().account_id, limit, status)
            return _page(
                "recording/console_recordings.html",
                recordings=rows,
                now=time.time(),
                selected=status,
                statuses=STATUSES,
            )

    @blp.route("/recordings/<string:recording_id>", parameters=RECORDING_PATH)
    class RecordingViews(MethodView):
        @require(SCOPE)
        @blp.doc(responses={"200": {"description": "Recording page", **HTML}})
        @errors(_404="No such recording in this account (HTML)")
        def get(self, recording_id):
            """A recording: its state, file, download link and delete form."""
            row = _recording(recording_id)
            return _page(
                "recording/console_recording.html",
                recording=service.recording_json(row),
                deletable=row.status not in UNFINISHED,
                stoppable=row.status in RUNNING,
            )

    @blp.route("/recordings/<string:recording_id>/delete", parameters=RECORDING_PATH)
    class RecordingDeleteViews(MethodView):
        @require(SCOPE)
        @blp.doc(
            requestBody=_form([]),
            responses={"303": {"description": "Deleted: on to the recordings page"}},
        )
        @errors(
            _403="The form's CSRF token is missing or stale (HTML)",
            _404="No such recording in this account (HTML)",
            _409="The recording is still running: stop it first (HTML)",
            _503="The object storage is unavailable (HTML)",
        )
        def post(self, recording_id):
            """Delete a finished recording: its file, then its row (as DELETE /v1/recordings/{id})."""
            service.delete_recording(current_actor().account_id, _recording(recording_id).id)
            return _see(f"{NAME}.RecordingListViews")

    @blp.route("/start")
    class RecordingStartViews(MethodView):
        @require(SCOPE)
        @blp.doc(
            requestBody=_form(["room"], room={"type": "string", "description": "The room to record."}),
            responses={"303": {"description": "Started (or already running): on to the recording's page"}},
        )
        @errors(
            409,
            502,
            _400="Not a room name (HTML)",
            _403="The form's CSRF token is missing or stale (HTML)",
            _404="No such active room in this account (HTML)",
            _503=LIVEKIT_UNAVAILABLE,
        )
        def post(self):
            """Start recording a room (as POST /v1/rooms/{roomId}/recording/start)."""
            account_id = current_actor().account_id
            answer, _created = service.start_recording(account_id, _room_name(request.form.get("room", "")))
            try:
                return _see(
                    f"{NAME}.RecordingViews", recording_id=service.get_row(account_id, answer["egressId"]).id
                )
            except service.NotFound:
                # An egress LiveKit runs for the room without this server: not ours, so it has no page.
                return _see(f"{NAME}.RecordingListViews")

    @blp.route("/recordings/<string:recording_id>/stop", parameters=RECORDING_PATH)
    class RecordingStopViews(MethodView):
        @require(SCOPE)
        @blp.doc(requestBody=_form([]), responses={"303": {"description": "Stopping: back to the recording"}})
        @errors(
            409,
            502,
            _403="The form's CSRF token is missing or stale (HTML)",
            _404="No such recording, or it is not running (HTML)",
            _503=LIVEKIT_UNAVAILABLE,
        )
        def post(self, recording_id):
            """Stop the room's recording (as POST /v1/rooms/{roomId}/recording/stop)."""
            row = _recording(recording_id)
            if row.status not in RUNNING:
                raise service.NotFound(f"Recording {row.id} is {row.status}, not running")
            service.stop_recording(current_actor().account_id, row.room_name)
            return _see(f"{NAME}.RecordingViews", recording_id=row.id)

    return blp


def overview_card(actor) -> str:
    """The overview's card: recordings running now and the newest few."""
    running = (
        Recording.select()
        .where(Recording.account_id == actor.account_id, Recording.status.in_(RUNNING))
        .count()
    )
    return render_template(
        "recording/console_card.html", recordings=_rows(actor.account_id, 5), running=running, now=time.time()
    )


def console_pages() -> dict:
    """What the recording plugin adds to the console (hook register_console_pages)."""
    return {
        "blueprint": make_pages_blueprint(),
        "nav": [
            {
                "title": "Recordings",
                "endpoint": f"{NAME}.RecordingListViews",
                "scope": SCOPE,
                "order": 30,
            }
        ],
        "panels": [(SCOPE, overview_card)],
    }
