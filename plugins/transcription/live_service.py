"""Live transcription: start / stop / read / rename speakers, the worker heartbeat, and segment writes.

The API (web tier) and the `mediaplane transcribe-live` worker share the state through the database
(transcriptions and segments) and Redis (the worker heartbeat, room claims and wake-ups). No Flask
imports here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time

import peewee

from core.db import db
from plugins.transcription import engine, metrics
from plugins.transcription.live_models import LiveSegment, LiveTranscription
from plugins.transcription.service import ID_PREFIX, NotFound, iso

# Redis keys. The heartbeat is a sorted set of worker id -> expiry (epoch seconds) whose own TTL is
# refreshed with each beat: the key vanishes when the last worker stops beating, and a live worker
# is one whose expiry is still ahead.
WORKERS_KEY = "mediaplane:transcription:live:workers"
WAKE_CHANNEL = "mediaplane:transcription:live:wake"
CLAIM_PREFIX = "mediaplane:transcription:live:claim:"


class LiveUnavailable(Exception):
    """No live worker is running, or no model is configured (a 503 with Retry-After)."""


# -- heartbeat and wake-ups ------------------------------------------------------------------------


def beat(redis_conn, worker_id: str, ttl: float, now: float | None = None) -> None:
    """Record that `worker_id` is alive for the next `ttl` seconds; forget workers that stopped."""
    now = time.time() if now is None else now
    pipe = redis_conn.pipeline()
    pipe.zadd(WORKERS_KEY, {worker_id: now + ttl})
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now)
    pipe.expire(WORKERS_KEY, max(1, int(ttl + 0.999)))
    pipe.execute()


def retire(redis_conn, worker_id: str) -> None:
    """A worker that shuts down cleanly leaves at once (no wait for its heartbeat to expire)."""
    redis_conn.zrem(WORKERS_KEY, worker_id)


def live_workers(redis_conn, now: float | None = None) -> int:
    """How many live workers beat within their TTL."""
    now = time.time() if now is None else now
    return int(redis_conn.zcount(WORKERS_KEY, f"({now}", "+inf"))


def wake(redis_conn) -> None:
    """Tell the workers that a transcription started or stopped (they also re-read on a timer)."""
    redis_conn.publish(WAKE_CHANNEL, b"1")


def check_live(settings: dict, redis_conn) -> None:
    """:raises LiveUnavailable: no usable model is configured, or no live worker beats."""
    try:
        engine.resolve_model_path(settings["model_path"])
    except engine.ModelUnavailable as error:
        raise LiveUnavailable(str(error)) from None
    try:
        workers = live_workers(redis_conn)
    except Exception as error:  # noqa: BLE001 - redis-py raises several families; all mean "down"
        raise LiveUnavailable(
            f"Redis, which holds the live worker heartbeat, is unavailable: {error}"
        ) from None
    if not workers:
        raise LiveUnavailable(
            "no live transcription worker is running: start `mediaplane transcribe-live` "
            "(its heartbeat in Redis has expired or never began); see docs/operations.md"
        )


# -- API operations --------------------------------------------------------------------------------


def _active_key(account_id: int, room_name: str) -> str:
    return f"{account_id}:{room_name}"


def _current(account_id: int, room_name: str) -> LiveTranscription | None:
    """The room's active transcription, else its latest one."""
    return (
        LiveTranscription.select()
        .where((LiveTranscription.account_id == account_id) & (LiveTranscription.room_name == room_name))
        .order_by((LiveTranscription.status == "active").desc(), LiveTranscription.started_at.desc())
        .first()
    )


def started(row: LiveTranscription) -> dict:
    return {
        "transcriptionId": row.id,
        "roomId": row.room_name,
        "status": row.status,
        "language": row.language,
        "startedAt": iso(row.started_at),
    }


