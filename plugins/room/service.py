"""Room domain logic: LiveKit calls in each account's room namespace, join tokens, and the stored state.

LiveKit has one room namespace for every account of this server. Room `standup` of account 7 is
`<livekit_room_prefix>7_standup` in LiveKit (`livekit_name`); answers always show the caller's own
name, and another account's rooms can neither be named nor listed (they are outside the prefix).

`settings` is the room plugin's validated settings dict. The `record_*` functions take LiveKit's
values from its webhooks (the receiver in livekit_webhook.py calls them); they are idempotent, as
LiveKit retries webhooks and does not order them.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import peewee

from core.db import write_atomic
from plugins.room import metrics
from plugins.room.livekit import LiveKitClient, LiveKitError, LiveKitNotConfigured, LiveKitUnavailable
from plugins.room.models import Ingress, Participant, Room

__all__ = ["LiveKitError", "LiveKitNotConfigured", "LiveKitUnavailable", "NotFound"]


class NotFound(Exception):
    """No such room, participant, track or ingress in the caller's account (404)."""


# -- LiveKit client -------------------------------------------------------------------------------


def configured(settings: dict) -> bool:
    return bool(settings["livekit_url"] and settings["livekit_api_key"] and settings["livekit_api_secret"])


def _require_configured(settings: dict) -> None:
    if not configured(settings):
        raise LiveKitNotConfigured(
            "LiveKit is not configured: set plugins.room.livekit_url, livekit_api_key and livekit_api_secret"
        )


# One client (and its pooled connections) per process and configuration.
_clients: dict[tuple, LiveKitClient] = {}


def client(settings: dict, timeout: float | None = None) -> LiveKitClient:
    """The LiveKit client of these settings.

    :raises LiveKitNotConfigured: livekit_url, key or secret is empty.
    """
    _require_configured(settings)
    key = (
        settings["livekit_url"],
        settings["livekit_api_key"],
        settings["livekit_api_secret"],
        timeout or settings["livekit_timeout_seconds"],
    )
    found = _clients.get(key)
    if found is None:
        if len(_clients) > 16:  # settings differ only between test apps; bound it anyway
            _clients.clear()
        found = _clients[key] = LiveKitClient(key[0], key[1], key[2], timeout=key[3])
    return found


def _not_found(err) -> NotFound:
    """LiveKit's not_found messages, said in the contract's words."""
    text = (getattr(err, "msg", "") or str(err)).lower()
    for word, detail in (
        ("room", "Room not found"),
        ("participant", "Participant not found in this room"),
        ("track", "Track not found"),
        ("ingress", "Ingress not found"),
        ("egress", "Egress not found"),
    ):
        if word in text:
            return NotFound(detail)
    return NotFound(f"Not found: {getattr(err, 'msg', '') or err}")


def _is_not_found(err) -> bool:
    return isinstance(err, LiveKitError) and err.code == "not_found"


# -- names ----------------------------------------------------------------------------------------


def _prefix(settings: dict, account_id: int) -> str:
    return f"{settings['livekit_room_prefix']}{account_id}_"


def livekit_name(settings: dict, account_id: int, room_name: str) -> str:
    """The LiveKit room name of `room_name` of `account_id`."""
    return _prefix(settings, account_id) + room_name


def resolve_livekit_room(livekit_room: str, settings: dict | None = None) -> tuple[int, str] | None:
    """(account_id, room name) of a LiveKit room name this server made, or None for any other room
    (another tool's room on the same LiveKit, or an account that does not exist)."""
    from core.models import Account

    if settings is None:
        from core.plugins import plugin_settings

        settings = plugin_settings("room")
    prefix = settings["livekit_room_prefix"]
    if not livekit_room.startswith(prefix):
        return None
    digits, sep, name = livekit_room[len(prefix) :].partition("_")
    if not sep or not name or "\x00" in name or not digits.isdigit() or digits != str(int(digits)):
        return None
    account_id = int(digits)
    if not Account.select().where(Account.id == account_id).exists():
        return None
    return account_id, name


# -- JSON answers ---------------------------------------------------------------------------------


def _to_json(message) -> dict:
    from plugins.room.livekit import to_json

    return to_json(message)


def room_json(room, name: str) -> dict:
    """A LiveKit Room as JSON, named as the account knows it."""
    out = _to_json(room)
    out["name"] = name
    return out


