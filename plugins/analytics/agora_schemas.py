"""Query, response and config schemas of the Agora-style endpoints (/beta/analytics, /insight, /live)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.config import StrList, describe, int_setting
from core.ratelimit import validate_limit

MAX_EPOCH_SECONDS = 4_102_444_800  # 2100-01-01: later values are unit mistakes (milliseconds)
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL characters")

# Metric names per endpoint, exactly as the contract spells them.
USAGE_METRICS = ("userCount", "sessionCount", "channelCount")
SCALE_METRICS = ("pcu", "pcc")
EXPERIENCE_METRICS = ("joinSuccessRate", "joinSuccess5SecsRate", "videoFreezeRate", "audioFreezeRate")
NET_METRICS = (
    "videoUpstreamExcellentTransRate",
    "audioUpstreamExcellentTransRate",
    "videoEnd2EndExcellentTransRate",
    "audioEnd2EndExcellentTransRate",
)


def _rate_limit(value: str) -> None:
    try:
        validate_limit(value)
    except ValueError as err:
        raise ma.ValidationError(f'not a rate limit like "1/second; 1000/day": {err}') from None


def _limit_setting(default: str, text: str) -> fields.String:
    return fields.String(load_default=default, validate=_rate_limit, metadata=describe(text))


class AgoraSettingsMixin(ma.Schema):
    """The Agora-style endpoints' settings; the analytics config schema inherits them."""

    agora_call_lists_rate_limit = _limit_setting(
        "3/second; 1000/day", "Requests per API key to /beta/analytics/call/lists (contract: 3/s, 1000/day)."
    )
    agora_call_details_rate_limit = _limit_setting(
        "1/second; 1000/day",
        "Requests per API key to /beta/analytics/call/details (contract: 1/s, 1000/day).",
    )
    agora_insight_rate_limit = _limit_setting(
        "1/minute; 10/day", "Requests per API key to /beta/insight/usage/by_time (contract: 1/min, 10/day)."
    )
    agora_live_rate_limit = _limit_setting(
        "1/second; 1000/day",
        "Requests per API key to each /beta/live/... endpoint, counted per endpoint "
        "(contract: 1/s, 1000/day).",
    )
    agora_call_search_days = int_setting(
        3, "Call lists and details reach back this many days (start_ts older: 400).", 1, 3650
    )
    agora_call_details_max_seconds = int_setting(
        10800, "Longest start_ts..end_ts window of one call/details request, seconds (longer: 400).", 60
    )
    agora_insight_days = int_setting(
        7, "usage/by_time reaches back this many days (start_ts older: 400).", 1, 3650
    )
    agora_live_window_seconds = int_setting(
        3600, "The /beta/live endpoints reach back this many seconds (start_ts older: 400).", 60
    )
    agora_clock_leeway_seconds = int_setting(
        60, "Slack granted to a start_ts computed as now minus the limit on a client clock, seconds.", 0, 3600
    )
    agora_max_calls = int_setting(
        10, "Most calls in one call/lists answer (has_more tells of others).", 1, 1000
    )
    agora_max_users = int_setting(
        10, "Most users (call_info and metrics) in one call/details answer.", 1, 1000
    )
    agora_server_user_prefixes = StrList(
        load_default=lambda: ["EG_", "ingress-", "agent-"],
        metadata=describe(
            "Identities starting with one of these are server-side participants (LiveKit egress "
            "recorders, ingress streams, agents): Agora's server users, left out of call/details unless "
            "exclude_server_user=false, and of live/diagnosis."
        ),
    )
    agora_max_diagnoses = int_setting(10, "Most diagnostic messages in one live/diagnosis answer.", 1, 1000)


# -- query arguments ------------------------------------------------------------------------------


def _epoch(text: str) -> fields.Integer:
    return fields.Integer(
        validate=validate.Range(0, MAX_EPOCH_SECONDS, error="must be Unix seconds between 1970 and 2100"),
        metadata=describe(text),
    )


