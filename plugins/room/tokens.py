"""LiveKit join tokens: the contract's roles as LiveKit video grants, minted with livekit.api.AccessToken."""

from __future__ import annotations

import datetime as dt
import json

# role -> (can_publish, can_subscribe, can_publish_data, room_admin), the contract's table.
# "Mute others" (host, moderator) is no LiveKit grant: LiveKit lets only roomAdmin tokens call its
# RoomService, and roomAdmin also kicks and ends the room. So hosts get roomAdmin, and moderators
# mute through the application, which calls POST .../mute with its API key; the role travels in
# the participant attribute `role` so that the application (and other clients) can tell who may.
ROLE_GRANTS = {
    "host": (True, True, True, True),
    "moderator": (True, True, True, False),
    "participant": (True, True, True, False),
    "viewer": (False, True, False, False),
}
ROLE_ATTRIBUTE = "role"


def iso_z(epoch_seconds: float) -> str:
    """2025-01-01T12:30:00.000Z: UTC, milliseconds, Z (what JavaScript's toISOString writes)."""
    moment = dt.datetime.fromtimestamp(epoch_seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mint(
    api_key: str,
    api_secret: str,
    *,
    livekit_room: str,
    identity: str,
    name: str,
    role: str,
    metadata: dict | None,
    ttl_seconds: int,
) -> tuple[str, int]:
    """A join token for `identity` in LiveKit room `livekit_room`; returns (jwt, exp epoch seconds).

    :raises KeyError: unknown role (the request schema admits only the contract's four).
    """
    import jwt
    from livekit.api import AccessToken, VideoGrants

    can_publish, can_subscribe, can_publish_data, room_admin = ROLE_GRANTS[role]
    grants = VideoGrants(
        room_join=True,
        room=livekit_room,
        can_publish=can_publish,
        can_subscribe=can_subscribe,
        can_publish_data=can_publish_data,
        room_admin=room_admin,
    )
    token = (
        AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(name)
        .with_grants(grants)
        .with_attributes({ROLE_ATTRIBUTE: role})
        .with_ttl(dt.timedelta(seconds=ttl_seconds))
    )
    if metadata is not None:
        token = token.with_metadata(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False))
    encoded = token.to_jwt()
    # expiresAt is the token's own exp claim, not a second clock reading that could differ by a second.
    exp = jwt.decode(encoded, options={"verify_signature": False})["exp"]
    return encoded, int(exp)


def mint_hidden_subscriber(
    api_key: str, api_secret: str, *, livekit_room: str, identity: str, name: str, ttl_seconds: int
) -> str:
    """A join token for a server-side listener (the live transcription worker): hidden from other
    participants, subscribe only (no publishing, no data), flagged as an agent."""
    from livekit.api import AccessToken, VideoGrants

    grants = VideoGrants(
        room_join=True,
        room=livekit_room,
        can_publish=False,
        can_subscribe=True,
        can_publish_data=False,
        hidden=True,
        agent=True,
    )
    return (
        AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(name)
        .with_grants(grants)
        .with_ttl(dt.timedelta(seconds=ttl_seconds))
        .to_jwt()
    )
