"""Analysing a stored session's dump and saving the result (the analysis jobs' work)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math

from core.db import utcnow, write_atomic
from core.events import fire
from core.storage import ObjectNotFound
from plugins.rtcstats import credits, metrics
from plugins.rtcstats.models import FAILED, LABEL_COPIES, PENDING, READY, Session, SessionLabel
from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge
from plugins.rtcstats.service.abstract import abstract_columns, abstract_of
from plugins.rtcstats.service.config import limits, object_storage, processor_version
from plugins.rtcstats.service.dump_checks import check_whole
from plugins.rtcstats.service.wire import clean_text, parse_uuid, printable_text, title_for

log = logging.getLogger("rtcstats")


EPOCH = dt.datetime(1970, 1, 1)  # naive UTC, as the stored datetimes


@metrics.counted_analysis
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
        "session_start": clean_text(data.get("callStart"), 40),
        "session_end": clean_text(data.get("callEnd"), 40),
        **abstract_columns(abstract),
    }
    labels = [("type", v) for v in abstract["observationTypes"]] + [
        ("tag", v) for v in abstract["observationTags"]
    ]
    copies = {"created_at": row.created_at, **{name: values[name] for name in LABEL_COPIES}}
    with write_atomic():
        Session.update(**values).where(Session.id == row.id).execute()
        SessionLabel.delete().where(SessionLabel.session == row.id).execute()
        if labels:
            SessionLabel.insert_many(
                [
                    {"session": row.id, "account_id": row.account_id, "kind": k, "value": v[:200], **copies}
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