def ingress_json(info, name: str) -> dict:
    """A LiveKit IngressInfo as JSON, its room named as the account knows it."""
    out = _to_json(info)
    for key in ("room_name", "roomName"):
        if key in out:
            out[key] = name
    return out


# -- stored rows ----------------------------------------------------------------------------------


def _room_row(account_id: int, name: str, livekit_room: str, now: float) -> Room:
    """The account's row of room `name`, created on first sight (concurrent creators share one)."""
    row = Room.get_or_none(Room.account_id == account_id, Room.name == name)
    if row is not None:
        return row
    try:
        with write_atomic():
            return Room.create(account_id=account_id, name=name, livekit_name=livekit_room, created_at=now)
    except peewee.IntegrityError:  # another request or webhook created it in between
        return Room.get(Room.account_id == account_id, Room.name == name)


def _stored(text: str | None) -> str:
    """Text as a column can hold it: PostgreSQL text cannot hold NUL, which LiveKit's values may."""
    return (text or "").replace("\x00", "")


def _seconds(value: Any) -> float | None:
    """LiveKit's int64 seconds (int, or a string in JSON) -> float; 0 or absent -> None."""
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        return None
    return number or None


def _close_participants(room: Room, room_sid: str | None, left_at: float) -> None:
    query = Participant.update(left_at=left_at).where(Participant.room == room, Participant.left_at.is_null())
    if room_sid:
        query = query.where(Participant.room_sid == room_sid)
    query.execute()


# -- rooms ----------------------------------------------------------------------------------------


def create_room(
    settings: dict,
    account_id: int,
    name: str,
    *,
    max_participants: int | None = None,
    empty_timeout: int | None = None,
    metadata: str | None = None,
) -> dict:
    """Create the room in LiveKit (or update it: LiveKit's CreateRoom is create-or-update) and store it.

    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError: LiveKit not usable or refusing.
    """
    livekit_room = livekit_name(settings, account_id, name)
    room = client(settings).create_room(
        livekit_room,
        empty_timeout=empty_timeout or None,
        max_participants=max_participants or None,
        metadata=metadata,
    )
    now = time.time()
    with write_atomic():
        row = _room_row(account_id, name, livekit_room, now)
        changes = {
            "metadata": _stored(room.metadata),
            "max_participants": room.max_participants or None,
            "empty_timeout": room.empty_timeout or None,
        }
        if not (row.active and row.sid == room.sid):
            changes.update(
                sid=room.sid,
                active=True,
                started_at=_seconds(room.creation_time) or now,
                finished_at=None,
            )
        Room.update(**changes).where(Room.id == row.id).execute()
    metrics.room_created()
    return room_json(room, name)


