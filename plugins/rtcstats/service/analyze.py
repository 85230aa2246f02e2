"""POST /analyze: a dump analysed within the request, or stored and analysed by a job when large."""

from __future__ import annotations

import io
import json
import uuid
from typing import BinaryIO

from core.db import utcnow
from plugins.rtcstats import credits, metrics
from plugins.rtcstats.models import Session
from plugins.rtcstats.service.chunked_upload import (
    check_chunks,
    queue_assembled,
    read_assembled,
    store_and_queue,
)
from plugins.rtcstats.service.config import dump_key, object_storage, processor_version, settings
from plugins.rtcstats.service.dump_checks import SNIFF_BYTES, expanded_size, sniff
from plugins.rtcstats.service.errors import InvalidRequest
from plugins.rtcstats.service.stored_analysis import run_analysis, store_analysis
from plugins.rtcstats.service.wire import title_for, viewer_urls, with_session_fields


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
            return {"data": with_session_fields(result, None), "processorVersion": version}
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
        "data": with_session_fields(stored, row),
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
    metrics.received("analyze", size)
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    expanded = expanded_size(file, size, cfg)
    if expanded is not None and expanded <= cfg["analyze_inline_max_bytes"]:
        return analyze_now(account_id, file.read(), save=save, file_name=file_name), False
    sniff(file.read(SNIFF_BYTES))  # not a dump at all: 415 now, rather than a failed session later
    file.seek(0)
    period = credits.consume(account_id, cfg["monthly_credits"])
    rtcstats_id = store_and_queue(account_id, file, size, file_name or "", "analyze", period, charged=True)
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
    expanded = check_chunks(account_id, file_id, cfg)
    if expanded is not None and expanded <= cfg["analyze_inline_max_bytes"]:
        data, assembled_name = read_assembled(account_id, file_id)
        answer = analyze_now(account_id, data, save=save, file_name=file_name or assembled_name)
        return answer, False
    period = credits.consume(account_id, cfg["monthly_credits"])
    rtcstats_id = queue_assembled(account_id, file_id, file_name, "analyze", period)
    return _pending_answer(rtcstats_id, expanded, cfg), True
