"""Request, response and config schemas of the rtcstats plugin (wire names as in specs/rtcstats-api.md)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.config import PluginConfigSchema, StrList, describe, int_setting
from core.text import NON_BLANK_PRINTABLE_PATTERN, PRINTABLE_PATTERN, is_printable
from plugins.rtcstats.observation_tags import TAGS

MiB = 1024 * 1024
PLANS = ("developer", "trial_developer", "enterprise")
OBSERVATION_TAGS = TAGS  # the observation vocabulary has one home: observation_tags
MAX_FILTER_VALUES = 20
MAX_FILTER_LENGTH = 200
MAX_FILE_ID = 200


# -- list filters (shared by GET /sessions and the MCP list_sessions tool) ------------------------


class QueryList(fields.List):
    """A list given as repeated keys, comma-separated, or both ("a,b" and ?x=a&x=b); JSON lists too.

    `max_sent` bounds the values as sent (the document's maxItems), before commas split them: a
    client within the documented limit is never refused because its values hold commas.
    """

    def __init__(self, *args, max_sent: int | None = None, **kwargs):
        self.max_sent = max_sent
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, (list, tuple)) else [value]
        if self.max_sent is not None and len(items) > self.max_sent:
            raise ma.ValidationError(f"Longer than maximum length {self.max_sent}.")
        flat = []
        for item in items:
            if isinstance(item, str):
                # Spaces around the commas go; control characters stay, to be refused as such.
                flat += [part.strip(" ") for part in item.split(",") if part.strip(" ")]
            else:
                flat.append(item)
        return super()._deserialize(flat, attr, data, **kwargs)


class OneOrMany(fields.List):
    """A string filter: one value, or several by repeating the key (OR). Not split on commas, since
    ids and names may contain them."""

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, (list, tuple)) else [value]
        return super()._deserialize(list(items), attr, data, **kwargs)


def printable(value: str) -> None:
    """Control characters (NUL above all: PostgreSQL refuses it in text) are no one's name or id."""
    if not is_printable(value):
        raise ma.ValidationError("only printable characters")


PRINTABLE = {"pattern": PRINTABLE_PATTERN}  # field metadata: the OpenAPI document declares the rule


def _text_item() -> fields.String:
    return fields.String(validate=[validate.Length(1, MAX_FILTER_LENGTH), printable], metadata=PRINTABLE)


def _text_list(description: str, **kwargs) -> QueryList:
    return QueryList(
        _text_item(),
        max_sent=MAX_FILTER_VALUES,
        metadata={**describe(description), "maxItems": MAX_FILTER_VALUES},
        **kwargs,
    )


def _exact(description: str) -> OneOrMany:
    return OneOrMany(
        _text_item(), validate=validate.Length(max=MAX_FILTER_VALUES), metadata=describe(description)
    )


def _flag(description: str) -> fields.Boolean:
    return fields.Boolean(metadata=describe(description))


class SessionFiltersSchema(ma.Schema):
    """The filters of GET /sessions. Different filters are AND-combined, values of one filter OR-combined."""

    class Meta:
        unknown = ma.EXCLUDE

    name = _text_list("Sessions whose title contains ANY of these substrings (case-insensitive).")
    observationTypes = _text_list(  # noqa: N815 - wire name
        "Sessions with ANY of these observation types (critical/high/medium observations only)."
    )
    observationFlags = _text_list(  # noqa: N815
        "Alias of observationTypes (the name in specs/rtcstats-api.md)."
    )
    observationTags = QueryList(  # noqa: N815
        fields.String(validate=validate.OneOf(OBSERVATION_TAGS)),
        validate=validate.Length(max=MAX_FILTER_VALUES),
        metadata=describe(
            "Sessions whose critical/high/medium observations carry ANY of these tags: "
            + ", ".join(OBSERVATION_TAGS)
            + "."
        ),
    )
    os = _exact("Operating system, exact match (macOS, Windows, Linux, Android, iPhone, iPad).")
    browser = _exact("Browser, exact match (Chrome, Safari, Firefox, Edge).")
    browserVersion = _exact("Major browser version, exact match (e.g. 142).")  # noqa: N815
    userId = _exact("End-user id from the dump's metadata (rtcstats token `user`).")  # noqa: N815
    conferenceId = _exact("Conference id from the dump's metadata.")  # noqa: N815
    sessionId = _exact("Session id from the dump's metadata.")  # noqa: N815
    hasCritical = _flag("When true, only sessions with a critical observation.")  # noqa: N815
    hasHigh = _flag("When true, only sessions with a high-severity observation.")  # noqa: N815
    hasMedium = _flag("When true, only sessions with a medium-severity observation.")  # noqa: N815
    hasLowScore = _flag("When true, only sessions whose experience score is below 60.")  # noqa: N815
    hasMediumScore = _flag("When true, only sessions whose experience score is 60 to 79.")  # noqa: N815
    hasHighScore = _flag("When true, only sessions whose experience score is 80 or more.")  # noqa: N815


class PagingSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    limit = fields.Integer(
        validate=validate.Range(min=1),
        metadata=describe("Most sessions returned (default and maximum are settings)."),
    )
    offset = fields.Integer(
        load_default=0, validate=validate.Range(0, 10**9), metadata=describe("Sessions to skip.")
    )


class SessionsQueryArgsSchema(SessionFiltersSchema, PagingSchema):
    """GET /sessions query: the filters plus limit/offset paging (newest first)."""


def sessions_query_args(max_limit: int) -> SessionsQueryArgsSchema:
    """The GET /sessions query of an app whose sessions_max_limit is `max_limit` (for the document:
    service.parse_paging applies the same bound)."""

    class SessionsQueryArgs(SessionsQueryArgsSchema):
        limit = fields.Integer(
            validate=validate.Range(min=1, max=max_limit),
            metadata=describe(
                "Most sessions returned (default sessions_default_limit, at most sessions_max_limit)."
            ),
        )

    return SessionsQueryArgs()


class AnalyzeQueryArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    save = fields.String(
        metadata=describe("true or 1: also store the dump and the analysis as a session, like /upload.")
    )
    fileName = fields.String(  # noqa: N815
        validate=[validate.Length(max=255), printable],
        metadata=describe("Name of the dump file (for the stored session's title). Optional.") | PRINTABLE,
    )


# -- request bodies (documentation: the views read the raw body themselves) -----------------------


# As uploads.check_file_id: printable, not only spaces, at most MAX_FILE_ID characters.
FILE_ID = {
    "minLength": 1,
    "maxLength": MAX_FILE_ID,
    "pattern": NON_BLANK_PRINTABLE_PATTERN,
}
FILE_NAME = {"maxLength": 255, "pattern": PRINTABLE_PATTERN}  # as uploads.check_file_name
WHOLE_NUMBER = {"pattern": "^\\s*[0-9]+\\s*$"}  # as uploads._int_field (its range is a setting)


class UploadChunkFormSchema(ma.Schema):
    chunk = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "format": "binary",
            "minLength": 1,
            "description": "The bytes of this chunk (not empty; at most max_chunk_bytes). The part may also "
            "be named `blob`.",
        },
    )
    fileId = fields.String(  # noqa: N815
        required=True,
        metadata=describe("Client-made id of this upload (printable, up to 200 characters).") | FILE_ID,
    )
    chunkIndex = fields.String(  # noqa: N815
        required=True, metadata=describe("0-based index of this chunk (below max_chunks).") | WHOLE_NUMBER
    )
    totalChunks = fields.String(  # noqa: N815
        metadata=describe("Number of chunks of the file (optional; at most max_chunks).") | WHOLE_NUMBER
    )
    fileName = fields.String(metadata=describe("Name of the file (optional).") | FILE_NAME)  # noqa: N815


