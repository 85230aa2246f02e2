"""Request, response and config schemas of the report plugin (units are in the field descriptions)."""

from __future__ import annotations

import math

import marshmallow as ma
from marshmallow import fields, validate

from core.config import PluginConfigSchema, StrList, describe, int_setting
from core.fastload import FallBack, FastLoadSchema, float_type
from core.ratelimit import validate_limit

MS_THRESHOLD = 10**12  # epoch values above this are milliseconds (10^12 s is the year 33658)
MAX_EPOCH_SECONDS = 4_102_444_800  # 2100-01-01: later values are unit mistakes (e.g. microseconds)
MAX_ID = 255


EPOCH_DOC = {
    "type": "number",
    "anyOf": [
        {"minimum": 0, "maximum": MAX_EPOCH_SECONDS},
        # values are truncated to whole numbers before the threshold is compared
        {"minimum": MS_THRESHOLD + 1, "maximum": MAX_EPOCH_SECONDS * 1000 + 999},
    ],
}


def to_seconds(value: float) -> int:
    return int(value // 1000) if value > MS_THRESHOLD else int(value)


class EpochSeconds(fields.Integer):
    """Unix time in seconds; values above 10^12 are taken as milliseconds and converted."""

    def __init__(self, **kwargs):
        # The document declares the accepted numbers: seconds, or milliseconds, up to 2100.
        kwargs["metadata"] = {**EPOCH_DOC, **kwargs.get("metadata", {})}
        super().__init__(strict=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            # A query string's "1746616000.5": a number as documented, like a JSON 1746616000.5.
            try:
                value = float(value)
            except ValueError:
                raise self.make_error("invalid") from None
        if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
            raise self.make_error("invalid")
        if isinstance(value, float):
            value = int(value)
        seconds = to_seconds(super()._deserialize(value, attr, data, **kwargs))
        if not 0 <= seconds <= MAX_EPOCH_SECONDS:
            raise ma.ValidationError("must be Unix seconds or milliseconds between 1970 and 2100")
        return seconds

    def fast_type(self):
        """For core.fastload: a JSON integer in range; anything else is left to _deserialize."""

        def normalise(value: int) -> int:
            seconds = to_seconds(value)
            if not 0 <= seconds <= MAX_EPOCH_SECONDS:
                raise FallBack()
            return seconds

        return int, normalise


class Number(fields.Float):
    """A JSON number kept as sent: an integer stays an integer (frame_rate 25 is stored and answered
    25, not 25.0), a float stays a float. Strings of numbers ("25") load as floats, as for Float."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is int:
            return value  # the Range validator runs on it next; no float() (it overflows past 1e308)
        return super()._deserialize(value, attr, data, **kwargs)

    def fast_type(self):
        """For core.fastload: the Float fast type, keeping integers."""
        return float_type(self, keep_int=True)


def _measure(field_cls, description: str, low, high, **kwargs) -> fields.Field:
    """A measured value: may be null (not measured), bounded, unit in the description."""
    return field_cls(
        allow_none=True, validate=validate.Range(low, high), metadata=describe(description), **kwargs
    )


def number(description: str, low: float = 0, high: float | None = None) -> fields.Float:
    return _measure(Number, description, low, high, allow_nan=False)


def integer(description: str, low: int = 0, high: int | None = None) -> fields.Integer:
    return _measure(fields.Integer, description, low, high, strict=False)


# PostgreSQL text cannot hold NUL: refuse it in the values stored in their own columns.
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL characters")


# Room and user ids are path segments of the read routes (/report/metrics/{room_id}/{user_id}): a
# '/' in one would be stored yet never readable back, so it is refused at ingest.
PATH_SEGMENT = validate.Regexp(r"^[^\x00/]*$", error="must not contain '/' or NUL characters")


def identifier(description: str, *, in_path: bool = False) -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(1, MAX_ID), PATH_SEGMENT if in_path else NO_NUL],
        metadata=describe(description),
    )


class OpenSchema(ma.Schema):
    """Fields we do not know are kept as sent: SDKs add fields over time."""

    class Meta:
        unknown = ma.INCLUDE


class VideoSchema(OpenSchema):
    timestamp = EpochSeconds(allow_none=True, metadata=describe("Unix seconds (milliseconds accepted)."))
    frame_rate = number("Frames per second.", 0, 1000)
    width = integer("Pixels.", 0, 16384)
    height = integer("Pixels.", 0, 16384)
    bitrate = number("kbps.", 0, 10_000_000)


class AudioSchema(OpenSchema):
    timestamp = EpochSeconds(allow_none=True, metadata=describe("Unix seconds (milliseconds accepted)."))
    sample_rate = integer("Hz.", 0, 768_000)
    channels = integer("Channel count.", 0, 64)
    bitrate = number("kbps.", 0, 10_000_000)


class NetworkSchema(OpenSchema):
    rtt = number("Round-trip time, ms.", 0, 600_000)
    packet_loss = number("Packet loss, percent 0-100.", 0, 100)
    jitter = number("Jitter, ms.", 0, 600_000)


class StreamSchema(OpenSchema):
    stream_id = identifier("Stream id, unique within the user (e.g. camera, screen, mic).")
    direction = fields.String(
        load_default="send",
        validate=validate.OneOf(["send", "recv"]),
        metadata=describe('"send" (published) or "recv" (subscribed).'),
    )
    video = fields.Nested(VideoSchema, allow_none=True)
    audio = fields.Nested(AudioSchema, allow_none=True)
    network = fields.Nested(NetworkSchema, allow_none=True)


class UserMetricSchema(OpenSchema):
    user_id = identifier("User the streams belong to; no '/'.", in_path=True)
    streams = fields.List(fields.Nested(StreamSchema), required=True)


class MetricsReportSchema(OpenSchema, FastLoadSchema):
    """POST /report/metrics body (loaded through core.fastload's fast path: ingest is the hot path)."""

    user_id = identifier("Reporting user id; no '/'.", in_path=True)
    room_id = identifier("Room id; no '/' (it is a path segment of the read routes).", in_path=True)
    sdk_version = fields.String(
        required=True, validate=[validate.Length(1, 64), NO_NUL], metadata=describe("SDK version.")
    )
    report_time = EpochSeconds(required=True, metadata=describe("Unix seconds (milliseconds accepted)."))
    metrics = fields.List(
        fields.Nested(UserMetricSchema), required=True, metadata=describe("User metric entries.")
    )


CURSOR_PATTERN = r"^[0-9]{1,10}\.[0-9]{1,18}$"  # as service.CURSOR_RE: "<report_time>.<snapshot id>"


class QueryArgsSchema(ma.Schema):
    """Query arguments where a key given empty (`?since=`, as dashboards send a blank input) is absent."""

    @ma.pre_load
    def drop_empty_values(self, data, **kwargs):
        return {key: value for key, value in data.items() if value != ""}


class HistoryQueryArgsSchema(QueryArgsSchema):
    since = EpochSeconds(metadata=describe("Only snapshots with report_time >= since (Unix s or ms)."))
    until = EpochSeconds(metadata=describe("Only snapshots with report_time < until (Unix s or ms)."))
    limit = fields.Integer(
        validate=validate.Range(min=1), metadata=describe("Most snapshots returned, newest first.")
    )
    cursor = fields.String(
        validate=validate.Regexp(CURSOR_PATTERN, error="not a cursor from X-Next-Cursor"),
        metadata=describe("Next page: the X-Next-Cursor header of the previous page (set when it was full)."),
    )


def history_query_args(max_limit: int) -> HistoryQueryArgsSchema:
    """The history query of an app whose history_max_limit is `max_limit` (validated and documented)."""

    class HistoryQueryArgs(HistoryQueryArgsSchema):
        limit = fields.Integer(
            validate=[validate.Range(min=1), validate.Range(max=max_limit, error="at most {max}")],
            metadata=describe(
                "Most snapshots returned, newest first (default history_default_limit, at most "
                "history_max_limit)."
            ),
        )

    return HistoryQueryArgs()


class RoomsQueryArgsSchema(QueryArgsSchema):
    include_idle = fields.Boolean(
        load_default=False, metadata=describe("Also list rooms with no report within the live window.")
    )


# -- responses: {code, message, data} -------------------------------------------------------------


class EnvelopeSchema(ma.Schema):
    code = fields.Integer(metadata=describe("0 on success, the HTTP status on errors."))
    message = fields.String()


class StreamOutSchema(ma.Schema):
    stream_id = fields.String()
    direction = fields.String()
    video = fields.Dict(
        allow_none=True, metadata=describe("timestamp (s), frame_rate, width, height, bitrate (kbps)")
    )
    audio = fields.Dict(
        allow_none=True, metadata=describe("timestamp (s), sample_rate (Hz), channels, bitrate (kbps)")
    )
    network = fields.Dict(allow_none=True, metadata=describe("rtt (ms), packet_loss (%), jitter (ms)"))


class UserMetricsSchema(ma.Schema):
    room_id = fields.String()
    user_id = fields.String()
    sdk_version = fields.String()
    report_time = fields.Integer(metadata=describe("Newest report of this user, Unix s."))
    streams = fields.List(fields.Nested(StreamOutSchema))


class RoomMetricsSchema(ma.Schema):
    room_id = fields.String()
    report_time = fields.Integer(metadata=describe("Newest report in the room, Unix s."))
    user_count = fields.Integer()
    stream_count = fields.Integer()
    aggregate = fields.Dict(
        metadata=describe(
            "video {send_bitrate, recv_bitrate: sums in kbps, frame_rate: mean, streams}, "
            "audio {send_bitrate, recv_bitrate: sums in kbps, streams}, "
            "network {rtt, rtt_max (ms), packet_loss, packet_loss_max (%), jitter, jitter_max (ms)}"
        )
    )
    users = fields.List(fields.Nested(UserMetricsSchema))


class NullEnvelopeSchema(EnvelopeSchema):
    data = fields.Raw(allow_none=True, dump_default=None)


class RoomListEnvelopeSchema(EnvelopeSchema):
    data = fields.List(fields.String(), metadata=describe("Room ids with a report within the live window."))


class UserMetricsEnvelopeSchema(EnvelopeSchema):
    data = fields.Nested(UserMetricsSchema)


class RoomMetricsEnvelopeSchema(EnvelopeSchema):
    data = fields.Nested(RoomMetricsSchema)


class HistoryEnvelopeSchema(EnvelopeSchema):
    data = fields.List(
        fields.Dict(),
        metadata=describe("Snapshots, newest first: each is an accepted report as posted (times in Unix s)."),
    )


# -- config ---------------------------------------------------------------------------------------


def _limit(value: str) -> None:
    try:
        validate_limit(value)
    except ValueError as err:
        raise ma.ValidationError(f'not a rate limit like "100/second": {err}') from None


class ReportConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Load the report plugin."))
    live_window_seconds = int_setting(120, "Reports newer than this keep a room live.", 1)
    retention_days = int_setting(30, "Reports older than this are purged.", 1)
    max_body_bytes = int_setting(1024 * 1024, "Largest ingest body, bytes.", 256)
    max_streams_per_report = int_setting(200, "Most streams in one report.", 1)
    ingest_rate_limit = fields.String(
        load_default="100/second", validate=_limit, metadata=describe("Ingest requests per API key.")
    )
    cors_origins = StrList(
        load_default=lambda: ["*"], metadata=describe("Browser origins allowed; * for any.")
    )
    history_default_limit = int_setting(100, "History page size without `limit`.", 1)
    history_max_limit = int_setting(1000, "Largest `limit` of history.", 1)
    idle_check_interval_seconds = int_setting(60, "How often idle rooms are detected.", 1)
    purge_interval_seconds = int_setting(3600, "How often old reports are purged.", 60)

    @ma.validates_schema
    def default_page_fits(self, data, **kwargs):
        if data["history_default_limit"] > data["history_max_limit"]:
            raise ma.ValidationError("must not exceed history_max_limit", "history_default_limit")
