"""Tables of live transcription: one row per live transcription of a room, and its segments."""

from __future__ import annotations

import peewee

from core.db import BaseModel


class LiveTranscription(BaseModel):
    """Live transcription of one room; times are epoch seconds.

    `active_room` is "<account_id>:<room>" while the transcription is active and NULL once stopped: a
    unique column, so two concurrent starts of the same room cannot both create one (NULLs never
    collide, in SQLite as in PostgreSQL).
    """

    id = peewee.CharField(max_length=32, primary_key=True)  # tr_<24 hex>
    account_id = peewee.IntegerField()
    room_name = peewee.CharField(max_length=255)
    livekit_room = peewee.CharField(max_length=512)
    active_room = peewee.CharField(max_length=300, null=True, unique=True)
    status = peewee.CharField(max_length=16, default="active")  # active | stopped
    language = peewee.CharField(max_length=35)
    participants = peewee.TextField(default="{}")  # JSON {identity or track sid: display name}
    phrases = peewee.TextField(null=True)  # JSON list: the grammar, or null for free recognition
    options = peewee.TextField(default="{}")  # JSON: the request's options, as sent
    started_at = peewee.DoubleField()
    stopped_at = peewee.DoubleField(null=True)
    segment_count = peewee.IntegerField(default=0)  # final segments
    error = peewee.TextField(null=True)  # the last reason the worker could not join, if any

    class Meta:
        table_name = "transcription_live"
        indexes = ((("account_id", "room_name", "started_at"), False),)


class LiveSegment(BaseModel):
    """A partial or final segment of one track. `key` ("<track sid>-<utterance>-<part>") is stable: the
    partial of an utterance is overwritten by its final segments. `start`/`end` are epoch seconds."""

    transcription = peewee.ForeignKeyField(LiveTranscription, on_delete="CASCADE", backref="segments")
    key = peewee.CharField(max_length=300)
    track_sid = peewee.CharField(max_length=255)
    speaker_id = peewee.CharField(max_length=255)  # the participant's identity
    speaker_name = peewee.CharField(max_length=255, null=True)  # the participant's name in LiveKit
    final = peewee.BooleanField()
    start = peewee.DoubleField()
    end = peewee.DoubleField()
    text = peewee.TextField()
    confidence = peewee.DoubleField(null=True)
    words = peewee.TextField()  # JSON [{word, start, end[, confidence]}], times epoch seconds
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "transcription_live_segment"
        indexes = (
            (("transcription", "key"), True),
            (("transcription", "updated_at"), False),
            (("transcription", "start"), False),
        )


LIVE_MODELS = [LiveTranscription, LiveSegment]