class AssembleSchema(ma.Schema):
    fileId = fields.String(  # noqa: N815
        required=True, metadata=describe("Same id as the chunks.") | FILE_ID
    )
    assemble = fields.Boolean(required=True, metadata=describe("Must be true.") | {"enum": [True]})
    fileName = fields.String(  # noqa: N815
        allow_none=True, metadata=describe("Name of the dump file.") | FILE_NAME
    )


# -- responses -----------------------------------------------------------------------------------


class RtcstatsErrorSchema(ma.Schema):
    error = fields.String(required=True, metadata=describe("What went wrong, for people."))
    errorCode = fields.String(  # noqa: N815
        required=True,
        metadata=describe(
            "Stable code: invalid_request, unauthorized, forbidden, insufficient_credits, not_found, "
            "method_not_allowed, analysis_pending, session_live, file_too_large, parsing_issue, "
            "analysis_failed, "
            "reprocess_failed, rate_limited, internal_error."
        ),
    )
    missingChunks = fields.List(  # noqa: N815
        fields.Integer(), metadata=describe("Assemble only: the chunk indexes not received.")
    )
    state = fields.String(metadata=describe("With session_live only: `live`, as the session list says."))


class UploadResponseSchema(ma.Schema):
    success = fields.Boolean(required=True)
    rtcstatsId = fields.String(metadata=describe("After assemble: the stored session's id."))  # noqa: N815
    rtcstatsUrl = fields.String(metadata=describe("After assemble: the viewer URL."))  # noqa: N815
    embedUrl = fields.String(  # noqa: N815
        metadata=describe("After assemble: the embeddable viewer URL (enterprise plan only).")
    )


