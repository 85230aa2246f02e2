"""What other plugins may read from the report plugin (plain values, no models)."""

from __future__ import annotations

from plugins.report import service
from plugins.report.service import NotFound

__all__ = [
    "NotFound",
    "list_rooms",
    "room_metrics",
    "user_metrics",
    "samples_between",
    "samples_as_sent_between",
]


def list_rooms(account_id: int, live_window: int, include_idle: bool = False) -> list[str]:
    """Room ids of the account; only rooms reported within `live_window` s unless include_idle."""
    return service.list_rooms(account_id, live_window, include_idle)


def room_metrics(account_id: int, room_id: str, window: int = 120) -> dict:
    """The room's aggregate and newest per-user metrics (GET /report/metrics/{room_id} data).

    :raises NotFound: unknown room.
    """
    return service.room_metrics(account_id, room_id, window)


def user_metrics(account_id: int, room_id: str, user_id: str, window: int = 120) -> dict:
    """One user's newest per-stream metrics. :raises NotFound: unknown room or user."""
    return service.user_metrics(account_id, room_id, user_id, window)


def samples_between(
    account_id: int, room_id: str, since: int | None = None, until: int | None = None
) -> list[dict]:
    """Every sample of a room in [since, until) (report_time, Unix s), oldest first:
    {user_id, report_time, received_at, stream_id, direction, video, audio, network}."""
    return service.samples_between(account_id, room_id, since, until)


def samples_as_sent_between(
    account_id: int, room_id: str, since: int | None = None, until: int | None = None
) -> list[dict]:
    """samples_between plus, per sample, `sdk_version`, `sent` (the stream exactly as its report sent
    it, fields the report schema does not know included) and `report` (the report's top-level fields
    other than `metrics`). Reads stored report bodies: for jobs, on bounded windows."""
    return service.samples_as_sent_between(account_id, room_id, since, until)
