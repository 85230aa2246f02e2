"""What the rollup jobs compute: report samples -> track minutes; calls -> account minutes and days.

Every step recomputes whole minutes (days) from their sources and replaces the stored rows, so a run
that is repeated, retried after a crash or overlaps another gives the same rows (idempotent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import peewee

from core.db import write_atomic
from core.plugins import current_plugins, plugin_settings
from plugins.analytics import metrics
from plugins.analytics.models import AccountDay, AccountMinute, Call, Peer, Track, TrackMinute
from plugins.analytics.service import finish_call, peer_of, track_of

log = logging.getLogger(__name__)

MINUTE, DAY = 60, 86400
CHUNK_SECONDS = 900  # report samples are read and rolled up this many seconds at a time
INSERT_BATCH = 500
RIDS = ("h", "m", "l")


def floor_minute(t: float) -> int:
    return int(t // MINUTE * MINUTE)


@dataclass
class Bucket:
    """One track's samples within one minute, accumulated."""

    samples: int = 0
    duration_ms: float = 0.0
    bitrates: list = field(default_factory=list)
    fps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    rtt: list = field(default_factory=list)
    jitter: list = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    freeze_count: int = 0
    freeze_ms: float = 0.0
    freeze_estimated: bool = False
    concealed: int | None = None
    total: int | None = None
    loss_known_ms: float = 0.0
    excellent_ms: float = 0.0

    def row(self) -> dict:
        def mean(values):
            return sum(values) / len(values) if values else None

        return {
            "samples": self.samples,
            "duration_ms": round(self.duration_ms),
            "bitrate_bps": mean(self.bitrates),
            "fps": mean(self.fps),
            "packet_loss_pct": mean(self.loss),
            "rtt_ms": mean(self.rtt),
            "jitter_ms": mean(self.jitter),
            "width": self.width,
            "height": self.height,
            "freeze_count": self.freeze_count,
            "freeze_ms": round(self.freeze_ms),
            "freeze_estimated": self.freeze_estimated,
            "concealed_samples": self.concealed,
            "total_samples": self.total,
            "loss_known_ms": round(self.loss_known_ms),
            "excellent_ms": round(self.excellent_ms),
        }


@dataclass
class Previous:
    """The previous sample of a track: interval length and counter deltas are measured from it."""

    time: int
    frozen: bool
    concealed: float | None
    total: float | None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _counter_delta(now: float | None, before: float | None) -> int | None:
    """Delta of a cumulative counter; a decrease is a reset (new PeerConnection): the new value counts."""
    if now is None or before is None:
        return None
    return int(now - before) if now >= before else int(now)


