"""The recording plugin's console page: the account's recordings with their state, file and download.

Mounted by the console plugin (hook register_console_pages) under /console/recording. It needs
recording:admin, as GET /v1/recordings does, and reads only the caller's account; its download links
are the API's route, which the console's session cookie authenticates for GET.
"""

from __future__ import annotations

import time

from flask import render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.errors import Problem
from core.openapi import errors
from plugins.recording.models import Recording
from plugins.recording.statuses import RUNNING, STATUSES

SCOPE = "recording:admin"
PREFIX = "/console/recording"
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


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


def _page(template: str, **context):
    from plugins.console.interface import page

    return page(template, **context)


def make_pages_blueprint() -> Blueprint:
    blp = Blueprint(
        "recording_console",
        __name__,
        url_prefix=PREFIX,
        template_folder="templates",
        description="Console page of the recording plugin (HTML): the account's recordings. recording:admin.",
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
                "endpoint": "recording_console.RecordingListViews",
                "scope": SCOPE,
                "order": 30,
            }
        ],
        "panels": [(SCOPE, overview_card)],
    }