class WindowArgsSchema(ma.Schema):
    """start_ts/end_ts (or the newer startTs/endTs) and appid; loads as {start, end, start_name,
    end_name, appid, ...}, where *_name is the spelling the caller used (errors quote it)."""

    class Meta:
        # Callers of newer doc generations send parameters we do not use: they are ignored, not errors.
        unknown = ma.EXCLUDE

    start_ts = _epoch("Start of the time frame, Unix seconds (UTC). Required unless startTs is sent.")
    end_ts = _epoch("End of the time frame, Unix seconds (UTC). Required unless endTs is sent.")
    startTs = _epoch("Same as start_ts (newer Agora documents spell it so).")  # noqa: N815 - wire name
    endTs = _epoch("Same as end_ts (newer Agora documents spell it so).")  # noqa: N815 - wire name
    appid = fields.String(
        required=True,
        validate=[validate.Length(1, 64), NO_NUL],
        metadata=describe("App ID of your project (`mediaplane analytics appid show --account NAME`)."),
    )

    @ma.pre_load
    def drop_empty_values(self, data, **kwargs):
        # A blank form input (`?cname=`) is an absent parameter, as dashboards send it.
        return {key: value for key, value in data.items() if value != ""}

    @ma.validates_schema
    def one_window(self, data, **kwargs):
        for snake, camel in (("start_ts", "startTs"), ("end_ts", "endTs")):
            if snake in data and camel in data and data[snake] != data[camel]:
                raise ma.ValidationError(f"{snake} and {camel} differ; send one of them", snake)
            if snake not in data and camel not in data:
                raise ma.ValidationError("Missing data for required field (or send " + camel + ").", snake)
        start = data.get("start_ts", data.get("startTs"))
        end = data.get("end_ts", data.get("endTs"))
        if end <= start:
            name = "end_ts" if "end_ts" in data else "endTs"
            raise ma.ValidationError(f"must be after {'start_ts' if 'start_ts' in data else 'startTs'}", name)

    @ma.post_load
    def normalise(self, data, **kwargs):
        out = {
            key: value for key, value in data.items() if key not in ("start_ts", "end_ts", "startTs", "endTs")
        }
        out["start_name"] = "start_ts" if "start_ts" in data else "startTs"
        out["end_name"] = "end_ts" if "end_ts" in data else "endTs"
        out["start"] = data[out["start_name"]]
        out["end"] = data[out["end_name"]]
        return out


class CallListsArgsSchema(WindowArgsSchema):
    cname = fields.String(
        validate=[validate.Length(1, 255), NO_NUL],
        metadata=describe("Only calls of this channel (room) name."),
    )


class CallDetailsArgsSchema(WindowArgsSchema):
    call_id = fields.String(
        required=True,
        validate=[validate.Length(1, 64), NO_NUL],
        metadata=describe("The call's call_id, as call/lists answers it."),
    )
    exclude_server_user = fields.Boolean(
        load_default=True,
        metadata=describe(
            "Leave out server-side participants (LiveKit ingress, egress and agents, our equivalent of "
            "Agora's Linux server users). Default true."
        ),
    )
    exclude_metrics_info = fields.Boolean(
        load_default=False, metadata=describe("Answer call_info only, without the `metrics` array.")
    )


def _metric_list(names: tuple[str, ...]):
    alternatives = "|".join(names)
    pattern = rf"^ *({alternatives}) *(, *({alternatives}) *)*$"

    def check(value: str) -> None:
        unknown = [part.strip() for part in value.split(",") if part.strip() not in names]
        if unknown:
            raise ma.ValidationError(f"unknown metric {unknown[0]!r}; one or more of {', '.join(names)}")

    return fields.String(
        required=True,
        validate=[validate.Length(1, 512), check],
        metadata={
            "description": f"Metric(s), comma-separated: {', '.join(names)}.",
            "pattern": pattern,
        },
    )


def metric_names(value: str) -> list[str]:
    """ "pcu, pcc,pcu" -> ["pcu", "pcc"] (order kept, duplicates dropped)."""
    return list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _granularity(allowed: str, meaning: str) -> fields.String:
    return fields.String(
        validate=validate.OneOf([allowed], error=f"must be {allowed} ({meaning})"),
        metadata=describe(f"Aggregation step (newer Agora documents); only `{allowed}`: {meaning}."),
    )


class UsageArgsSchema(WindowArgsSchema):
    metric = _metric_list(USAGE_METRICS)
    aggregateGranularity = _granularity("1d", "data insight counts per UTC day")  # noqa: N815


class ScaleArgsSchema(WindowArgsSchema):
    metric = _metric_list(SCALE_METRICS)
    aggregateGranularity = _granularity("1m", "realtime data is per minute")  # noqa: N815


class ExperienceArgsSchema(WindowArgsSchema):
    metric = _metric_list(EXPERIENCE_METRICS)
    aggregateGranularity = _granularity("1m", "realtime data is per minute")  # noqa: N815


class NetArgsSchema(WindowArgsSchema):
    metric = _metric_list(NET_METRICS)
    aggregateGranularity = _granularity("1m", "realtime data is per minute")  # noqa: N815


class DiagnosisArgsSchema(WindowArgsSchema):
    pass


# -- responses ------------------------------------------------------------------------------------


class AgoraEnvelopeSchema(ma.Schema):
    code = fields.Integer(metadata=describe("200 on success; the HTTP status on errors."))
    message = fields.String(metadata=describe('Empty or "success" on success; the error otherwise.'))


class CallSchema(ma.Schema):
    call_id = fields.String(metadata=describe("The unique ID of the call."))
    cname = fields.String(metadata=describe("The channel (room) name."))
    created_ts = fields.Integer(metadata=describe("When the call began, Unix seconds."))
    destroyed_ts = fields.Integer(metadata=describe("When the call ended, Unix seconds; 0 while it goes on."))
    finished = fields.Boolean(metadata=describe("Whether the call has ended."))