class AnalyzeResponseSchema(ma.Schema):
    data = fields.Dict(
        metadata=describe("AnalyzeResponseData: summary, peer connections, streams, observations, scores.")
    )
    rtcstatsId = fields.String(metadata=describe("The stored session's id (with save)."))  # noqa: N815
    rtcstatsUrl = fields.String(metadata=describe("Viewer URL (with save)."))  # noqa: N815
    embedUrl = fields.String(  # noqa: N815
        metadata=describe("Embeddable viewer URL (with save, enterprise plan).")
    )
    processorVersion = fields.String(  # noqa: N815
        metadata=describe("Version of the analyzer that produced `data`.")
    )


class AnalyzePendingSchema(ma.Schema):
    """202 from POST /analyze: the dump is stored and analysed by a job; fetch the session later."""

    data = fields.Raw(allow_none=True, metadata=describe("Always null: the analysis is not done yet."))
    status = fields.String(metadata=describe('"pending".'))
    rtcstatsId = fields.String(metadata=describe("The stored session's id."))  # noqa: N815
    rtcstatsUrl = fields.String(metadata=describe("Viewer URL."))  # noqa: N815
    embedUrl = fields.String(  # noqa: N815
        metadata=describe("Embeddable viewer URL (enterprise plan).")
    )
    message = fields.String(metadata=describe("Why it was queued and where the result will be."))


class ChunkAcceptedSchema(ma.Schema):
    success = fields.Boolean(required=True)


class SessionResponseSchema(AnalyzeResponseSchema):
    pass


class EnrichResponseSchema(ma.Schema):
    data = fields.Dict(metadata=describe("scores, observationsCount, observations (flat), userAgentData."))
    processorVersion = fields.String()  # noqa: N815
    generatedAt = fields.Integer(metadata=describe("Epoch ms when the answer was made."))  # noqa: N815


class QuotaSchema(ma.Schema):
    accountName = fields.String(required=True)  # noqa: N815
    accountPlan = fields.String(required=True, validate=validate.OneOf(PLANS))  # noqa: N815
    allowedCredits = fields.Integer(  # noqa: N815
        required=True, metadata=describe("Credits of this month: the monthly allocation plus grants.")
    )
    remainingCredits = fields.Integer(required=True)  # noqa: N815


class SessionAbstractSchema(ma.Schema):
    observationTypes = fields.List(fields.String())  # noqa: N815
    observationFlags = fields.List(  # noqa: N815
        fields.String(), metadata=describe("Same as observationTypes (the name in the API description).")
    )
    observationTags = fields.List(fields.String())  # noqa: N815
    browser = fields.String(allow_none=True)
    browserVersion = fields.String(allow_none=True)  # noqa: N815
    os = fields.String(allow_none=True)
    osVersion = fields.String(allow_none=True)  # noqa: N815
    conferenceId = fields.String(allow_none=True)  # noqa: N815
    sessionId = fields.String(allow_none=True)  # noqa: N815
    userId = fields.String(allow_none=True)  # noqa: N815
    experienceScore = fields.Float(allow_none=True)  # noqa: N815
    connectivity = fields.String(allow_none=True)
    observationsCritical = fields.Integer()  # noqa: N815
    observationsHigh = fields.Integer()  # noqa: N815
    observationsMedium = fields.Integer()  # noqa: N815
    scoreBand = fields.String(validate=validate.OneOf(["low", "medium", "high", "unrated"]))  # noqa: N815


