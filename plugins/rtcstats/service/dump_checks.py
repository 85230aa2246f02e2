"""What a dump is and how far it expands, judged cheaply before it is parsed or costs a credit."""

from __future__ import annotations

import json
import time
from typing import BinaryIO

from plugins.rtcstats import uploads
from plugins.rtcstats.models import Session
from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge
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
from plugins.rtcstats.service.config import limits, object_storage, settings

SNIFF_BYTES = 64 * 1024


# A gzip body is measured this much at a time, the worker's other requests getting a turn between
# pieces: deflate expands 64 KiB to at most ~66 MB (its limit is ~1032:1), tens of ms of CPU.
MEASURE_BLOCK = 64 * 1024


YIELD_SECONDS = 0.0001


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
