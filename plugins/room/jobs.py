"""Scheduled jobs of the room plugin: forget LiveKit webhook event ids past their dedupe window."""

from __future__ import annotations

import logging

from core.plugins import plugin_settings
from core.queue import job

log = logging.getLogger(__name__)


@job(retries=0)
def purge_livekit_events() -> int:
    """Delete LiveKit webhook event ids older than livekit_webhook_dedupe_seconds (their tokens expired
    long before, so a replay of them is refused anyway)."""
    from plugins.room.livekit_webhook import purge_events

    deleted = purge_events(plugin_settings("room")["livekit_webhook_dedupe_seconds"])
    log.log(logging.INFO if deleted else logging.DEBUG, "purged %d LiveKit webhook event ids", deleted)
    return deleted
