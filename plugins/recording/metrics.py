"""Domain metrics of the recording plugin on /metrics: recordings started, finished (by status), bytes
recorded, deleted (LiveKit calls are counted by the room plugin's client).

Kept in Redis (core.shared_metrics): a recording finishes in whichever process handles its egress
webhook or the reconcile job (an RQ work horse on any machine), and /metrics must show the sum."""

from __future__ import annotations

from core.shared_metrics import SharedCounter

STARTED = SharedCounter("mediaplane_recording_started", "Recordings started (egresses created)")
FINISHED = SharedCounter("mediaplane_recording_finished", "Recordings ended, by status", ["status"])
BYTES = SharedCounter("mediaplane_recording_bytes", "Bytes of completed recordings")
DELETED = SharedCounter("mediaplane_recording_deleted", "Recordings deleted")


def started() -> None:
    STARTED.inc()


def finished(status: str, size: int) -> None:
    FINISHED.inc(status=status)
    if size:
        BYTES.inc(size)


def deleted() -> None:
    DELETED.inc()
