"""Request, response and config schemas of the room plugin (the rooms-API contract's wire names)."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from core.config import PluginConfigSchema, describe, int_setting

ROLES = ("host", "moderator", "participant", "viewer")
INGRESS_TYPES = ("rtmp", "whip")
# Names that are path segments (room ids, participant identities): no '/', no NUL, no control
# characters (LiveKit would take them, but no URL or log line shows them faithfully).
SEGMENT_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
TEXT_PATTERN = r"^[^\x00]*$"
LIVEKIT_URL_RE = re.compile(r"^(wss?|https?)://[^\s/?#]+(/[^\s?#]*)?$")
UINT32_MAX = 2**32 - 1


class Limits:
    """The input limits of one app (from its settings), for schemas and the document alike."""

    def __init__(self, settings: dict):
        self.room_name = settings["max_room_name_length"]
        self.identity = settings["max_identity_length"]
        self.display_name = settings["max_name_length"]
        self.room_metadata = settings["max_room_metadata_bytes"]
        self.participant_metadata = settings["max_participant_metadata_bytes"]


def segment(max_length: int, description: str, **kwargs) -> fields.String:
    """A name that is also a path segment of later requests."""
    return fields.String(
        validate=[
            validate.Length(1, max_length),
            validate.Regexp(SEGMENT_PATTERN, error="must not contain '/' or control characters"),
        ],
        metadata=describe(description),
        **kwargs,
    )


def text(max_length: int, description: str, **kwargs) -> fields.String:
    return fields.String(
        validate=[
            validate.Length(1, max_length),
            validate.Regexp(TEXT_PATTERN, error="must not contain NUL characters"),
        ],
        metadata=describe(description),
        **kwargs,
    )


class Utf8Length(validate.Validator):
    """At most `limit` bytes once UTF-8 encoded: LiveKit limits metadata in bytes, not characters."""

    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, value):
        try:
            size = len(value.encode())
        except UnicodeEncodeError:  # a lone surrogate from a \udXXX escape: no UTF-8 for it
            raise ma.ValidationError("must be valid Unicode text (no lone surrogates)") from None
        if size > self.limit:
            raise ma.ValidationError(f"must be at most {self.limit} bytes (UTF-8); it is {size}")
        return value


class JsonObjectSize(validate.Validator):
    """A JSON object whose compact encoding is at most `limit` bytes."""

    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, value):
        import json

        try:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        except (UnicodeEncodeError, ValueError, RecursionError):
            raise ma.ValidationError("must be a JSON object of valid Unicode text") from None
        if size > self.limit:
            raise ma.ValidationError(f"must encode to at most {self.limit} bytes of JSON; it is {size}")
        return value


def token_schema(limits: Limits) -> type[ma.Schema]:
    class TokenRequestSchema(ma.Schema):
        """POST /v1/token and /v1/token/refresh body."""

        roomId = segment(  # noqa: N815 - the contract's name
            limits.room_name, "Room name the token joins (as created with POST /v1/rooms).", required=True
        )
        userId = segment(  # noqa: N815
            limits.identity, "Participant identity, unique in the room.", required=True
        )
        name = text(limits.display_name, "Display name shown to the other participants.", required=True)
        role = fields.String(
            required=True,
            validate=validate.OneOf(ROLES),
            metadata=describe(
                "host: publish, subscribe, data, room admin. moderator: publish, subscribe, data. "
                "participant: publish, subscribe, data. viewer: subscribe only."
            ),
        )
        metadata = fields.Dict(
            keys=fields.String(),
            allow_none=True,
            validate=JsonObjectSize(limits.participant_metadata),
            metadata=describe(
                "Any JSON object; the participant's metadata in LiveKit is its JSON text "
                f"(at most {limits.participant_metadata} bytes, max_participant_metadata_bytes)."
            ),
        )

    return TokenRequestSchema


class TokenSchema(ma.Schema):
    token = fields.String(required=True, metadata=describe("LiveKit access token (JWT)."))
    url = fields.String(required=True, metadata=describe("LiveKit URL the client connects to."))
    expiresAt = fields.String(  # noqa: N815
        required=True,
        metadata=describe(
            "When the token expires, ISO 8601 UTC with milliseconds (2025-01-01T12:30:00.000Z)."
        ),
    )


def room_create_schema(limits: Limits) -> type[ma.Schema]:
    class RoomCreateSchema(ma.Schema):
        """POST /v1/rooms body."""

        name = segment(limits.room_name, "Room name (its id in every other route).", required=True)
        maxParticipants = fields.Integer(  # noqa: N815
            strict=True,
            allow_none=True,
            validate=validate.Range(0, UINT32_MAX),
            metadata=describe("Most participants at once; 0 or absent: LiveKit's limit."),
        )
        emptyTimeout = fields.Integer(  # noqa: N815
            strict=True,
            allow_none=True,
            validate=validate.Range(0, UINT32_MAX),
            metadata=describe(
                "Seconds an empty room stays open before anyone joined; 0 or absent: LiveKit's default "
                "(300). After the last participant leaves LiveKit's departure timeout applies."
            ),
        )
        metadata = fields.String(
            allow_none=True,
            validate=Utf8Length(limits.room_metadata),
            metadata=describe(
                f"Any text stored on the room (at most {limits.room_metadata} bytes: "
                "max_room_metadata_bytes)."
            ),
        )

    return RoomCreateSchema


class MuteSchema(ma.Schema):
    """POST /v1/rooms/{roomId}/participants/{participantId}/mute body."""

    trackSid = fields.String(  # noqa: N815
        required=True,
        validate=[
            validate.Length(1, 64),
            validate.Regexp(r"^[A-Za-z0-9_\-]+$", error="not a LiveKit track SID (TR_...)"),
        ],
        metadata=describe("SID of the published track to mute (TR_...)."),
    )


def ingress_create_schema(limits: Limits) -> type[ma.Schema]:
    class IngressCreateSchema(ma.Schema):
        """POST /v1/rooms/{roomId}/ingress body (every field optional)."""

        type = fields.String(
            load_default="rtmp",
            allow_none=True,
            validate=validate.OneOf(INGRESS_TYPES),
            metadata=describe("Ingress protocol: rtmp or whip."),
        )
        participantName = text(  # noqa: N815
            limits.display_name,
            "Display name of the stream in the room.",
            load_default="Ingress Stream",
            allow_none=True,
        )
        participantIdentity = segment(  # noqa: N815
            limits.identity,
            "Identity of the stream in the room; absent: ingress-<random hex>.",
            allow_none=True,
        )

    return IngressCreateSchema


class LiveKitObjectSchema(ma.Schema):
    """A LiveKit protocol message as JSON, keys as LiveKit's JSON names (see docs/room.md)."""

    class Meta:
        unknown = ma.INCLUDE


