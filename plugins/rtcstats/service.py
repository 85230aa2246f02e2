"""Domain logic of the rtcstats plugin: uploads, analysis, stored sessions and their filters, quota.

Runs inside an app context (settings, object storage and the job queue are the app's); it builds
answers as plain dicts in the wire shape of specs/rtcstats-api.md and raises domain errors that
plugin.problem_from_exception maps to HTTP statuses.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import BinaryIO

import marshmallow as ma

from core.db import utcnow, write_atomic
from core.errors import summarize_field_errors
from core.events import fire
from core.plugins import plugin_settings
from core.storage import ObjectNotFound
from core.text import printable_only
from plugins.rtcstats import credits, uploads
from plugins.rtcstats.conventions import NO_CONNECTION, UNKNOWN_CONNECTIVITY, unrated
from plugins.rtcstats.credits import InsufficientCredits
from plugins.rtcstats.models import FAILED, PENDING, READY, Session, SessionLabel
from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge, Limits
from plugins.rtcstats.parsing.gzip_stream import (
    BLOCK,
    EMPTY_INSIDE,
    GZIP_MAGIC,
    TRAILER_BYTES,
    check_gzip,
    gunzip_prefix,
    judge_gzip,
    trailer_size,
)
from plugins.rtcstats.schemas import PagingSchema, SessionFiltersSchema

__all__ = [
    "AnalysisFailed",
    "AnalysisPending",
    "InsufficientCredits",
    "InvalidRequest",
    "NotFound",
    "ReprocessFailed",
    "analyze_body",
    "analyze_now",
    "assemble_upload",
    "delete_session",
    "enrich_body",
    "get_session",
    "list_sessions",
    "parse_filters",
    "parse_paging",
    "quota",
    "upload_chunk",
]

log = logging.getLogger("rtcstats")
SEVERE = ("critical", "high", "medium")
SEVERITIES = ("critical", "high", "medium", "low", "info")
ACCOUNT_NAMESPACE = uuid.UUID("6f1d5a7e-2b7e-4c1e-9a51-6d0f0b0e7a11")  # uploaded_by uuids of accounts
DUMP_EXTENSIONS = {".gz", ".txt", ".json", ".jsonl", ".log", ".dump", ".rtcstats"}
SNIFF_BYTES = 64 * 1024
EPOCH = dt.datetime(1970, 1, 1)  # naive UTC, as the stored datetimes
# A gzip body is measured this much at a time, the worker's other requests getting a turn between
# pieces: deflate expands 64 KiB to at most ~66 MB (its limit is ~1032:1), tens of ms of CPU.
MEASURE_BLOCK = 64 * 1024
YIELD_SECONDS = 0.0001


class RtcstatsError(Exception):
    """Base of the rtcstats plugin's domain errors."""


class InvalidRequest(RtcstatsError):
    """Bad input; the message names the field."""


class NotFound(RtcstatsError):
    """No such session for this account."""


class AnalysisPending(RtcstatsError):
    """The session's first analysis has not finished yet."""


class AnalysisFailed(RtcstatsError):
    """The session's dump could not be analysed (the message says why); its credit was given back."""


class ReprocessFailed(RtcstatsError):
    """Re-analysing a stored dump with the current analyzer failed."""


# -- settings, storage, analyzer ------------------------------------------------------------------


def settings() -> dict:
    return plugin_settings("rtcstats")


def object_storage():
    # The app's object storage (the core offers no accessor outside Flask's current_app).
    from flask import current_app

    return current_app.extensions["mediaplane"].storage


def limits(cfg: dict | None = None) -> Limits:
    cfg = cfg or settings()
    return Limits(cfg["max_uncompressed_bytes"], cfg["max_compression_ratio"])


def processor_version() -> str:
    from plugins.rtcstats.analysis import PROCESSOR_VERSION

    return PROCESSOR_VERSION


def run_analysis(
    data: bytes, file_name: str = "", cfg: dict | None = None, uploaded_at: dt.datetime | None = None
) -> dict:
    """Parse and analyse dump bytes: the AnalyzeResponseData. `uploaded_at` (a stored session's
    creation, naive UTC) dates a dump without events, so that re-analysing it keeps its callStart.

    :raises DumpFormatError: not a dump we can read.
    :raises DumpTooLarge: over the size limits (also gzip bombs).
    """
    from plugins.rtcstats.analysis import analyze
    from plugins.rtcstats.parsing import parse

    dump = parse(data, limits(cfg))
    # Whole milliseconds, floored as iso() floors created_at, so both name the same instant.
    uploaded_ms = None if uploaded_at is None else (uploaded_at - EPOCH) // dt.timedelta(milliseconds=1)
    return _finite(analyze(dump, file_name=file_name, file_size=len(data), uploaded_ms=uploaded_ms))


