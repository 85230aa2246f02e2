"""Calls, peers and tracks of the analytics plugin: writes from events, and the read layer.

Read layer (for the HTTP modules of this plugin: peer-stats here, the Agora-style routes beside it).
Every function takes the caller's account id and never returns another account's rows; times are
epoch seconds, bitrates bps, loss percent, rtt/jitter ms:

* calls_between(account_id, since, until, room_name=None, limit=None) - calls overlapping a window;
* get_call(account_id, call_id) - one call by its public id (:raises NotFound:);
* call_peers(account_id, call_pk) - its peers: join/leave times, platform, sdk, network, ...;
* get_peer(account_id, call_pk, peer_id) - one peer by its public id (:raises NotFound:);
* peer_tracks(account_id, peer_pks) - their tracks (kind, direction, type, rid, remote user);
* track_minutes(account_id, call_pk, peer_pks=None, since=None, until=None) - per-minute rollups of
  tracks (report samples: bitrate, fps, loss, rtt, jitter, freezes, concealment, excellent time);
* peer_minutes(account_id, call_pk, ...) - the same summed/averaged per peer, kind and direction;
* account_minutes(account_id, since, until) - per-minute scale/joins/freezes/transmission rollups;
* account_days(account_id, since, until) - per-day users, sessions, channels.

Rollups are written by jobs (plugins.analytics.rollup); nothing here reads raw samples.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Iterable

import peewee

from core.db import db, write_atomic
from plugins.analytics import metrics
from plugins.analytics.models import AccountDay, AccountMinute, Call, Peer, Track, TrackMinute

MAX_UID = 2**32 - 1  # Agora uids are unsigned 32-bit


class AnalyticsError(Exception):
    """Base of the analytics plugin's domain errors."""


class NotFound(AnalyticsError):
    """No such call, session or peer in this account."""


class NotEnded(AnalyticsError):
    """The session is still running and the caller asked for ended sessions only."""


# -- ids ------------------------------------------------------------------------------------------


def new_call_id() -> str:
    return uuid.uuid4().hex[:24]  # 24 hex digits, the shape of 100ms and Agora ids


def numeric_uid(user_id: str) -> int:
    """Agora's numeric uid of a user: the id itself when it is a uint32, else a stable CRC-32 of it."""
    if user_id.isascii() and user_id.isdigit() and int(user_id) <= MAX_UID:
        return int(user_id)
    return zlib.crc32(user_id.encode())


def _add_source(current: str, source: str) -> str:
    parts = [p for p in current.split(",") if p]
    return ",".join(sorted({*parts, source}))


# -- writes (events and jobs) ---------------------------------------------------------------------


def open_call(account_id: int, room_name: str, at: float, source: str) -> Call:
    """The running call of the room, opened at `at` when there is none; its activity is touched."""
    with write_atomic():
        call = Call.get_or_none(Call.account_id == account_id, Call.open_key == room_name)
        if call is None:
            Call.insert(
                account_id=account_id,
                call_id=new_call_id(),
                room_name=room_name,
                open_key=room_name,
                started_at=at,
                last_activity_at=at,
                sources=source,
            ).on_conflict_ignore().execute()
            call = Call.get(Call.account_id == account_id, Call.open_key == room_name)
            metrics.call_opened(source)
        changes = {}
        if at > call.last_activity_at:
            changes["last_activity_at"] = at
        if at < call.started_at:
            changes["started_at"] = at
        if source not in call.sources.split(","):
            changes["sources"] = _add_source(call.sources, source)
        if changes:
            Call.update(**changes).where(Call.id == call.id).execute()
            for name, value in changes.items():
                setattr(call, name, value)
    return call


def running_call(account_id: int, room_name: str) -> Call | None:
    return Call.get_or_none(Call.account_id == account_id, Call.open_key == room_name)