class RoomSchema(LiveKitObjectSchema):
    """A LiveKit Room; `name` is the room's name in this account."""

    sid = fields.String(metadata=describe("LiveKit room SID (RM_...)."))
    name = fields.String(metadata=describe("Room name, as created."))


class RoomListSchema(ma.Schema):
    rooms = fields.List(fields.Nested(RoomSchema), required=True, metadata=describe("Active rooms."))


class ParticipantSchema(LiveKitObjectSchema):
    """A LiveKit ParticipantInfo."""

    sid = fields.String(metadata=describe("LiveKit participant SID (PA_...)."))
    identity = fields.String(metadata=describe("Participant identity (the token's userId)."))


class ParticipantListSchema(ma.Schema):
    participants = fields.List(fields.Nested(ParticipantSchema), required=True)


class IngressSchema(LiveKitObjectSchema):
    """A LiveKit IngressInfo; the room name is the room's name in this account."""


class IngressListSchema(ma.Schema):
    ingress = fields.List(fields.Nested(IngressSchema), required=True)


class HealthSchema(ma.Schema):
    status = fields.String(
        required=True,
        metadata=describe('"ok", or "degraded" when LiveKit is not configured or not reachable.'),
    )
    version = fields.String(required=True, metadata=describe("Server version."))
    capabilities = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(),
        required=True,
        metadata=describe(
            "What is usable now: livekit (configured and reachable), transcriptionLive, "
            "transcriptionPost, and what other plugins report (room_capabilities hook)."
        ),
    )


# -- config ---------------------------------------------------------------------------------------


