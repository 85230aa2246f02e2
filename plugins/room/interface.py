"""What other plugins (recording, transcription, analytics, webhooks) may use of the room plugin.

Functions read the room plugin's settings of the current app, so call them inside an app context
(requests and jobs have one). LiveKit errors are the exceptions of plugins.room.livekit; the core maps
them (and NotFound) to problems in any route's dialect.
"""

from __future__ import annotations

from plugins.room import service
from plugins.room.service import LiveKitError, LiveKitNotConfigured, LiveKitUnavailable, NotFound

__all__ = [
    "LiveKitError",
    "LiveKitNotConfigured",
    "LiveKitUnavailable",
    "NotFound",
    "livekit_client",
    "livekit_configured",
    "livekit_name",
    "resolve_room",
    "resolve_livekit_room",
    "rooms",
    "participants",
    "listener_token",
]


def _settings() -> dict:
    from core.plugins import plugin_settings

    return plugin_settings("room")


def livekit_configured() -> bool:
    """LiveKit URL, key and secret are set (whether it answers is another matter)."""
    return service.configured(_settings())


def livekit_client():
    """The process's LiveKit client (plugins.room.livekit.LiveKitClient, calls counted in /metrics).

    Room names it takes are LiveKit names: get them from resolve_room / livekit_name.

    :raises LiveKitNotConfigured: no LiveKit URL, key or secret.
    """
    return service.client(_settings())


def livekit_name(account_id: int, room_name: str) -> str:
    """The LiveKit name of the account's room (whether or not it exists)."""
    return service.livekit_name(_settings(), account_id, room_name)


def resolve_room(account_id: int, room_name: str) -> str:
    """The LiveKit name of the account's room, which is stored or open in LiveKit.

    :raises NotFound: the account has no such room.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError: when LiveKit had to be asked.
    """
    return service.resolve_room(_settings(), account_id, room_name)


def resolve_livekit_room(livekit_room: str) -> tuple[int, str] | None:
    """(account_id, room name) of a LiveKit room name, or None if it is not one of this server's."""
    return service.resolve_livekit_room(livekit_room, _settings())


def rooms(account_id: int, active_only: bool = False) -> list[dict]:
    """The account's rooms as stored: {name, livekit_name, sid, active, created_at, started_at,
    finished_at} (epoch seconds), oldest first."""
    return service.stored_rooms(account_id, active_only)


def participants(account_id: int, room_name: str) -> list[dict]:
    """Every participant session of the room as stored: {identity, name, sid, room_sid, joined_at,
    left_at} (epoch seconds), in join order.

    :raises NotFound: the account has no such room stored.
    """
    return service.stored_participants(account_id, room_name)


def listener_token(livekit_room: str, identity: str, ttl_seconds: int) -> tuple[str, str]:
    """(LiveKit URL, join token) for a hidden, subscribe-only participant of `livekit_room`: a server
    process that listens to the room (live transcription). The URL is the one this server uses
    (livekit_url), as ws:// or wss://.

    :raises LiveKitNotConfigured: no LiveKit URL, key or secret.
    """
    from plugins.room.tokens import mint_hidden_subscriber

    settings = _settings()
    service._require_configured(settings)
    token = mint_hidden_subscriber(
        settings["livekit_api_key"],
        settings["livekit_api_secret"],
        livekit_room=livekit_room,
        identity=identity,
        name="mediaplane transcriber",
        ttl_seconds=ttl_seconds,
    )
    url = settings["livekit_url"]
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            url = ws + url[len(http) :]
    return url, token
