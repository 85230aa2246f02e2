"""The transcription plugin's console pages: the account's transcriptions, and a transcript page with its
segments (times, speakers, text) and links to the text, SRT and WebVTT formats of the API.

Mounted by the console plugin (hook register_console_pages) under /console/transcription. The pages need
transcription:admin, as the /v1 transcription routes do, and read only the caller's account through
this plugin's service (another account's transcription is a 404). Unlike the API they do not need a
model: what was transcribed stays readable while no model is configured.
"""

from __future__ import annotations

import re

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from core.auth import current_actor, require
from core.openapi import errors
from plugins.transcription import service
from plugins.transcription.statuses import STATUSES

SCOPE = "transcription:admin"
PREFIX = "/console/transcription"
NAME = "transcription_console"
TRANSCRIPTION_ID = re.compile(r"^tr_[0-9a-f]{24}$")  # as the API's ids; anything else names nothing
FORMATS = (("text", "Text"), ("srt", "SRT"), ("vtt", "WebVTT"))
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
TRANSCRIPTION_PATH = [
    {
        "in": "path",
        "name": "transcription_id",
        "required": True,
        "description": "The transcription's id (tr_ and 24 hex digits; anything else is a 404).",
        "schema": {"type": "string", "maxLength": 64},
    }
]


class TranscriptionPageArgsSchema(Schema):
    """Filter and paging of the transcriptions page; an empty field is no filter (browsers send them)."""

    status = fields.String(load_default="", validate=validate.OneOf(("", *STATUSES)))
    roomId = fields.String(load_default="", validate=validate.Length(max=255))  # noqa: N815 - the API's name
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


def clock(seconds) -> str:
    """Seconds into the recording as "m:ss.s" (or "h:mm:ss.s")."""
    if not isinstance(seconds, (int, float)):
        return "—"
    tenths = round(seconds * 10)
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    text = f"{minutes:02d}:{rest / 10:04.1f}" if hours else f"{minutes}:{rest / 10:04.1f}"
    return f"{hours}:{text}" if hours else text


def _account() -> int:
    return current_actor().account_id


def _page(template: str, **context):
    from plugins.console.interface import page

    return page(template, **context)


def make_pages_blueprint() -> Blueprint:
    blp = Blueprint(
        NAME,
        __name__,
        url_prefix=PREFIX,
        template_folder="templates",
        description="Console pages of the transcription plugin (HTML): transcriptions and transcripts. "
        "transcription:admin.",
    )

    @blp.route("/transcriptions")
    class TranscriptionListViews(MethodView):
        @require(SCOPE)
        @blp.arguments(TranscriptionPageArgsSchema, location="query")
        @blp.doc(responses={"200": {"description": "Transcriptions page", **HTML}})
        @errors(_400="A filter is invalid (HTML)")
        def get(self, args):
            """Transcriptions of the account, newest first: recording, room, status, progress."""
            from core.plugins import plugin_settings

            listing = service.list_transcriptions(
                _account(),
                recording_id=None,
                room_id=args["roomId"] or None,
                status=args["status"] or None,
                limit=plugin_settings("console")["list_limit"],
                offset=args["offset"],
            )
            return _page(
                "transcription/console_transcriptions.html", listing=listing, args=args, statuses=STATUSES
            )

    @blp.route("/transcriptions/<string:transcription_id>", parameters=TRANSCRIPTION_PATH)
    class TranscriptViews(MethodView):
        @require(SCOPE)
        @blp.doc(responses={"200": {"description": "Transcript page", **HTML}})
        @errors(_404="No such transcription in this account (HTML)")
        def get(self, transcription_id):
            """A transcription: its state and its segments with times and speakers."""
            if not TRANSCRIPTION_ID.match(transcription_id):
                raise service.NotFound("Transcription not found")
            transcript = service.detail(service.get_row(_account(), transcription_id))
            return _page("transcription/console_transcript.html", t=transcript, formats=FORMATS, clock=clock)

    return blp


def console_pages() -> dict:
    """What the transcription plugin adds to the console (hook register_console_pages)."""
    entry = {
        "title": "Transcriptions",
        "endpoint": f"{NAME}.TranscriptionListViews",
        "scope": SCOPE,
        "order": 45,
    }
    return {"blueprint": make_pages_blueprint(), "nav": [entry]}