def start(
    settings: dict,
    account_id: int,
    room_name: str,
    livekit_room: str,
    *,
    language: str | None,
    participants: dict[str, str] | None,
    phrases: list[str] | None,
    options: dict | None,
) -> tuple[dict, bool]:
    """Start live transcription of a room, or return the one already active (idempotent).

    Returns (answer, created). A second start does not change the running one's settings except that
    its `participants` are merged into the speaker map (as PATCH speakers would).
    """
    from plugins.transcription.service import _clean_phrases, phrase_list

    existing = LiveTranscription.get_or_none(
        LiveTranscription.active_room == _active_key(account_id, room_name)
    )
    if existing is None:
        if phrases is None:
            phrases = phrase_list(account_id)["phrases"]
        cleaned = _clean_phrases(phrases)
        try:
            with db.atomic():
                row = LiveTranscription.create(
                    id=ID_PREFIX + secrets.token_hex(12),
                    account_id=account_id,
                    room_name=room_name,
                    livekit_room=livekit_room,
                    active_room=_active_key(account_id, room_name),
                    language=language or settings["default_language"],
                    participants=json.dumps(participants or {}, ensure_ascii=False),
                    phrases=json.dumps(cleaned, ensure_ascii=False) if cleaned else None,
                    options=json.dumps(options or {}),
                    started_at=time.time(),
                )
            return started(row), True
        except peewee.IntegrityError:  # a concurrent start won
            existing = LiveTranscription.get(
                LiveTranscription.active_room == _active_key(account_id, room_name)
            )
    if participants:
        rename_speakers(account_id, room_name, participants)
    return started(existing), False


def stop(account_id: int, room_name: str) -> dict:
    """Stop the room's live transcription (idempotent: a stopped one answers as it was stopped).

    :raises NotFound: live transcription of this room was never started.
    """
    row = _current(account_id, room_name)
    if row is None:
        raise NotFound("Live transcription of this room was never started")
    if row.status == "active":
        now = time.time()
        LiveTranscription.update(status="stopped", stopped_at=now, active_room=None).where(
            (LiveTranscription.id == row.id) & (LiveTranscription.status == "active")
        ).execute()
        row = LiveTranscription.get_by_id(row.id)
    return {
        "transcriptionId": row.id,
        "status": row.status,
        "stoppedAt": iso(row.stopped_at),
        "segmentCount": row.segment_count,
    }


def stop_finished_room(redis_conn, account_id: int, room_name: str, finished_at: float) -> None:
    """The room ended (core event room_finished): stop its active live transcription, if any, and wake
    the workers so that they leave it now."""
    stopped = (
        LiveTranscription.update(status="stopped", stopped_at=finished_at or time.time(), active_room=None)
        .where(LiveTranscription.active_room == _active_key(account_id, room_name))
        .execute()
    )
    if stopped:
        try:
            wake(redis_conn)
        except Exception as error:  # noqa: BLE001 - the workers' timer notices it too
            logging.getLogger("plugins.transcription").warning("waking the live workers failed: %s", error)


def rename_speakers(account_id: int, room_name: str, participants: dict[str, str]) -> None:
    """Merge `participants` (identity or track sid -> display name) into the speaker map of the room's
    current transcription; the names apply to segments already written too.

    :raises NotFound: live transcription of this room was never started.
    """
    with db.atomic():
        row = _current(account_id, room_name)
        if row is None:
            raise NotFound("Live transcription of this room was never started")
        merged = {**json.loads(row.participants), **participants}
        LiveTranscription.update(participants=json.dumps(merged, ensure_ascii=False)).where(
            LiveTranscription.id == row.id
        ).execute()


def _speaker_name(segment: LiveSegment, names: dict[str, str]) -> str:
    return (
        names.get(segment.speaker_id)
        or names.get(segment.track_sid)
        or segment.speaker_name
        or segment.speaker_id
    )


def segment_dict(segment: LiveSegment, row: LiveTranscription, names: dict[str, str]) -> dict:
    return {
        "segmentId": segment.key,
        "final": segment.final,
        "speakerId": segment.speaker_id,
        "speakerName": _speaker_name(segment, names),
        "trackSid": segment.track_sid,
        "text": segment.text,
        "confidence": segment.confidence,
        # ms from the start of the transcription (the reference sent epoch ms under these names,
        # which made its text format's hours huge); the absolute times are beside them
        "startMs": max(0, round((segment.start - row.started_at) * 1000)),
        "endMs": max(0, round((segment.end - row.started_at) * 1000)),
        "startTime": iso(segment.start),
        "endTime": iso(segment.end),
        "updatedAt": iso(segment.updated_at),
        "words": [{**w, "start": iso(w["start"]), "end": iso(w["end"])} for w in json.loads(segment.words)],
    }


