"""Domain metrics of the room plugin on /metrics: rooms created, tokens issued (LiveKit calls are
counted by the client, plugins/room/livekit.py)."""

from __future__ import annotations

_instruments = None


def _get():
    # Created on first use, as core.metrics does: prometheus_client reads PROMETHEUS_MULTIPROC_DIR
    # when imported, and the CLI must not import it at all.
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter

        _instruments = {
            "rooms": Counter("mediaplane_room_rooms_created_total", "Rooms created through POST /v1/rooms"),
            "tokens": Counter("mediaplane_room_tokens_issued_total", "LiveKit join tokens issued", ["role"]),
        }
    return _instruments


def room_created() -> None:
    _get()["rooms"].inc()


def token_issued(role: str) -> None:
    _get()["tokens"].labels(role).inc()
