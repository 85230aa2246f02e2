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
import uuid
from collections import Counter

from flask import current_app, jsonify, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.errors import Problem
from core.openapi import errors
from plugins.rtcstats import explorer, service
from plugins.rtcstats.api import PREFIX as API_PREFIX
from plugins.rtcstats.models import LIVE, READY, Session
from plugins.rtcstats.schemas import OBSERVATION_TAGS, sessions_query_args
from plugins.rtcstats.viewer import PREFIX as VIEWER_PREFIX
from plugins.rtcstats.viewer import fmt_offset

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
    return {
        "today": today.count(),
        "bands": bands,
        "days": days,
        "critical": critical[:10],
        **live_now(account_id),
    }


LIVE_SHOWN = 5  # live sessions the overview card names (it counts all)


def live_now(account_id: int) -> dict:
    """{liveCount, live: the newest LIVE_SHOWN live sessions (id, title, facts)}: sockets open now."""
    query = Session.select().where(Session.account_id == account_id, Session.status == LIVE)
    newest = query.order_by(Session.created_at.desc(), Session.id.desc()).limit(LIVE_SHOWN)
    shown = [{"id": str(row.rtcstats_id), "title": row.title, **service.live_facts(row)} for row in newest]
    return {"liveCount": query.count(), "live": shown}


def _titles() -> dict[str, str]:
    return {kind: entry.get("title") or kind for kind, entry in _catalogue().items()}


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


# -- dump explorer --------------------------------------------------------------------------------

EXPLORE_CACHE_SECONDS = 3600
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _own_row(account_id: int, rtcstats_id: str) -> Session:
    """:raises Problem: 404 for a malformed id or another account's session."""
    try:
        wanted = uuid.UUID(str(rtcstats_id))
    except ValueError:
        raise Problem(404, "Not found", "no such session") from None
    row = Session.get_or_none(Session.rtcstats_id == wanted, Session.account_id == account_id)
    if row is None:
        raise Problem(404, "Not found", "no such session")
    if row.status == LIVE:
        raise Problem(
            409,
            "Live session",
            "this session's collector socket is still open: its dump can be explored once it is stored; "
            "its viewer shows what was received so far",
        )
    return row


def _cache_key(row: Session) -> str:
    analysed = row.analyzed_at.isoformat() if row.analyzed_at else "-"
    return f"mediaplane:rtcstats:explore:{row.rtcstats_id}:{analysed}"


def _parse(row: Session):
    """The session's dump, parsed. :raises Problem: 413 when it is too large to parse in a request."""
    from plugins.rtcstats.parsing import parse

    if not service.fits_in_a_request(row):
        raise Problem(
            413,
            "Too large to explore here",
            "this dump expands beyond analyze_inline_max_bytes, too much to parse within a page "
            "request; its analysis and the viewer still work",
        )
    data = service.object_storage().get(row.dump_key)
    service.check_whole(data)
    return parse(data, service.limits())


def explorer_data(row: Session) -> tuple[dict, object | None]:
    """(the explorer's index, the parsed dump or None when the index came from the cache)."""
    from redis.exceptions import RedisError

    redis = current_app.extensions["mediaplane"].redis
    key = _cache_key(row)
    try:
        cached = redis.hget(key, "index")
    except RedisError:
        cached = None
    if cached:
        return json.loads(cached), None
    dump = _parse(row)
    index = explorer.explore(dump)
    try:
        # The series of every stat go in with the index: the page asks for them one by one.
        fields = {"index": json.dumps(index, separators=(",", ":"))}
        for pc in dump.peer_connections.values():
            for track in pc.stats.values():
                fields[f"s:{pc.id}\x00{track.id}"] = json.dumps(
                    explorer.stat_series(track), separators=(",", ":")
                )
        with redis.pipeline() as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, EXPLORE_CACHE_SECONDS)
            pipe.execute()
    except RedisError as err:
        log.warning("explorer: session %s not cached: %s", row.rtcstats_id, err)
    return index, dump


def series_of(row: Session, pc_id: str, stat_id: str) -> dict:
    """{t, props} of one stat. :raises Problem: 404 when the dump has no such stat."""
    from redis.exceptions import RedisError

    try:
        cached = current_app.extensions["mediaplane"].redis.hget(_cache_key(row), f"s:{pc_id}\x00{stat_id}")
    except RedisError:
        cached = None
    if cached:
        return json.loads(cached)
    _index, dump = explorer_data(row)
    dump = dump or _parse(row)
    pc = dump.peer_connections.get(pc_id)
    track = pc.stats.get(stat_id) if pc else None
    if track is None:
        raise Problem(404, "Not found", "the dump has no such stat")
    return explorer.stat_series(track)