def _finite(value):
    """JSON-safe copy: NaN and infinities become null (JSON has no spelling for them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def sniff(head: bytes) -> str:
    """The format of a dump from its first bytes (gunzipping a prefix if needed).

    :raises DumpFormatError: empty, damaged gzip, or not a dump format.
    """
    from plugins.rtcstats.parsing import detect

    if head[:2] == GZIP_MAGIC:
        head = gunzip_prefix(head, SNIFF_BYTES)
        if not head[:4096].strip():  # the rule of parsing.parse, so both name it the same way
            raise DumpFormatError(EMPTY_INSIDE)
    return detect(head)


def check_upload(
    account_id: int, file_id: str, rows: list, cfg: dict | None = None
) -> tuple[str, int | None]:
    """The format of a complete chunked upload and the size it expands to, judged before it costs a
    credit or its chunks are used up (so the client can still replace a bad chunk): from its first
    bytes, and a gzip upload as judge_gzip does, with analyze_inline_max_bytes as the budget: decoded
    whole when it expands to no more (a cut-off or damaged stream shows only at its end), its output
    counted, never kept. The size is None for a gzip upload that expands to more: a web request does
    not decode it further; the job that analyses it checks it whole (check_whole).

    :raises DumpFormatError: not a dump format, damaged or truncated gzip (415).
    :raises DumpTooLarge: a gzip upload expands beyond the limits (413).
    :raises uploads.MissingChunks: a chunk's object is gone.
    """
    cfg = cfg or settings()
    store = object_storage()
    head = store.get(uploads.chunk_key(account_id, file_id, rows[0].chunk_index))[:SNIFF_BYTES]
    expanded = sum(r.size for r in rows)
    if head[:2] == GZIP_MAGIC:
        claimed = trailer_size(uploads.tail(store, account_id, file_id, rows, TRAILER_BYTES))
        blocks = uploads.read_blocks(store, account_id, file_id, rows)
        expanded = judge_gzip(blocks, expanded, claimed, limits(cfg), cfg["analyze_inline_max_bytes"])
    return sniff(head), expanded


def _cooperative_blocks(file: BinaryIO):
    """The file in MEASURE_BLOCK pieces, letting the web worker's other requests run between them,
    so decoding a big gzip body does not stall report ingest on the same worker. Under gevent a
    positive sleep waits for the next loop iteration, which reads the sockets of waiting requests
    (sleep(0) may resume this greenlet before any socket is polled: measured, ingest then still
    waited for the whole body). Elsewhere it costs YIELD_SECONDS per piece."""
    while block := file.read(MEASURE_BLOCK):
        yield block
        time.sleep(YIELD_SECONDS)


def _tail(file: BinaryIO, size: int) -> bytes:
    file.seek(max(size - TRAILER_BYTES, 0))
    return file.read(TRAILER_BYTES)


def expanded_size(file: BinaryIO, size: int, cfg: dict) -> int | None:
    """The size a dump file of `size` bytes expands to, as far as a web request finds it out cheaply:
    a plain file's own size; a gzip file's as judge_gzip judges it, with analyze_inline_max_bytes as
    the budget: from its compressed size and its trailer, decoding at most that much output (counted
    block by block, never kept; a bomb is refused as soon as it crosses a cap it can reach there).
    None: a gzip file that expands to more than the budget, not decoded further (so a big dump costs
    the web worker no decompression); whoever analyses it checks it whole first (check_whole). The
    file is left at its start.

    :raises DumpTooLarge: over max_uncompressed_bytes, or a gzip file beyond its cap (judge_gzip).
    :raises DumpFormatError: damaged or truncated gzip, found within the budget.
    """
    file.seek(0)
    if file.read(2) == GZIP_MAGIC:
        claimed = trailer_size(_tail(file, size))
        file.seek(0)
        budget = cfg["analyze_inline_max_bytes"]
        expanded = judge_gzip(_cooperative_blocks(file), size, claimed, limits(cfg), budget)
    else:
        expanded = size
    file.seek(0)
    if expanded is not None and expanded > cfg["max_uncompressed_bytes"]:
        raise DumpTooLarge(f"the dump has {expanded} bytes; the limit is {cfg['max_uncompressed_bytes']}")
    return expanded


def check_whole(data: bytes, cfg: dict | None = None) -> None:
    """Check a whole dump before parse() runs on it: a gzip dump is decoded block by block and only
    counted, so that a bomb or a damaged file that a request queued without decoding it (judge_gzip)
    is refused here in about a megabyte, where parse() would first build its output up to the caps.

    :raises DumpTooLarge: a gzip dump expands beyond the limits.
    :raises DumpFormatError: damaged or truncated gzip.
    """
    if data[:2] == GZIP_MAGIC:
        view = memoryview(data)
        blocks = (view[start : start + BLOCK] for start in range(0, len(view), BLOCK))
        check_gzip(blocks, len(data), limits(cfg))


# -- wire helpers ---------------------------------------------------------------------------------


def public_base(cfg: dict | None = None) -> str:
    """Base URL of the viewer links: the public_url setting, else the host of the current request."""
    cfg = cfg or settings()
    if cfg["public_url"]:
        return cfg["public_url"].rstrip("/")
    from flask import has_request_context, request

    return request.host_url.rstrip("/") if has_request_context() else ""


def viewer_urls(rtcstats_id, cfg: dict | None = None) -> dict:
    """{rtcstatsUrl, embedUrl}; embedUrl only on the enterprise plan (as the vendor does).

    Inside a request the URLs carry a signed, expiring viewer token for the caller's account and key,
    so that a browser can open them without sending an API key header.
    """
    from flask import g, has_request_context

    from plugins.rtcstats.viewer import signed_url

    cfg = cfg or settings()
    base = public_base(cfg)
    out = {"rtcstatsUrl": f"{base}/rtcstats/view/{rtcstats_id}"}
    if cfg["account_plan"] == "enterprise":
        out["embedUrl"] = f"{base}/rtcstats/embed/{rtcstats_id}"
    actor = g.get("actor") if has_request_context() else None
    if actor is not None:
        out = {name: signed_url(u, actor.account_id, rtcstats_id, actor.key_id) for name, u in out.items()}
    return out


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds") + "Z"


def uploader_uuid(account_id: int) -> str:
    return str(uuid.uuid5(ACCOUNT_NAMESPACE, f"account:{account_id}"))


def title_for(file_name: str | None, data: dict | None = None) -> str:
    """The session title: the file name without its dump extensions, else the analyzer's title."""
    if file_name:
        path = PurePosixPath(file_name.replace("\\", "/")).name
        while PurePosixPath(path).suffix.lower() in DUMP_EXTENSIONS and PurePosixPath(path).stem:
            path = PurePosixPath(path).stem
        return path[:500] or file_name[:500]
    title = _text((data or {}).get("title"), 500)
    return title or "untitled"


