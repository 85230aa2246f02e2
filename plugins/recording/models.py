"""Tables of the recording plugin: one row per LiveKit egress this server started. Times are epoch seconds."""

from __future__ import annotations

import peewee

from core.db import BaseModel
from plugins.recording.statuses import STARTING


class Recording(BaseModel):
    """A room-composite recording: its egress (id = LiveKit's egress id, EG_...), its state and its file."""

    id = peewee.CharField(max_length=64, primary_key=True)
    account_id = peewee.IntegerField()
    room_name = peewee.TextField()
    livekit_room = peewee.TextField()
    status = peewee.CharField(max_length=16, default=STARTING)
    # The object key we asked the egress to upload to, and the backend and bucket it went to.
    file_key = peewee.TextField()
    storage = peewee.CharField(max_length=16)
    bucket = peewee.CharField(max_length=255, default="")
    size = peewee.BigIntegerField(null=True)
    duration = peewee.DoubleField(null=True)
    error = peewee.TextField(default="")
    created_at = peewee.DoubleField()
    started_at = peewee.DoubleField(null=True)
    stop_requested_at = peewee.DoubleField(null=True)
    ended_at = peewee.DoubleField(null=True)
    updated_at = peewee.DoubleField()
    # Whether recording_started / recording_stopped were fired: each exactly once, whichever of a
    # webhook or the reconcile job sees the change first.
    started_fired = peewee.BooleanField(default=False)
    stopped_fired = peewee.BooleanField(default=False)

    class Meta:
        table_name = "recording_recording"
        indexes = (
            (("account_id", "room_name", "status"), False),
            (("account_id", "created_at"), False),
            (("status",), False),
        )


MODELS = [Recording]
