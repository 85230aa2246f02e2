"""Session viewer of the rtcstats plugin: /rtcstats/view/<id> and /rtcstats/embed/<id> (HTML with charts).

These are the pages behind rtcstatsUrl and embedUrl. A browser cannot send an API key by itself, so a
page is authorised either by the usual credentials (X-API-Key, Authorization: Bearer or Basic, with
rtcstats:read) or by a signed, expiring `?token=` that binds one session of one account (see
`viewer_token`; the REST layer appends it to the URLs it hands out). Another account's session, a token
for another session and a malformed id all answer 404.

Key numbers, scores and observations are rendered on the server; the charts are drawn in the browser
by uPlot (vendored in static/, MIT, see static/uPlot.LICENSE) from per-interval series embedded in the
page. The stored analysis carries no series, so they are measured again from the stored dump
(parsing + analysis.metrics) and cached in Redis for an hour per analyzer version.

A live session (its collector socket still open) shows what was received so far and reloads itself
until it is analysed (viewer_live.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from pathlib import Path

from flask import Response, current_app, render_template, request, send_from_directory
from flask.views import MethodView
from flask_smorest import Blueprint
from itsdangerous import BadSignature, SignatureExpired

from core.auth import current_actor
from core.errors import Dialect, Problem
from core.openapi import errors
from core.storage import ObjectNotFound
from plugins.rtcstats import service
from plugins.rtcstats.conventions import unrated
from plugins.rtcstats.models import Session
from plugins.rtcstats.viewer_series import CONNECTION_METRICS, STREAM_METRICS, timeseries_of
from plugins.rtcstats.viewer_tokens import (  # noqa: F401 - viewer_token, signed_url: the viewer's API
    TOKEN_MAX_AGE_SECONDS,
    TOKEN_PARAM,
    read_token,
    signed_url,
    viewer_token,
)

log = logging.getLogger("rtcstats")

PREFIX = "/rtcstats"
SCOPE = "rtcstats:read"
STATIC_DIR = Path(__file__).parent / "static"
SERIES_CACHE_SECONDS = 3600
SERIES_VERSION = 1  # bump when timeseries_of changes shape or content (cache key)

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


# -- authorisation --------------------------------------------------------------------------------


def _not_found() -> Problem:
    return Problem(404, "Not found", "no such session")


def _account_from_token(token: str, rtcstats_id: str, max_age: int) -> int:
    try:
        payload = read_token(token, max_age)
    except SignatureExpired:
        raise Problem(
            401, "Link expired", "this viewer link has expired; get a fresh rtcstatsUrl from the API"
        ) from None
    except BadSignature:
        raise Problem(401, "Unauthorized", "the viewer link is not valid") from None
    if (
        not isinstance(payload, dict)
        or payload.get("s") != rtcstats_id
        or not isinstance(payload.get("a"), int)
    ):
        raise _not_found()
    if payload.get("k"):
        from core.models import ApiKey

        active = ApiKey.select().where(ApiKey.key_id == payload["k"], ApiKey.revoked_at.is_null()).exists()
        if not active:
            raise Problem(401, "Unauthorized", "the key that made this viewer link was revoked")
    return payload["a"]


def authorised_account(rtcstats_id: str, settings: dict) -> int:
    """The account whose session may be shown: from ?token=, else from the request's credentials."""
    token = request.args.get(TOKEN_PARAM)
    if token:
        max_age = settings.get("viewer_token_max_age_seconds", TOKEN_MAX_AGE_SECONDS)
        return _account_from_token(token, rtcstats_id, max_age)
    actor = current_actor()  # 401 without credentials
    if not actor.has_scope(SCOPE):
        raise Problem(403, "Forbidden", f"this key lacks the '{SCOPE}' scope")
    return actor.account_id


def _cache_key(row: Session) -> str:
    analysed = row.analyzed_at.isoformat() if row.analyzed_at else "-"
    version = f"{SERIES_VERSION}:{row.processor_version}:{analysed}"
    return f"mediaplane:rtcstats:timeseries:{row.rtcstats_id}:{version}"