def latest_call(account_id: int, room_name: str, ended_since: float) -> Call | None:
    """The room's most recent call that ended at or after `ended_since`, if any."""
    return (
        Call.select()
        .where(Call.account_id == account_id, Call.room_name == room_name, Call.ended_at >= ended_since)
        .order_by(Call.started_at.desc())
        .first()
    )


def finish_call(call: Call, ended_at: float) -> None:
    """End a call: it leaves the room's open slot, and its peers still present leave with it."""
    with write_atomic():
        Call.update(
            finished=True, open_key=None, ended_at=ended_at, livekit_active=False, final_roll_due=True
        ).where(
            Call.id == call.id,
            Call.finished == False,  # noqa: E712 - peewee expression
        ).execute()
        Peer.update(left_at=peewee.fn.COALESCE(Peer.last_seen_at, ended_at)).where(
            Peer.call == call.id, Peer.left_at.is_null()
        ).execute()
        # A peer seen last after its call ended (clock skew) leaves when the call does.
        Peer.update(left_at=ended_at).where(Peer.call == call.id, Peer.left_at > ended_at).execute()


def set_livekit_active(call: Call, active: bool) -> None:
    Call.update(livekit_active=active).where(Call.id == call.id).execute()


def peer_of(call: Call, user_id: str, source: str) -> Peer:
    """The peer of `user_id` in the call, created on first sight."""
    peer = Peer.get_or_none(Peer.call == call.id, Peer.user_id == user_id)
    if peer is None:
        Peer.insert(
            account_id=call.account_id,
            call=call.id,
            peer_id=str(uuid.uuid4()),
            sid=uuid.uuid4().hex.upper(),
            user_id=user_id,
            uid=numeric_uid(user_id),
            sources=source,
        ).on_conflict_ignore().execute()
        peer = Peer.get(Peer.call == call.id, Peer.user_id == user_id)
    elif source not in peer.sources.split(","):
        peer.sources = _add_source(peer.sources, source)
        Peer.update(sources=peer.sources).where(Peer.id == peer.id).execute()
    return peer


def peer_joined(call: Call, user_id: str, joined_at: float, source: str) -> Peer:
    with write_atomic():
        peer = peer_of(call, user_id, source)
        joined = joined_at if peer.joined_at is None else min(peer.joined_at, joined_at)
        # A rejoin of a peer that had left makes it present again (one peer per user and call).
        Peer.update(joined_at=joined, left_at=None).where(Peer.id == peer.id).execute()
        peer.joined_at, peer.left_at = joined, None
    return peer


def peer_left(call: Call, user_id: str, left_at: float, source: str) -> None:
    with write_atomic():
        peer = peer_of(call, user_id, source)
        Peer.update(left_at=left_at, last_seen_at=peewee.fn.COALESCE(Peer.last_seen_at, left_at)).where(
            Peer.id == peer.id
        ).execute()


def track_of(
    peer: Peer,
    source: str,
    key: str,
    kind: str,
    direction: str,
    *,
    type_: str = "regular",
    rid: str | None = None,
    remote_user_id: str | None = None,
    public_id: str | None = None,
) -> Track:
    """The peer's track (source, key, kind, direction), created on first sight."""
    where = (
        (Track.peer == peer.id)
        & (Track.source == source)
        & (Track.key == key)
        & (Track.kind == kind)
        & (Track.direction == direction)
    )
    track = Track.get_or_none(where)
    if track is None:
        Track.insert(
            account_id=peer.account_id,
            call=peer.call_id,
            peer=peer.id,
            track_id=public_id or str(uuid.uuid4()),
            source=source,
            key=key,
            kind=kind,
            direction=direction,
            type=type_,
            rid=rid,
            remote_user_id=remote_user_id,
        ).on_conflict_ignore().execute()
        track = Track.get(where)
    return track


# -- reads ----------------------------------------------------------------------------------------


def call_dict(call: Call) -> dict:
    return {
        "pk": call.id,
        "call_id": call.call_id,
        "room_name": call.room_name,
        "started_at": call.started_at,
        "ended_at": call.ended_at,
        "finished": call.finished,
        "sources": [s for s in call.sources.split(",") if s],
    }