def _livekit_url(value: str) -> None:
    if value and not LIVEKIT_URL_RE.match(value):
        raise ma.ValidationError(
            "must be a ws://, wss://, http:// or https:// URL such as wss://livekit.example.com"
        )


class RoomConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Load the room plugin (/v1 rooms API)."))
    livekit_url = fields.String(
        load_default="",
        validate=_livekit_url,
        metadata=describe(
            "LiveKit server URL as in its docs (wss://livekit.example.com; ws://, http:// and https:// "
            "work too). Empty: not configured, and the LiveKit routes answer 503."
        ),
    )
    livekit_api_key = fields.String(
        load_default="", metadata=describe("LiveKit API key (one of the `keys:` of livekit.yaml).")
    )
    livekit_api_secret = fields.String(
        load_default="",
        metadata=describe('The secret of that key; use {env = "LIVEKIT_API_SECRET"} rather than the value.'),
    )
    livekit_public_url = fields.String(
        load_default="",
        validate=_livekit_url,
        metadata=describe(
            "LiveKit URL handed to clients in token answers, when they reach LiveKit by another address "
            "than this server does; empty: livekit_url."
        ),
    )
    livekit_timeout_seconds = fields.Float(
        load_default=5.0,
        validate=validate.Range(0.1, 120),
        metadata=describe(
            "Time limit of one call to LiveKit's API, seconds; beyond it the route answers 503."
        ),
    )
    livekit_retry_after_seconds = int_setting(
        5, "Retry-After of the 503 answered while LiveKit is unreachable or misconfigured.", 1, 3600
    )
    livekit_room_prefix = fields.String(
        load_default="mp",
        validate=validate.Regexp(
            r"^[A-Za-z][A-Za-z0-9-]{0,15}$", error="1-16 letters, digits or '-', starting with a letter"
        ),
        metadata=describe(
            "LiveKit has one room namespace for all accounts: room `standup` of account 7 is "
            "`<prefix>7_standup` in LiveKit. Give each mediaplane deployment sharing a LiveKit its own "
            "prefix."
        ),
    )
    token_ttl_seconds = int_setting(
        21600, "Lifetime of the tokens of POST /v1/token and /v1/token/refresh, seconds.", 60, 7 * 86400
    )
    health_cache_seconds = int_setting(
        10, "GET /v1/health asks LiveKit at most this often per process, seconds (0: every time).", 0, 3600
    )
    max_room_name_length = int_setting(128, "Longest room name (name, roomId), characters.", 1, 512)
    max_identity_length = int_setting(
        128, "Longest participant identity (userId, participantIdentity), characters.", 1, 512
    )
    max_name_length = int_setting(256, "Longest display name (name, participantName), characters.", 1, 1024)
    max_room_metadata_bytes = int_setting(
        64000,
        "Largest room metadata, bytes (LiveKit refuses more than its limit.max_metadata_size, 64000).",
        0,
    )
    max_participant_metadata_bytes = int_setting(
        4096,
        "Largest token metadata, bytes of JSON. It travels inside the token, which clients put in the "
        "WebSocket URL: proxies refuse URLs of more than about 8 KB.",
        0,
    )

    livekit_webhook_max_bytes = int_setting(
        1048576,
        "Largest body of POST /v1/livekit/webhook, bytes (413 beyond; LiveKit's events are a few KB).",
        1024,
    )
    livekit_webhook_dedupe_seconds = int_setting(
        86400,
        "LiveKit webhook event ids are kept this long to drop LiveKit's retries and replays, seconds; a "
        "webhook token valid for longer is refused (LiveKit's live 5 minutes).",
        600,
        30 * 86400,
    )
    livekit_webhook_leeway_seconds = int_setting(
        60,
        "Clock difference allowed between LiveKit and this server when checking webhook tokens, seconds.",
        0,
        600,
    )
    livekit_webhook_purge_interval_seconds = int_setting(
        3600,
        "How often a worker forgets LiveKit webhook event ids older than livekit_webhook_dedupe_seconds.",
        60,
    )

    @ma.validates_schema
    def credentials_with_url(self, data, **kwargs):
        if data.get("livekit_url"):
            for key in ("livekit_api_key", "livekit_api_secret"):
                if not data.get(key):
                    raise ma.ValidationError("required when livekit_url is set", key)
