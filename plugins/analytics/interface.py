"""What other plugins may read from the analytics plugin (plain values, no models)."""

from __future__ import annotations

from plugins.analytics import service
from plugins.analytics.service import NotFound

__all__ = ["NotFound", "calls_between", "get_call", "call_peers"]


def calls_between(account_id: int, since: float, until: float, room_name: str | None = None) -> list[dict]:
    """Calls (sessions) of the account running in [since, until), newest first (see service)."""
    return service.calls_between(account_id, since, until, room_name)


def get_call(account_id: int, call_id: str) -> dict:
    """One call by its public id. :raises NotFound: no such call in the account."""
    return service.get_call(account_id, call_id)


def call_peers(account_id: int, call_pk: int) -> list[dict]:
    """The peers of a call (join/leave times, platform, sdk, network)."""
    return service.call_peers(account_id, call_pk)