def calls_between(
    account_id: int,
    since: float,
    until: float,
    room_name: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Calls of the account running at some time in [since, until), newest start first.

    Each: {pk, call_id, room_name, started_at, ended_at (None while running), finished, sources}.
    Ask for limit + 1 to learn whether there are more.
    """
    query = Call.select().where(
        Call.account_id == account_id,
        Call.started_at < until,
        (Call.ended_at.is_null()) | (Call.ended_at >= since),
    )
    if room_name is not None:
        query = query.where(Call.room_name == room_name)
    query = query.order_by(Call.started_at.desc(), Call.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [call_dict(c) for c in query]


def get_call(account_id: int, call_id: str) -> dict:
    """One call by its public id. :raises NotFound: no such call in this account."""
    call = Call.get_or_none(Call.account_id == account_id, Call.call_id == call_id)
    if call is None:
        raise NotFound(f"session '{call_id}' not found")
    return call_dict(call)


def _peer_dict(peer: Peer, call_finished: bool) -> dict:
    return {
        "pk": peer.id,
        "peer_id": peer.peer_id,
        "sid": peer.sid,
        "user_id": peer.user_id,
        "uid": peer.uid,
        "join_started_at": peer.join_started_at,
        "joined_at": peer.joined_at,
        "left_at": peer.left_at,
        "last_seen_at": peer.last_seen_at,
        "finished": call_finished or peer.left_at is not None,
        "platform": peer.platform,
        "os": peer.os,
        "browser": peer.browser,
        "sdk_version": peer.sdk_version,
        "network": peer.network,
        "device_type": peer.device_type,
        "rtcstats_id": peer.rtcstats_id,
        "sources": [s for s in peer.sources.split(",") if s],
    }


def call_peers(account_id: int, call_pk: int) -> list[dict]:
    """Peers of a call, latest join first: {pk, peer_id, sid, user_id, uid, join_started_at, joined_at,
    left_at, last_seen_at, finished (left or call ended), platform, os, browser, sdk_version, network,
    device_type, rtcstats_id (analysed dump of this user, for its observations), sources}."""
    call = Call.get_or_none(Call.account_id == account_id, Call.id == call_pk)
    if call is None:
        return []
    peers = Peer.select().where(Peer.account_id == account_id, Peer.call == call_pk)
    out = [_peer_dict(p, call.finished) for p in peers]
    out.sort(key=lambda p: (p["joined_at"] or p["join_started_at"] or 0, p["pk"]), reverse=True)
    return out


def get_peer(account_id: int, call_pk: int, peer_id: str) -> dict:
    """One peer of a call by its public peer_id. :raises NotFound: not a peer of this call."""
    call = Call.get_or_none(Call.account_id == account_id, Call.id == call_pk)
    peer = Peer.get_or_none(Peer.account_id == account_id, Peer.call == call_pk, Peer.peer_id == peer_id)
    if call is None or peer is None:
        raise NotFound(f"peer '{peer_id}' not found in session")
    return _peer_dict(peer, call.finished)


def peer_tracks(account_id: int, peer_pks: Iterable[int]) -> list[dict]:
    """Tracks of these peers: {pk, peer_pk, track_id, source, kind (audio|video), direction
    (publish|subscribe), type (regular|screen), rid (h|m|l|None), remote_user_id, summary (rtcstats
    whole-session totals or None)}."""
    pks = list(peer_pks)
    if not pks:
        return []
    query = Track.select().where(Track.account_id == account_id, Track.peer.in_(pks))
    return [
        {
            "pk": t.id,
            "peer_pk": t.peer_id,
            "track_id": t.track_id,
            "source": t.source,
            "kind": t.kind,
            "direction": t.direction,
            "type": t.type,
            "rid": t.rid,
            "remote_user_id": t.remote_user_id,
            "summary": json.loads(t.summary) if t.summary else None,
        }
        for t in query.order_by(Track.id)
    ]


MINUTE_FIELDS = (
    "samples",
    "duration_ms",
    "bitrate_bps",
    "fps",
    "packet_loss_pct",
    "rtt_ms",
    "jitter_ms",
    "width",
    "height",
    "freeze_count",
    "freeze_ms",
    "freeze_estimated",
    "concealed_samples",
    "total_samples",
    "loss_known_ms",
    "excellent_ms",
)


def track_minutes(
    account_id: int,
    call_pk: int,
    peer_pks: Iterable[int] | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict]:
    """Per-minute rollups of the call's tracks, by track then minute: {track_pk, peer_pk, minute (epoch
    s), samples, duration_ms, bitrate_bps, fps, packet_loss_pct, rtt_ms, jitter_ms, width, height,
    freeze_count, freeze_ms (freezes >= the kind's threshold), freeze_estimated, concealed_samples,
    total_samples, loss_known_ms, excellent_ms}. Values are None when no sample carried them."""
    query = TrackMinute.select().where(TrackMinute.account_id == account_id, TrackMinute.call == call_pk)
    if peer_pks is not None:
        query = query.where(TrackMinute.peer.in_(list(peer_pks)))
    if since is not None:
        query = query.where(TrackMinute.minute >= int(since) // 60 * 60)
    if until is not None:
        query = query.where(TrackMinute.minute < until)
    query = query.select(
        TrackMinute.track,
        TrackMinute.peer,
        TrackMinute.minute,
        *(getattr(TrackMinute, f) for f in MINUTE_FIELDS),
    )
    names = ("track_pk", "peer_pk", "minute", *MINUTE_FIELDS)
    out = [
        dict(zip(names, row, strict=True))
        for row in raw_rows(query.order_by(TrackMinute.track, TrackMinute.minute))
    ]
    for row in out:
        row["freeze_estimated"] = bool(row["freeze_estimated"])  # SQLite answers 0/1
    return out


def peer_minutes(
    account_id: int,
    call_pk: int,
    peer_pks: Iterable[int] | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict]:
    """Per-minute rollups per (peer, kind, direction), for per-user series such as Agora's mids:
    {peer_pk, kind, direction, minute, bitrate_bps (sum over the tracks: e.g. all received video),
    fps (mean), packet_loss_pct (mean), rtt_ms (mean), jitter_ms (mean), width/height (max), freeze_count,
    freeze_ms, duration_ms, concealed_samples, total_samples (sums)}."""
    tm, tr = TrackMinute, Track
    query = (
        tm.select(
            tm.peer,
            tr.kind,
            tr.direction,
            tm.minute,
            peewee.fn.SUM(tm.bitrate_bps),
            peewee.fn.AVG(tm.fps),
            peewee.fn.AVG(tm.packet_loss_pct),
            peewee.fn.AVG(tm.rtt_ms),
            peewee.fn.AVG(tm.jitter_ms),
            peewee.fn.MAX(tm.width),
            peewee.fn.MAX(tm.height),
            peewee.fn.SUM(tm.freeze_count).cast("BIGINT"),
            peewee.fn.SUM(tm.freeze_ms).cast("BIGINT"),
            peewee.fn.SUM(tm.duration_ms).cast("BIGINT"),
            # PostgreSQL sums bigints as numeric (Decimal in Python): cast back
            peewee.fn.SUM(tm.concealed_samples).cast("BIGINT"),
            peewee.fn.SUM(tm.total_samples).cast("BIGINT"),
        )
        .join(tr, on=(tr.id == tm.track))
        .where(tm.account_id == account_id, tm.call == call_pk)
        .group_by(tm.peer, tr.kind, tr.direction, tm.minute)
        .order_by(tm.peer, tr.kind, tr.direction, tm.minute)
    )
    if peer_pks is not None:
        query = query.where(tm.peer.in_(list(peer_pks)))
    if since is not None:
        query = query.where(tm.minute >= int(since) // 60 * 60)
    if until is not None:
        query = query.where(tm.minute < until)
    names = (
        "peer_pk",
        "kind",
        "direction",
        "minute",
        "bitrate_bps",
        "fps",
        "packet_loss_pct",
        "rtt_ms",
        "jitter_ms",
        "width",
        "height",
        "freeze_count",
        "freeze_ms",
        "duration_ms",
        "concealed_samples",
        "total_samples",
    )
    return [dict(zip(names, row, strict=True)) for row in raw_rows(query)]


def raw_rows(query) -> list[tuple]:
    """The rows of a peewee query as the driver returns them: the reads of a 3-hour call return
    thousands of rows, and peewee's per-value conversion cost more than the query itself."""
    sql, params = query.sql()
    return db.execute_sql(sql, params).fetchall()


