"""The rtcstats plugin's console pages: sessions with the API's filters, and dump upload.

Mounted by the console plugin (hook register_console_pages) under /console/rtcstats. The list needs
rtcstats:read and the upload page rtcstats:write, as GET /sessions and POST /upload do. The upload page
sends the dump from the browser through the chunked upload API itself (the console's session cookie
authenticates it, with the CSRF header), then follows GET /sessions/{id} until the analysis is done.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from flask import render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.openapi import errors
from plugins.rtcstats import service
from plugins.rtcstats.api import PREFIX as API_PREFIX
from plugins.rtcstats.models import READY, Session
from plugins.rtcstats.schemas import OBSERVATION_TAGS, sessions_query_args
from plugins.rtcstats.viewer import PREFIX as VIEWER_PREFIX

log = logging.getLogger("rtcstats")

READ, WRITE = "rtcstats:read", "rtcstats:write"
PREFIX = "/console/rtcstats"
NAME = "rtcstats_console"
UPLOAD_CHUNK_BYTES = 1024 * 1024  # what the official uploader sends; capped by max_chunk_bytes
BANDS = (("high", "80 – 100"), ("medium", "60 – 79"), ("low", "below 60"), ("unrated", "no media"))
SCORE_FILTERS = {"high": "hasHighScore", "medium": "hasMediumScore", "low": "hasLowScore"}
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
# The filters of GET /sessions that the form offers (all of them), passed through as the API takes them.
FILTER_ARGS = (
    "name",
    "os",
    "browser",
    "browserVersion",
    "userId",
    "conferenceId",
    "sessionId",
    "observationTypes",
    "observationTags",
    "hasCritical",
    "hasHigh",
    "hasMedium",
    "hasLowScore",
    "hasMediumScore",
    "hasHighScore",
)


def _page(template: str, status: int = 200, **context):
    from plugins.console.interface import page

    return page(template, status=status, **context)


def _given_args() -> dict[str, list[str]]:
    """The filters and paging the form sent, empty fields left out (an empty field means no filter)."""
    given = {}
    for name in (*FILTER_ARGS, "offset", "limit"):
        values = [v for v in request.args.getlist(name) if v.strip()]
        if values:
            given[name] = values
    return given


def _query_string(args: dict[str, list[str]], **changes) -> str:
    from urllib.parse import urlencode

    merged = {**args, **{k: [str(v)] for k, v in changes.items()}}
    return urlencode([(k, v) for k, values in merged.items() for v in values])


# -- overview card --------------------------------------------------------------------------------


def _utc_midnight(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def overview_numbers(account_id: int, now: dt.datetime | None = None, days: int = 7) -> dict:
    """Sessions created today (UTC), score bands of the analysed sessions of the last `days` days, and
    the critical observations of the newest sessions that have any."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    today = Session.select().where(Session.account_id == account_id, Session.created_at >= _utc_midnight(now))
    recent = Session.select(Session.experience_score).where(
        Session.account_id == account_id,
        Session.status == READY,
        Session.created_at >= now - dt.timedelta(days=days),
    )
    bands = dict.fromkeys((b for b, _ in BANDS), 0)
    for (score,) in recent.tuples().iterator():
        bands[service.score_band(score)] += 1
    critical = []
    rows = (
        Session.select(Session.rtcstats_id, Session.title, Session.created_at, Session.result)
        .where(Session.account_id == account_id, Session.status == READY, Session.observations_critical > 0)
        .order_by(Session.created_at.desc())
        .limit(5)
    )
    for row in rows:
        try:
            observations = json.loads(row.result).get("observations") or []
        except (TypeError, ValueError):
            continue
        for item in observations:
            if isinstance(item, dict) and item.get("severity") == "critical":
                critical.append(
                    {
                        "type": str(item.get("type") or "observation"),
                        "title": item.get("title"),
                        "session": str(row.rtcstats_id),
                        "sessionTitle": row.title,
                        "createdAt": service.iso(row.created_at),
                    }
                )
    return {"today": today.count(), "bands": bands, "days": days, "critical": critical[:10]}


def _titles() -> dict[str, str]:
    try:
        return {e["type"]: e.get("title") or e["type"] for e in service.observation_catalogue()["data"]}
    except Exception:  # noqa: BLE001 - titles are a nicety; the type is shown instead
        log.exception("console: observation catalogue unavailable")
        return {}


def overview_card(actor) -> str:
    numbers = overview_numbers(actor.account_id)
    total = sum(numbers["bands"].values())
    return render_template(
        "rtcstats/console_card.html",
        numbers=numbers,
        total=total,
        bands=BANDS,
        titles=_titles(),
        viewer=VIEWER_PREFIX + "/view/",
    )


# -- pages ----------------------------------------------------------------------------------------


def make_pages_blueprint() -> Blueprint:
    from core.plugins import plugin_settings

    settings = plugin_settings("rtcstats")
    blp = Blueprint(
        NAME,
        __name__,
        url_prefix=PREFIX,
        template_folder="templates",
        description="Console pages of the rtcstats plugin (HTML): the session list with the API's filters "
        "(rtcstats:read) and dump upload with progress (rtcstats:write).",
    )

    @blp.route("/sessions")
    class SessionListViews(MethodView):
        @require(READ)
        @blp.doc(
            # The API's own filters and paging (an empty form field is no filter: browsers send them)
            parameters=[{"in": "query", "schema": sessions_query_args(settings["sessions_max_limit"])}],
            responses={"200": {"description": "Sessions page", **HTML}},
        )
        @errors(_400="A filter is invalid: the page names it (HTML)")
        def get(self):
            """Sessions of the account, newest first, with the filters of GET /sessions."""
            args = _given_args()
            limit = plugin_settings("console")["list_limit"]
            error, total, items, offset = None, 0, [], 0
            try:
                given = request.args.__class__(args)
                filters = service.parse_filters(given)
                limit, offset = service.parse_paging(
                    given, default_limit=min(limit, settings["sessions_max_limit"])
                )
                total, items = service.list_sessions(current_actor().account_id, filters, limit, offset)
            except service.InvalidRequest as err:
                error = str(err)
            return _page(
                "rtcstats/console_sessions.html",
                status=400 if error else 200,
                error=error,
                args=args,
                items=items,
                total=total,
                offset=offset,
                limit=limit,
                tags=OBSERVATION_TAGS,
                bands=BANDS,
                score_filters=SCORE_FILTERS,
                query=lambda **changes: _query_string(args, **changes),
                viewer=VIEWER_PREFIX + "/view/",
            )

    @blp.route("/upload")
    class UploadViews(MethodView):
        @require(WRITE)
        @blp.doc(responses={"200": {"description": "Upload page", **HTML}})
        def get(self):
            """Upload a dump: drag and drop, chunked upload with progress, then the analysis state."""
            settings = service.settings()
            return _page(
                "rtcstats/console_upload.html",
                api=API_PREFIX,
                chunk_bytes=min(UPLOAD_CHUNK_BYTES, settings["max_chunk_bytes"]),
                max_upload_bytes=settings["max_upload_bytes"],
                viewer=VIEWER_PREFIX + "/view/__ID__",
            )

    return blp


def console_pages() -> dict:
    """What the rtcstats plugin adds to the console (hook register_console_pages)."""
    return {
        "blueprint": make_pages_blueprint(),
        "nav": [
            {"title": "Sessions", "endpoint": f"{NAME}.SessionListViews", "scope": READ, "order": 20},
            {"title": "Upload a dump", "endpoint": f"{NAME}.UploadViews", "scope": WRITE, "order": 21},
        ],
        "panels": [(READ, overview_card)],
    }
