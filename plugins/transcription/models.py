"""Tables of the transcription plugin: post-call transcriptions, their segments, account phrase lists."""

from __future__ import annotations

import peewee

from core.db import BaseModel


class Transcription(BaseModel):
    """One post-call transcription of one recording; times are epoch seconds."""

    id = peewee.CharField(max_length=32, primary_key=True)  # tr_<24 hex>
    account_id = peewee.IntegerField()
    recording_id = peewee.CharField(max_length=255)
    room_name = peewee.CharField(max_length=255, null=True)
    language = peewee.CharField(max_length=35)
    status = peewee.CharField(max_length=16, default="queued")
    progress = peewee.IntegerField(default=0)  # percent of the audio recognised
    phrases = peewee.TextField(null=True)  # JSON list: the grammar, or null for free recognition
    participants = peewee.TextField(default="{}")  # JSON {sid or identity: display name}
    ignored_words = peewee.TextField(default="[]")  # JSON: phrase words the model does not know
    error = peewee.TextField(null=True)
    attempts = peewee.IntegerField(default=0)
    duration = peewee.DoubleField(null=True)  # seconds of audio
    segment_count = peewee.IntegerField(default=0)
    queued_at = peewee.DoubleField()
    started_at = peewee.DoubleField(null=True)
    completed_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "transcription_transcription"
        indexes = (
            (("account_id", "queued_at"), False),
            (("account_id", "recording_id"), False),
            (("account_id", "status"), False),
        )


class Segment(BaseModel):
    """One recognised utterance; start/end are seconds from the start of the recording."""

    transcription = peewee.ForeignKeyField(Transcription, on_delete="CASCADE", backref="segments")
    position = peewee.IntegerField()
    start = peewee.DoubleField()
    end = peewee.DoubleField()
    text = peewee.TextField()
    confidence = peewee.DoubleField()
    speaker = peewee.CharField(max_length=255, null=True)
    words = peewee.TextField()  # JSON [{word, start, end, confidence}]

    class Meta:
        table_name = "transcription_segment"
        indexes = ((("transcription", "position"), True),)


class PhraseList(BaseModel):
    """An account's phrase hints, used by its transcriptions that send no `phrases` of their own."""

    account_id = peewee.IntegerField(unique=True)
    phrases = peewee.TextField()  # JSON list
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "transcription_phrase_list"


MODELS = [Transcription, Segment, PhraseList]
