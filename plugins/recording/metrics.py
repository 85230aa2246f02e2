"""Domain metrics of the recording plugin on /metrics: recordings started, finished (by status), bytes
recorded, deleted (LiveKit calls are counted by the room plugin's client)."""

from __future__ import annotations

_instruments = None


def _get():
    # Created on first use, as core.metrics does: prometheus_client reads PROMETHEUS_MULTIPROC_DIR
    # when imported, and the CLI must not import it at all.
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter

        _instruments = {
            "started": Counter("mediaplane_recording_started_total", "Recordings started (egresses created)"),
            "finished": Counter(
                "mediaplane_recording_finished_total", "Recordings ended, by status", ["status"]
            ),
            "bytes": Counter("mediaplane_recording_bytes_total", "Bytes of completed recordings"),
            "deleted": Counter("mediaplane_recording_deleted_total", "Recordings deleted"),
        }
    return _instruments


def started() -> None:
    _get()["started"].inc()


def finished(status: str, size: int) -> None:
    _get()["finished"].labels(status).inc()
    if size:
        _get()["bytes"].inc(size)


def deleted() -> None:
    _get()["deleted"].inc()