class LiveFactsSchema(ma.Schema):
    startedAt = fields.String(allow_none=True, metadata=describe("When the collector socket opened."))  # noqa: N815
    origin = fields.String(allow_none=True, metadata=describe("The page's Origin header."))
    userAgent = fields.String(allow_none=True, metadata=describe("The page's User-Agent header."))  # noqa: N815
    clientProtocol = fields.String(allow_none=True, metadata=describe("The WebSocket subprotocol."))  # noqa: N815
    browser = fields.String(allow_none=True)
    browserVersion = fields.String(allow_none=True, metadata=describe("Major version."))  # noqa: N815
    os = fields.String(allow_none=True)
    osVersion = fields.String(allow_none=True)  # noqa: N815
    userId = fields.String(allow_none=True, metadata=describe("jitsi: from the session's identity."))  # noqa: N815
    conferenceId = fields.String(allow_none=True, metadata=describe("jitsi: from the identity."))  # noqa: N815
    sessionId = fields.String(
        allow_none=True, metadata=describe("jitsi: the identity's, else statsSessionId.")
    )  # noqa: N815
    uploadedBy = fields.String(metadata=describe("The account's uploader id, as data.uploaded_by."))  # noqa: N815


class SessionListItemSchema(ma.Schema):
    rtcstatsId = fields.String(required=True)  # noqa: N815
    createdAt = fields.String(required=True)  # noqa: N815
    sessionStart = fields.String(required=True, allow_none=True)  # noqa: N815
    sessionEnd = fields.String(required=True, allow_none=True)  # noqa: N815
    title = fields.String(required=True)
    rtcstatsUrl = fields.String(required=True)  # noqa: N815
    embedUrl = fields.String()  # noqa: N815
    abstract = fields.Nested(
        SessionAbstractSchema,
        required=True,
        allow_none=True,
        metadata=describe("Denormalised summary; null while the session is not analysed."),
    )
    state = fields.String(
        metadata=describe(
            "Not in the vendor's contract: live (a collector socket is still streaming it), pending "
            "(stored, analysis queued), analyzed or failed."
        )
        | {"enum": ["live", "pending", "analyzed", "failed"]}
    )
    live = fields.Nested(
        LiveFactsSchema,
        metadata=describe("Only while state is live: what is known so far (client facts, start, uploader)."),
    )


class SessionsListSchema(ma.Schema):
    total = fields.Integer(required=True, metadata=describe("Number of sessions in `data`."))
    data = fields.List(fields.Nested(SessionListItemSchema), required=True)


class SuccessSchema(ma.Schema):
    success = fields.Boolean(required=True)


