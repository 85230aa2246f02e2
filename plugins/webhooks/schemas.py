"""Request, response and config schemas of the webhooks plugin."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.config import PluginConfigSchema, StrList, describe, int_setting
from core.ratelimit import validate_limit

# What a subscription may name: the contract's events, and "*" for all of them.
EVENT_TYPES = (
    "room_created",
    "room_closed",
    "participant_joined",
    "participant_left",
    "track_published",
    "recording_started",
    "recording_stopped",
    "ingress_started",
    "ingress_stopped",
    "transcription_completed",
)
ALL_EVENTS = "*"
MAX_URL = 2048
MAX_SECRET = 256
MIN_SECRET = 16
MAX_EVENTS = 32
ID_PATTERN = r"^wh_[0-9a-f]{24}$"
CURSOR_PATTERN = r"^[0-9]{1,18}$"
DELIVERY_STATUSES = ("pending", "delivering", "succeeded", "failed")


def _limit(value: str) -> None:
    try:
        validate_limit(value)
    except ValueError as err:
        raise ma.ValidationError(str(err)) from None


def _cidrs(values: list[str]) -> None:
    from plugins.webhooks.delivery import parse_networks

    try:
        parse_networks(values)
    except ValueError as err:
        raise ma.ValidationError(str(err)) from None


class EventList(fields.List):
    """Event names; each unknown one is refused by name."""

    def __init__(self, **kwargs):
        super().__init__(
            fields.String(
                validate=validate.OneOf(
                    [*EVENT_TYPES, ALL_EVENTS], error="unknown event {input!r}; known: {choices}"
                )
            ),
            validate=validate.Length(1, MAX_EVENTS),
            metadata={"description": 'Events to receive; "*" is every event.'},
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        return list(dict.fromkeys(super()._deserialize(value, attr, data, **kwargs)))  # no duplicates


def _url_field(required: bool) -> fields.String:
    return fields.String(
        required=required,
        validate=validate.Length(1, MAX_URL),
        metadata={
            "description": "Delivery endpoint: an http(s) URL whose host is public (private, loopback "
            "and link-local addresses are refused unless the operator allow-lists them).",
            "format": "uri",
        },
    )


def _secret_field() -> fields.String:
    return fields.String(
        validate=[
            validate.Length(MIN_SECRET, MAX_SECRET),
            validate.Regexp(r"^[\x21-\x7e]+$", error="must be printable ASCII without spaces"),
        ],
        metadata={
            "description": f"HMAC signing secret, {MIN_SECRET}-{MAX_SECRET} printable ASCII characters."
        },
    )


class WebhookCreateSchema(ma.Schema):
    url = _url_field(required=True)
    events = EventList(load_default=lambda: [ALL_EVENTS])
    secret = _secret_field()

    class Meta:
        unknown = ma.RAISE


class WebhookUpdateSchema(ma.Schema):
    url = _url_field(required=False)
    events = EventList()
    secret = _secret_field()
    rotateSecret = fields.Boolean(  # noqa: N815 - the contract's camelCase
        metadata={
            "description": "true: replace the secret by a new generated one (shown in this answer only)."
        }
    )

    class Meta:
        unknown = ma.RAISE


class WebhookSchema(ma.Schema):
    id = fields.String(required=True, metadata={"description": "Webhook id (wh_...)."})
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    secret = fields.String(
        required=True,
        metadata={
            "description": 'The signing secret on creation (and after a rotation) only; "***" otherwise.'
        },
    )
    createdAt = fields.String(required=True, metadata={"description": "ISO 8601, UTC."})  # noqa: N815
    updatedAt = fields.String(required=True, metadata={"description": "ISO 8601, UTC."})  # noqa: N815


class WebhookListSchema(ma.Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)


class TestResultSchema(ma.Schema):
    delivered = fields.Boolean(required=True, metadata={"description": "The receiver answered 2xx."})
    statusCode = fields.Integer(  # noqa: N815
        required=True, allow_none=True, metadata={"description": "The receiver's status; null if none."}
    )
    error = fields.String(metadata={"description": "Why it was not delivered."})
    deliveryId = fields.String(required=True, metadata={"description": "In the delivery log."})  # noqa: N815


class DeliverySchema(ma.Schema):
    id = fields.String(required=True, metadata={"description": "Delivery id; the receiver dedupes by it."})
    event = fields.String(required=True)
    eventId = fields.String(required=True)  # noqa: N815
    status = fields.String(required=True, metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = fields.Integer(required=True)
    responseCode = fields.Integer(required=True, allow_none=True)  # noqa: N815
    responseBody = fields.String(required=True, allow_none=True)  # noqa: N815
    error = fields.String(required=True, allow_none=True)
    durationMs = fields.Integer(required=True, allow_none=True)  # noqa: N815
    createdAt = fields.String(required=True)  # noqa: N815
    lastAttemptAt = fields.String(required=True, allow_none=True)  # noqa: N815
    nextAttemptAt = fields.String(required=True, allow_none=True)  # noqa: N815
    completedAt = fields.String(required=True, allow_none=True)  # noqa: N815


class DeliveryListSchema(ma.Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)
    nextCursor = fields.String(  # noqa: N815
        required=True, allow_none=True, metadata={"description": "`cursor` of the next (older) page."}
    )


def deliveries_query_args(max_limit: int) -> type[ma.Schema]:
    class DeliveriesQueryArgsSchema(ma.Schema):
        limit = fields.Integer(validate=validate.Range(1, max_limit), metadata={"description": "Page size."})
        cursor = fields.String(
            validate=validate.Regexp(CURSOR_PATTERN),
            metadata={"description": "nextCursor of the previous page."},
        )
        status = fields.String(
            validate=validate.OneOf(DELIVERY_STATUSES),
            metadata={"description": "Only deliveries in this status."},
        )

        class Meta:
            unknown = ma.EXCLUDE  # other query parameters (cache busters) are ignored

    return DeliveriesQueryArgsSchema


class WebhooksConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Load the webhooks plugin."))
    allow_private_cidrs = StrList(
        load_default=list,
        validate=_cidrs,
        metadata=describe(
            "Networks webhooks may reach although they are private, loopback, link-local or otherwise "
            'not public (CIDRs, e.g. ["10.20.0.0/16"]). Checked on save and at every delivery.'
        ),
    )
    max_attempts = int_setting(8, "Attempts of a delivery before it is marked failed.", 1, 50)
    retry_base_seconds = int_setting(
        10, "Wait before the 2nd attempt; it doubles for each later one (exponential backoff).", 1, 86400
    )
    retry_max_seconds = int_setting(3600, "Longest wait between two attempts.", 1, 604800)
    connect_timeout_seconds = fields.Float(
        load_default=5.0,
        validate=validate.Range(0.1, 60),
        metadata=describe("Time to connect to a receiver (TCP and TLS), seconds."),
    )
    timeout_seconds = fields.Float(
        load_default=10.0,
        validate=validate.Range(0.1, 120),
        metadata=describe("Longest time of one attempt, connection and answer included, seconds."),
    )
    max_response_bytes = int_setting(
        1024,
        "Bytes of a receiver's answer read and kept in the delivery log (the rest is not read).",
        0,
        65536,
    )
    ca_file = fields.String(
        load_default="",
        metadata=describe("CA bundle for https receivers (PEM file); empty: the system's trusted CAs."),
    )
    max_webhooks_per_account = int_setting(100, "Most webhooks of one account.", 1)
    test_rate_limit = fields.String(
        load_default="10/minute",
        validate=_limit,
        metadata=describe("POST /v1/webhooks/{id}/test requests per API key (each sends a request out)."),
    )
    deliveries_default_limit = int_setting(50, "Delivery log page size without `limit`.", 1)
    deliveries_max_limit = int_setting(500, "Largest `limit` of the delivery log.", 1)
    delivery_retention_days = int_setting(30, "Finished deliveries older than this are purged.", 1)
    purge_interval_seconds = int_setting(3600, "How often old deliveries are purged.", 60)
    sweep_interval_seconds = int_setting(
        60,
        "How often deliveries whose job was lost (Redis restarted empty, down at enqueue) are requeued.",
        5,
    )
    stuck_after_seconds = int_setting(
        300, "A delivery due this long ago and not attempted is requeued by the sweep.", 30
    )

    @ma.validates_schema
    def consistent(self, data, **kwargs):
        if data["deliveries_default_limit"] > data["deliveries_max_limit"]:
            raise ma.ValidationError("must not exceed deliveries_max_limit", "deliveries_default_limit")
        if data["connect_timeout_seconds"] > data["timeout_seconds"]:
            raise ma.ValidationError("must not exceed timeout_seconds", "connect_timeout_seconds")
        if data["retry_base_seconds"] > data["retry_max_seconds"]:
            raise ma.ValidationError("must not exceed retry_max_seconds", "retry_base_seconds")