def list_rooms(settings: dict, account_id: int) -> list[dict]:
    """The account's rooms LiveKit has open, oldest first; the stored rows follow LiveKit's answer.

    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    prefix = _prefix(settings, account_id)
    asked_at = time.time()
    rooms = [
        r for r in client(settings).list_rooms() if r.name.startswith(prefix) and len(r.name) > len(prefix)
    ]
    rooms.sort(key=lambda r: (int(r.creation_time_ms or 0) or int(r.creation_time or 0) * 1000, r.name))
    _reconcile(account_id, prefix, rooms, asked_at)
    return [room_json(r, r.name[len(prefix) :]) for r in rooms]


def _reconcile(account_id: int, prefix: str, rooms: list, asked_at: float) -> None:
    """Store rooms LiveKit has and we missed (opened by a token's join before any webhook), and close
    the rows of rooms LiveKit no longer has (closed while its webhooks were lost). A room that started
    after LiveKit was asked (created meanwhile by another request) is left alone."""
    now = time.time()
    listed = {r.name: r for r in rooms}
    stale = list(
        Room.select().where(
            Room.account_id == account_id,
            Room.active == True,  # noqa: E712
            Room.started_at.is_null() | (Room.started_at < asked_at),
        )
    )
    with write_atomic():
        for row in stale:
            if row.livekit_name not in listed:
                Room.update(active=False, finished_at=now).where(Room.id == row.id).execute()
                _close_participants(row, row.sid, now)
        for livekit_room, room in listed.items():
            row = _room_row(account_id, livekit_room[len(prefix) :], livekit_room, now)
            if not row.active or row.sid != room.sid:
                Room.update(
                    sid=room.sid,
                    active=True,
                    started_at=_seconds(room.creation_time) or now,
                    finished_at=None,
                    metadata=_stored(room.metadata),
                ).where(Room.id == row.id).execute()


def get_room(settings: dict, account_id: int, name: str) -> dict:
    """The LiveKit Room of the account's room `name`.

    :raises NotFound: LiveKit has no such room open.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    rooms = client(settings).list_rooms(names=[livekit_name(settings, account_id, name)])
    if not rooms:
        raise NotFound("Room not found")
    return room_json(rooms[0], name)


def delete_room(settings: dict, account_id: int, name: str) -> None:
    """Close the room in LiveKit (everyone is disconnected) and mark it finished.

    :raises NotFound: LiveKit has no such room open.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    livekit_room = livekit_name(settings, account_id, name)
    try:
        client(settings).delete_room(livekit_room)
    except Exception as err:
        if _is_not_found(err):
            raise NotFound("Room not found") from None
        raise
    now = time.time()
    row = Room.get_or_none(Room.account_id == account_id, Room.name == name)
    if row is not None:
        with write_atomic():
            Room.update(active=False, finished_at=now).where(Room.id == row.id).execute()
            _close_participants(row, None, now)


# -- participants ---------------------------------------------------------------------------------


def list_participants(settings: dict, account_id: int, room: str) -> list[dict]:
    """The LiveKit ParticipantInfo of everyone in the room.

    :raises NotFound: LiveKit has no such room open.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    lk = client(settings)
    livekit_room = livekit_name(settings, account_id, room)
    try:
        participants = lk.list_participants(livekit_room)
    except Exception as err:
        if _is_not_found(err):
            raise NotFound("Room not found") from None
        raise
    # LiveKit answers an empty list for a room it does not have: tell the two apart.
    if not participants and not lk.list_rooms(names=[livekit_room]):
        raise NotFound("Room not found")
    return [_to_json(p) for p in participants]


def remove_participant(settings: dict, account_id: int, room: str, identity: str) -> None:
    """Disconnect the participant `identity` from the room (kick).

    :raises NotFound: no such room, or no such participant in it.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    try:
        client(settings).remove_participant(livekit_name(settings, account_id, room), identity)
    except Exception as err:
        if _is_not_found(err):
            raise _not_found(err) from None
        raise
    # The stored session ends with LiveKit's participant_left webhook, which carries its sid and time.


def mute_track(settings: dict, account_id: int, room: str, identity: str, track_sid: str) -> None:
    """Mute a track the participant publishes (server side; LiveKit has no remote unmute by default).

    :raises NotFound: no such room, participant or track.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    try:
        client(settings).mute_published_track(
            livekit_name(settings, account_id, room), identity, track_sid, muted=True
        )
    except Exception as err:
        if _is_not_found(err):
            raise _not_found(err) from None
        raise


# -- ingress --------------------------------------------------------------------------------------


def create_ingress(
    settings: dict,
    account_id: int,
    room: str,
    *,
    input_type: str = "rtmp",
    participant_name: str = "Ingress Stream",
    participant_identity: str | None = None,
) -> dict:
    """An RTMP or WHIP endpoint publishing into the room (LiveKit opens the room when it starts).

    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    livekit_room = livekit_name(settings, account_id, room)
    identity = participant_identity or f"ingress-{secrets.token_hex(6)}"
    info = client(settings).create_ingress(input_type, livekit_room, identity, participant_name)
    now = time.time()
    with write_atomic():
        row = _room_row(account_id, room, livekit_room, now)
        Ingress.insert(
            room=row,
            account_id=account_id,
            ingress_id=info.ingress_id,
            input_type=input_type,
            participant_identity=identity,
            participant_name=participant_name,
            created_at=now,
        ).on_conflict_ignore().execute()
    return ingress_json(info, room)


def list_ingress(settings: dict, account_id: int, room: str) -> list[dict]:
    """The room's ingresses as LiveKit has them.

    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    livekit_room = livekit_name(settings, account_id, room)
    items = client(settings).list_ingress(room_name=livekit_room)
    return [ingress_json(i, room) for i in items if i.room_name == livekit_room]


def delete_ingress(settings: dict, account_id: int, room: str, ingress_id: str) -> None:
    """Delete an ingress of the room.

    :raises NotFound: no such ingress, or it publishes into another room (or account).
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    lk = client(settings)
    livekit_room = livekit_name(settings, account_id, room)
    try:
        items = lk.list_ingress(ingress_id=ingress_id)
    except LiveKitError as err:
        if _is_not_found(err):  # LiveKit answers not_found for an unknown id
            raise NotFound("Ingress not found") from None
        raise
    if not any(i.ingress_id == ingress_id and i.room_name == livekit_room for i in items):
        raise NotFound("Ingress not found")
    try:
        lk.delete_ingress(ingress_id)
    except Exception as err:
        if _is_not_found(err):
            raise NotFound("Ingress not found") from None
        raise
    Ingress.update(deleted_at=time.time()).where(
        Ingress.ingress_id == ingress_id, Ingress.account_id == account_id
    ).execute()


# -- tokens ---------------------------------------------------------------------------------------


def issue_token(
    settings: dict,
    account_id: int,
    *,
    room: str,
    identity: str,
    name: str,
    role: str,
    metadata: dict | None = None,
) -> dict:
    """{token, url, expiresAt}: a LiveKit join token for the account's room, with the role's grants.

    No call to LiveKit: the token is signed with its API secret, and LiveKit opens the room at the
    first join if nobody created it.

    :raises LiveKitNotConfigured: no LiveKit URL, key or secret.
    """
    from plugins.room import tokens

    _require_configured(settings)
    token, exp = tokens.mint(
        settings["livekit_api_key"],
        settings["livekit_api_secret"],
        livekit_room=livekit_name(settings, account_id, room),
        identity=identity,
        name=name,
        role=role,
        metadata=metadata,
        ttl_seconds=settings["token_ttl_seconds"],
    )
    metrics.token_issued(role)
    return {
        "token": token,
        "url": settings["livekit_public_url"] or settings["livekit_url"],
        "expiresAt": tokens.iso_z(exp),
    }


# -- health ---------------------------------------------------------------------------------------

# Per process: (monotonic time of the check, settings key, usable). Only this process reads it.
_health: dict[str, Any] = {"at": 0.0, "key": None, "usable": False}
HEALTH_PROBE_ROOM = "mediaplane-health-probe"
HEALTH_TIMEOUT_SECONDS = 2.0


def livekit_usable(settings: dict) -> bool:
    """LiveKit is configured, answers, and takes our key (a ListRooms of one unlikely name), cached
    for health_cache_seconds so that health checks cost LiveKit next to nothing."""
    if not configured(settings):
        return False
    key = (settings["livekit_url"], settings["livekit_api_key"], settings["livekit_api_secret"])
    now = time.monotonic()
    if _health["key"] == key and now - _health["at"] < settings["health_cache_seconds"]:
        return _health["usable"]
    timeout = min(settings["livekit_timeout_seconds"], HEALTH_TIMEOUT_SECONDS)
    try:
        client(settings, timeout=timeout).list_rooms(names=[HEALTH_PROBE_ROOM])
        usable = True
    except LiveKitError:
        usable = False
    _health.update(at=time.monotonic(), key=key, usable=usable)
    return usable


# -- state from LiveKit webhooks ------------------------------------------------------------------


def record_room_started(
    livekit_room: str, sid: str, started_at: float, *, metadata: str = "", settings: dict | None = None
) -> dict | None:
    """LiveKit's room_started. Returns {account_id, room_name, sid, started_at, changed} or None when
    the room is not one of ours; `changed` is False when this session's room_started was recorded
    before (a repeated webhook)."""
    owner = resolve_livekit_room(livekit_room, settings)
    if owner is None:
        return None
    account_id, name = owner
    with write_atomic():
        row = _room_row(account_id, name, livekit_room, started_at)
        changed = row.started_sid != sid
        changes: dict[str, Any] = {"started_sid": sid}
        if row.sid == sid:
            if row.started_at is None:  # its room_finished came first (LiveKit does not order webhooks)
                changes["started_at"] = started_at
        # A newer session; an older one's late room_started must not reopen it.
        elif row.started_at is None or started_at >= row.started_at:
            changes.update(sid=sid, active=True, started_at=started_at, finished_at=None)
            if metadata:
                changes["metadata"] = _stored(metadata)
        Room.update(**changes).where(Room.id == row.id).execute()
    return {
        "account_id": account_id,
        "room_name": name,
        "sid": sid,
        "started_at": started_at,
        "changed": changed,
    }


def record_room_finished(
    livekit_room: str, sid: str, finished_at: float, *, settings: dict | None = None
) -> dict | None:
    """LiveKit's room_finished: the session `sid` ended; its participants still marked present left then.
    Returns {account_id, room_name, sid, finished_at, changed} or None when not ours."""
    owner = resolve_livekit_room(livekit_room, settings)
    if owner is None:
        return None
    account_id, name = owner
    with write_atomic():
        row = _room_row(account_id, name, livekit_room, finished_at)
        changed = row.finished_sid != sid
        changes: dict[str, Any] = {"finished_sid": sid}
        if row.sid in ("", sid):
            changes.update(sid=sid, active=False)
            if row.finished_at is None or row.active:
                changes["finished_at"] = finished_at
        # A newer session whose room_started has not come yet; an older session's late room_finished
        # must not close the current one.
        elif row.started_at is None or finished_at >= row.started_at:
            changes.update(sid=sid, active=False, started_at=None, finished_at=finished_at)
        Room.update(**changes).where(Room.id == row.id).execute()
        _close_participants(row, sid, finished_at)
    return {
        "account_id": account_id,
        "room_name": name,
        "sid": sid,
        "finished_at": finished_at,
        "changed": changed,
    }


def record_participant_joined(
    livekit_room: str,
    room_sid: str,
    sid: str,
    identity: str,
    name: str,
    joined_at: float,
    *,
    settings: dict | None = None,
) -> dict | None:
    """LiveKit's participant_joined. Returns {account_id, room_name, identity, name, sid, joined_at,
    changed} or None when not ours; `changed` is False for a repeat."""
    owner = resolve_livekit_room(livekit_room, settings)
    if owner is None:
        return None
    account_id, room_name = owner
    with write_atomic():
        row = _room_row(account_id, room_name, livekit_room, joined_at)
        changed = _upsert_participant(row, room_sid, sid, identity, name, joined_at=joined_at)
    return {
        "account_id": account_id,
        "room_name": room_name,
        "identity": identity,
        "name": name,
        "sid": sid,
        "joined_at": joined_at,
        "changed": changed,
    }


def record_participant_left(
    livekit_room: str,
    room_sid: str,
    sid: str,
    identity: str,
    left_at: float,
    *,
    name: str = "",
    settings: dict | None = None,
) -> dict | None:
    """LiveKit's participant_left (also when it arrives before the join). Returns {account_id,
    room_name, identity, sid, left_at, changed} or None when not ours."""
    owner = resolve_livekit_room(livekit_room, settings)
    if owner is None:
        return None
    account_id, room_name = owner
    with write_atomic():
        row = _room_row(account_id, room_name, livekit_room, left_at)
        changed = _upsert_participant(row, room_sid, sid, identity, name, left_at=left_at)
    return {
        "account_id": account_id,
        "room_name": room_name,
        "identity": identity,
        "sid": sid,
        "left_at": left_at,
        "changed": changed,
    }


def _upsert_participant(
    room: Room,
    room_sid: str,
    sid: str,
    identity: str,
    name: str,
    *,
    joined_at: float | None = None,
    left_at: float | None = None,
) -> bool:
    """Record LiveKit's join (joined_at) or leave (left_at) of participant session `sid`; True if
    that webhook was not recorded before."""
    row = Participant.get_or_none(Participant.room == room, Participant.sid == sid)
    if row is None:
        try:
            with write_atomic():
                Participant.create(
                    room=room,
                    account_id=room.account_id,
                    room_sid=room_sid or "",
                    sid=sid,
                    identity=_stored(identity),
                    name=_stored(name),
                    joined_at=joined_at,
                    left_at=left_at,
                    join_recorded=joined_at is not None,
                    leave_recorded=left_at is not None,
                )
            return True
        except peewee.IntegrityError:  # the same webhook, delivered twice at once
            row = Participant.get(Participant.room == room, Participant.sid == sid)
    changes: dict[str, Any] = {}
    if joined_at is not None and not row.join_recorded:
        changes.update(join_recorded=True, joined_at=joined_at)
    if left_at is not None and not row.leave_recorded:
        changes.update(leave_recorded=True, left_at=left_at)
    if name and not row.name:
        changes["name"] = _stored(name)
    if room_sid and not row.room_sid:
        changes["room_sid"] = room_sid
    if changes:
        Participant.update(**changes).where(Participant.id == row.id).execute()
    return "join_recorded" in changes or "leave_recorded" in changes


def record_ingress_started(
    ingress_id: str, livekit_room: str, started_at: float, *, settings: dict | None = None, **info: str
) -> dict | None:
    """LiveKit's ingress_started. `info` may carry input_type, participant_identity and
    participant_name for ingresses made elsewhere. Returns {account_id, room_name, ingress_id,
    started_at, changed} or None when not ours."""
    return _record_ingress(ingress_id, livekit_room, settings, info, started_at=started_at)


def record_ingress_stopped(
    ingress_id: str, livekit_room: str, stopped_at: float, *, settings: dict | None = None, **info: str
) -> dict | None:
    """LiveKit's ingress_ended. Returns {account_id, room_name, ingress_id, stopped_at, changed} or None."""
    return _record_ingress(ingress_id, livekit_room, settings, info, stopped_at=stopped_at)


