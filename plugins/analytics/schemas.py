"""Config schema of the analytics plugin and the schemas of GET /v2/analytics/peer-stats."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.config import PluginConfigSchema, describe, int_setting

MAX_ID = 64


class AnalyticsConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Load the analytics plugin."))
    session_idle_gap_seconds = int_setting(
        300,
        "A call without a LiveKit room running ends once nothing (report, LiveKit event, dump) was "
        "seen of it for this long; a LiveKit room_finished ends it at once.",
        30,
    )
    rollup_interval_seconds = int_setting(60, "How often the per-minute rollup job runs, seconds.", 10)
    rollup_reprocess_seconds = int_setting(
        180,
        "Each rollup run recomputes the minutes this far back, so reports that arrive late are counted.",
        0,
        3600,
    )
    sample_gap_cap_seconds = int_setting(
        10,
        "Longest interval one report sample stands for (a longer gap is an interruption, not media "
        "time), seconds.",
        1,
        300,
    )
    call_match_slack_seconds = int_setting(
        120,
        "Report samples and analysed dumps this far outside a call's start/end still belong to it "
        "(client clocks drift), seconds.",
        0,
        3600,
    )
    video_freeze_min_ms = int_setting(600, "A video render pause counts as a freeze from this length, ms.", 1)
    audio_freeze_min_ms = int_setting(
        200, "An audio render pause counts as a freeze from this length, ms.", 1
    )
    excellent_loss_percent = fields.Float(
        load_default=5.0,
        validate=validate.Range(0, 100),
        metadata=describe("An interval is excellent transmission when its packet loss is at most this, %."),
    )
    join_success_window_seconds = int_setting(
        5, "A join counts as joinSuccess5Secs when it completed within this many seconds.", 1
    )
    retention_days = int_setting(30, "Calls that ended longer ago are deleted with their rollups.", 1)
    purge_interval_seconds = int_setting(3600, "How often old calls are purged, seconds.", 60)


# -- GET /v2/analytics/peer-stats ------------------------------------------------------------------


def _id(description: str) -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(1, MAX_ID), validate.Regexp(r"^[^\x00]*$", error="must not contain NUL")],
        metadata=describe(description),
    )


class PeerStatsQueryArgsSchema(ma.Schema):
    """The query of GET /v2/analytics/peer-stats; unknown parameters are ignored, as the vendor does."""

    class Meta:
        unknown = ma.EXCLUDE

    peer_id = _id("Unique identifier of the peer (UUID).")
    session_id = _id("Unique identifier of the session.")
    live = fields.Boolean(
        load_default=False,
        metadata=describe(
            "Extension: also answer for a session that is still running (the vendor serves ended "
            "sessions only). Its newest minute may still change."
        ),
    )


def _series(description: str, nullable: bool = True) -> fields.List:
    return fields.List(fields.Float(allow_none=nullable), required=True, metadata=describe(description))


TIMESTAMPS = "Start of each minute, Unix milliseconds."


class PublisherVideoSeriesSchema(ma.Schema):
    timestamps = fields.List(fields.Integer(), required=True, metadata=describe(TIMESTAMPS))
    bitrate = _series("Mean bitrate in the minute, bits per second.")
    fps = _series("Mean frames per second.")
    packet_loss_percent = _series("Mean packet loss, percent.")
    rtt_ms = _series("Mean round-trip time, ms.")


class PublisherAudioSeriesSchema(ma.Schema):
    timestamps = fields.List(fields.Integer(), required=True, metadata=describe(TIMESTAMPS))
    bitrate = _series("Mean bitrate, bits per second.")
    packet_loss_percent = _series("Mean packet loss, percent.")
    rtt_ms = _series("Mean round-trip time, ms.")
    jitter_ms = _series("Mean jitter, ms.")


class SubscriberVideoSeriesSchema(ma.Schema):
    timestamps = fields.List(fields.Integer(), required=True, metadata=describe(TIMESTAMPS))
    bitrate = _series("Mean bitrate, bits per second, or null.")
    fps = _series("Mean frames per second.")
    freeze_count = fields.List(
        fields.Integer(),
        required=True,
        metadata=describe("Video freezes (>= video_freeze_min_ms) in the minute."),
    )


class SubscriberAudioSeriesSchema(ma.Schema):
    timestamps = fields.List(fields.Integer(), required=True, metadata=describe(TIMESTAMPS))
    bitrate = _series("Mean bitrate, bits per second, or null.")
    concealed_samples = fields.List(
        fields.Integer(allow_none=True),
        required=True,
        metadata=describe(
            "Concealed (interpolated) samples in the minute; null when the SDK sent no counter."
        ),
    )
    packet_loss_percent = _series("Mean packet loss, percent.")


class PublisherVideoSchema(ma.Schema):
    track_id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["regular", "screen"]))
    rid = fields.String(required=True, allow_none=True, validate=validate.OneOf(["h", "m", "l"]))
    time_series = fields.Nested(PublisherVideoSeriesSchema, required=True)


class PublisherAudioSchema(ma.Schema):
    track_id = fields.String(required=True)
    time_series = fields.Nested(PublisherAudioSeriesSchema, required=True)


class SubscriberVideoSchema(ma.Schema):
    track_id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["regular", "screen"]))
    time_series = fields.Nested(SubscriberVideoSeriesSchema, required=True)


class SubscriberAudioSchema(ma.Schema):
    track_id = fields.String(required=True)
    time_series = fields.Nested(SubscriberAudioSeriesSchema, required=True)


class PublisherSchema(ma.Schema):
    video = fields.List(fields.Nested(PublisherVideoSchema), required=True)
    audio = fields.List(fields.Nested(PublisherAudioSchema), required=True)


class SubscriberSchema(ma.Schema):
    video = fields.List(fields.Nested(SubscriberVideoSchema), required=True)
    audio = fields.List(fields.Nested(SubscriberAudioSchema), required=True)


class PeerStatsSchema(ma.Schema):
    peer_id = fields.String(required=True)
    session_id = fields.String(required=True)
    room_id = fields.String(required=True, metadata=describe("The room (its name, as the SDKs report it)."))
    publisher = fields.Nested(PublisherSchema, required=True)
    subscriber = fields.Nested(SubscriberSchema, required=True)
