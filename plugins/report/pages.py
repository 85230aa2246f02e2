"""The report plugin's console pages: live and recent rooms, and a room page with per-user charts.

Mounted by the console plugin (hook register_console_pages) under /console/report. The pages need
report:read, as GET /report/rooms and /report/history do, and read only the caller's account.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

from flask import jsonify, render_template
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.openapi import errors
from plugins.report.models import Room, Sample
from plugins.report.service import get_room

SCOPE = "report:read"
PREFIX = "/console/report"
MAX_POINTS = 600  # per chart line: more points than pixels only make the page heavier
# Chart metrics of a user: (key, label, unit). Values per report time: bitrate summed over the user's
# streams (video + audio), loss the worst stream's, RTT and jitter the mean, frame rate the best video.
METRICS = (
    ("bitrate", "Bitrate", "kbps"),
    ("loss", "Packet loss", "%"),
    ("rtt", "Round-trip time", "ms"),
    ("jitter", "Jitter", "ms"),
    ("fps", "Frame rate", "fps"),
)


# -- data (no Flask) ------------------------------------------------------------------------------


def room_summaries(account_id: int, live_window: int, limit: int, now: float | None = None) -> list[dict]:
    """The account's rooms, most recently reported first: {room_id, live, last_seen_at, first_seen_at,
    active_since}; a room is live while it reported within `live_window` seconds."""
    now = time.time() if now is None else now
    rooms = (
        Room.select()
        .where(Room.account_id == account_id)
        .order_by(Room.last_seen_at.desc(), Room.room_id)
        .limit(limit)
    )
    return [
        {
            "room_id": room.room_id,
            "live": room.last_seen_at >= now - live_window,
            "last_seen_at": room.last_seen_at,
            "active_since": room.active_since,
            "first_seen_at": room.first_seen_at,
        }
        for room in rooms
    ]


def live_room_count(account_id: int, live_window: int, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return Room.select().where(Room.account_id == account_id, Room.last_seen_at >= now - live_window).count()


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _thin(times: list[int], values: list[float]) -> dict:
    """{t, v}, averaged into at most MAX_POINTS buckets."""
    if len(times) > MAX_POINTS:
        size = math.ceil(len(times) / MAX_POINTS)
        times = [times[min(i + size, len(times)) - 1] for i in range(0, len(times), size)]
        values = [_mean(values[i : i + size]) for i in range(0, len(values), size)]
    return {"t": times, "v": [round(v, 2) if v is not None else None for v in values]}


def user_series(account_id: int, room_id: str, since: int) -> dict[str, dict]:
    """Per user of the room, per chart metric, {t: [report_time], v: [value]} since `since` (Unix s).

    :raises NotFound: the account has no such room.
    """
    get_room(account_id, room_id)
    rows = (
        Sample.select(
            Sample.user_id,
            Sample.report_time,
            Sample.video_bitrate,
            Sample.audio_bitrate,
            Sample.packet_loss,
            Sample.rtt,
            Sample.jitter,
            Sample.frame_rate,
        )
        .where(Sample.account_id == account_id, Sample.room_id == room_id, Sample.report_time >= since)
        .order_by(Sample.report_time, Sample.id)
        .tuples()
    )
    # user -> report_time -> lists of the streams' values
    grouped: dict[str, dict[int, dict[str, list]]] = defaultdict(dict)
    for user, at, video_kbps, audio_kbps, loss, rtt, jitter, fps in rows:
        point = grouped[user].setdefault(at, {key: [] for key, _, _ in METRICS})
        if video_kbps is not None or audio_kbps is not None:
            point["bitrate"].append((video_kbps or 0) + (audio_kbps or 0))
        for key, value in (("loss", loss), ("rtt", rtt), ("jitter", jitter), ("fps", fps)):
            if value is not None and math.isfinite(value):
                point[key].append(value)
    combine = {"bitrate": sum, "loss": max, "rtt": _mean, "jitter": _mean, "fps": max}
    out: dict[str, dict] = {}
    for user, points in grouped.items():
        series = {}
        for key, _, _ in METRICS:
            times = [at for at in sorted(points) if points[at][key]]
            if times:
                series[key] = _thin(times, [combine[key](points[at][key]) for at in times])
        out[user] = series
    return out


# -- pages ----------------------------------------------------------------------------------------


def _settings() -> tuple[dict, dict]:
    from core.plugins import plugin_settings

    return plugin_settings("report"), plugin_settings("console")


def _page(template: str, **context):
    from plugins.console.interface import page

    return page(template, **context)


ROOM_ID = [
    {
        "in": "path",
        "name": "room_id",
        "required": True,
        "description": "The room's id as reported.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }
]
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


def make_pages_blueprint() -> Blueprint:
    blp = Blueprint(
        "report_console",
        __name__,
        url_prefix=PREFIX,
        template_folder="templates",
        description="Console pages of the report plugin (HTML): rooms and per-user charts. report:read.",
    )

    @blp.route("/rooms")
    class RoomListViews(MethodView):
        @require(SCOPE)
        @blp.doc(responses={"200": {"description": "Rooms page", **HTML}})
        def get(self):
            """Live and recent rooms of the account."""
            report, console = _settings()
            account_id = current_actor().account_id
            rooms = room_summaries(account_id, report["live_window_seconds"], console["list_limit"])
            return _page("report/console_rooms.html", rooms=rooms, now=time.time())

    @blp.route("/rooms/<string:room_id>", parameters=ROOM_ID)
    class RoomViews(MethodView):
        @require(SCOPE)
        @blp.doc(responses={"200": {"description": "Room page with per-user charts", **HTML}})
        @errors(_404="No such room in this account (HTML)")
        def get(self, room_id):
            """A room: per-user charts of bitrate, loss, RTT, jitter and frame rate over time."""
            report, console = _settings()
            room = get_room(current_actor().account_id, room_id)
            live = room.last_seen_at >= time.time() - report["live_window_seconds"]
            return _page(
                "report/console_room.html",
                room=room,
                live=live,
                window_minutes=console["chart_window_seconds"] // 60,
                refresh_seconds=console["refresh_seconds"],
            )

    @blp.route("/rooms/<string:room_id>/series", parameters=ROOM_ID)
    class RoomSeriesViews(MethodView):
        @require(SCOPE)
        @blp.doc(
            responses={
                "200": {
                    "description": "The charts' data: {live, metrics: [{key, label, unit}], users: "
                    "{user: {metric: {t: [Unix s], v: [..]}}}}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            }
        )
        @errors(_404="No such room in this account (HTML)")
        def get(self, room_id):
            """The room page's chart data (the page polls it while the room is live)."""
            report, console = _settings()
            account_id = current_actor().account_id
            now = time.time()
            room = get_room(account_id, room_id)
            users = user_series(account_id, room_id, int(now) - console["chart_window_seconds"])
            response = jsonify(
                live=room.last_seen_at >= now - report["live_window_seconds"],
                metrics=[{"key": k, "label": label, "unit": unit} for k, label, unit in METRICS],
                users=users,
            )
            response.headers["Cache-Control"] = "no-store"
            return response

    return blp


def overview_card(actor) -> str:
    """The overview's card: how many rooms are live, the newest few."""
    report, _console = _settings()
    rooms = room_summaries(actor.account_id, report["live_window_seconds"], 8)
    live = live_room_count(actor.account_id, report["live_window_seconds"])
    return render_template("report/console_card.html", rooms=rooms, live=live, now=time.time())


def console_pages() -> dict:
    """What the report plugin adds to the console (hook register_console_pages)."""
    return {
        "blueprint": make_pages_blueprint(),
        "nav": [{"title": "Rooms", "endpoint": "report_console.RoomListViews", "scope": SCOPE, "order": 10}],
        "panels": [(SCOPE, overview_card)],
    }