def parse_uuid(value) -> uuid.UUID:
    """:raises InvalidRequest: not a UUID."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest(f"rtcstatsId: '{str(value)[:80]}' is not a UUID") from None


def printable_text(value) -> str:
    """The text without control characters (PostgreSQL text refuses NUL; none belongs in a name)."""
    return printable_only(str(value))


def _text(value, limit: int = 200) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = printable_text(value).strip()
    return text[:limit] if text else None


def _pick(mapping, *keys):
    if not isinstance(mapping, Mapping):
        return None
    for key in keys:
        value = mapping.get(key)
        if value not in (None, ""):
            return value
    return None


def _name_version(value) -> tuple[str | None, str | None]:
    """ "Chrome" or {"name": "Chrome", "version": "142.0"} -> (name, version)."""
    if isinstance(value, Mapping):
        return _text(_pick(value, "name", "brand")), _text(_pick(value, "version", "major"))
    return _text(value), None


def score_band(score) -> str:
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        return "unrated"
    return "high" if score >= 80 else "medium" if score >= 60 else "low"


def abstract_of(data: dict) -> dict:
    """The SessionAbstract of an analysis: what the list shows and filters on. Every key present."""
    observations = [o for o in data.get("observations") or [] if isinstance(o, Mapping)]
    severe = [o for o in observations if o.get("severity") in SEVERE]
    types = sorted({str(o["type"]) for o in severe if o.get("type")})
    tags = sorted({str(t) for o in severe for t in o.get("tags") or [] if isinstance(t, str)})
    counts = data.get("observationsCount")
    if not isinstance(counts, Mapping):
        counts = {s: sum(1 for o in observations if o.get("severity") == s) for s in SEVERITIES}
    ua = data.get("userAgentData") if isinstance(data.get("userAgentData"), Mapping) else {}
    browser, browser_version = _name_version(_pick(ua, "browser", "browserName"))
    browser = browser or _text(_pick(data, "browser"))
    browser_version = _text(_pick(ua, "browserVersion", "browserMajorVersion")) or browser_version
    os_name, os_version = _name_version(_pick(ua, "os", "osName", "operatingSystem", "platform"))
    os_version = _text(_pick(ua, "osVersion", "platformVersion")) or os_version
    if browser_version:
        browser_version = browser_version.split(".")[0]
    meta = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
    score = data.get("experienceScore")
    score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    if unrated(data):
        score = None  # the analyzer's 0 means "no media to score": unrated, not a low score
    connectivity = _text(data.get("connectivity"), 64)
    if connectivity in (NO_CONNECTION, UNKNOWN_CONNECTIVITY):
        connectivity = None  # the abstract may say null: "no connectivity", not a kind of it
    return {
        "observationTypes": types,
        "observationFlags": types,
        "observationTags": tags,
        "browser": browser,
        "browserVersion": browser_version,
        "os": os_name,
        "osVersion": os_version,
        "conferenceId": _text(_pick(meta, "conferenceId", "conference"), 255),
        "sessionId": _text(_pick(meta, "sessionId", "session"), 255),
        "userId": _text(_pick(meta, "userId", "user"), 255),
        "experienceScore": score,
        "connectivity": connectivity,
        "observationsCritical": int(counts.get("critical") or 0),
        "observationsHigh": int(counts.get("high") or 0),
        "observationsMedium": int(counts.get("medium") or 0),
        "scoreBand": score_band(score),
    }


def without_aliases(item: dict) -> dict:
    """A list item without the observationFlags alias (for clients with strict schemas, e.g. MCP)."""
    abstract = item.get("abstract")
    if abstract is None:
        return item
    return {**item, "abstract": {k: v for k, v in abstract.items() if k != "observationFlags"}}


def _with_session_fields(data: dict, row: Session | None) -> dict:
    """The stored-session fields of AnalyzeResponseData (null when nothing is stored, except `id`)."""
    out = dict(data)
    # The contract documents `id` as a uuid, not nullable, and names only created_at, uploaded_by and
    # uploaded_by_email as null without ?save; the vendor's uploader reads data.id. Unsaved, it is a
    # fresh uuid that names nothing: it is not stored, so GET /sessions/{id} answers 404 for it.
    out["id"] = str(row.rtcstats_id) if row else str(uuid.uuid4())
    out["created_at"] = iso(row.created_at) if row else None
    out["uploaded_by"] = uploader_uuid(row.account_id) if row else None
    out["uploaded_by_email"] = None
    out.setdefault("public_link", None)
    out.setdefault("description", None)
    out.setdefault("tags", [])
    if row is not None:
        out["fileName"] = row.file_name
        out["title"] = row.title
    return out


# -- storing analyses -----------------------------------------------------------------------------


def dump_key(account_id: int, rtcstats_id) -> str:
    return f"rtcstats/{account_id}/dumps/{rtcstats_id}"


def _abstract_columns(abstract: dict) -> dict:
    return {
        "abstract": json.dumps(abstract, separators=(",", ":")),
        "browser": abstract["browser"],
        "browser_version": abstract["browserVersion"],
        "os": abstract["os"],
        "os_version": abstract["osVersion"],
        "user_id": abstract["userId"],
        "conference_id": abstract["conferenceId"],
        "session_ident": abstract["sessionId"],
        "experience_score": abstract["experienceScore"],
        "connectivity": abstract["connectivity"],
        "observations_critical": abstract["observationsCritical"],
        "observations_high": abstract["observationsHigh"],
        "observations_medium": abstract["observationsMedium"],
    }


def store_analysis(row: Session, data: dict, version: str) -> None:
    """Save an analysis of the session's dump: result, abstract columns, labels (one transaction)."""
    title = title_for(row.file_name, data)
    data = {**data, "title": title, "fileName": row.file_name}
    abstract = abstract_of(data)
    values = {
        "status": READY,
        "title": title,
        "processor_version": version,
        "analyzed_at": utcnow(),
        "result": json.dumps(data, separators=(",", ":")),
        "error": None,
        "failed_version": None,
        "session_start": _text(data.get("callStart"), 40),
        "session_end": _text(data.get("callEnd"), 40),
        **_abstract_columns(abstract),
    }
    labels = [("type", v) for v in abstract["observationTypes"]] + [
        ("tag", v) for v in abstract["observationTags"]
    ]
    with write_atomic():
        Session.update(**values).where(Session.id == row.id).execute()
        SessionLabel.delete().where(SessionLabel.session == row.id).execute()
        if labels:
            SessionLabel.insert_many(
                [
                    {"session": row.id, "account_id": row.account_id, "kind": k, "value": v[:200]}
                    for k, v in labels
                ]
            ).execute()
    for key, value in values.items():
        setattr(row, key, value)
    fire("rtcstats_session_analyzed", account_id=row.account_id, rtcstats_id=str(row.rtcstats_id))


