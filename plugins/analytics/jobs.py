"""RQ jobs of the analytics plugin: rollups (scheduled and per call), dump intake, purge."""

from __future__ import annotations

import logging
import time

from core.db import write_atomic
from core.plugins import plugin_settings
from core.queue import job
from plugins.analytics import ingest, rollup
from plugins.analytics.models import AccountDay, AccountMinute, Call

log = logging.getLogger(__name__)


@job(retries=1)
def rollup_calls() -> dict:
    """Scheduled: roll running calls up to now, end idle ones, roll ended ones past their end, then the
    touched accounts' minutes and days. Idempotent: every run recomputes whole minutes."""
    return rollup.rollup_all(time.time())


@job()
def rollup_call(call_pk: int) -> bool:
    """Roll one call now (a room went idle or finished): its minutes and its account's."""
    now = time.time()
    span = rollup.roll_call(call_pk, now)
    if span is None:
        return False
    account, start, end = span
    rollup.roll_accounts({account: (start, end)}, now)
    return True


@job()
def ingest_rtcstats(account_id: int, rtcstats_id: str) -> str:
    """Attach an analysed dump to its call and peer (rtcstats_session_analyzed enqueues it)."""
    outcome = ingest.ingest_dump(account_id, rtcstats_id, time.time())
    log.debug("rtcstats session %s: %s", rtcstats_id, outcome)
    return outcome


@job(retries=0)
def purge_expired() -> dict:
    """Delete calls that ended before the retention period, with their peers, tracks and rollups."""
    cutoff = time.time() - plugin_settings("analytics")["retention_days"] * 86400
    from plugins.analytics.models import Peer, Track, TrackMinute

    deleted = {"calls": 0, "account_minutes": 0, "account_days": 0}
    while True:
        with write_atomic():
            ids = [
                c.id
                for c in Call.select(Call.id).where(Call.finished == True, Call.ended_at < cutoff).limit(500)  # noqa: E712
            ]
            if not ids:
                break
            # Deleted explicitly: SQLite cascades only with foreign_keys on.
            TrackMinute.delete().where(TrackMinute.call.in_(ids)).execute()
            Track.delete().where(Track.call.in_(ids)).execute()
            Peer.delete().where(Peer.call.in_(ids)).execute()
            deleted["calls"] += Call.delete().where(Call.id.in_(ids)).execute()
    with write_atomic():
        deleted["account_minutes"] = AccountMinute.delete().where(AccountMinute.minute < cutoff).execute()
        deleted["account_days"] = AccountDay.delete().where(AccountDay.day < cutoff - 86400).execute()
    return deleted