def _text(value, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value.strip() else None


def _track_type(stream_id: str, sent: dict, part: dict) -> str:
    declared = part.get("type") or sent.get("type") or part.get("source") or sent.get("source")
    if isinstance(declared, str):
        return "screen" if declared.lower() in ("screen", "screen_share", "screenshare") else "regular"
    return "screen" if "screen" in stream_id.lower() else "regular"


def roll_samples(call: Call, samples: list[dict], window_start: int, window_end: int, cfg: dict) -> int:
    """Replace the call's track minutes of [window_start, window_end) by those of `samples`.

    `samples` (report's samples_as_sent_between, oldest first) may begin before window_start: those
    only give the previous sample of each track. Returns the number of track minutes written.
    """
    cap = cfg["sample_gap_cap_seconds"]
    excellent = cfg["excellent_loss_percent"]
    thresholds = {"video": cfg["video_freeze_min_ms"], "audio": cfg["audio_freeze_min_ms"]}
    previous: dict[tuple, Previous] = {}
    peers: dict[str, Peer] = {}
    tracks: dict[tuple, Track] = {}
    buckets: dict[tuple[int, int], Bucket] = {}
    track_peer: dict[int, int] = {}
    seen: dict[str, dict] = {}
    newest_received = None
    for s in samples:
        t = s["report_time"]
        in_window = window_start <= t < window_end
        user = s["user_id"]
        direction = "publish" if s["direction"] == "send" else "subscribe"
        sent = s.get("sent") if isinstance(s.get("sent"), dict) else {}
        network = s.get("network") or {}
        loss, rtt, jitter = network.get("packet_loss"), network.get("rtt"), network.get("jitter")
        if in_window:
            info = seen.setdefault(user, {"first": t, "last": t})
            info["last"] = t
            info["sdk_version"] = s.get("sdk_version")
            info["report"] = s.get("report") or {}
            if newest_received is None or s["received_at"] > newest_received:
                newest_received = s["received_at"]
        for kind in ("video", "audio"):
            values = s.get(kind)
            part = sent.get(kind) if isinstance(sent.get(kind), dict) else {}
            if values is None and not part:
                continue
            values = values or {}
            key = (user, s["stream_id"], direction, kind)
            before = previous.get(key)
            gap_ms = min(t - before.time, cap) * 1000.0 if before is not None else 0.0
            bitrate = _number(values.get("bitrate"))
            fps = _number(values.get("frame_rate")) if kind == "video" else None
            concealed = _number(part.get("concealed_samples"))
            total = _number(part.get("total_samples_received"))
            muted = kind == "video" and fps == 0 and bitrate == 0
            frozen = (
                kind == "video"
                and direction == "subscribe"
                and fps is not None
                and fps < 1
                and not muted
                and "freezes_ms" not in part
            )
            previous[key] = Previous(t, frozen, concealed, total)
            if not in_window:
                continue
            track_key = (*key,)
            track = tracks.get(track_key)
            if track is None:
                peer = peers.get(user) or peer_of(call, user, "report")
                peers[user] = peer
                rid = part.get("rid") if part.get("rid") in RIDS and kind == "video" else None
                public = _text(sent.get("track_id"), 64)
                remote = _text(sent.get("remote_user_id"), 255) if direction == "subscribe" else None
                track = track_of(
                    peer,
                    "report",
                    f"{s['stream_id']}/{s['direction']}",
                    kind,
                    direction,
                    type_=_track_type(s["stream_id"], sent, part),
                    rid=rid,
                    remote_user_id=remote,
                    public_id=public,
                )
                tracks[track_key] = track
                track_peer[track.id] = peer.id
            b = buckets.setdefault((track.id, floor_minute(t)), Bucket())
            b.samples += 1
            if bitrate is not None:
                b.bitrates.append(bitrate * 1000.0)  # report sends kbps
            if fps is not None:
                b.fps.append(fps)
            if kind == "video":
                if isinstance(values.get("width"), int):
                    b.width = values["width"]
                if isinstance(values.get("height"), int):
                    b.height = values["height"]
            for series, value in ((b.loss, loss), (b.rtt, rtt), (b.jitter, jitter)):
                if _number(value) is not None:
                    series.append(float(value))
            if not muted:
                b.duration_ms += gap_ms
            if _number(loss) is not None and gap_ms > 0:
                b.loss_known_ms += gap_ms
                if loss <= excellent:
                    b.excellent_ms += gap_ms
            events = part.get("freezes_ms")
            if isinstance(events, list):
                for duration in events:
                    if _number(duration) is not None and duration >= thresholds[kind]:
                        b.freeze_count += 1
                        b.freeze_ms += duration
            elif frozen and gap_ms > 0:
                # Estimated from 1 Hz samples (reference §3.1 rule 4): an interval without frames
                # while the stream flows. Consecutive frozen intervals are one freeze.
                continuing = before is not None and before.frozen
                if continuing or gap_ms >= thresholds["video"]:
                    b.freeze_ms += gap_ms
                    b.freeze_estimated = True
                    if not continuing:
                        b.freeze_count += 1
            if before is not None:
                for attr, now_value, before_value in (
                    ("concealed", concealed, before.concealed),
                    ("total", total, before.total),
                ):
                    delta = _counter_delta(now_value, before_value)
                    if delta is not None:
                        setattr(b, attr, (getattr(b, attr) or 0) + delta)
    rows = [
        {
            "account_id": call.account_id,
            "call": call.id,
            "peer": track_peer[track_pk],
            "track": track_pk,
            "minute": minute,
            **bucket.row(),
        }
        for (track_pk, minute), bucket in sorted(buckets.items())
    ]
    with write_atomic():
        TrackMinute.delete().where(
            TrackMinute.call == call.id, TrackMinute.minute >= window_start, TrackMinute.minute < window_end
        ).execute()
        for start in range(0, len(rows), INSERT_BATCH):
            TrackMinute.insert_many(rows[start : start + INSERT_BATCH]).execute()
        for user, info in seen.items():
            _update_peer_from_reports(peers.get(user) or peer_of(call, user, "report"), info)
        if newest_received is not None:
            Call.update(last_activity_at=newest_received).where(
                Call.id == call.id, Call.last_activity_at < newest_received
            ).execute()
        if seen:
            # The call began with its first sample (client clock), which may precede the server time
            # of the first report's arrival; an end before its newest sample is moved likewise.
            first = min(info["first"] for info in seen.values())
            last = max(info["last"] for info in seen.values())
            Call.update(started_at=first).where(Call.id == call.id, Call.started_at > first).execute()
            Call.update(ended_at=last).where(Call.id == call.id, Call.ended_at < last).execute()
    metrics.track_minutes_written(len(rows))
    return len(rows)


def _update_peer_from_reports(peer: Peer, info: dict) -> None:
    report = info["report"]
    network = report.get("network_type", report.get("network"))
    changes = {
        "joined_at": info["first"] if peer.joined_at is None else min(peer.joined_at, info["first"]),
        "last_seen_at": info["last"] if peer.last_seen_at is None else max(peer.last_seen_at, info["last"]),
        "sdk_version": _text(info.get("sdk_version"), 64) or peer.sdk_version,
        "platform": _text(report.get("platform"), 64) or peer.platform,
        "os": _text(report.get("os"), 64) or peer.os,
        "network": _text(network, 32) or peer.network,
        "device_type": _text(report.get("device_type"), 128) or peer.device_type,
    }
    Peer.update(**changes).where(Peer.id == peer.id).execute()


def roll_call(call_pk: int, now: float) -> tuple[int, int, int] | None:
    """Roll the call's report samples up to now (or its end); returns (account, first minute, end) of
    the minutes it touched, for the account rollups, or None when the call is gone."""
    call = Call.get_or_none(Call.id == call_pk)
    if call is None:
        return None
    cfg = plugin_settings("analytics")
    slack = cfg["call_match_slack_seconds"]
    start = floor_minute(call.started_at - slack)
    if call.rolled_until and not call.finished:
        start = max(start, floor_minute(call.rolled_until - cfg["rollup_reprocess_seconds"]))
    end_time = call.ended_at + slack if call.finished else now
    end = floor_minute(end_time) + MINUTE
    if call.finished:
        # An ended call is redone whole, once (or again when a dump adds to it), including the minutes
        # rolled while it ran after the end it was given since (they are emptied).
        end = max(end, call.rolled_until + MINUTE)
    if current_plugins().is_enabled("report"):
        from plugins.report import interface as report

        cap = cfg["sample_gap_cap_seconds"]
        for chunk in range(start, end, CHUNK_SECONDS):
            chunk_end = min(chunk + CHUNK_SECONDS, end)
            samples = report.samples_as_sent_between(call.account_id, call.room_name, chunk - cap, chunk_end)
            roll_samples(call, samples, chunk, chunk_end, cfg)
    # A finished call is done once rolled past its end; a running one restarts near its newest minute.
    if call.finished:
        Call.update(rolled_until=end, final_roll_due=False).where(Call.id == call.id).execute()
    else:
        Call.update(rolled_until=floor_minute(now)).where(Call.id == call.id).execute()
    return call.account_id, start, end


# -- account rollups ------------------------------------------------------------------------------


def _presence(peer: Peer, call: Call, now: float) -> tuple[float, float] | None:
    """When the peer was in the call: joined until left (or until its call ended / it was last seen)."""
    if peer.joined_at is None:
        return None
    if peer.left_at is not None:
        end = peer.left_at
    elif not call.finished and "room" in peer.sources.split(","):
        end = now  # LiveKit says it is still in the room
    elif peer.last_seen_at is not None:
        end = peer.last_seen_at
    else:
        end = call.ended_at if call.ended_at is not None else now
    return peer.joined_at, max(end, peer.joined_at)


def _calls_and_peers(account_id: int, since: float, until: float) -> tuple[dict[int, Call], list[Peer]]:
    calls = {
        c.id: c
        for c in Call.select().where(
            Call.account_id == account_id,
            Call.started_at < until,
            (Call.ended_at.is_null()) | (Call.ended_at >= since),
        )
    }
    peers = list(Peer.select().where(Peer.call.in_(list(calls)))) if calls else []
    return calls, peers


def roll_account_minutes(account_id: int, start: int, end: int, now: float) -> int:
    """Replace the account's minutes in [start, end) by their recomputation from calls, peers and
    track minutes. Returns the number of minutes written."""
    cfg = plugin_settings("analytics")
    calls, peers = _calls_and_peers(account_id, start, end)
    minutes: dict[int, dict] = {}

    def row(minute: int) -> dict:
        return minutes.setdefault(minute, {"users": set(), "channels": 0})

    for call in calls.values():
        call_end = call.ended_at if call.ended_at is not None else now
        for minute in range(
            max(start, floor_minute(call.started_at)), min(end, floor_minute(call_end) + MINUTE), MINUTE
        ):
            row(minute)["channels"] += 1
    window = cfg["join_success_window_seconds"]
    for peer in peers:
        call = calls[peer.call_id]
        span = _presence(peer, call, now)
        if span is not None:
            for minute in range(
                max(start, floor_minute(span[0])), min(end, floor_minute(span[1]) + MINUTE), MINUTE
            ):
                row(minute)["users"].add((call.room_name, peer.user_id))
        began = peer.join_started_at if peer.join_started_at is not None else peer.joined_at
        if began is not None and start <= began < end:
            r = row(floor_minute(began))
            r["join_attempts"] = r.get("join_attempts", 0) + 1
            if peer.joined_at is not None:
                r["join_success"] = r.get("join_success", 0) + 1
                if peer.join_started_at is not None:
                    r["join_measured"] = r.get("join_measured", 0) + 1
                    if peer.joined_at - peer.join_started_at <= window:
                        r["join_success_5s"] = r.get("join_success_5s", 0) + 1
            elif peer.join_started_at is not None:
                r["join_measured"] = r.get("join_measured", 0) + 1
    tm, tr = TrackMinute, Track
    totals = (
        tm.select(
            tm.minute,
            tr.kind,
            tr.direction,
            peewee.fn.SUM(tm.freeze_ms),
            peewee.fn.SUM(tm.duration_ms),
            peewee.fn.SUM(tm.excellent_ms),
            peewee.fn.SUM(tm.loss_known_ms),
        )
        .join(tr, on=(tr.id == tm.track))
        .where(tm.account_id == account_id, tm.minute >= start, tm.minute < end)
        .group_by(tm.minute, tr.kind, tr.direction)
        .tuples()
    )
    for minute, kind, direction, freeze_ms, duration_ms, excellent_ms, known_ms in totals:
        r = row(minute)
        if direction == "subscribe":
            r[f"{kind}_freeze_ms"] = int(freeze_ms or 0)
            r[f"{kind}_play_ms"] = int(duration_ms or 0)
        leg = "up" if direction == "publish" else "e2e"
        r[f"{kind}_{leg}_excellent_ms"] = int(excellent_ms or 0)
        r[f"{kind}_{leg}_known_ms"] = int(known_ms or 0)
    rows = []
    for minute, values in sorted(minutes.items()):
        values["users"] = len(values["users"])
        rows.append({"account_id": account_id, "minute": minute, **values})
    with write_atomic():
        AccountMinute.delete().where(
            AccountMinute.account_id == account_id, AccountMinute.minute >= start, AccountMinute.minute < end
        ).execute()
        for i in range(0, len(rows), INSERT_BATCH):
            AccountMinute.insert_many(rows[i : i + INSERT_BATCH]).execute()
    return len(rows)


def roll_account_day(account_id: int, day: int, now: float) -> None:
    """Replace the account's row of one UTC day (day = epoch s of its 00:00)."""
    end = day + DAY
    calls, peers = _calls_and_peers(account_id, day, end)
    users, sessions = set(), 0
    for peer in peers:
        call = calls[peer.call_id]
        span = _presence(peer, call, now)
        if span is not None and span[0] < end and span[1] >= day:
            users.add((call.room_name, peer.user_id))
        began = peer.join_started_at if peer.join_started_at is not None else peer.joined_at
        if began is not None and day <= began < end:
            sessions += 1
    channels = {c.room_name for c in calls.values()}
    with write_atomic():
        AccountDay.delete().where(AccountDay.account_id == account_id, AccountDay.day == day).execute()
        if channels or users or sessions:
            AccountDay.insert(
                account_id=account_id,
                day=day,
                user_count=len(users),
                session_count=sessions,
                channel_count=len(channels),
            ).execute()


def roll_accounts(touched: dict[int, tuple[int, int]], now: float) -> None:
    """Account minutes and days over each account's touched span."""
    for account_id, (start, end) in touched.items():
        roll_account_minutes(account_id, start, end, now)
        for day in range(start // DAY * DAY, end, DAY):
            roll_account_day(account_id, day, now)


def close_idle_calls(now: float) -> list[int]:
    """Finish running calls that no LiveKit room holds open and nothing was seen of for the gap."""
    gap = plugin_settings("analytics")["session_idle_gap_seconds"]
    idle = Call.select().where(
        Call.finished == False,  # noqa: E712
        Call.livekit_active == False,  # noqa: E712
        Call.last_activity_at < now - gap,
    )
    closed = []
    for call in idle:
        finish_call(call, call.last_activity_at)
        closed.append(call.id)
    metrics.calls_finished(len(closed))
    return closed


def rollup_all(now: float) -> dict:
    """The scheduled run: roll running calls, close idle ones, then roll every call not rolled past its
    end (those just closed included); then the accounts' minutes and days over what changed."""
    slack = plugin_settings("analytics")["call_match_slack_seconds"]
    touched: dict[int, tuple[int, int]] = {}

    def roll(call_pk: int) -> None:
        span = roll_call(call_pk, now)
        if span is not None:
            account, start, end = span
            old = touched.get(account)
            touched[account] = (min(start, old[0]), max(end, old[1])) if old else (start, end)

    running = [c.id for c in Call.select(Call.id).where(Call.finished == False)]  # noqa: E712
    for pk in running:
        roll(pk)
    closed = close_idle_calls(now)
    pending = Call.select(Call.id).where(
        Call.finished == True,  # noqa: E712
        (Call.final_roll_due == True) | (Call.rolled_until <= Call.ended_at + slack),  # noqa: E712
    )
    for call in pending:
        roll(call.id)
    roll_accounts(touched, now)
    return {"calls": len(running) + len(closed), "accounts": len(touched)}
