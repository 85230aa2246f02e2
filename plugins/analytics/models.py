"""Tables of the analytics plugin: calls, peers, tracks and their per-minute and per-day rollups.

Times are epoch seconds (floats for event times, integers for the minute/day a rollup row covers),
bitrates bits per second, loss percent 0-100, rtt and jitter milliseconds (reference §3.7: canonical
units are converted at the plugin boundary, once).
"""

from __future__ import annotations

import peewee

from core.db import BaseModel


class Call(BaseModel):
    """One session of a room: Agora's call, 100ms's session.

    A room name is reused over time; a call is one stretch of activity of it. `open_key` holds the room
    name while the call runs and NULL once it finished: the unique (account_id, open_key) index keeps
    two concurrent events from opening two calls of one room (NULLs do not collide).
    """

    account_id = peewee.IntegerField()
    call_id = peewee.CharField(max_length=32, unique=True)  # public id (hex), session_id / call_id
    room_name = peewee.CharField(max_length=255)
    open_key = peewee.CharField(max_length=255, null=True)
    started_at = peewee.DoubleField()
    ended_at = peewee.DoubleField(null=True)
    last_activity_at = peewee.DoubleField()  # server clock of the newest report, event or upload
    finished = peewee.BooleanField(default=False)
    livekit_active = peewee.BooleanField(default=False)  # room_started seen, room_finished not yet
    sources = peewee.CharField(max_length=64, default="")  # which plugins fed it: "report,room,rtcstats"
    rolled_until = peewee.BigIntegerField(default=0)  # report samples rolled up before this minute
    # Set when the call ends, cleared by the rollup that redoes its minutes up to and past the end.
    final_roll_due = peewee.BooleanField(default=False)

    class Meta:
        table_name = "analytics_call"
        indexes = (
            (("account_id", "open_key"), True),
            (("account_id", "started_at"), False),
            (("account_id", "room_name", "started_at"), False),
            (("finished", "last_activity_at"), False),
        )


class Peer(BaseModel):
    """One user of one call (a rejoin of the same user in the same call is the same peer)."""

    account_id = peewee.IntegerField()
    call = peewee.ForeignKeyField(Call, on_delete="CASCADE", index=False)
    peer_id = peewee.CharField(max_length=36, unique=True)  # public, UUID (100ms peer_id)
    sid = peewee.CharField(max_length=32, unique=True)  # public, upper hex (Agora user session id)
    user_id = peewee.CharField(max_length=255)  # report user_id / LiveKit identity / dump userId
    uid = peewee.BigIntegerField()  # Agora's numeric uid: user_id if it is a number, else a stable hash
    join_started_at = peewee.DoubleField(null=True)  # when the client began to join (rtcstats dump start)
    joined_at = peewee.DoubleField(null=True)  # LiveKit participant_joined, else first media report
    left_at = peewee.DoubleField(null=True)
    last_seen_at = peewee.DoubleField(null=True)
    platform = peewee.CharField(max_length=64, null=True)
    os = peewee.CharField(max_length=64, null=True)
    browser = peewee.CharField(max_length=128, null=True)
    sdk_version = peewee.CharField(max_length=64, null=True)
    network = peewee.CharField(max_length=32, null=True)
    device_type = peewee.CharField(max_length=128, null=True)
    rtcstats_id = peewee.CharField(max_length=36, null=True)
    sources = peewee.CharField(max_length=64, default="")

    class Meta:
        table_name = "analytics_peer"
        indexes = ((("call", "user_id"), True), (("account_id", "joined_at"), False))


class Track(BaseModel):
    """One media track of one peer, published or subscribed, from one source.

    report: a stream of a report carries video and audio parts: each is a track (key "<stream_id>/<dir>").
    room: a LiveKit track_published (key = track sid). rtcstats: a stream of an analysed dump, with
    whole-session totals in `summary` (the analysis has no per-minute series).
    """

    account_id = peewee.IntegerField()
    call = peewee.ForeignKeyField(Call, on_delete="CASCADE", index=False)
    peer = peewee.ForeignKeyField(Peer, on_delete="CASCADE", index=False)
    # Public id (UUID, or the SDK's own track_id): simulcast layers of one track share it, one row each.
    track_id = peewee.CharField(max_length=64, index=True)
    source = peewee.CharField(max_length=16)  # report | room | rtcstats
    key = peewee.CharField(max_length=300)
    kind = peewee.CharField(max_length=8)  # audio | video
    direction = peewee.CharField(max_length=12)  # publish | subscribe
    type = peewee.CharField(max_length=8, default="regular")  # regular | screen
    rid = peewee.CharField(max_length=4, null=True)  # simulcast layer h | m | l
    remote_user_id = peewee.CharField(max_length=255, null=True)  # whose media a subscribed track is
    summary = peewee.TextField(null=True)  # rtcstats totals as JSON

    class Meta:
        table_name = "analytics_track"
        indexes = ((("peer", "source", "key", "kind", "direction"), True), (("call",), False))


