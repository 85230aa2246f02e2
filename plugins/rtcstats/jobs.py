"""Jobs of the rtcstats plugin: analyse an uploaded dump, re-analyse an outdated session, purge uploads."""

from __future__ import annotations

import logging

from core.plugins import plugin_settings
from core.queue import job
from plugins.rtcstats import service, uploads

log = logging.getLogger("rtcstats")
QUEUE = "rtcstats"  # analysis is CPU-heavy: its own queue keeps light jobs from waiting behind it


@job(queue=QUEUE)
def analyze_upload(rtcstats_id: str) -> str:
    """First analysis of an assembled upload. Idempotent: a session analysed by the current version
    is left alone; an unreadable dump marks the session failed and gives its credit back."""
    outcome = service.analyze_session(rtcstats_id)
    log.info("session %s: %s", rtcstats_id, outcome)
    return outcome


@job(queue=QUEUE)
def reprocess_session(rtcstats_id: str) -> str:
    """Re-analyse a session whose stored analysis was made by another analyzer version."""
    outcome = service.analyze_session(rtcstats_id)
    log.info("session %s reprocessed: %s", rtcstats_id, outcome)
    return outcome


@job(queue=QUEUE)
def measure_series(rtcstats_id: str) -> str:
    """Measure and cache the viewer's charts of a session whose dump is too big to parse within a
    page request. Idempotent: measuring again only refreshes the cache."""
    from plugins.rtcstats.models import Session
    from plugins.rtcstats.viewer import measure_series as measure

    row = Session.get_or_none(Session.rtcstats_id == service.parse_uuid(rtcstats_id))
    if row is None:
        return "gone"
    return "measured" if measure(row) is not None else "unmeasurable"


@job(retries=0)
def purge_uploads() -> int:
    """Delete chunked uploads not assembled within upload_expiry_seconds of their newest chunk."""
    purged = uploads.purge_abandoned(
        service.object_storage(), plugin_settings("rtcstats")["upload_expiry_seconds"]
    )
    # Runs on a schedule: a run that found nothing is routine, worth a line only at DEBUG.
    log.log(logging.INFO if purged else logging.DEBUG, "purged %d abandoned uploads", purged)
    return purged


@job(retries=0)
def recover_collector_dumps() -> int:
    """Store the dumps of collector sockets whose web worker died or restarted, from the spool of
    the machine this job runs on (collector_recovery.py); a socket's connect does the same. Then end
    the live sessions that no socket and no spool file will ever finish (service/live.py)."""
    from core.queue import redis_connection
    from plugins.rtcstats.collector import spool_dir
    from plugins.rtcstats.collector_recovery import recover

    cfg = plugin_settings("rtcstats")
    idle, window = cfg["collector_idle_timeout_seconds"], cfg["collector_reconnect_seconds"]
    stored = recover(spool_dir(), idle, service.store_collected, window)
    log.log(logging.INFO if stored else logging.DEBUG, "recovered %d collector dumps", len(stored))
    service.fail_lost(service.open_in_redis(redis_connection()))
    return len(stored)
