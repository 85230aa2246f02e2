"""Scheduled jobs of the report plugin: detect idle rooms, purge old reports."""

from __future__ import annotations

import logging

from core.events import fire
from core.plugins import plugin_settings
from core.queue import job
from plugins.report import service

log = logging.getLogger(__name__)


@job(retries=0)
def mark_idle_rooms() -> int:
    """Flag silent rooms idle and fire report_room_idle once for each."""
    rooms = service.mark_idle_rooms(plugin_settings("report")["live_window_seconds"])
    for room in rooms:
        fire(
            "report_room_idle",
            account_id=room.account_id,
            room_id=room.room_id,
            active_since=room.active_since,
            last_seen_at=room.last_seen_at,
        )
    return len(rooms)


@job(retries=0)
def purge_expired() -> dict:
    """Delete reports older than retention_days."""
    deleted = service.purge_expired(plugin_settings("report")["retention_days"])
    # Runs on a schedule: a run that found nothing is routine, worth a line only at DEBUG.
    log.log(logging.INFO if any(deleted.values()) else logging.DEBUG, "purged %s", deleted)
    return deleted