ACCOUNT_MINUTE_FIELDS = tuple(
    name for name in AccountMinute._meta.sorted_field_names if name not in ("id", "account_id")
)


def account_minutes(account_id: int, since: float, until: float) -> list[dict]:
    """Per-minute account rollups in [since, until), oldest first; minutes without any call are absent.

    Fields: minute (epoch s); users (pcu: distinct room+user present); channels (pcc: calls running);
    join_attempts, join_success, join_measured (attempts with a known start), join_success_5s (of the
    measured, joined within join_success_window_seconds); video/audio_freeze_ms and _play_ms (subscribed
    tracks: freezes >= threshold, media time); video/audio_up_excellent_ms and _up_known_ms (published
    tracks: time with loss <= excellent_loss_percent, time with a known loss); the same as _e2e_ for
    subscribed tracks. Rates are ratios of these sums (documented in docs/analytics.md).
    """
    query = (
        AccountMinute.select()
        .where(
            AccountMinute.account_id == account_id,
            AccountMinute.minute >= int(since) // 60 * 60,
            AccountMinute.minute < until,
        )
        .order_by(AccountMinute.minute)
    )
    return [{name: getattr(row, name) for name in ACCOUNT_MINUTE_FIELDS} for row in query]


def account_days(account_id: int, since: float, until: float) -> list[dict]:
    """Per-day usage in [since, until), oldest first: {day (epoch s of 00:00 UTC), user_count,
    session_count, channel_count}; days without any call are absent."""
    query = (
        AccountDay.select()
        .where(AccountDay.account_id == account_id, AccountDay.day >= int(since) // 86400 * 86400)
        .where(AccountDay.day < until)
        .order_by(AccountDay.day)
    )
    return [
        {
            "day": r.day,
            "user_count": r.user_count,
            "session_count": r.session_count,
            "channel_count": r.channel_count,
        }
        for r in query
    ]


def now() -> float:
    return time.time()


# -- GET /v2/analytics/peer-stats -----------------------------------------------------------------

RID_ORDER = {"h": 0, "m": 1, "l": 2, None: 3}
SOURCE_RANK = {"report": 1, "room": 1, "rtcstats": 2}


def _round(value, digits: int):
    if value is None:
        return None
    return int(round(value)) if digits == 0 else round(value, digits)


def _series(minutes: list[dict], fields_: dict[str, tuple[str, int]]) -> dict:
    out = {"timestamps": [m["minute"] * 1000 for m in minutes]}
    for name, (column, digits) in fields_.items():
        out[name] = [_round(m[column], digits) for m in minutes]
    return out


PUBLISHER_VIDEO = {
    "bitrate": ("bitrate_bps", 0),
    "fps": ("fps", 2),
    "packet_loss_percent": ("packet_loss_pct", 3),
    "rtt_ms": ("rtt_ms", 1),
}
PUBLISHER_AUDIO = {
    "bitrate": ("bitrate_bps", 0),
    "packet_loss_percent": ("packet_loss_pct", 3),
    "rtt_ms": ("rtt_ms", 1),
    "jitter_ms": ("jitter_ms", 2),
}
SUBSCRIBER_VIDEO = {"bitrate": ("bitrate_bps", 0), "fps": ("fps", 2), "freeze_count": ("freeze_count", 0)}
SUBSCRIBER_AUDIO = {
    "bitrate": ("bitrate_bps", 0),
    "concealed_samples": ("concealed_samples", 0),
    "packet_loss_percent": ("packet_loss_pct", 3),
}


def peer_stats(account_id: int, session_id: str, peer_id: str, live: bool = False) -> dict:
    """The 100ms peer-stats body of one peer of one session, from the per-minute track rollups.

    Tracks with report samples carry series; a LiveKit- or dump-only track (no per-minute data) is
    listed with empty series (the contract's "no data"), unless a track of the same kind, direction and
    type has data.

    :raises NotFound: no such session in the account, or no such peer in it.
    :raises NotEnded: the session is still running and `live` is false.
    """
    call = Call.get_or_none(Call.account_id == account_id, Call.call_id == session_id)
    if call is None:
        raise NotFound(f"session '{session_id}' not found")
    # The peer's UUID, or the user id its SDK reported / its LiveKit identity (what callers know).
    peer = Peer.get_or_none(Peer.account_id == account_id, Peer.call == call.id, Peer.peer_id == peer_id)
    if peer is None:
        peer = Peer.get_or_none(Peer.account_id == account_id, Peer.call == call.id, Peer.user_id == peer_id)
    if peer is None:
        raise NotFound(f"peer '{peer_id}' not found in session '{session_id}'")
    if not call.finished and not live:
        raise NotEnded(
            f"session '{session_id}' has not ended: quality stats are available once it ends "
            "(add live=true for the running session)"
        )
    tracks = peer_tracks(account_id, [peer.id])
    by_track: dict[int, list[dict]] = {}
    for row in track_minutes(account_id, call.id, [peer.id]):
        by_track.setdefault(row["track_pk"], []).append(row)
    # Per kind, direction and type: the tracks with per-minute data; else those of one source, LiveKit's
    # (its track sids are the real track ids) before a dump's, so one track is not listed twice.
    best: dict[tuple, int] = {}
    for t in tracks:
        rank = 0 if t["pk"] in by_track else SOURCE_RANK.get(t["source"], 3)
        slot = (t["kind"], t["direction"], t["type"])
        best[slot] = min(best.get(slot, 9), rank)
    shown = [
        t
        for t in tracks
        if (0 if t["pk"] in by_track else SOURCE_RANK.get(t["source"], 3))
        == best[(t["kind"], t["direction"], t["type"])]
    ]
    shown.sort(key=lambda t: (t["type"] != "regular", t["track_id"], RID_ORDER.get(t["rid"], 3), t["pk"]))
    body = {
        "peer_id": peer.peer_id,
        "session_id": call.call_id,
        "room_id": call.room_name,
        "publisher": {"video": [], "audio": []},
        "subscriber": {"video": [], "audio": []},
    }
    for t in shown:
        minutes = by_track.get(t["pk"], [])
        if t["direction"] == "publish" and t["kind"] == "video":
            item = {"track_id": t["track_id"], "type": t["type"], "rid": t["rid"]}
            item["time_series"] = _series(minutes, PUBLISHER_VIDEO)
            body["publisher"]["video"].append(item)
        elif t["direction"] == "publish":
            body["publisher"]["audio"].append(
                {"track_id": t["track_id"], "time_series": _series(minutes, PUBLISHER_AUDIO)}
            )
        elif t["kind"] == "video":
            body["subscriber"]["video"].append(
                {
                    "track_id": t["track_id"],
                    "type": t["type"],
                    "time_series": _series(minutes, SUBSCRIBER_VIDEO),
                }
            )
        else:
            body["subscriber"]["audio"].append(
                {"track_id": t["track_id"], "time_series": _series(minutes, SUBSCRIBER_AUDIO)}
            )
    return body