class ObservationTypeSchema(ma.Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    severity = fields.List(fields.String(), required=True)
    tags = fields.List(fields.String(), required=True)
    category = fields.String(metadata=describe("connections, streams, devices, datachannels, logs or pairs."))
    meaning = fields.String(metadata=describe("What the observation means, in plain words."))


class ObservationTypesSchema(ma.Schema):
    total = fields.Integer(required=True)
    data = fields.List(fields.Nested(ObservationTypeSchema), required=True)


# -- config ---------------------------------------------------------------------------------------


class RtcstatsConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Load the rtcstats plugin."))
    public_url = fields.String(
        load_default="",
        validate=validate.Regexp(r"^(https?://\S+)?$", error="must be empty or an http(s) URL"),
        metadata=describe(
            "Base of rtcstatsUrl/embedUrl (e.g. https://media.example.com); empty: the request's host."
        ),
    )
    account_plan = fields.String(
        load_default="enterprise",
        validate=validate.OneOf(PLANS),
        metadata=describe("accountPlan reported by /quota; only enterprise answers carry embedUrl."),
    )
    monthly_credits = int_setting(
        1000, "Credits of every account per calendar month (UTC); an upload or analyze uses one.", 0
    )
    max_chunk_bytes = int_setting(8 * MiB, "Largest upload chunk, bytes (uploaders send 1 MiB).", 1024)
    max_chunks = int_setting(10000, "Most chunks of one upload.", 1)
    max_upload_bytes = int_setting(64 * MiB, "Largest assembled upload, bytes (the sum of its chunks).", 1024)
    max_analyze_bytes = int_setting(64 * MiB, "Largest POST /analyze body, bytes.", 1024)
    max_uncompressed_bytes = int_setting(
        512 * MiB, "Largest dump after gunzip, bytes (guards against decompression bombs).", 1024
    )
    analyze_inline_max_bytes = int_setting(
        8 * MiB,
        "Largest dump (after gunzip) analysed within a POST /analyze or /enrich request; larger "
        "ones are analysed by a job (/analyze answers 202) or refused (/enrich, 413). Also the most "
        "of a gzip body or upload a request decompresses to judge it; a job checks larger ones whole.",
        0,
    )
    max_compression_ratio = int_setting(
        200, "A gzip dump expanding more than this many times is refused as a bomb.", 2
    )
    upload_expiry_seconds = int_setting(
        86400, "Chunks of an upload not assembled within this time after its last chunk are deleted.", 60
    )
    purge_interval_seconds = int_setting(3600, "How often abandoned uploads are purged.", 60)
    viewer_token_max_age_seconds = int_setting(
        7 * 86400, "Lifetime of the signed viewer links in rtcstatsUrl / embedUrl, seconds.", 60
    )
    cors_origins = StrList(
        load_default=lambda: ["*"],
        metadata=describe("Browser origins allowed (uploaders in web pages); * for any."),
    )
    mcp_session_max_age_seconds = int_setting(
        86400,
        "Lifetime of an MCP session id (Mcp-Session-Id); after it, or after DELETE, the id is a 404 and the "
        "client starts a new session.",
        60,
    )
    collector_idle_timeout_seconds = int_setting(
        60,
        "A collector WebSocket that sends nothing for this long is closed (4008) and its dump finalized "
        "(a jitsi socket's sessions wait collector_reconnect_seconds for a reconnect first); a jitsi "
        "session silent for this long is ended and stored while its socket goes on.",
        1,
    )
    collector_reconnect_seconds = int_setting(
        660,
        "How long the sessions of a jitsi socket that broke or went idle (also across a restart) wait "
        "for the client's reconnect (isReconnect=true, same account and statsSessionId) to resume them; "
        "after it they are stored. The default covers @jitsi/rtcstats's 10 minutes of retries plus one "
        "idle timeout; 0 stores them at once and refuses reconnects (3001).",
        0,
        3600,
    )
    collector_max_message_bytes = int_setting(
        1 * MiB, "Largest collector WebSocket message, bytes; a larger one closes the socket (1009).", 1024
    )
    collector_max_session_bytes = int_setting(
        64 * MiB,
        "Largest dump one collector WebSocket (jitsi: one statsSessionId) may write, bytes; past it the "
        "socket is closed (4009) and what was received is finalized.",
        1024,
    )
    collector_max_messages_per_second = int_setting(
        200,
        "Messages per second one collector WebSocket (jitsi: per open session) may send, averaged over "
        "5 s bursts; faster closes it (4029) and what was received is finalized.",
        1,
    )
    collector_max_sessions_per_account = int_setting(
        1000,
        "Open collector WebSockets per account (a jitsi socket counts its open sessions); one more is "
        "refused (4003).",
        1,
    )
    collector_max_sockets_per_worker = int_setting(
        1000,
        "Open collector WebSockets one web worker process serves (gunicorn's worker_connections counts a "
        "collector socket only during its handshake); one more is refused (1013, try again later).",
        1,
    )
    collector_max_session_id_chars = int_setting(
        128, "Longest jitsi statsSessionId (of [A-Za-z0-9_-]); a longer one closes the socket (1007).", 1
    )
    live_view_refresh_seconds = int_setting(
        10,
        "The viewer of a live session (collector socket open) reloads this often, and what the socket "
        "received is read again at most this often per session (bounded by analyze_inline_max_bytes).",
        2,
    )
    sessions_default_limit = int_setting(100, "GET /sessions page size without `limit`.", 1)
    sessions_max_limit = int_setting(1000, "Largest `limit` of GET /sessions.", 1)

    @ma.validates_schema
    def consistent(self, data, **kwargs):
        if data["sessions_default_limit"] > data["sessions_max_limit"]:
            raise ma.ValidationError("must not exceed sessions_max_limit", "sessions_default_limit")
        if data["max_chunk_bytes"] > data["max_upload_bytes"]:
            raise ma.ValidationError("must not exceed max_upload_bytes", "max_chunk_bytes")