def _give_back_credit(row: Session) -> None:
    """Refund the credit of a session whose first analysis failed (once, whoever calls it)."""
    if row.credit_period is None:
        return
    taken_back = (
        Session.update(credit_charged=False)
        .where(Session.id == row.id, Session.credit_charged == True)  # noqa: E712 - peewee expression
        .execute()
    )
    if taken_back:
        credits.refund(row.account_id, row.credit_period)


def _record_failure(row: Session, message: str, version: str) -> None:
    values = {"error": printable_text(message)[:2000], "failed_version": version}
    if row.status != READY:  # a first analysis failed; a failed re-analysis keeps the older result
        values["status"] = FAILED
    Session.update(**values).where(Session.id == row.id).execute()
    for key, value in values.items():
        setattr(row, key, value)


def analyze_stored(row: Session) -> bool:
    """Analyse the session's stored dump with the current analyzer and save the result.

    A dump that cannot be analysed is recorded (status failed, or the older result kept) and, for a
    first analysis, its credit given back. Returns True on success. Storage or database errors
    propagate (the job is retried).
    """
    version = processor_version()
    first = row.status != READY
    try:
        data = object_storage().get(row.dump_key)
    except ObjectNotFound:
        message = "the stored dump is missing"
    else:
        try:
            check_whole(data)  # a queued body or upload was not decoded whole in its request
            result = run_analysis(data, row.file_name, uploaded_at=row.created_at)
        except (DumpFormatError, DumpTooLarge) as err:
            message = str(err)
        except Exception:  # noqa: BLE001 - an analyzer bug on one dump must not be retried forever
            log.exception("analysis of session %s failed", row.rtcstats_id)
            message = "the analyzer failed on this dump; the operator's log has the details"
        else:
            store_analysis(row, result, version)
            return True
    _record_failure(row, message, version)
    if first:
        _give_back_credit(row)
    return False


def analyze_session(rtcstats_id: str) -> str:
    """The analysis job's work: "ready", "failed", "gone" (deleted) or "current" (nothing to do)."""
    row = Session.get_or_none(Session.rtcstats_id == parse_uuid(rtcstats_id))
    if row is None:
        return "gone"
    version = processor_version()
    if row.status == READY and row.processor_version == version:
        return "current"
    if row.status == FAILED and row.failed_version == version:
        return "current"
    return "ready" if analyze_stored(row) else "failed"


def outdated_sessions(account_id: int | None = None, pending_older_than_s: int = 3600) -> list[str]:
    """Ids of sessions the current analyzer should (re-)analyse: analysed or failed with another
    version, and pending ones whose job seems lost (older than `pending_older_than_s`)."""
    version = processor_version()
    stale = utcnow() - dt.timedelta(seconds=pending_older_than_s)
    query = Session.select(Session.rtcstats_id).where(
        ((Session.status == READY) & (Session.processor_version != version))
        | ((Session.status == FAILED) & (Session.failed_version != version))
        | ((Session.status == PENDING) & (Session.created_at < stale))
    )
    if account_id is not None:
        query = query.where(Session.account_id == account_id)
    return [str(r.rtcstats_id) for r in query.order_by(Session.id)]


# -- upload ---------------------------------------------------------------------------------------


def upload_chunk(account_id: int, fields: Mapping, data: bytes) -> dict:
    """Store one chunk of a chunked upload; {"success": true}.

    :raises InsufficientCredits: no credit left (checked first, nothing is stored).
    :raises uploads.InvalidUpload: bad fileId / chunkIndex / totalChunks, empty chunk.
    :raises uploads.UploadTooLarge: chunk or upload over the limits.
    """
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    uploads.store_chunk(
        object_storage(),
        account_id,
        uploads.UploadLimits.from_settings(cfg),
        file_id=fields.get("fileId"),
        chunk_index=fields.get("chunkIndex"),
        data=data,
        total_chunks=fields.get("totalChunks"),
        file_name=fields.get("fileName"),
    )
    return {"success": True}


def parse_assemble(body) -> tuple[str, str | None]:
    """(fileId, fileName) of a JSON assemble request.

    :raises InvalidRequest: not {fileId, assemble: true, fileName?}.
    """
    if not isinstance(body, Mapping):
        raise InvalidRequest("body: send a JSON object {fileId, assemble: true, fileName}")
    if body.get("assemble") is not True:
        raise InvalidRequest("assemble: must be true")
    file_id = uploads.check_file_id(body.get("fileId"))
    return file_id, uploads.check_file_name(body.get("fileName"))


def _check_chunks(account_id: int, file_id: str, cfg: dict) -> int | None:
    """The size the complete upload expands to (None: more than analyze_inline_max_bytes, see
    check_upload).

    :raises: as uploads.check_complete and check_upload; uploads.UploadTooLarge over max_upload_bytes.
    """
    rows = uploads.chunks_of(account_id, file_id)
    uploads.check_complete(rows, file_id)
    if sum(r.size for r in rows) > cfg["max_upload_bytes"]:
        raise uploads.UploadTooLarge(f"the upload exceeds the limit of {cfg['max_upload_bytes']} bytes")
    return check_upload(account_id, file_id, rows, cfg)[1]


def _take_chunks(account_id: int, file_id: str) -> uploads.Assembled:
    """Assemble an upload and claim its chunks (so a concurrent assemble cannot use them again).

    :raises uploads.NoChunks, uploads.MissingChunks, uploads.UploadTooLarge:
    """
    store = object_storage()
    assembled = uploads.assemble(store, account_id, file_id, settings()["max_upload_bytes"])
    with write_atomic():
        won = uploads.claim(account_id, file_id, assembled.indexes)
    if not won:
        assembled.file.close()
        raise uploads.NoChunks(f"fileId: '{file_id}' is being assembled by another request")
    uploads.delete_objects(store, account_id, file_id, assembled.indexes)
    return assembled