def _record_ingress(ingress_id: str, livekit_room: str, settings, info: dict, **times: float) -> dict | None:
    owner = resolve_livekit_room(livekit_room, settings)
    if owner is None:
        return None
    account_id, room_name = owner
    ((field, at),) = times.items()
    with write_atomic():
        row = _room_row(account_id, room_name, livekit_room, at)
        Ingress.insert(
            room=row,
            account_id=account_id,
            ingress_id=ingress_id,
            input_type=_stored(info.get("input_type"))[:32],
            participant_identity=_stored(info.get("participant_identity")),
            participant_name=_stored(info.get("participant_name")),
            created_at=at,
        ).on_conflict_ignore().execute()
        ingress = Ingress.get(Ingress.ingress_id == ingress_id)
        if ingress.account_id != account_id:  # an id cannot move between accounts; refuse to mix them
            return None
        # An ingress is reusable: each start opens a new stretch; a repeat of the same start does not.
        if field == "started_at":
            changed = ingress.started_at != at
            if changed:
                Ingress.update(started_at=at, stopped_at=None).where(Ingress.id == ingress.id).execute()
        else:
            changed = ingress.stopped_at != at
            if changed:
                Ingress.update(stopped_at=at).where(Ingress.id == ingress.id).execute()
    return {
        "account_id": account_id,
        "room_name": room_name,
        "ingress_id": ingress_id,
        field: at,
        "changed": changed,
    }


