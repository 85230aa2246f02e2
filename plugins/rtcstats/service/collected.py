"""The live collector's finished dumps: stored as sessions and analysed like uploads (collector.py)."""

from __future__ import annotations

import threading
import uuid
from typing import BinaryIO

from flask import current_app

from plugins.rtcstats import credits
from plugins.rtcstats.service.chunked_upload import store_and_queue
from plugins.rtcstats.service.config import settings
from plugins.rtcstats.service.live import SOURCE, collector_file_name

_store_turns: threading.BoundedSemaphore | None = None  # per process, made at its first store


def _turns() -> threading.BoundedSemaphore:
    """How many stores of one process run at once: half its database pool. When many sockets end
    together (a large meeting ends), their stores wait for a turn here, without a time limit,
    instead of waiting core.database_pool_timeout for a pooled connection and failing (their dumps
    would wait in the spool for the recovery sweep); requests keep the other half of the pool."""
    global _store_turns
    if _store_turns is None:
        pool = current_app.extensions["mediaplane"].config["core"]["database_max_connections"]
        _store_turns = threading.BoundedSemaphore(max(1, pool // 2))
    return _store_turns


def store_collected(
    account_id: int,
    file: BinaryIO,
    size: int,
    name: str | None = None,
    rtcstats_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Store a finished collector dump as a pending session and queue its analysis; its id.

    `rtcstats_id` is the socket's session: its live row (service/live.py) becomes the stored one,
    keeping its id; without a live row a session of that id is made.

    One credit is taken, as for an upload. When the month ran out while the socket was open, the
    dump is stored anyway without a charge: what a client streamed is never dropped.
    `name` is the session's file name (default `collector-<UTC time>.rtcstats`).
    Storage, database or Redis errors propagate (nothing is left behind, the caller keeps its file).
    """
    monthly = settings()["monthly_credits"]
    # A socket's greenlet gives its connection back when its request ends, just after its turn:
    # the other half of the pool covers that moment (closing it here would break a caller's
    # connection_context).
    with _turns():
        try:
            period = credits.consume(account_id, monthly)
        except credits.InsufficientCredits:
            period = None
        return store_and_queue(
            account_id,
            file,
            size,
            name or collector_file_name(),
            SOURCE,
            period,
            charged=period is not None,
            rtcstats_id=rtcstats_id,
        )