def assemble_upload(account_id: int, file_id: str, file_name: str | None) -> dict:
    """Join the chunks into the stored dump, create its session and queue its analysis.

    One credit is taken here and given back if the analysis fails.

    :raises InsufficientCredits: no credit left (before anything is done).
    :raises uploads.NoChunks, uploads.MissingChunks: nothing, or not everything, was uploaded.
    :raises uploads.UploadTooLarge: the chunks exceed max_upload_bytes.
    :raises DumpFormatError: the file is not a dump format (checked on its first bytes), or its gzip
        stream is damaged or cut off.
    :raises DumpTooLarge: a gzip upload expands beyond the limits.
    """
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    _check_chunks(account_id, file_id, cfg)
    period = credits.consume(account_id, cfg["monthly_credits"])
    rtcstats_id = _queue_assembled(account_id, file_id, file_name, "upload", period)
    return {"success": True, "rtcstatsId": str(rtcstats_id), **viewer_urls(rtcstats_id, cfg)}


def _queue_assembled(account_id: int, file_id: str, file_name: str | None, source: str, period) -> uuid.UUID:
    """Store a complete upload as a pending session and queue its analysis; the session's id.

    The chunks are claimed only once the job is queued: if storage, the database or Redis fails on
    the way, everything done is undone (credit of `period` included) and the chunks stay, so the
    client's retry of the assemble succeeds.

    :raises uploads.NoChunks, uploads.MissingChunks, uploads.UploadTooLarge: see uploads.assemble.
    """
    store = object_storage()
    try:
        assembled = uploads.assemble(store, account_id, file_id, settings()["max_upload_bytes"])
    except BaseException:
        credits.refund(account_id, period)
        raise

    def claim():
        with write_atomic():
            won = uploads.claim(account_id, file_id, assembled.indexes)
        if not won:
            raise uploads.NoChunks(f"fileId: '{file_id}' is being assembled by another request")

    with assembled.file:
        name = file_name or assembled.file_name or file_id
        rtcstats_id = _store_and_queue(
            account_id, assembled.file, assembled.size, name, source, period, charged=True, then=claim
        )
    uploads.delete_objects(store, account_id, file_id, assembled.indexes)
    return rtcstats_id


def _store_and_queue(
    account_id: int,
    file: BinaryIO,
    size: int,
    name: str,
    source: str,
    period,
    *,
    charged: bool,
    then: Callable[[], None] | None = None,
) -> uuid.UUID:
    """Store a dump file as a pending session, queue its first analysis, then run `then`; the
    session's id.

    The credit of `period` is already taken. If anything here fails (storage, the database, Redis
    for the queue, or `then`), all of it is undone, the credit given back and the error raised: no
    session is left pending or failed, and the client can simply retry. A dump that cannot be
    analysed later is the job's to record (and its credit is given back then).
    """
    from core.queue import enqueue

    store = object_storage()
    rtcstats_id = uuid.uuid4()
    key = dump_key(account_id, rtcstats_id)
    name = name[:255]
    undo = [lambda: credits.refund(account_id, period)]
    try:
        store.put(key, file, size)
        undo.append(lambda: store.delete(key))
        row = Session.create(
            rtcstats_id=rtcstats_id,
            account_id=account_id,
            source=source,
            file_name=name,
            file_size=size,
            dump_key=key,
            title=title_for(name),
            credit_period=period,
            credit_charged=charged,
        )
        # A job that finds its session deleted by this undo ends as "gone".
        undo.append(lambda: Session.delete().where(Session.id == row.id).execute())
        enqueue("rtcstats.analyze_upload", str(rtcstats_id))
        if then is not None:
            then()
    except BaseException:
        _undo(reversed(undo))
        raise
    return rtcstats_id


def _undo(steps) -> None:
    """Run each step; a step that fails too (the same outage) is logged, the others still run."""
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - the original error is what the caller must see
            log.exception("could not undo a step of a failed store-and-queue")


# -- analyze (synchronous) ------------------------------------------------------------------------


