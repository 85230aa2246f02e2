"""Request, response and config schemas of the recording plugin (camelCase, as the rooms API)."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from core.config import PluginConfigSchema, describe, int_setting
from plugins.recording.statuses import STATUSES

# LiveKit egress ids are EG_ and 12 letters or digits; anything else of this shape simply is not found.
ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
ROOM_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
S3_URL_RE = re.compile(r"^https?://[^\s/?#]+/?$")
LAYOUTS = ("grid", "speaker", "single-speaker", "grid-light", "speaker-light", "single-speaker-light")


def _egress_endpoint(value: str) -> None:
    if value and not S3_URL_RE.match(value):
        raise ma.ValidationError("must be http(s)://host[:port], e.g. http://minio:9000")


class RecordingConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Load the recording plugin."))
    egress_s3_endpoint = fields.String(
        load_default="",
        validate=_egress_endpoint,
        metadata=describe(
            "URL at which LiveKit's egress reaches the S3 / MinIO service of core.storage, e.g. "
            "http://minio:9000 inside the egress container's network. Empty: core.storage.endpoint with "
            "https:// (or http:// when core.storage.secure is false)."
        ),
    )
    egress_s3_region = fields.String(
        load_default="",
        metadata=describe("Region handed to the egress; empty: core.storage.region, else us-east-1."),
    )
    key_prefix = fields.String(
        load_default="recordings",
        validate=validate.Regexp(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$", error="letters, digits, _ - and /"),
        metadata=describe("Object keys are <key_prefix>/<account id>/<room>/<time>-<random>.mp4."),
    )
    layout = fields.String(
        load_default="grid",
        validate=validate.OneOf(LAYOUTS),
        metadata=describe("LiveKit room-composite layout of the recorded video."),
    )
    audio_only = fields.Boolean(load_default=False, metadata=describe("Record the room's audio only."))
    download_url_expiry_seconds = int_setting(
        3600,
        "Lifetime of the presigned URL that GET /v1/recordings/{id}/download redirects to (S3), seconds.",
        60,
        7 * 86400,
    )
    list_default_limit = int_setting(50, "GET /v1/recordings page size without `limit`.", 1)
    list_max_limit = int_setting(500, "Largest `limit` of GET /v1/recordings.", 1)
    reconcile_interval_seconds = int_setting(
        60,
        "How often the reconcile job asks LiveKit (ListEgress) about recordings still starting, active "
        "or stopping, for the egress webhooks that were lost, seconds.",
        5,
        86400,
    )
    retry_after_seconds = int_setting(
        10, "Retry-After of the 503 answered while the object storage is unusable, seconds.", 1, 3600
    )

    @ma.validates_schema
    def default_page_fits(self, data, **kwargs):
        if data["list_default_limit"] > data["list_max_limit"]:
            raise ma.ValidationError("must not exceed list_max_limit", "list_default_limit")


def query_args_schema(settings: dict) -> type[ma.Schema]:
    class RecordingQueryArgsSchema(ma.Schema):
        roomId = fields.String(  # noqa: N815 - the contract's name
            validate=[
                validate.Length(1, 512),
                validate.Regexp(ROOM_PATTERN, error="must hold no / or control"),
            ],
            metadata=describe("Only recordings of this room."),
        )
        status = fields.String(validate=validate.OneOf(STATUSES), metadata=describe("Only this status."))
        limit = fields.Integer(
            load_default=settings["list_default_limit"],
            validate=validate.Range(1, settings["list_max_limit"]),
            metadata=describe("Page size."),
        )
        offset = fields.Integer(
            load_default=0, validate=validate.Range(0, 2**31 - 1), metadata=describe("Rows skipped.")
        )

    return RecordingQueryArgsSchema


class RecordingStartSchema(ma.Schema):
    egressId = fields.String(required=True, metadata=describe("LiveKit's egress id; also the recording id."))  # noqa: N815
    recordingId = fields.String(required=True)  # noqa: N815
    roomId = fields.String(required=True)  # noqa: N815
    status = fields.String(
        required=True, metadata=describe('"recording" (started now) or "already_recording" (200).')
    )
    startedAt = fields.String(required=True, allow_none=True)  # noqa: N815


class RecordingStopSchema(ma.Schema):
    status = fields.String(required=True, metadata=describe('"stopped".'))
    stoppedAt = fields.String(required=True)  # noqa: N815
    egressId = fields.String(required=True)  # noqa: N815
    recordingId = fields.String(required=True)  # noqa: N815


class RecordingStatusSchema(ma.Schema):
    isRecording = fields.Boolean(required=True)  # noqa: N815
    egressId = fields.String(required=True, allow_none=True)  # noqa: N815
    recordingId = fields.String(required=True, allow_none=True)  # noqa: N815
    status = fields.String(required=True, allow_none=True, metadata=describe("starting or active."))
    startedAt = fields.String(required=True, allow_none=True)  # noqa: N815


class RecordingSchema(ma.Schema):
    recordingId = fields.String(required=True)  # noqa: N815
    egressId = fields.String(required=True)  # noqa: N815
    roomId = fields.String(required=True)  # noqa: N815
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    fileKey = fields.String(required=True, metadata=describe("Object key of the MP4 in the storage."))  # noqa: N815
    size = fields.Integer(required=True, allow_none=True, metadata=describe("Bytes, once complete."))
    duration = fields.Float(required=True, allow_none=True, metadata=describe("Seconds, once complete."))
    error = fields.String(required=True, allow_none=True)
    createdAt = fields.String(required=True)  # noqa: N815
    startedAt = fields.String(required=True, allow_none=True)  # noqa: N815
    endedAt = fields.String(required=True, allow_none=True)  # noqa: N815


class RecordingListSchema(ma.Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    recordings = fields.List(fields.Nested(RecordingSchema), required=True)


class DownloadLinkSchema(ma.Schema):
    url = fields.String(required=True, metadata=describe("Presigned GET URL of the MP4."))
    expiresAt = fields.String(required=True)  # noqa: N815
