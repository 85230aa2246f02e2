"""Scheduled job of the recording plugin: catch up with egress changes whose webhooks were lost."""

from __future__ import annotations

import logging

from core.queue import job

log = logging.getLogger(__name__)


@job()
def reconcile_recordings() -> int:
    """Ask LiveKit (ListEgress) about recordings still starting, active or stopping and apply what it
    says (idempotent: only forward moves, each event fired once). Returns the rows changed."""
    from plugins.recording import service

    changed = service.reconcile()
    log.log(logging.INFO if changed else logging.DEBUG, "reconciled %d recordings with LiveKit", changed)
    return changed
