"""Chunked uploads: chunks in object storage (one object each), their index rows in the database.

Chunks may come in any order and more than once (a retried request replaces the chunk); assembling
concatenates them in index order. Uploads whose newest chunk is older than the expiry are purged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tempfile
from dataclasses import dataclass

import peewee

from core.db import utcnow, write_atomic
from core.storage import ObjectNotFound
from core.text import is_printable
from plugins.rtcstats.models import UploadChunk

SPOOL_BYTES = 8 * 1024 * 1024  # assembled files up to this stay in memory, larger ones go to disk


class UploadError(Exception):
    """Base of chunked-upload errors."""


class InvalidUpload(UploadError):
    """A chunk or assemble request is malformed; the message names the field."""


class UploadTooLarge(UploadError):
    """A chunk or the whole upload exceeds a configured limit."""


class NoChunks(InvalidUpload):
    """Nothing was uploaded under this fileId (never, expired, or assembled already)."""


class MissingChunks(InvalidUpload):
    """Some chunk indexes between 0 and the last one were not received."""

    def __init__(self, missing: list[int]):
        shown = ", ".join(str(i) for i in missing[:50]) + (", ..." if len(missing) > 50 else "")
        super().__init__(f"chunks missing: {shown}; upload them, then assemble again")
        self.missing = missing


@dataclass(frozen=True)
class UploadLimits:
    max_chunk_bytes: int
    max_chunks: int
    max_upload_bytes: int

    @classmethod
    def from_settings(cls, settings: dict) -> UploadLimits:
        return cls(settings["max_chunk_bytes"], settings["max_chunks"], settings["max_upload_bytes"])


@dataclass
class Assembled:
    """The concatenated chunks: a readable file positioned at 0, its size, and what was consumed."""

    file: object
    size: int
    file_name: str | None
    indexes: list[int]


def check_file_id(file_id) -> str:
    """:raises InvalidUpload: not a printable string of 1-200 characters."""
    if not isinstance(file_id, str) or not file_id.strip():
        raise InvalidUpload("fileId: required (a printable string)")
    if len(file_id) > 200:
        raise InvalidUpload("fileId: at most 200 characters")
    if not is_printable(file_id):
        raise InvalidUpload("fileId: only printable characters")
    return file_id


def check_file_name(file_name) -> str | None:
    """:raises InvalidUpload: not a printable string of at most 255 characters."""
    if file_name is None or file_name == "":
        return None
    if not isinstance(file_name, str) or len(file_name) > 255:
        raise InvalidUpload("fileName: must be a string of at most 255 characters")
    if not is_printable(file_name):
        raise InvalidUpload("fileName: only printable characters")
    return file_name


def _int_field(name: str, value, low: int, high: int) -> int:
    if value is None or value == "":
        raise InvalidUpload(f"{name}: required")
    text = str(value).strip()
    if not text.isdigit() or not text.isascii():
        raise InvalidUpload(f"{name}: must be a whole number")
    # Python refuses to convert more than 4300 digits (a ValueError, once a 500): far out of range anyway.
    number = int(text) if len(text.lstrip("0")) <= len(str(high)) else high + 1
    if not low <= number <= high:
        raise InvalidUpload(f"{name}: must be between {low} and {high}")
    return number


def chunk_key(account_id: int, file_id: str, index: int) -> str:
    # fileIds are client-made text: hashed, they cannot escape the account's prefix or clash with keys.
    digest = hashlib.sha256(file_id.encode()).hexdigest()[:40]
    return f"rtcstats/{account_id}/uploads/{digest}/{index}"


def store_chunk(
    storage,
    account_id: int,
    limits: UploadLimits,
    *,
    file_id,
    chunk_index,
    data: bytes,
    total_chunks=None,
    file_name=None,
) -> int:
    """Store one chunk (replacing an earlier copy of the same index); returns its index.

    :raises InvalidUpload: bad fileId, chunkIndex, totalChunks or an empty chunk.
    :raises UploadTooLarge: the chunk, or all chunks together, exceed the limits.
    """
    file_id = check_file_id(file_id)
    index = _int_field("chunkIndex", chunk_index, 0, limits.max_chunks - 1)
    total = None
    if total_chunks not in (None, ""):
        total = _int_field("totalChunks", total_chunks, 1, limits.max_chunks)
        if index >= total:
            raise InvalidUpload(f"chunkIndex: {index} is not below totalChunks ({total})")
    if file_name is not None:
        file_name = check_file_name(file_name)
    if not data:
        raise InvalidUpload("chunk: empty")
    if len(data) > limits.max_chunk_bytes:
        raise UploadTooLarge(f"chunk: {len(data)} bytes; the limit is {limits.max_chunk_bytes}")
    others = (
        UploadChunk.select(peewee.fn.COALESCE(peewee.fn.SUM(UploadChunk.size), 0))
        .where(
            UploadChunk.account_id == account_id,
            UploadChunk.file_id == file_id,
            UploadChunk.chunk_index != index,
        )
        .scalar()
    )
    if int(others or 0) + len(data) > limits.max_upload_bytes:
        raise UploadTooLarge(f"the upload exceeds the limit of {limits.max_upload_bytes} bytes")
    storage.put(chunk_key(account_id, file_id, index), io.BytesIO(data), len(data))
    row = {
        "account_id": account_id,
        "file_id": file_id,
        "chunk_index": index,
        "size": len(data),
        "total_chunks": total,
        "file_name": file_name,
        "received_at": utcnow(),
    }
    update = {
        UploadChunk.size: len(data),
        UploadChunk.received_at: row["received_at"],
        UploadChunk.total_chunks: total,
        UploadChunk.file_name: file_name,
    }
    UploadChunk.insert(**row).on_conflict(
        conflict_target=[UploadChunk.account_id, UploadChunk.file_id, UploadChunk.chunk_index],
        update=update,
    ).execute()
    return index


def chunks_of(account_id: int, file_id: str) -> list[UploadChunk]:
    return list(
        UploadChunk.select()
        .where(UploadChunk.account_id == account_id, UploadChunk.file_id == file_id)
        .order_by(UploadChunk.chunk_index)
    )


def check_complete(rows: list[UploadChunk], file_id: str) -> None:
    """:raises NoChunks: no rows. :raises MissingChunks: a gap below the last index (or totalChunks)."""
    if not rows:
        raise NoChunks(f"fileId: no chunks found for '{file_id}' (never sent, expired, or assembled)")
    expected = max([r.chunk_index + 1 for r in rows] + [r.total_chunks or 0 for r in rows])
    present = {r.chunk_index for r in rows}
    missing = [i for i in range(expected) if i not in present]
    if missing:
        raise MissingChunks(missing)


def read_blocks(storage, account_id: int, file_id: str, rows: list[UploadChunk], block: int = 1024 * 1024):
    """The bytes of the chunks `rows` in their order, as blocks of at most `block` bytes.

    :raises MissingChunks: a chunk's object is gone.
    """
    for row in rows:
        try:
            with storage.open(chunk_key(account_id, file_id, row.chunk_index)) as part:
                while data := part.read(block):
                    yield data
        except ObjectNotFound:
            # The row outlived its object (a purge or another assemble ran meanwhile).
            raise MissingChunks([row.chunk_index]) from None


def tail(storage, account_id: int, file_id: str, rows: list[UploadChunk], count: int) -> bytes:
    """The last `count` bytes of the upload made of the chunks `rows` (fewer if it is shorter).

    :raises MissingChunks: a chunk's object is gone.
    """
    out = b""
    for row in reversed(rows):
        need = count - len(out)
        if need <= 0:
            break
        try:
            with storage.open(chunk_key(account_id, file_id, row.chunk_index)) as part:
                part.seek(max(row.size - need, 0))
                out = part.read(need) + out
        except ObjectNotFound:
            raise MissingChunks([row.chunk_index]) from None
    return out


def assemble(storage, account_id: int, file_id: str, max_upload_bytes: int) -> Assembled:
    """Concatenate the chunks of an upload in index order (the chunks stay until discard()).

    :raises NoChunks, MissingChunks: see check_complete.
    :raises UploadTooLarge: the chunks add up to more than the limit.
    """
    file_id = check_file_id(file_id)
    rows = chunks_of(account_id, file_id)
    check_complete(rows, file_id)
    size = sum(r.size for r in rows)
    if size > max_upload_bytes:
        raise UploadTooLarge(f"the upload has {size} bytes; the limit is {max_upload_bytes}")
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    written = 0
    try:
        for block in read_blocks(storage, account_id, file_id, rows):
            out.write(block)
            written += len(block)
    except MissingChunks:
        out.close()
        raise
    out.seek(0)
    names = [r.file_name for r in rows if r.file_name]
    return Assembled(out, written, names[0] if names else None, [r.chunk_index for r in rows])


def claim(account_id: int, file_id: str, indexes: list[int]) -> bool:
    """Delete the chunk rows of an assembled upload; False if another request claimed them first."""
    deleted = (
        UploadChunk.delete()
        .where(
            UploadChunk.account_id == account_id,
            UploadChunk.file_id == file_id,
            UploadChunk.chunk_index.in_(indexes),
        )
        .execute()
    )
    return deleted == len(indexes)


def delete_objects(storage, account_id: int, file_id: str, indexes: list[int]) -> None:
    for index in indexes:
        storage.delete(chunk_key(account_id, file_id, index))


def purge_abandoned(storage, expiry_seconds: int, now: dt.datetime | None = None) -> int:
    """Delete uploads whose newest chunk is older than `expiry_seconds`; returns how many uploads."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=expiry_seconds)
    stale = (
        UploadChunk.select(UploadChunk.account_id, UploadChunk.file_id)
        .group_by(UploadChunk.account_id, UploadChunk.file_id)
        .having(peewee.fn.MAX(UploadChunk.received_at) < cutoff)
        .tuples()
    )
    purged = 0
    for account_id, file_id in list(stale):
        with write_atomic():
            rows = list(
                UploadChunk.select(UploadChunk.id, UploadChunk.chunk_index).where(
                    UploadChunk.account_id == account_id,
                    UploadChunk.file_id == file_id,
                    UploadChunk.received_at < cutoff,
                )
            )
            UploadChunk.delete().where(UploadChunk.id.in_([r.id for r in rows])).execute()
        delete_objects(storage, account_id, file_id, [r.chunk_index for r in rows])
        purged += 1
    return purged