def stored_timeseries(account_id: int, rtcstats_id: str) -> dict | None:
    """The timeseries block of a stored session, measured from its dump (cached); None if it cannot
    be measured (dump missing or unreadable: the page then shows no charts, the rest still works)."""
    from redis.exceptions import RedisError

    row = Session.get_or_none(Session.rtcstats_id == uuid.UUID(rtcstats_id), Session.account_id == account_id)
    if row is None:
        return None
    redis = current_app.extensions["mediaplane"].redis
    key = _cache_key(row)
    try:
        cached = redis.get(key)
    except RedisError:
        cached = None
    if cached:
        return json.loads(cached)
    try:
        if not service.fits_in_a_request(row):
            # A big dump is measured by a job (the page shows no charts until it is done), never
            # in the web worker that serves the page.
            service.enqueue_once("rtcstats.measure_series", row.rtcstats_id)
            return None
    except (RedisError, ObjectNotFound) as err:
        log.warning("viewer: series of session %s not queued: %s", rtcstats_id, err)
        return None
    return measure_series(row)


def measure_series(row: Session) -> dict | None:
    """Measure the timeseries block of a session from its stored dump and cache it; None if it
    cannot be measured (dump missing or unreadable)."""
    from redis.exceptions import RedisError

    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge, parse

    try:
        data = service.object_storage().get(row.dump_key)
        service.check_whole(data)  # a failed session's dump may be a bomb: refused before parse()
        block = timeseries_of(compute_metrics(parse(data, service.limits())))
    except (DumpFormatError, DumpTooLarge) as err:
        log.warning("viewer: no series for session %s: %s", row.rtcstats_id, err)
        return None
    except Exception:  # noqa: BLE001 - the page is still useful without charts
        log.exception("viewer: measuring the series of session %s failed", row.rtcstats_id)
        return None
    try:
        redis = current_app.extensions["mediaplane"].redis
        redis.set(_cache_key(row), json.dumps(block, separators=(",", ":")), ex=SERIES_CACHE_SECONDS)
    except RedisError:
        pass
    return block


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt_duration(ms) -> str:
    if not _number(ms):
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    return f"{minutes} min {secs} s"


def fmt_score(value, scale: int) -> str:
    if not _number(value):
        return "—"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} / {scale}"


