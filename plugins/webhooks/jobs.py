"""RQ jobs of the webhooks plugin: one delivery attempt, the sweep of lost jobs, the log purge."""

from __future__ import annotations

import logging

from core.plugins import plugin_settings
from core.queue import job
from plugins.webhooks import service

log = logging.getLogger("webhooks")
QUEUE = "webhooks"


# Retries (core.job_retries) are for a worker that dies mid-attempt: RQ runs the job again. Failed
# attempts are not exceptions: the job schedules the next attempt itself with the plugin's backoff.
# The time limit covers the longest attempt (timeout_seconds <= 120) with room to write the result.
@job(queue=QUEUE, timeout=300)
def deliver(delivery_id: str) -> str:
    """Make the due attempt of one delivery (idempotent; see service.attempt)."""
    return service.attempt(delivery_id, plugin_settings("webhooks"))


@job(queue=QUEUE, retries=0)
def sweep_deliveries() -> int:
    """Requeue deliveries whose job was lost."""
    queued = service.sweep(plugin_settings("webhooks"))
    log.log(logging.WARNING if queued else logging.DEBUG, "sweep requeued %d lost deliveries", queued)
    return queued


@job(queue=QUEUE, retries=0)
def purge_deliveries() -> int:
    """Delete finished deliveries past delivery_retention_days."""
    deleted = service.purge(plugin_settings("webhooks"))
    log.log(logging.INFO if deleted else logging.DEBUG, "purged %d old deliveries", deleted)
    return deleted