def transcript(account_id: int, room_name: str, since: dt.datetime | None, limit: int) -> dict:
    """The room's current transcription and its segments written or changed after `since`, oldest
    change first, at most `limit` of them (`hasMore` says whether more follow: ask again with
    `since` = `until`).

    :raises NotFound: live transcription of this room was never started.
    """
    row = _current(account_id, room_name)
    if row is None:
        raise NotFound("Live transcription of this room was never started")
    names = json.loads(row.participants)
    query = LiveSegment.select().where(LiveSegment.transcription == row.id)
    if since is not None:
        query = query.where(LiveSegment.updated_at > since.timestamp())
    rows = list(query.order_by(LiveSegment.updated_at, LiveSegment.id).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    speakers = {}
    for identity, track_sid, name in (
        LiveSegment.select(LiveSegment.speaker_id, LiveSegment.track_sid, LiveSegment.speaker_name)
        .where(LiveSegment.transcription == row.id)
        .distinct()
        .tuples()
    ):
        speakers.setdefault(identity, names.get(identity) or names.get(track_sid) or name or identity)
    for key, value in names.items():
        speakers.setdefault(key, value)
    return {
        "transcriptionId": row.id,
        "roomId": row.room_name,
        "status": row.status,
        "language": row.language,
        "startedAt": iso(row.started_at),
        "stoppedAt": iso(row.stopped_at),
        "segmentCount": row.segment_count,
        "error": row.error,
        "speakers": [{"sid": sid, "name": name} for sid, name in speakers.items()],
        "segments": [segment_dict(s, row, names) for s in rows],
        "until": iso(rows[-1].updated_at) if rows else (iso(since.timestamp()) if since else None),
        "hasMore": more,
    }


def transcript_text(account_id: int, room_name: str, since: dt.datetime | None, limit: int) -> str:
    """Final segments as `[HH:MM:SS] name: text` lines, time from the start of the transcription."""
    from plugins.transcription import formats

    answer = transcript(account_id, room_name, since, limit)
    finals = sorted((s for s in answer["segments"] if s["final"]), key=lambda s: s["startMs"])
    return formats.text(
        {"start": s["startMs"] / 1000, "text": s["text"], "speaker": s["speakerName"]} for s in finals
    )


# -- the worker's side -----------------------------------------------------------------------------


def active_transcriptions() -> list[dict]:
    """Every active live transcription: what a worker needs to join its room."""
    return [
        {
            "id": row.id,
            "account_id": row.account_id,
            "room_name": row.room_name,
            "livekit_room": row.livekit_room,
            "phrases": json.loads(row.phrases) if row.phrases else None,
            "partials": json.loads(row.options).get("partialResults", True) is not False,
            "started_at": row.started_at,
        }
        for row in LiveTranscription.select().where(LiveTranscription.status == "active")
    ]


def set_error(transcription_id: str, error: str | None) -> None:
    LiveTranscription.update(error=error).where(LiveTranscription.id == transcription_id).execute()


def write_updates(
    transcription_id: str,
    updates: list,
    *,
    track_started_at: float,
    speaker_name: str | None,
    now: float | None = None,
) -> int:
    """Store a track's segment updates (live_recognizer.SegmentUpdate / Retraction); times in them are
    seconds from `track_started_at` (epoch). Returns the number of new final segments.

    A partial never overwrites a final segment of the same key (a late write after the final).
    """
    from plugins.transcription.live_recognizer import Retraction

    now = time.time() if now is None else now
    new_finals = 0
    partials = 0
    with db.atomic():
        if not LiveTranscription.select().where(LiveTranscription.id == transcription_id).exists():
            return 0
        for update in updates:
            where = (LiveSegment.transcription == transcription_id) & (LiveSegment.key == update.key)
            if isinstance(update, Retraction):
                LiveSegment.delete().where(where & (LiveSegment.final == False)).execute()  # noqa: E712
                continue
            fields = {
                "track_sid": update.track_sid,
                "speaker_id": update.speaker_id,
                "speaker_name": speaker_name,
                "final": update.final,
                "start": round(track_started_at + update.start, 3),
                "end": round(track_started_at + update.end, 3),
                "text": update.text,
                "confidence": update.confidence,
                "words": json.dumps(
                    [
                        {
                            **w,
                            "start": round(track_started_at + w["start"], 3),
                            "end": round(track_started_at + w["end"], 3),
                        }
                        for w in update.words
                    ],
                    ensure_ascii=False,
                ),
                "updated_at": now,
            }
            existing = LiveSegment.get_or_none(where)
            if existing is None:
                LiveSegment.create(transcription=transcription_id, key=update.key, **fields)
            elif not existing.final:
                LiveSegment.update(**fields).where(LiveSegment.id == existing.id).execute()
            else:
                continue  # a late write after the final: nothing stored
            new_finals += update.final
            partials += not update.final
        if new_finals:
            LiveTranscription.update(segment_count=LiveTranscription.segment_count + new_finals).where(
                LiveTranscription.id == transcription_id
            ).execute()
    metrics.live_segments_written(finals=new_finals, partials=partials)
    return new_finals