# -- reads for other plugins ----------------------------------------------------------------------


def stored_rooms(account_id: int, active_only: bool = False) -> list[dict]:
    """The account's rooms as stored: {name, livekit_name, sid, active, created_at, started_at,
    finished_at} (epoch seconds), oldest first."""
    query = Room.select().where(Room.account_id == account_id)
    if active_only:
        query = query.where(Room.active == True)  # noqa: E712
    return [
        {
            "name": r.name,
            "livekit_name": r.livekit_name,
            "sid": r.sid,
            "active": r.active,
            "created_at": r.created_at,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
        }
        for r in query.order_by(Room.created_at, Room.id)
    ]


def stored_participants(account_id: int, room_name: str) -> list[dict]:
    """Every participant session of the account's room as stored: {identity, name, sid, room_sid,
    joined_at, left_at}, in join order.

    :raises NotFound: the account has no such room stored.
    """
    room = Room.get_or_none(Room.account_id == account_id, Room.name == room_name)
    if room is None:
        raise NotFound("Room not found")
    query = (
        Participant.select().where(Participant.room == room).order_by(Participant.joined_at, Participant.id)
    )
    return [
        {
            "identity": p.identity,
            "name": p.name,
            "sid": p.sid,
            "room_sid": p.room_sid,
            "joined_at": p.joined_at,
            "left_at": p.left_at,
        }
        for p in query
    ]


def resolve_room(settings: dict, account_id: int, room_name: str) -> str:
    """The LiveKit name of the account's room, if it exists (stored, or open in LiveKit).

    :raises NotFound: neither stored nor open in LiveKit.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError: when LiveKit had to be asked.
    """
    livekit_room = livekit_name(settings, account_id, room_name)
    if Room.select().where(Room.account_id == account_id, Room.name == room_name).exists():
        return livekit_room
    rooms = client(settings).list_rooms(names=[livekit_room])
    if not rooms:
        raise NotFound("Room not found")
    _room_row(account_id, room_name, livekit_room, time.time())
    return livekit_room