def truthy(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def analyze_now(account_id: int, data: bytes, *, save: bool = False, file_name: str | None = None) -> dict:
    """Parse and analyse a dump in the request; with `save`, store it as a session too.

    One credit is taken first and given back if anything fails.

    :raises InvalidRequest: empty body.
    :raises InsufficientCredits: no credit left.
    :raises DumpFormatError: unreadable dump (415). :raises DumpTooLarge: over the limits (413).
    """
    if not data:
        raise InvalidRequest("body: empty; send the dump file as the request body")
    cfg = settings()
    period = credits.consume(account_id, cfg["monthly_credits"])
    key = None
    received = utcnow()  # the session's created_at, and the date of a dump without events
    try:
        version = processor_version()
        result = run_analysis(data, file_name or "", cfg, uploaded_at=received)
        if not save:
            return {"data": _with_session_fields(result, None), "processorVersion": version}
        rtcstats_id = uuid.uuid4()
        key = dump_key(account_id, rtcstats_id)
        object_storage().put(key, io.BytesIO(data), len(data))
        name = (file_name or "")[:255]
        row = Session.create(
            rtcstats_id=rtcstats_id,
            account_id=account_id,
            source="analyze",
            file_name=name,
            file_size=len(data),
            dump_key=key,
            title=title_for(name, result),
            credit_period=period,
            credit_charged=True,
            created_at=received,
        )
        store_analysis(row, result, version)
    except BaseException:
        credits.refund(account_id, period)
        if key is not None:
            object_storage().delete(key)
            Session.delete().where(Session.dump_key == key).execute()
        raise
    stored = json.loads(row.result)
    return {
        "data": _with_session_fields(stored, row),
        "rtcstatsId": str(rtcstats_id),
        **viewer_urls(rtcstats_id, cfg),
        "processorVersion": version,
    }


def analyze_body(
    account_id: int, file: BinaryIO, size: int, *, save: bool, file_name: str | None
) -> tuple[dict, bool]:
    """POST /analyze with the dump in the body (a spooled file): (answer, queued).

    A dump that expands to at most analyze_inline_max_bytes is analysed now (analyze_now). A larger
    one is stored as a session and analysed by a job, whatever `save` says (the result has to be
    kept somewhere to be fetched): queued is True and the answer is the 202 body. Whether a gzip
    body is larger is judged without decoding more than that budget (expanded_size), so a bomb whose
    trailer hides it is queued too: the job refuses it (the session fails, its credit given back).

    :raises: as analyze_now; DumpTooLarge and DumpFormatError before any credit is taken.
    """
    if not size:
        raise InvalidRequest("body: empty; send the dump file as the request body")
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    expanded = expanded_size(file, size, cfg)
    if expanded is not None and expanded <= cfg["analyze_inline_max_bytes"]:
        return analyze_now(account_id, file.read(), save=save, file_name=file_name), False
    sniff(file.read(SNIFF_BYTES))  # not a dump at all: 415 now, rather than a failed session later
    file.seek(0)
    period = credits.consume(account_id, cfg["monthly_credits"])
    rtcstats_id = _store_and_queue(account_id, file, size, file_name or "", "analyze", period, charged=True)
    return _pending_answer(rtcstats_id, expanded, cfg), True


def _pending_answer(rtcstats_id: uuid.UUID, expanded: int | None, cfg: dict) -> dict:
    inline_max = cfg["analyze_inline_max_bytes"]
    size = "" if expanded is None else f"{expanded} bytes, "
    return {
        "data": None,
        "status": "pending",
        "rtcstatsId": str(rtcstats_id),
        **viewer_urls(rtcstats_id, cfg),
        "message": (
            f"the dump expands to {size}more than the {inline_max} bytes analysed within a request: "
            "it is stored and analysed in the background; "
            f"GET /sessions/{rtcstats_id} answers 409 analysis_pending until the result is ready"
        ),
    }


def analyze_assembled(
    account_id: int, file_id: str, *, save: bool, file_name: str | None
) -> tuple[dict, bool]:
    """POST /analyze with a JSON assemble request: join the chunks, then as analyze_body.

    :raises: as assemble_upload and analyze_now.
    """
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    expanded = _check_chunks(account_id, file_id, cfg)
    if expanded is not None and expanded <= cfg["analyze_inline_max_bytes"]:
        data, assembled_name = _read_assembled(account_id, file_id)
        answer = analyze_now(account_id, data, save=save, file_name=file_name or assembled_name)
        return answer, False
    period = credits.consume(account_id, cfg["monthly_credits"])
    rtcstats_id = _queue_assembled(account_id, file_id, file_name, "analyze", period)
    return _pending_answer(rtcstats_id, expanded, cfg), True


def _check_inline(expanded: int | None, cfg: dict) -> None:
    """:raises DumpTooLarge: /enrich answers only synchronously, up to analyze_inline_max_bytes
    (`expanded` None: more than that)."""
    if expanded is None or expanded > cfg["analyze_inline_max_bytes"]:
        size = "more than that" if expanded is None else f"{expanded} bytes"
        raise DumpTooLarge(
            f"the dump expands to {size}; /enrich analyses at most "
            f"{cfg['analyze_inline_max_bytes']} within a request: send it to /analyze or /upload, "
            "which analyse larger dumps in the background"
        )


def _read_assembled(account_id: int, file_id: str) -> tuple[bytes, str | None]:
    """(bytes, file name) of a complete upload, its chunks taken (checked by _check_chunks first)."""
    assembled = _take_chunks(account_id, file_id)
    try:
        return assembled.file.read(), assembled.file_name
    finally:
        assembled.file.close()


ENRICH_KEYS = (
    "category",
    "tags",
    "firstSeenAt",
    "url",
    "property",
    "valueInCount",
    "valueInPercent",
    "averageInMs",
    "maxInMs",
    "durationInMs",
    "durationInSeconds",
    "durationInPercent",
)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def enrich_projection(data: dict) -> dict:
    """The /enrich answer's data: scores, counts, flat observations, userAgentData."""
    observations = []
    for obs in data.get("observations") or []:
        if not isinstance(obs, Mapping) or not obs.get("type") or obs.get("severity") not in SEVERITIES:
            continue
        flat = {"type": obs["type"], "severity": obs["severity"]}
        for key in ENRICH_KEYS:
            value = obs.get(key)
            if key in ("category", "url", "property"):
                if isinstance(value, str) and value:
                    flat[key] = value
            elif key == "tags":
                if isinstance(value, list):
                    flat[key] = [t for t in value if isinstance(t, str)]
            elif _number(value):
                flat[key] = int(value) if key == "firstSeenAt" else value
        observations.append(flat)
    counts = {s: sum(1 for o in observations if o["severity"] == s) for s in SEVERITIES}
    scores = {
        key: (data.get(key) if _number(data.get(key)) else None)
        for key in ("experienceScore", "audioScore", "videoScore", "connectivityScore", "observationsScore")
    }
    if unrated(data):
        scores["experienceScore"] = None  # the vendor's Scores: null when there is no media to score
    ua = data.get("userAgentData")
    return {
        "scores": scores,
        "observationsCount": counts,
        "observations": observations,
        "userAgentData": ua if isinstance(ua, Mapping) else {},
    }


def enrich_body(account_id: int, file: BinaryIO, size: int) -> dict:
    """POST /enrich with the dump in the body (a spooled file).

    :raises: as enrich; DumpTooLarge for a dump over analyze_inline_max_bytes (before any credit).
    """
    if not size:
        raise InvalidRequest("body: empty; send the dump file as the request body")
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    _check_inline(expanded_size(file, size, cfg), cfg)
    return enrich(account_id, file.read())


def enrich(account_id: int, data: bytes) -> dict:
    """POST /enrich: analyse without storing and answer the scores/observations projection.

    :raises: as analyze_now.
    """
    answer = analyze_now(account_id, data, save=False)
    return {
        "data": enrich_projection(answer["data"]),
        "processorVersion": answer["processorVersion"],
        "generatedAt": int(time.time() * 1000),
    }


def enrich_assembled(account_id: int, file_id: str) -> dict:
    """POST /enrich with a JSON assemble request: join the chunks, then enrich.

    :raises: as analyze_assembled.
    """
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    _check_inline(_check_chunks(account_id, file_id, cfg), cfg)
    data, _ = _read_assembled(account_id, file_id)
    return enrich(account_id, data)


# -- sessions -------------------------------------------------------------------------------------


def _raw_args(raw) -> dict:
    """Query args (a MultiDict: repeated keys kept) or MCP arguments (a JSON object) as one dict.

    An empty query value counts as absent (`?browser=&hasCritical=`, as dashboards send the inputs
    left blank), for every key; a key left with no value is dropped. MCP arguments are JSON, where the
    vendor's inputSchema says what an empty string means (minLength 1: refused).
    """
    if hasattr(raw, "getlist"):
        values = {key: [v for v in raw.getlist(key) if v != ""] for key in raw}
        return {key: given for key, given in values.items() if given}
    if not isinstance(raw, Mapping):
        raise InvalidRequest("arguments: must be an object")
    return dict(raw)


def _unwrap_scalars(values: dict, schema: ma.Schema) -> dict:
    """A query key given once arrives as a one-element list: the single value a flag or number wants."""
    out = {}
    for key, value in values.items():
        field = schema.fields.get(key)
        if field is not None and not isinstance(field, ma.fields.List) and isinstance(value, list):
            if len(value) != 1:
                raise InvalidRequest(f"{key}: give one value")
            value = value[0]
        out[key] = value
    return out


def parse_filters(raw) -> dict:
    """Validated session filters from query args (MultiDict) or MCP tool arguments (dict).

    Array filters accept repeated keys, comma-separated values, or JSON lists; `observationFlags`
    is folded into `observationTypes`. Returns only the filters given: {name: [..], os: [..],
    hasCritical: True, ...} (flags that are false are dropped: false means "no filter").

    :raises InvalidRequest: an invalid value; the message names the filter.
    """
    schema = SessionFiltersSchema()
    try:
        loaded = schema.load(_unwrap_scalars(_raw_args(raw), schema))
    except ma.ValidationError as err:
        raise InvalidRequest(summarize_field_errors(err.messages)) from None
    types = loaded.pop("observationTypes", []) + loaded.pop("observationFlags", [])
    if types:
        loaded["observationTypes"] = list(dict.fromkeys(types))
    return {k: v for k, v in loaded.items() if v not in (False, [], None)}


def parse_paging(raw, default_limit: int | None = None, max_limit: int | None = None) -> tuple[int, int]:
    """(limit, offset) from query args or MCP arguments; defaults and bound from the settings.

    :raises InvalidRequest: not positive whole numbers, or limit above the maximum.
    """
    if default_limit is None or max_limit is None:
        cfg = settings()
        default_limit = cfg["sessions_default_limit"] if default_limit is None else default_limit
        max_limit = cfg["sessions_max_limit"] if max_limit is None else max_limit
    schema = PagingSchema()
    try:
        loaded = schema.load(_unwrap_scalars(_raw_args(raw), schema))
    except ma.ValidationError as err:
        raise InvalidRequest(summarize_field_errors(err.messages)) from None
    limit = loaded.get("limit", default_limit)
    if limit > max_limit:
        raise InvalidRequest(f"limit: at most {max_limit}")
    return limit, loaded["offset"]


EXACT_COLUMNS = {
    "os": Session.os,
    "browser": Session.browser,
    "browserVersion": Session.browser_version,
    "userId": Session.user_id,
    "conferenceId": Session.conference_id,
    "sessionId": Session.session_ident,
}


def _any_of(expressions):
    combined = None
    for expression in expressions:
        combined = expression if combined is None else combined | expression
    return combined


def _filtered(account_id: int, filters: dict):
    query = Session.select().where(Session.account_id == account_id)
    if filters.get("name"):
        query = query.where(_any_of(Session.title.contains(v) for v in filters["name"]))
    for key, kind in (("observationTypes", "type"), ("observationTags", "tag")):
        if filters.get(key):
            labelled = SessionLabel.select(SessionLabel.session).where(
                SessionLabel.account_id == account_id,
                SessionLabel.kind == kind,
                SessionLabel.value.in_(filters[key]),
            )
            query = query.where(Session.id.in_(labelled))
    for key, column in EXACT_COLUMNS.items():
        if filters.get(key):
            query = query.where(column.in_(filters[key]))
    if filters.get("hasCritical"):
        query = query.where(Session.observations_critical > 0)
    if filters.get("hasHigh"):
        query = query.where(Session.observations_high > 0)
    if filters.get("hasMedium"):
        query = query.where(Session.observations_medium > 0)
    if filters.get("hasLowScore"):
        query = query.where(Session.experience_score < 60)
    if filters.get("hasMediumScore"):
        query = query.where((Session.experience_score >= 60) & (Session.experience_score < 80))
    if filters.get("hasHighScore"):
        query = query.where(Session.experience_score >= 80)
    return query


def list_item(row: Session, cfg: dict | None = None) -> dict:
    """A SessionListItem; abstract is null until the session is analysed."""
    return {
        "rtcstatsId": str(row.rtcstats_id),
        "createdAt": iso(row.created_at),
        "sessionStart": row.session_start,
        "sessionEnd": row.session_end,
        "title": row.title,
        **viewer_urls(row.rtcstats_id, cfg),
        "abstract": json.loads(row.abstract) if row.abstract and row.status == READY else None,
    }


def list_sessions(account_id: int, filters: dict, limit: int, offset: int) -> tuple[int, list[dict]]:
    """Sessions of the account matching `filters` (from parse_filters), newest first.

    Returns (number of all matching sessions, the SessionListItems of this page). The wire's
    `total` is the number of items in the page (specs/rtcstats-api.md); the API sends the number
    of all matches in the X-Total-Count header.
    """
    cfg = settings()
    query = _filtered(account_id, filters)
    total = query.count()
    rows = query.order_by(Session.created_at.desc(), Session.id.desc()).limit(limit).offset(offset)
    return total, [list_item(row, cfg) for row in rows]


def _own_session(account_id: int, rtcstats_id) -> Session:
    """:raises InvalidRequest: not a UUID. :raises NotFound: no such session in this account."""
    row = Session.get_or_none(
        Session.rtcstats_id == parse_uuid(rtcstats_id), Session.account_id == account_id
    )
    if row is None:
        raise NotFound(f"session '{rtcstats_id}' not found")
    return row


def recorded_expansion(row: Session) -> int | None:
    """The size the session's dump expands to, as its analysis recorded it (None: not recorded)."""
    try:
        value = json.loads(row.result)["metadata"]["bytesUncompressed"]
    except (TypeError, ValueError, KeyError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def fits_in_a_request(row: Session, cfg: dict | None = None) -> bool:
    """Whether the session's dump is small enough (analyze_inline_max_bytes after gunzip) to be parsed
    within a web request; larger ones are left to jobs, so a request never holds a web worker's
    memory for a big dump.

    :raises ObjectNotFound: the stored dump is gone (only asked when no analysis recorded the size).
    """
    cfg = cfg or settings()
    budget = cfg["analyze_inline_max_bytes"]
    expanded = recorded_expansion(row)
    if expanded is None:
        with object_storage().open(row.dump_key) as dump:
            gzip = dump.read(2) == GZIP_MAGIC
            if not gzip:
                expanded = row.file_size
            elif row.file_size > budget:
                return False
            else:  # judged as a request body is, decoding at most the budget
                claimed = trailer_size(_tail(dump, row.file_size))
                dump.seek(0)
                try:
                    expanded = judge_gzip(
                        _cooperative_blocks(dump), row.file_size, claimed, limits(cfg), budget
                    )
                except DumpFormatError:
                    return True  # damaged within the budget: analysing it fails as cheaply
                except DumpTooLarge:
                    # Found by decoding within the budget (cheap to fail again), or only claimed.
                    return limits(cfg).cap(row.file_size) <= budget
        if expanded is None:
            return False
    return expanded <= budget


QUEUED_KEY = "mediaplane:rtcstats:queued:"


def enqueue_once(job_name: str, rtcstats_id, within_seconds: int = 600) -> bool:
    """Queue `job_name` for a session unless it was queued for it within `within_seconds` (many page
    views or GETs of one session make one job). True if queued now."""
    from core.queue import enqueue, redis_connection

    if not redis_connection().set(f"{QUEUED_KEY}{job_name}:{rtcstats_id}", 1, nx=True, ex=within_seconds):
        return False
    enqueue(job_name, str(rtcstats_id))
    return True


def get_session(account_id: int, rtcstats_id) -> dict:
    """The GET /sessions/{id} body: {data, rtcstatsId, rtcstatsUrl, embedUrl?, processorVersion}.

    A session analysed by another analyzer version is analysed again first (and stored).

    :raises InvalidRequest: not a UUID.
    :raises NotFound: no such session in this account.
    :raises AnalysisPending: its first analysis is still queued or running.
    :raises AnalysisFailed: its dump could not be analysed.
    :raises ReprocessFailed: re-analysing with the current analyzer failed.
    """
    row = _own_session(account_id, rtcstats_id)
    version = processor_version()
    if row.status == PENDING:
        raise AnalysisPending("the session is still being analysed; try again in a few seconds")
    outdated = (row.status == FAILED or row.processor_version != version) and row.failed_version != version
    if outdated and not fits_in_a_request(row):
        # A big dump is analysed again by a job; meanwhile an older analysis is served as it is.
        enqueue_once("rtcstats.reprocess_session", row.rtcstats_id)
        if row.status == FAILED:
            raise AnalysisPending("the session is being analysed again; try again in a few seconds")
    elif row.status == FAILED:
        if row.failed_version == version or not analyze_stored(row):
            raise AnalysisFailed(f"the dump could not be analysed: {row.error}")
    elif row.processor_version != version:
        if row.failed_version == version or not analyze_stored(row):
            raise ReprocessFailed(f"re-analysing the session with analyzer {version} failed: {row.error}")
    return {
        "data": _with_session_fields(json.loads(row.result), row),
        "rtcstatsId": str(row.rtcstats_id),
        **viewer_urls(row.rtcstats_id),
        "processorVersion": row.processor_version,
    }


def delete_session(account_id: int, rtcstats_id) -> dict:
    """Delete a session and its stored dump; {"success": true}. Credits are not given back.

    :raises InvalidRequest: not a UUID. :raises NotFound: no such session in this account.
    """
    row = _own_session(account_id, rtcstats_id)
    with write_atomic():
        SessionLabel.delete().where(SessionLabel.session == row.id).execute()
        Session.delete().where(Session.id == row.id).execute()
    object_storage().delete(row.dump_key)
    return {"success": True}


def quota(account) -> dict:
    """The GET /quota body of `account` (a core.auth.Actor or a core.models.Account)."""
    cfg = settings()
    account_id = getattr(account, "account_id", None) or account.id
    name = getattr(account, "account_name", None) or account.name
    allowed, remaining = credits.balance(account_id, cfg["monthly_credits"])
    return {
        "accountName": name,
        "accountPlan": cfg["account_plan"],
        "allowedCredits": allowed,
        "remainingCredits": remaining,
    }


def observation_catalogue() -> dict:
    """GET /observations: {total, data: [{type, title, severity, tags}]} sorted by type."""
    from plugins.rtcstats.analysis.observations import catalogue

    entries = sorted(catalogue(), key=lambda e: e["type"])
    return {"total": len(entries), "data": entries}
