"""Tables of the rtcstats plugin: sessions with their denormalised abstract, labels, credits, chunks."""

from __future__ import annotations

import peewee

from core.db import BaseModel, utcnow

PENDING, READY, FAILED = "pending", "ready", "failed"
LIVE = "live"  # a collector socket is still open: nothing stored or analysed yet (service/live.py)


class Session(BaseModel):
    """One stored dump of one account and its newest analysis.

    The abstract (what GET /sessions filters on) is kept in columns so that the filters run in SQL on
    SQLite and PostgreSQL alike; observation types and tags, which are lists, are rows of SessionLabel.
    """

    rtcstats_id = peewee.UUIDField(unique=True)
    account_id = peewee.IntegerField()
    created_at = peewee.DateTimeField(default=utcnow)
    status = peewee.CharField(max_length=16, default=PENDING)  # live | pending | ready | failed
    source = peewee.CharField(max_length=16)  # upload | analyze | collector
    file_name = peewee.CharField(max_length=255)
    file_size = peewee.BigIntegerField()
    dump_key = peewee.CharField(max_length=300)
    title = peewee.CharField(max_length=500)
    # The credit this session used, so a failed first analysis gives back exactly that one.
    credit_period = peewee.CharField(max_length=7, null=True)
    credit_charged = peewee.BooleanField(default=False)
    # Analysis.
    processor_version = peewee.CharField(max_length=32, null=True)
    analyzed_at = peewee.DateTimeField(null=True)
    result = peewee.TextField(null=True)  # AnalyzeResponseData as JSON
    error = peewee.TextField(null=True)  # why the newest analysis failed
    failed_version = peewee.CharField(max_length=32, null=True)  # analyzer version that failed
    # Abstract (null until analysed).
    # SessionAbstract as JSON, as served; while live, the facts known so far (service/live.py).
    abstract = peewee.TextField(null=True)
    session_start = peewee.CharField(max_length=40, null=True)
    session_end = peewee.CharField(max_length=40, null=True)
    browser = peewee.CharField(max_length=200, null=True)
    browser_version = peewee.CharField(max_length=200, null=True)
    os = peewee.CharField(max_length=200, null=True)
    os_version = peewee.CharField(max_length=200, null=True)
    user_id = peewee.CharField(max_length=255, null=True)
    conference_id = peewee.CharField(max_length=255, null=True)
    session_ident = peewee.CharField(max_length=255, null=True)  # the dump's sessionId
    experience_score = peewee.DoubleField(null=True)
    connectivity = peewee.CharField(max_length=64, null=True)
    observations_critical = peewee.IntegerField(default=0)
    observations_high = peewee.IntegerField(default=0)
    observations_medium = peewee.IntegerField(default=0)

    class Meta:
        table_name = "rtcstats_session"
        # The list's index (account_id, created_at, id), covering the filtered columns on PostgreSQL,
        # is made by migrations/0002_session_list_indexes.py: peewee cannot declare INCLUDE; on
        # PostgreSQL 0004 adds it without the covered columns for the unfiltered list.
        indexes = ((("status", "processor_version"), False),)


# The session columns a label row carries a copy of (with created_at): those the list filters on,
# other than the title. store_analysis writes them with the labels, in the same transaction.
LABEL_COPIES = (
    "browser",
    "browser_version",
    "os",
    "user_id",
    "conference_id",
    "session_ident",
    "experience_score",
    "observations_critical",
    "observations_high",
    "observations_medium",
)


class SessionLabel(BaseModel):
    """One observation type ("type") or tag ("tag") of a session's critical/high/medium observations.

    With a copy of its session's created_at and filtered columns (LABEL_COPIES), so that a list
    filtered by a label is counted and paged from the label index alone, in list order, reading only
    that label's sessions (a rare label among 100,000 sessions reads a few thousand index entries).
    That index, (account_id, kind, value, created_at, session_id) covering the copies on PostgreSQL,
    is made by migrations/0003_label_list_index.py: peewee cannot declare INCLUDE.
    """

    session = peewee.ForeignKeyField(Session, on_delete="CASCADE", index=True)
    account_id = peewee.IntegerField()
    kind = peewee.CharField(max_length=8)
    value = peewee.CharField(max_length=200)
    created_at = peewee.DateTimeField(null=True)  # null only before migration 0003 filled it
    browser = peewee.CharField(max_length=200, null=True)
    browser_version = peewee.CharField(max_length=200, null=True)
    os = peewee.CharField(max_length=200, null=True)
    user_id = peewee.CharField(max_length=255, null=True)
    conference_id = peewee.CharField(max_length=255, null=True)
    session_ident = peewee.CharField(max_length=255, null=True)
    experience_score = peewee.DoubleField(null=True)
    observations_critical = peewee.IntegerField(default=0)
    observations_high = peewee.IntegerField(default=0)
    observations_medium = peewee.IntegerField(default=0)

    class Meta:
        table_name = "rtcstats_session_label"


class CreditUsage(BaseModel):
    """Credits one account used in one calendar month (UTC), and extra credits granted for that month."""

    account_id = peewee.IntegerField()
    period = peewee.CharField(max_length=7)  # YYYY-MM
    used = peewee.IntegerField(default=0)
    granted = peewee.IntegerField(default=0)

    class Meta:
        table_name = "rtcstats_credit_usage"
        indexes = ((("account_id", "period"), True),)


class UploadChunk(BaseModel):
    """One received chunk of a chunked upload; its bytes are in object storage."""

    account_id = peewee.IntegerField()
    file_id = peewee.CharField(max_length=200)
    chunk_index = peewee.IntegerField()
    size = peewee.BigIntegerField()
    total_chunks = peewee.IntegerField(null=True)
    file_name = peewee.CharField(max_length=255, null=True)
    received_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "rtcstats_upload_chunk"
        indexes = ((("account_id", "file_id", "chunk_index"), True), (("received_at",), False))


MODELS = [Session, SessionLabel, CreditUsage, UploadChunk]