def grouped_observations(row: Session) -> list[dict]:
    """The analysis' observations grouped by type: {type, title, severity, count, first, meaning}."""
    if row.status != READY or not row.result:
        return []
    titles = _catalogue()
    groups: dict[str, dict] = {}
    counts: Counter = Counter()
    for item in json.loads(row.result).get("observations") or []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type") or "observation")
        counts[kind] += 1
        entry = titles.get(kind, {})
        group = groups.setdefault(
            kind,
            {
                "type": kind,
                "title": item.get("title") or entry.get("title") or kind,
                "severity": item.get("severity") if item.get("severity") in SEVERITY_RANK else "info",
                "meaning": item.get("meaning") or entry.get("meaning") or "",
                "first": item.get("firstSeenAt"),
            },
        )
        first = item.get("firstSeenAt")
        if isinstance(first, (int, float)) and (group["first"] is None or first < group["first"]):
            group["first"] = first
    out = [{**g, "count": counts[k]} for k, g in groups.items()]
    return sorted(out, key=lambda g: (SEVERITY_RANK[g["severity"]], -g["count"], g["type"]))


def _catalogue() -> dict[str, dict]:
    try:
        return {e["type"]: e for e in service.observation_catalogue()["data"]}
    except Exception:  # noqa: BLE001 - titles are a nicety; the type is shown instead
        log.exception("console: observation catalogue unavailable")
        return {}


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
                explorer=PREFIX + "/sessions/__ID__/explore",
            )

    session_path = [
        {
            "in": "path",
            "name": "rtcstatsId",
            "required": True,
            "description": "The session's id (a UUID; anything else is a 404).",
            "schema": {"type": "string"},
        }
    ]

    @blp.route("/sessions/<string:rtcstatsId>/explore", parameters=session_path)
    class ExplorerViews(MethodView):
        @require(READ)
        @blp.doc(
            parameters=[
                {
                    "in": "query",
                    "name": "category",
                    "required": False,
                    "schema": {
                        "type": "array",
                        "items": {"type": "string", "enum": list(explorer.CATEGORIES)},
                    },
                    "explode": True,
                    "description": "Show only events of these categories (all when absent).",
                }
            ],
            responses={"200": {"description": "Dump explorer page", **HTML}},
        )
        @errors(
            _404="No such session in this account (HTML)",
            _409="The session is live: its dump is not stored yet (HTML)",
            _413="The dump is too large to parse within a page request (HTML)",
            _415="The stored dump cannot be parsed (HTML)",
        )
        def get(self, rtcstatsId):  # noqa: N803 - the API's name
            """Dump explorer: events and states, ICE candidates and pairs, every stat chartable,
            observations grouped with counts."""
            row = _own_row(current_actor().account_id, rtcstatsId)
            index, _dump = explorer_data(row)
            wanted = [c for c in request.args.getlist("category") if c in explorer.CATEGORIES]
            events = [e for e in index["events"] if not wanted or e["category"] in wanted]
            return _page(
                "rtcstats/console_explorer.html",
                row=row,
                index=index,
                events=events,
                wanted=wanted,
                categories=explorer.CATEGORIES,
                observations=grouped_observations(row),
                viewer=VIEWER_PREFIX + "/view/",
                offset=lambda ms: fmt_offset(ms, index["startMs"]),
                assets=VIEWER_PREFIX + "/assets/",
            )

    @blp.route("/sessions/<string:rtcstatsId>/stats", parameters=session_path)
    class StatSeriesViews(MethodView):
        @require(READ)
        @blp.doc(
            parameters=[
                {"in": "query", "name": "pc", "required": True, "schema": {"type": "string"}},
                {"in": "query", "name": "id", "required": True, "schema": {"type": "string"}},
            ],
            responses={
                "200": {
                    "description": "One stat's chartable properties: {t: [epoch ms], props: {name: [..]}}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        )
        @errors(
            _400="pc or id is missing (HTML)",
            _404="No such session, or no such stat in its dump (HTML)",
            _409="The session is live: its dump is not stored yet (HTML)",
            _413="The dump is too large to parse within a request (HTML)",
            _415="The stored dump cannot be parsed (HTML)",
        )
        def get(self, rtcstatsId):  # noqa: N803
            """The series of one stat of the dump (the explorer page charts them)."""
            pc_id, stat_id = request.args.get("pc"), request.args.get("id")
            if not pc_id or not stat_id:
                raise Problem(400, "Invalid request", "pc and id: name the peer connection and the stat")
            row = _own_row(current_actor().account_id, rtcstatsId)
            response = jsonify(series_of(row, pc_id, stat_id))
            response.headers["Cache-Control"] = "no-store"
            return response

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
