"""What other plugins may use from the webhooks plugin (plain values, no models)."""

from __future__ import annotations

from plugins.webhooks.schemas import ALL_EVENTS, EVENT_TYPES

__all__ = ["ALL_EVENTS", "EVENT_TYPES", "publish"]


def publish(account_id: int, event: str, data: dict, occurred_at: float) -> list[str]:
    """Deliver `event` (one of EVENT_TYPES) with `data` to the account's matching webhooks; returns the
    delivery ids. Core events reach webhooks by themselves; this is for events that are no core event.

    :raises ValueError: unknown event name.
    """
    from plugins.webhooks import service

    if event not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event!r}")
    return service.publish(account_id, event, data, occurred_at)