class TrackMinute(BaseModel):
    """One track over one UTC minute, from report samples (sample values are interval means).

    Means are over the samples of the minute; duration_ms is the media time those samples stand for
    (each sample the gap since the previous sample of the track, capped); freeze and excellent times
    are within it.
    """

    account_id = peewee.IntegerField()
    call = peewee.IntegerField()
    peer = peewee.IntegerField()
    track = peewee.IntegerField()
    minute = peewee.BigIntegerField()  # epoch s, multiple of 60
    samples = peewee.IntegerField()
    duration_ms = peewee.IntegerField()
    bitrate_bps = peewee.DoubleField(null=True)
    fps = peewee.DoubleField(null=True)
    packet_loss_pct = peewee.DoubleField(null=True)
    rtt_ms = peewee.DoubleField(null=True)
    jitter_ms = peewee.DoubleField(null=True)
    width = peewee.IntegerField(null=True)
    height = peewee.IntegerField(null=True)
    freeze_count = peewee.IntegerField(default=0)
    freeze_ms = peewee.IntegerField(default=0)
    freeze_estimated = peewee.BooleanField(default=False)  # from fps == 0 intervals, not SDK events
    concealed_samples = peewee.BigIntegerField(null=True)
    total_samples = peewee.BigIntegerField(null=True)
    loss_known_ms = peewee.IntegerField(default=0)
    excellent_ms = peewee.IntegerField(default=0)  # of loss_known_ms, intervals with loss <= 5 %

    class Meta:
        table_name = "analytics_track_minute"
        indexes = (
            (("track", "minute"), True),
            (("call", "peer", "minute"), False),
            (("account_id", "minute"), False),
        )


class AccountMinute(BaseModel):
    """One account over one UTC minute: scale, joins, freezes and transmission quality (live APIs)."""

    account_id = peewee.IntegerField()
    minute = peewee.BigIntegerField()
    users = peewee.IntegerField(default=0)  # pcu: distinct (room, user) present
    channels = peewee.IntegerField(default=0)  # pcc: calls running
    join_attempts = peewee.IntegerField(default=0)  # peers that began to join in this minute
    join_success = peewee.IntegerField(default=0)  # of those, joined
    join_measured = peewee.IntegerField(default=0)  # of those, with a known join start
    join_success_5s = peewee.IntegerField(default=0)  # of the measured, joined within the window
    video_freeze_ms = peewee.BigIntegerField(default=0)
    video_play_ms = peewee.BigIntegerField(default=0)
    audio_freeze_ms = peewee.BigIntegerField(default=0)
    audio_play_ms = peewee.BigIntegerField(default=0)
    video_up_excellent_ms = peewee.BigIntegerField(default=0)
    video_up_known_ms = peewee.BigIntegerField(default=0)
    audio_up_excellent_ms = peewee.BigIntegerField(default=0)
    audio_up_known_ms = peewee.BigIntegerField(default=0)
    video_e2e_excellent_ms = peewee.BigIntegerField(default=0)
    video_e2e_known_ms = peewee.BigIntegerField(default=0)
    audio_e2e_excellent_ms = peewee.BigIntegerField(default=0)
    audio_e2e_known_ms = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "analytics_account_minute"
        indexes = ((("account_id", "minute"), True),)


class AccountDay(BaseModel):
    """One account over one UTC day: usage (Data Insight)."""

    account_id = peewee.IntegerField()
    day = peewee.BigIntegerField()  # epoch s of 00:00 UTC
    user_count = peewee.IntegerField(default=0)  # distinct (room, user)
    session_count = peewee.IntegerField(default=0)  # joins (peers) that began that day
    channel_count = peewee.IntegerField(default=0)  # distinct rooms with a call running that day

    class Meta:
        table_name = "analytics_account_day"
        indexes = ((("account_id", "day"), True),)


MODELS = [Call, Peer, Track, TrackMinute, AccountMinute, AccountDay]