class CallListsResponseSchema(AgoraEnvelopeSchema):
    has_more = fields.Boolean(
        metadata=describe("More calls matched than call_lists holds: narrow the search.")
    )
    call_lists = fields.List(
        fields.Nested(CallSchema), metadata=describe("The most recent calls, newest start first.")
    )


class CallUserSchema(ma.Schema):
    sid = fields.String(metadata=describe("The unique ID of the user session."))
    cname = fields.String()
    uid = fields.Integer(
        metadata=describe(
            "The user ID: the identity itself when it is a number in 0..2^32-1, else a stable 32-bit "
            "number derived from it (CRC-32), with the identity in user_account."
        )
    )
    user_account = fields.String(
        metadata=describe("The user's identity as it joined (Agora's user account).")
    )
    network = fields.String(metadata=describe('Network type as the client reported it; "" when unknown.'))
    platform = fields.String(metadata=describe('Platform (OS) as reported; "" when unknown.'))
    speaker = fields.Boolean(metadata=describe("Whether the user sent audio in the call."))
    sdk_version = fields.String(metadata=describe('SDK version as reported; "" when unknown.'))
    device_type = fields.String(
        metadata=describe('Device as reported (browser or OS and version); "" when unknown.')
    )
    join_ts = fields.Integer(metadata=describe("When the user joined, Unix seconds."))
    leave_ts = fields.Integer(metadata=describe("When the user left, Unix seconds; 0 while in the call."))
    finished = fields.Boolean(metadata=describe("Whether the user has left the call."))


class MetricSeriesSchema(ma.Schema):
    mid = fields.Integer(metadata=describe("Metric id 20001-20020 (see docs/analytics.md for the sources)."))
    peer_uid = fields.Integer(
        metadata=describe("uid of the remote user the series is about; 0 for the local user.")
    )
    kvs = fields.List(
        fields.List(fields.Float()),
        metadata=describe("[ts, value] pairs: ts in Unix seconds (the minute), value in the mid's unit."),
    )


class CallUserMetricsSchema(ma.Schema):
    sid = fields.String()
    data = fields.List(fields.Nested(MetricSeriesSchema))


class CallDetailsResponseSchema(AgoraEnvelopeSchema):
    call_id = fields.String()
    call_info = fields.List(
        fields.Nested(CallUserSchema), metadata=describe("Users of the call, latest join first.")
    )
    metrics = fields.List(
        fields.Nested(CallUserMetricsSchema),
        metadata=describe("Per user session: metric series by mid (absent with exclude_metrics_info=true)."),
    )


def _point_schema(name: str, names: tuple[str, ...], kind: str) -> type[ma.Schema]:
    attrs = {"ts": fields.Integer(metadata=describe(f"Start of the {kind}, Unix seconds."))}
    for metric in names:
        if metric in ("userCount", "sessionCount", "channelCount", "pcu", "pcc"):
            attrs[metric] = fields.Integer(metadata=describe("Count (only when requested in `metric`)."))
        else:
            attrs[metric] = fields.Float(
                allow_none=True,
                metadata=describe("Percent 0-100 (only when requested); null when nothing was measured."),
            )
    return type(name, (ma.Schema,), attrs)


UsagePointSchema = _point_schema("UsagePointSchema", USAGE_METRICS, "UTC day")
ScalePointSchema = _point_schema("ScalePointSchema", SCALE_METRICS, "minute")
ExperiencePointSchema = _point_schema("ExperiencePointSchema", EXPERIENCE_METRICS, "minute")
NetPointSchema = _point_schema("NetPointSchema", NET_METRICS, "minute")


def _series_response(name: str, point: type[ma.Schema]) -> type[ma.Schema]:
    return type(name, (AgoraEnvelopeSchema,), {"data": fields.List(fields.Nested(point))})


UsageResponseSchema = _series_response("UsageResponseSchema", UsagePointSchema)
ScaleResponseSchema = _series_response("ScaleResponseSchema", ScalePointSchema)
ExperienceResponseSchema = _series_response("ExperienceResponseSchema", ExperiencePointSchema)
NetResponseSchema = _series_response("NetResponseSchema", NetPointSchema)


class CauseTagSchema(ma.Schema):
    factor_id = fields.Integer(metadata=describe("Factor ID (cause); see docs/analytics.md."))
    host_user = fields.String(
        metadata=describe('The remote user the factor relates to; "" for the local user.')
    )


class DiagnosisSchema(ma.Schema):
    ts = fields.Integer(metadata=describe("The minute of the abnormality, Unix seconds."))
    user = fields.String(metadata=describe("The uid (as a string) of the user with the abnormality."))
    exp_id = fields.Integer(metadata=describe("4 video freeze, 5 audio freeze, 6 join-channel delay."))
    cname = fields.String()
    cause_tags = fields.List(fields.Nested(CauseTagSchema), metadata=describe("At most three causes."))


class DiagnosisResponseSchema(AgoraEnvelopeSchema):
    data = fields.List(fields.Nested(DiagnosisSchema), metadata=describe("Newest first."))
