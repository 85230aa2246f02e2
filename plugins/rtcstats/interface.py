"""What other plugins may read from the rtcstats plugin: analysed sessions, their tracks and observations.

Plain values only (no models). Every function takes the caller's account id and never returns
another account's data.
"""

from __future__ import annotations

import datetime as dt
import json

from plugins.rtcstats import service
from plugins.rtcstats.models import READY, Session
from plugins.rtcstats.service import AnalysisFailed, AnalysisPending, NotFound, ReprocessFailed

__all__ = [
    "AnalysisFailed",
    "AnalysisPending",
    "NotFound",
    "ReprocessFailed",
    "get_session",
    "observations",
    "sessions",
    "tracks",
]

SCORES = ("experienceScore", "audioScore", "videoScore", "connectivityScore", "observationsScore")


def _utc(value: dt.datetime | float | int | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)


def sessions(
    account_id: int,
    since: dt.datetime | float | None = None,
    until: dt.datetime | float | None = None,
    limit: int = 1000,
) -> list[dict]:
    """Analysed sessions of the account created in [since, until) (naive UTC datetimes or epoch s),
    oldest first: {rtcstatsId, createdAt, title, sessionStart, sessionEnd, durationMs, fileName,
    processorVersion, abstract, scores: {experienceScore, audioScore, videoScore, connectivityScore,
    observationsScore}, observationsCount}."""
    query = Session.select().where(Session.account_id == account_id, Session.status == READY)
    if since is not None:
        query = query.where(Session.created_at >= _utc(since))
    if until is not None:
        query = query.where(Session.created_at < _utc(until))
    out = []
    for row in query.order_by(Session.created_at, Session.id).limit(limit):
        data = json.loads(row.result)
        out.append(
            {
                "rtcstatsId": str(row.rtcstats_id),
                "createdAt": service.iso(row.created_at),
                "title": row.title,
                "sessionStart": row.session_start,
                "sessionEnd": row.session_end,
                "durationMs": data.get("durationMs"),
                "fileName": row.file_name,
                "processorVersion": row.processor_version,
                "abstract": json.loads(row.abstract),
                "scores": {key: data.get(key) for key in SCORES},
                "observationsCount": data.get("observationsCount"),
            }
        )
    return out


def get_session(account_id: int, rtcstats_id: str) -> dict:
    """The full stored session, as GET /sessions/{id} answers it (re-analysed first if outdated).

    :raises NotFound: no such session in the account (also for a malformed id).
    :raises AnalysisPending: not analysed yet. :raises AnalysisFailed, ReprocessFailed: no analysis.
    """
    try:
        return service.get_session(account_id, rtcstats_id)
    except service.InvalidRequest:
        raise NotFound(f"session '{rtcstats_id}' not found") from None


def tracks(account_id: int, rtcstats_id: str) -> list[dict]:
    """The session's media streams (AnalyzeResponseData.streams), each with its key as `id`.

    :raises: as get_session.
    """
    streams = get_session(account_id, rtcstats_id)["data"].get("streams") or {}
    if isinstance(streams, dict):
        return [{"id": key, **value} for key, value in streams.items() if isinstance(value, dict)]
    return [s for s in streams if isinstance(s, dict)]


def observations(account_id: int, rtcstats_id: str) -> list[dict]:
    """The session's observations (type, severity, category, tags, source, firstSeenAt, values).

    :raises: as get_session.
    """
    return list(get_session(account_id, rtcstats_id)["data"].get("observations") or [])
