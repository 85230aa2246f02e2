"""Tables of the report plugin: rooms, one snapshot per ingested report, one sample per stream."""

from __future__ import annotations

import peewee

from core.db import BaseModel


class Room(BaseModel):
    """A room of one account; times are server epoch seconds (client clocks are not trusted for liveness)."""

    account_id = peewee.IntegerField()
    room_id = peewee.CharField(max_length=255)
    first_seen_at = peewee.DoubleField()
    active_since = peewee.DoubleField()
    last_seen_at = peewee.DoubleField()
    last_report_time = peewee.BigIntegerField()
    idle = peewee.BooleanField(default=False)

    class Meta:
        table_name = "report_room"
        indexes = ((("account_id", "room_id"), True), (("idle", "last_seen_at"), False))


class Snapshot(BaseModel):
    """One accepted POST /report/metrics body, normalised, kept whole for history (nothing lost)."""

    account_id = peewee.IntegerField()
    room_id = peewee.CharField(max_length=255)
    user_id = peewee.CharField(max_length=255)
    sdk_version = peewee.CharField(max_length=64)
    report_time = peewee.BigIntegerField()
    received_at = peewee.DoubleField()
    body = peewee.TextField()

    class Meta:
        table_name = "report_snapshot"
        indexes = ((("account_id", "room_id", "report_time"), False), (("received_at",), False))


class Sample(BaseModel):
    """One stream of one report: the queryable columns of a snapshot."""

    snapshot = peewee.ForeignKeyField(Snapshot, on_delete="CASCADE", index=True)
    account_id = peewee.IntegerField()
    room_id = peewee.CharField(max_length=255)
    user_id = peewee.CharField(max_length=255)
    sdk_version = peewee.CharField(max_length=64)
    report_time = peewee.BigIntegerField()
    received_at = peewee.DoubleField()
    stream_id = peewee.CharField(max_length=255)
    direction = peewee.CharField(max_length=8)
    video_timestamp = peewee.BigIntegerField(null=True)
    frame_rate = peewee.DoubleField(null=True)
    width = peewee.IntegerField(null=True)
    height = peewee.IntegerField(null=True)
    video_bitrate = peewee.DoubleField(null=True)
    audio_timestamp = peewee.BigIntegerField(null=True)
    sample_rate = peewee.IntegerField(null=True)
    channels = peewee.IntegerField(null=True)
    audio_bitrate = peewee.DoubleField(null=True)
    rtt = peewee.DoubleField(null=True)
    packet_loss = peewee.DoubleField(null=True)
    jitter = peewee.DoubleField(null=True)

    class Meta:
        table_name = "report_sample"
        indexes = (
            (("account_id", "room_id", "report_time"), False),
            (("account_id", "room_id", "user_id", "report_time"), False),
        )


MODELS = [Room, Snapshot, Sample]
