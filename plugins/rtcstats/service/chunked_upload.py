"""POST /upload: chunks, assembling them into a stored session, and queueing its analysis."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import BinaryIO

from core.db import write_atomic
from plugins.rtcstats import credits, metrics, uploads
from plugins.rtcstats.models import PENDING, Session
from plugins.rtcstats.service import live
from plugins.rtcstats.service.config import dump_key, object_storage, settings
from plugins.rtcstats.service.dump_checks import check_upload
from plugins.rtcstats.service.errors import InvalidRequest
from plugins.rtcstats.service.wire import title_for, viewer_urls

log = logging.getLogger("rtcstats")


def upload_chunk(account_id: int, fields: Mapping, data: bytes) -> dict:
    """Store one chunk of a chunked upload; {"success": true}.

    :raises InsufficientCredits: no credit left (checked first, nothing is stored).
    :raises uploads.InvalidUpload: bad fileId / chunkIndex / totalChunks, empty chunk.
    :raises uploads.UploadTooLarge: chunk or upload over the limits.
    """
    metrics.received("upload", len(data))
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


def check_chunks(account_id: int, file_id: str, cfg: dict) -> int | None:
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


def read_assembled(account_id: int, file_id: str) -> tuple[bytes, str | None]:
    """(bytes, file name) of a complete upload, its chunks taken (checked by check_chunks first)."""
    assembled = _take_chunks(account_id, file_id)
    try:
        return assembled.file.read(), assembled.file_name
    finally:
        assembled.file.close()


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
    check_chunks(account_id, file_id, cfg)
    period = credits.consume(account_id, cfg["monthly_credits"])
    rtcstats_id = queue_assembled(account_id, file_id, file_name, "upload", period)
    return {"success": True, "rtcstatsId": str(rtcstats_id), **viewer_urls(rtcstats_id, cfg)}


def queue_assembled(account_id: int, file_id: str, file_name: str | None, source: str, period) -> uuid.UUID:
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
        rtcstats_id = store_and_queue(
            account_id, assembled.file, assembled.size, name, source, period, charged=True, then=claim
        )
    uploads.delete_objects(store, account_id, file_id, assembled.indexes)
    return rtcstats_id


def store_and_queue(
    account_id: int,
    file: BinaryIO,
    size: int,
    name: str,
    source: str,
    period,
    *,
    charged: bool,
    then: Callable[[], None] | None = None,
    rtcstats_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Store a dump file as a pending session, queue its first analysis, then run `then`; the
    session's id. A collector dump names its id, and its live row (service/live.py), if there is
    one, becomes the pending session (named as stored).

    The credit of `period` is already taken. If anything here fails (storage, the database, Redis
    for the queue, or `then`), all of it is undone, the credit given back and the error raised: no
    session is left pending or failed, and the client can simply retry. A dump that cannot be
    analysed later is the job's to record (and its credit is given back then).
    """
    from core.queue import enqueue

    store = object_storage()
    adopt = rtcstats_id is not None
    rtcstats_id = rtcstats_id or uuid.uuid4()
    key = dump_key(account_id, rtcstats_id)
    name = name[:255]
    undo = [lambda: credits.refund(account_id, period)]
    try:
        store.put(key, file, size)
        undo.append(lambda: store.delete(key))
        stored = {
            "file_size": size,
            "status": PENDING,
            "credit_period": period,
            "credit_charged": charged,
            "file_name": name,
            "title": title_for(name),
        }
        row = live.take_over(account_id, rtcstats_id, stored) if adopt else None
        row = row or Session.create(
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