def _epoch_ms(iso_text) -> float | None:
    if not isinstance(iso_text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp() * 1000


def fmt_moment(iso_text) -> str:
    """An ISO time as "2026-02-03 09:14:50 UTC"."""
    ms = _epoch_ms(iso_text)
    if ms is None:
        return str(iso_text) if iso_text else "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_offset(ms, start_ms) -> str | None:
    """Time of an event as +m:ss from the call start."""
    if not _number(ms) or not _number(start_ms):
        return None
    seconds = max(0, int((ms - start_ms) // 1000))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}" if hours else f"+{minutes}:{secs:02d}"


def _titles() -> dict[str, dict]:
    try:
        return {entry["type"]: entry for entry in service.observation_catalogue()["data"]}
    except Exception:  # noqa: BLE001 - titles are a nicety; the type is shown instead
        log.exception("viewer: observation catalogue unavailable")
        return {}


def _humanize(type_name: str) -> str:
    words, word = [], ""
    for char in str(type_name):
        if char.isupper() and word and not word[-1].isupper():
            words.append(word)
            word = char
        else:
            word += char
    words.append(word)
    return " ".join(words).strip().capitalize() or "Observation"


def _observations(data: dict, start_ms) -> list[dict]:
    titles = _titles()
    out = []
    for item in data.get("observations") or []:
        if not isinstance(item, dict):
            continue
        type_name = str(item.get("type") or "")
        entry = titles.get(type_name, {})
        source = item.get("source") if isinstance(item.get("source"), dict) else {}
        where = " · ".join(f"{k} {v}" for k, v in source.items() if k in ("pid", "sid", "cpid", "labelId"))
        out.append(
            {
                "type": type_name,
                "title": item.get("title") or entry.get("title") or _humanize(type_name),
                "severity": item.get("severity") if item.get("severity") in SEVERITY_ORDER else "info",
                "meaning": item.get("meaning") or entry.get("meaning") or "",
                "tags": [t for t in item.get("tags") or [] if isinstance(t, str)],
                "at": fmt_offset(item.get("firstSeenAt"), start_ms),
                "where": where,
            }
        )
    return out


def _stream_title(stream_id: str, info: dict, details: dict) -> str:
    parts = [str(info.get("direction") or details.get("direction") or ""), str(info.get("kind") or "")]
    codec = info.get("codec") or details.get("codec")
    if codec:
        parts.append(str(codec).split("/")[-1])
    ssrc = info.get("ssrc") or details.get("ssrc")
    if ssrc:
        parts.append(f"ssrc {ssrc}")
    height = details.get("frameHeight")
    if _number(height):
        parts.append(f"{int(height)}p")
    return " · ".join(p for p in parts if p) or stream_id


def view_model(session: dict, timeseries: dict | None) -> dict:
    """What the template shows, from a GET /sessions/{id} body and the timeseries block."""
    data = session.get("data") or {}
    abstract = service.abstract_of(data)
    start_ms = _epoch_ms(data.get("callStart"))
    if start_ms is None and timeseries:
        start_ms = timeseries.get("startMs")
    browser = " ".join(p for p in (abstract["browser"], abstract["browserVersion"]) if p) or "—"
    system = " ".join(p for p in (abstract["os"], abstract["osVersion"]) if p) or "—"
    numbers = [
        ("Duration", fmt_duration(data.get("durationMs")), "duration"),
        ("Start", fmt_moment(data.get("callStart")), "start"),
        ("Connectivity", data.get("connectivity") or "—", "connectivity"),
        ("Browser", browser, "browser"),
        ("Operating system", system, "os"),
        ("Peer connections", str(data.get("pConnectionsNumber", "—")), "pcs"),
    ]
    scores = [
        # "Not rated" rather than "0 / 100": without audio or video there was nothing to score.
        (
            "Experience",
            "not rated" if unrated(data) else fmt_score(data.get("experienceScore"), 100),
            "experienceScore",
        ),
        ("Audio", fmt_score(data.get("audioScore"), 5), "audioScore"),
        ("Video", fmt_score(data.get("videoScore"), 5), "videoScore"),
        ("Connectivity", fmt_score(data.get("connectivityScore"), 5), "connectivityScore"),
        ("Observations", fmt_score(data.get("observationsScore"), 40), "observationsScore"),
    ]
    observations = _observations(data, start_ms)
    counts = {s: sum(1 for o in observations if o["severity"] == s) for s in SEVERITY_ORDER}
    pcs = data.get("pConnections") if isinstance(data.get("pConnections"), dict) else {}
    stream_details = data.get("streams") if isinstance(data.get("streams"), dict) else {}
    series = timeseries or {}
    connections = []
    for pc_id, info in (series.get("connections") or {}).items():
        details = pcs.get(pc_id) if isinstance(pcs.get(pc_id), dict) else {}
        connectivity = details.get("connectivity")
        kind = connectivity.get("type") if isinstance(connectivity, dict) else None
        state = "failed" if details.get("failed") else "connected" if details.get("connected") else None
        subtitle = " · ".join(p for p in (state, kind, info.get("pair")) if p)
        metrics = [(key, label, unit) for key, _, label, unit in CONNECTION_METRICS if key in info["series"]]
        connections.append({"id": pc_id, "subtitle": subtitle, "metrics": metrics})
    tracks = []
    for stream_id, info in (series.get("streams") or {}).items():
        details = stream_details.get(stream_id) if isinstance(stream_details.get(stream_id), dict) else {}
        metrics = [(key, label, unit) for key, _, label, unit in STREAM_METRICS if key in info["series"]]
        tracks.append(
            {
                "id": stream_id,
                "title": _stream_title(stream_id, info, details),
                "pc": info.get("pid"),
                "metrics": metrics,
            }
        )
    return {
        "id": session.get("rtcstatsId"),
        "title": data.get("title") or "untitled",
        "file_name": data.get("fileName"),
        "created_at": data.get("created_at"),
        "processor_version": session.get("processorVersion"),
        "numbers": numbers,
        "summary": data.get("ruleSummary") if isinstance(data.get("ruleSummary"), str) else None,
        "scores": scores,
        "observations": observations,
        "counts": counts,
        "connections": connections,
        "tracks": tracks,
        "has_series": bool(connections or tracks),
        "series": {"startMs": start_ms, **{k: v for k, v in series.items() if k != "startMs"}},
    }


def _security_headers(response: Response, embed: bool) -> Response:
    frame = "*" if embed else "'self'"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {frame}"
    )
    # The token is in the URL: keep it out of Referer headers, caches and search engines.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def render_session(rtcstats_id: str, settings: dict, embed: bool) -> Response:
    try:
        rtcstats_id = str(uuid.UUID(rtcstats_id))
    except ValueError:
        raise _not_found() from None
    account_id = authorised_account(rtcstats_id, settings)
    live = None
    try:
        session = service.get_session(account_id, rtcstats_id)
    except (service.NotFound, service.InvalidRequest):
        raise _not_found() from None
    except service.SessionLive:
        from plugins.rtcstats.viewer_live import live_session

        row = Session.get_or_none(
            Session.rtcstats_id == uuid.UUID(rtcstats_id), Session.account_id == account_id
        )
        if row is None:
            raise _not_found() from None
        session, timeseries, live = live_session(row, service.settings())
    if live is None:
        data = session.get("data") or {}
        timeseries = data.get("timeseries") if isinstance(data.get("timeseries"), dict) else None
        if timeseries is None:
            timeseries = stored_timeseries(account_id, rtcstats_id)
    html = render_template(
        "rtcstats_viewer.html",
        view=view_model(session, timeseries),
        embed=embed,
        explore=None if live else _explore_url(rtcstats_id),
        live=live,
    )
    return _security_headers(Response(html, content_type="text/html; charset=utf-8"), embed)


def _explore_url(rtcstats_id: str) -> str | None:
    """The console's dump explorer of the session, when the console is enabled (it asks for sign-in)."""
    from flask import url_for

    if "rtcstats_console" not in current_app.blueprints:
        return None
    return url_for("rtcstats_console.ExplorerViews", rtcstatsId=rtcstats_id)


class ViewerDialect(Dialect):
    """Errors of the viewer as a small HTML page (people read them), with the usual status."""

    content_type = "text/html; charset=utf-8"
    schema_name = "HtmlErrorPage"
    schema = {"type": "string", "description": "A small HTML page naming the problem."}

    def render(self, problem: Problem) -> Response:
        pending = problem.error_code == "analysis_pending" or problem.status == 409
        html = render_template(
            "rtcstats_viewer_error.html",
            status=problem.status,
            title=problem.title,
            detail=problem.detail,
            pending=pending,
        )
        response = Response(html, status=problem.status, content_type=self.content_type)
        for name, value in problem.extra_headers.items():
            response.headers[name] = value
        return _security_headers(response, embed=True)


PAGE_DOC = {
    "parameters": [
        {
            "in": "query",
            "name": TOKEN_PARAM,
            "schema": {"type": "string"},
            "description": "Signed viewer token (from the URLs the API hands out); else send an API key.",
        }
    ],
    "responses": {
        "200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
    },
}
page_errors = errors(
    _401="No credentials, or an invalid or expired token (HTML)",
    _403="The key lacks rtcstats:read (HTML)",
    _404="No such session in this account (HTML)",
    _409="The session is still being analysed; the page reloads (HTML)",
    _422="The dump could not be analysed (HTML)",
    _503="The database is unavailable or busy (HTML)",
)


VIEWER_PATH = [
    {
        "in": "path",
        "name": "rtcstatsId",
        "required": True,
        "description": "The session's id (a UUID; anything else is a 404).",
        "schema": {"type": "string", "format": "uuid"},
    }
]


def make_viewer_blueprint(settings: dict) -> Blueprint:
    """The viewer pages under /rtcstats (the paths of rtcstatsUrl and embedUrl) and their assets."""
    blp = Blueprint(
        "rtcstats_viewer",
        __name__,
        url_prefix=PREFIX,
        template_folder="templates",
        description="Session viewer pages (HTML): key numbers, scores, observations, and per-connection and "
        "per-track charts. Authorised by an API key with rtcstats:read or by the signed `token` that the "
        "API's rtcstatsUrl/embedUrl carry.",
    )
    blp.error_dialect = ViewerDialect()

    @blp.route("/view/<string:rtcstatsId>", parameters=VIEWER_PATH)
    class ViewViews(MethodView):
        @blp.doc(security=[{"ApiKey": []}, {"Bearer": []}, {"Basic": []}, {}], **PAGE_DOC)
        @page_errors
        def get(self, rtcstatsId):  # noqa: N803 - the contract's name
            """The session viewer page (rtcstatsUrl)."""
            return render_session(rtcstatsId, settings, embed=False)

    @blp.route("/embed/<string:rtcstatsId>", parameters=VIEWER_PATH)
    class EmbedViews(MethodView):
        @blp.doc(security=[{"ApiKey": []}, {"Bearer": []}, {"Basic": []}, {}], **PAGE_DOC)
        @page_errors
        def get(self, rtcstatsId):  # noqa: N803
            """The session viewer for an iframe (embedUrl): no page chrome, may be framed by any site."""
            return render_session(rtcstatsId, settings, embed=True)

    @blp.route("/assets/<path:filename>")
    class AssetViews(MethodView):
        @blp.doc(security=[], responses={"200": {"description": "A script, style sheet or license file"}})
        @errors(_404="No such asset (HTML)")
        def get(self, filename):
            """The viewer's script and style, and the vendored uPlot chart library (no CDN)."""
            response = send_from_directory(STATIC_DIR, filename, max_age=86400)
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response

    return blp
