"""Tables of the room plugin: the rooms, participants and ingresses each account's LiveKit traffic made.

LiveKit keeps rooms in memory (or its Redis) and forgets them when they close; these rows are what this
server knows, per account, from its own calls and LiveKit's webhooks. Times are epoch seconds.
"""

from __future__ import annotations

import peewee

from core.db import BaseModel


class Room(BaseModel):
    """A room name of one account and its latest LiveKit session (sid, started/finished)."""

    account_id = peewee.IntegerField()
    # Text, not bounded columns: names and identities also arrive from LiveKit's webhooks, whose
    # lengths our request limits do not bound.
    name = peewee.TextField()
    livekit_name = peewee.TextField(unique=True)
    sid = peewee.CharField(max_length=64, default="")
    metadata = peewee.TextField(default="")
    max_participants = peewee.BigIntegerField(null=True)
    empty_timeout = peewee.BigIntegerField(null=True)
    created_at = peewee.DoubleField()
    started_at = peewee.DoubleField(null=True)
    finished_at = peewee.DoubleField(null=True)
    active = peewee.BooleanField(default=False)
    # Sessions whose room_started / room_finished webhook was recorded: our own calls and the
    # reconciliation with ListRooms change the state above, yet LiveKit's webhook is still news.
    started_sid = peewee.CharField(max_length=64, default="")
    finished_sid = peewee.CharField(max_length=64, default="")

    class Meta:
        table_name = "room_room"
        indexes = ((("account_id", "name"), True), (("account_id", "active"), False))


class Participant(BaseModel):
    """One LiveKit participant session (sid) in a room session (room_sid)."""

    room = peewee.ForeignKeyField(Room, on_delete="CASCADE", index=True)
    account_id = peewee.IntegerField()
    room_sid = peewee.CharField(max_length=64, default="")
    sid = peewee.CharField(max_length=64)
    identity = peewee.TextField()
    name = peewee.TextField(default="")
    joined_at = peewee.DoubleField(null=True)
    left_at = peewee.DoubleField(null=True)
    # Whether LiveKit's participant_joined / participant_left of this session was recorded (left_at
    # is also set when the room closes or is deleted, before or without that webhook).
    join_recorded = peewee.BooleanField(default=False)
    leave_recorded = peewee.BooleanField(default=False)

    class Meta:
        table_name = "room_participant"
        indexes = ((("room", "sid"), True), (("account_id", "room", "identity"), False))


class Ingress(BaseModel):
    """An ingress (RTMP / WHIP endpoint) created for a room of the account."""

    room = peewee.ForeignKeyField(Room, on_delete="CASCADE", index=True)
    account_id = peewee.IntegerField()
    ingress_id = peewee.CharField(max_length=64, unique=True)
    input_type = peewee.CharField(max_length=32)
    participant_identity = peewee.TextField()
    participant_name = peewee.TextField()
    created_at = peewee.DoubleField()
    started_at = peewee.DoubleField(null=True)
    stopped_at = peewee.DoubleField(null=True)
    deleted_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "room_ingress"


class LiveKitEvent(BaseModel):
    """A LiveKit webhook acted on (plugins/room/livekit_webhook.py): its id drops LiveKit's retries and
    replays. Written in the transaction of the state it changed; kept livekit_webhook_dedupe_seconds."""

    event_id = peewee.CharField(max_length=128, primary_key=True)
    event = peewee.CharField(max_length=64)
    account_id = peewee.IntegerField()
    livekit_room = peewee.CharField(max_length=600)
    received_at = peewee.DoubleField(index=True)

    class Meta:
        table_name = "room_livekit_event"


MODELS = [Room, Participant, Ingress, LiveKitEvent]
