"""GET and DELETE /sessions/{id}: one stored session, re-analysed first when outdated."""

from __future__ import annotations

import json

from core.db import write_atomic
from plugins.rtcstats.models import FAILED, LIVE, PENDING, Session, SessionLabel
from plugins.rtcstats.service.config import object_storage, processor_version
from plugins.rtcstats.service.dump_checks import fits_in_a_request
from plugins.rtcstats.service.errors import AnalysisFailed, AnalysisPending, NotFound, ReprocessFailed
from plugins.rtcstats.service.live import SessionLive
from plugins.rtcstats.service.stored_analysis import analyze_stored
from plugins.rtcstats.service.wire import parse_uuid, viewer_urls, with_session_fields


def _own_session(account_id: int, rtcstats_id) -> Session:
    """:raises InvalidRequest: not a UUID. :raises NotFound: no such session in this account."""
    row = Session.get_or_none(
        Session.rtcstats_id == parse_uuid(rtcstats_id), Session.account_id == account_id
    )
    if row is None:
        raise NotFound(f"session '{rtcstats_id}' not found")
    return row


QUEUED_KEY = "mediaplane:rtcstats:queued:"
LIVE_DETAIL = (
    "the session is live: its collector socket is open, and it is stored and analysed when the socket "
    "closes; try again later"
)


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
    :raises SessionLive: its collector socket is still open (nothing analysed yet).
    :raises AnalysisPending: its first analysis is still queued or running.
    :raises AnalysisFailed: its dump could not be analysed.
    :raises ReprocessFailed: re-analysing with the current analyzer failed.
    """
    row = _own_session(account_id, rtcstats_id)
    version = processor_version()
    if row.status == LIVE:
        raise SessionLive(LIVE_DETAIL)
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
        "data": with_session_fields(json.loads(row.result), row),
        "rtcstatsId": str(row.rtcstats_id),
        **viewer_urls(row.rtcstats_id),
        "processorVersion": row.processor_version,
    }


def delete_session(account_id: int, rtcstats_id) -> dict:
    """Delete a session and its stored dump; {"success": true}. Credits are not given back.

    :raises InvalidRequest: not a UUID. :raises NotFound: no such session in this account.
    :raises SessionLive: its collector socket is still open (its dump would be stored after this).
    """
    row = _own_session(account_id, rtcstats_id)
    if row.status == LIVE:
        raise SessionLive("the session is live (its collector socket is open); delete it once it is stored")
    with write_atomic():
        SessionLabel.delete().where(SessionLabel.session == row.id).execute()
        Session.delete().where(Session.id == row.id).execute()
    object_storage().delete(row.dump_key)
    return {"success": True}
