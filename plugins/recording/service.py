"""Recording domain logic: start / stop room-composite egresses, follow their state, and serve the files.

A recording's id is LiveKit's egress id (EG_...), as in the rooms-API contract. Its state moves only
forward (starting -> active -> stopping -> complete | failed) whatever order LiveKit's webhooks come
in (LiveKit does not order them) and whether a webhook or the reconcile job reports a change first.

Runs inside an app context (the room plugin's settings, the app's object storage and Redis).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from typing import Any

from core.db import write_atomic
from core.events import fire
from plugins.recording import metrics
from plugins.recording.models import Recording
from plugins.recording.statuses import (
    ACTIVE,
    COMPLETE,
    FAILED,
    RANK,
    RUNNING,
    STARTING,
    STOPPING,
    UNFINISHED,
)

log = logging.getLogger("plugins.recording")

# LiveKit's EgressStatus names -> our statuses. LIMIT_REACHED stopped at LiveKit's time limit with
# the file written; ABORTED ended before anything was recorded.
EGRESS_STATUS = {
    "EGRESS_STARTING": STARTING,
    "EGRESS_ACTIVE": ACTIVE,
    "EGRESS_ENDING": STOPPING,
    "EGRESS_COMPLETE": COMPLETE,
    "EGRESS_LIMIT_REACHED": COMPLETE,
    "EGRESS_FAILED": FAILED,
    "EGRESS_ABORTED": FAILED,
}


class NotFound(LookupError):
    """No such recording (or no recording running) in the caller's account (404)."""


class Conflict(Exception):
    """The recording is in a state that does not allow this (409)."""


class StorageNotUsable(Exception):
    """The configured object storage cannot receive LiveKit's egress uploads (503, names the setting)."""


# -- context ---------------------------------------------------------------------------------------


def _settings() -> dict:
    from core.plugins import plugin_settings

    return plugin_settings("recording")


def _state():
    from flask import current_app

    return current_app.extensions["mediaplane"]


def storage():
    """The app's object storage (core.storage): recordings live beside the other objects."""
    return _state().storage


def _storage_backend() -> str:
    return _state().config["core"]["storage"]["backend"]


def _room():
    from plugins.room import interface

    return interface


# -- shapes ---------------------------------------------------------------------------------------


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def recording_json(row: Recording) -> dict:
    return {
        "recordingId": row.id,
        "egressId": row.id,
        "roomId": row.room_name,
        "status": row.status,
        "fileKey": row.file_key,
        "size": row.size,
        "duration": row.duration,
        "error": row.error or None,
        "createdAt": iso(row.created_at),
        "startedAt": iso(row.started_at),
        "endedAt": iso(row.ended_at),
    }


def _ns(value: Any) -> float | None:
    """LiveKit's int64 nanoseconds (a string in protojson) -> epoch seconds; 0 or absent -> None."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        return None
    return number / 1e9 if number > 0 else None


# -- egress target ---------------------------------------------------------------------------------


def egress_s3(core_storage: dict, settings: dict) -> dict:
    """The S3Upload LiveKit's egress gets: the bucket of core.storage, path-style (MinIO needs it).

    :raises StorageNotUsable: object storage is the local directory, which the egress cannot reach.
    """
    if core_storage["backend"] != "s3":
        raise StorageNotUsable(
            "Recording needs S3-compatible object storage that LiveKit's egress can upload to, and this "
            'server stores objects in its data directory: set core.storage.backend = "s3" with '
            "core.storage.endpoint, access_key, secret_key and bucket (MinIO works), and "
            "plugins.recording.egress_s3_endpoint if the egress reaches it by another address"
        )
    scheme = "https" if core_storage["secure"] else "http"
    return {
        "endpoint": settings["egress_s3_endpoint"] or f"{scheme}://{core_storage['endpoint']}",
        "bucket": core_storage["bucket"],
        "access_key": core_storage["access_key"],
        "secret": core_storage["secret_key"],
        "region": settings["egress_s3_region"] or core_storage["region"] or "us-east-1",
        "force_path_style": True,
    }


def _file_key(settings: dict, account_id: int, room_name: str, now: float) -> str:
    # Our own concrete key (no LiveKit filepath templates): known before the egress starts, unique,
    # and one path segment per part whatever the room's name holds.
    safe_room = "".join(c if c.isalnum() or c in "-_." else "_" for c in room_name).strip(".") or "room"
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{settings['key_prefix']}/{account_id}/{safe_room[:100]}/{stamp}-{secrets.token_hex(4)}.mp4"


# -- start / stop / status --------------------------------------------------------------------------


def _running(account_id: int, room_name: str) -> Recording | None:
    return (
        Recording.select()
        .where(
            Recording.account_id == account_id,
            Recording.room_name == room_name,
            Recording.status.in_(RUNNING),
        )
        .order_by(Recording.created_at.desc())
        .first()
    )


def _lock_timeout() -> float:
    from core.plugins import plugin_settings

    # Long enough for the three LiveKit calls a start makes and the object store check.
    return 3 * plugin_settings("room")["livekit_timeout_seconds"] + 15


def start_recording(account_id: int, room_name: str) -> tuple[dict, bool]:
    """Start a room-composite MP4 recording of the account's room -> (answer, created).

    Idempotent: while a recording of the room is starting or active (ours, or an egress LiveKit has
    for the room), the answer is that one with status "already_recording" and created False. A Redis
    lock per room makes concurrent starts create one egress.

    :raises StorageNotUsable: object storage the egress cannot upload to.
    :raises core.storage.StorageUnavailable: the bucket cannot be reached or created.
    :raises room interface NotFound: LiveKit has no such room.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    settings = _settings()
    state = _state()
    target = egress_s3(state.config["core"]["storage"], settings)
    room = _room()
    livekit_room = room.livekit_name(account_id, room_name)
    client = room.livekit_client()
    timeout = _lock_timeout()
    lock = state.redis.lock(
        f"mediaplane:recording:start:{livekit_room}", timeout=timeout, blocking_timeout=timeout
    )
    if not lock.acquire():
        raise Conflict(f"Another start of a recording of room {room_name!r} is still under way; retry")
    try:
        row = _running(account_id, room_name)
        if row is not None:
            return _already(row), False
        active = [e for e in client.list_egress(room_name=livekit_room, active=True) if e.status in (0, 1)]
        if active:
            known = Recording.get_or_none(Recording.id == active[0].egress_id)
            if known is None:
                known = _adopt(settings, account_id, room_name, livekit_room, active[0])
            if known is not None and known.account_id == account_id:
                return _already(known), False
            return {
                "egressId": active[0].egress_id,
                "recordingId": active[0].egress_id,
                "roomId": room_name,
                "status": "already_recording",
                "startedAt": iso(_ns(active[0].started_at)),
            }, False
        storage().check()  # the bucket exists and takes our credentials, before LiveKit is asked
        now = time.time()
        key = _file_key(settings, account_id, room_name, now)
        try:
            info = client.start_room_composite_egress(
                livekit_room, target, key, layout=settings["layout"], audio_only=settings["audio_only"]
            )
        except Exception as err:
            if getattr(err, "code", None) == "not_found":
                raise room.NotFound("Room not found") from None
            raise
        with write_atomic():
            _insert_starting(info.egress_id, account_id, room_name, livekit_room, key, target["bucket"], now)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired meanwhile: the row is written, nothing to undo
            log.warning("recording start lock of %s expired before release", livekit_room)
    metrics.started()
    # LiveKit may already have answered with a later status (or its webhook came first).
    _apply_info(account_id, info)
    return {
        "egressId": info.egress_id,
        "recordingId": info.egress_id,
        "roomId": room_name,
        "status": "recording",
        "startedAt": iso(now),
    }, True


def _insert_starting(
    egress_id: str,
    account_id: int,
    room_name: str,
    livekit_room: str,
    key: str,
    bucket: str,
    started_at: float | None,
) -> None:
    """The row of an egress LiveKit has just started (a repeated insert of the same egress is ignored)."""
    now = time.time()
    Recording.insert(
        id=egress_id,
        account_id=account_id,
        room_name=room_name,
        livekit_room=livekit_room,
        status=STARTING,
        file_key=key,
        storage="s3",
        bucket=bucket,
        created_at=now,
        started_at=started_at or now,
        updated_at=now,
    ).on_conflict_ignore().execute()


def _adopt(settings: dict, account_id: int, room_name: str, livekit_room: str, info) -> Recording | None:
    """The row of an egress this server started but did not store (the database failed right after
    LiveKit started it): recognised by its file under this account's key prefix. None for an egress
    started by someone else, which this server only reports."""
    outputs = list(info.room_composite.file_outputs) if info.HasField("room_composite") else []
    key = outputs[0].filepath if outputs else ""
    if not key.startswith(f"{settings['key_prefix']}/{account_id}/"):
        return None
    _insert_starting(
        info.egress_id, account_id, room_name, livekit_room, key, outputs[0].s3.bucket, _ns(info.started_at)
    )
    log.warning(
        "recording %s of room %s was not stored when it started; adopted", info.egress_id, livekit_room
    )
    return Recording.get_or_none(Recording.id == info.egress_id)


def _already(row: Recording) -> dict:
    return {
        "egressId": row.id,
        "recordingId": row.id,
        "roomId": row.room_name,
        "status": "already_recording",
        "startedAt": iso(row.started_at),
    }


def stop_recording(account_id: int, room_name: str) -> dict:
    """Stop the room's running recording; the file is complete once LiveKit says so (webhook).

    :raises NotFound: no recording of the room is starting or active.
    :raises LiveKitNotConfigured, LiveKitUnavailable, LiveKitError
    """
    row = _running(account_id, room_name)
    if row is None:
        raise NotFound("No recording is running in this room")
    client = _room().livekit_client()
    now = time.time()
    try:
        info = client.stop_egress(row.id)
    except Exception as err:
        code = getattr(err, "code", None)
        if code == "failed_precondition":
            # It ended meanwhile (room closed, limit reached): what LiveKit has is the truth.
            info = client.list_egress(egress_id=row.id)[0]
        elif code == "not_found":
            _finish_lost(row, "LiveKit no longer knows this egress")
            raise NotFound("No recording is running in this room") from None
        else:
            raise
    Recording.update(stop_requested_at=now).where(Recording.id == row.id).execute()
    _apply_info(account_id, info)
    return {"status": "stopped", "stoppedAt": iso(now), "egressId": row.id, "recordingId": row.id}


def recording_status(account_id: int, room_name: str) -> dict:
    row = _running(account_id, room_name)
    if row is None:
        return {
            "isRecording": False,
            "egressId": None,
            "recordingId": None,
            "status": None,
            "startedAt": None,
        }
    return {
        "isRecording": True,
        "egressId": row.id,
        "recordingId": row.id,
        "status": row.status,
        "startedAt": iso(row.started_at),
    }


# -- state from LiveKit ----------------------------------------------------------------------------


def _apply_info(account_id: int, info) -> None:
    """Apply an EgressInfo message (from a LiveKit answer) as a webhook would."""
    from google.protobuf.json_format import MessageToDict
    from livekit.protocol.egress import EgressStatus

    status = EgressStatus.Name(info.status) if info.status in EgressStatus.values() else str(info.status)
    apply_egress(account_id, info.egress_id, status, MessageToDict(info), _ns(info.updated_at) or time.time())


def apply_egress(account_id: int, egress_id: str, status: str, info: dict, updated_at: float) -> bool:
    """Move the recording `egress_id` of the account to LiveKit's `status` (an EgressStatus name)
    with the file results of `info` (protojson, camelCase), then fire the events this change means.

    Only forward moves are applied; an egress this server did not start is ignored. Returns whether
    the row changed.
    """
    new = EGRESS_STATUS.get(status)
    if new is None:
        log.warning("egress %s: unknown status %r ignored", egress_id, status)
        return False
    with write_atomic():
        row = Recording.get_or_none(Recording.id == egress_id, Recording.account_id == account_id)
        if row is None or RANK[new] <= RANK[row.status]:
            changed = False
        else:
            changes: dict[str, Any] = {"status": new, "updated_at": time.time()}
            started = _ns(info.get("startedAt"))
            if started:
                changes["started_at"] = started
            if new in (COMPLETE, FAILED):
                changes["ended_at"] = _ns(info.get("endedAt")) or updated_at
            if new == COMPLETE:
                files = info.get("fileResults") or (
                    [info["file"]] if isinstance(info.get("file"), dict) else []
                )
                first = files[0] if files else {}
                changes["size"] = int(first.get("size") or 0) or None
                duration = _ns(first.get("duration"))
                changes["duration"] = round(duration, 3) if duration else None
            if new == FAILED:
                changes["error"] = info.get("error") or (
                    "aborted before recording began" if status == "EGRESS_ABORTED" else "egress failed"
                )
            Recording.update(**changes).where(Recording.id == egress_id).execute()
            changed = True
    if changed:
        _fire_events(egress_id)
    return changed


def _finish_lost(row: Recording, reason: str) -> None:
    now = time.time()
    Recording.update(status=FAILED, error=reason, ended_at=now, updated_at=now).where(
        Recording.id == row.id, Recording.status.in_(UNFINISHED)
    ).execute()
    _fire_events(row.id)


def _claim(row_id: str, flag) -> bool:
    """Set an event's fired flag; True for the one caller that set it (exactly-once across processes)."""
    return bool(Recording.update({flag: True}).where(Recording.id == row_id, flag == False).execute())  # noqa: E712


def _fire_events(recording_id: str) -> None:
    row = Recording.get_or_none(Recording.id == recording_id)
    if row is None:
        return
    if row.status in (ACTIVE, STOPPING, COMPLETE) and _claim(row.id, Recording.started_fired):
        fire(
            "recording_started",
            account_id=row.account_id,
            room_name=row.room_name,
            recording_id=row.id,
            egress_id=row.id,
            started_at=row.started_at or row.created_at,
        )
    if row.status in (COMPLETE, FAILED) and _claim(row.id, Recording.stopped_fired):
        metrics.finished(row.status, row.size or 0)
        fire(
            "recording_stopped",
            account_id=row.account_id,
            room_name=row.room_name,
            recording_id=row.id,
            egress_id=row.id,
            stopped_at=row.ended_at or row.updated_at,
            status=row.status,
        )
        if row.status == COMPLETE:
            fire(
                "recording_ready",
                account_id=row.account_id,
                room_name=row.room_name,
                recording_id=row.id,
                file_key=row.file_key,
                size=row.size,
                duration=row.duration,
                ready_at=row.ended_at or row.updated_at,
            )


def reconcile(limit: int = 500) -> int:
    """Ask LiveKit about every recording still starting, active or stopping (its webhooks may have
    been lost) and apply what it says; one LiveKit no longer knows has failed. Returns rows changed.

    :raises LiveKitUnavailable, LiveKitError: LiveKit cannot answer (the job is retried).
    """
    room = _room()
    if not room.livekit_configured():
        return 0
    client = room.livekit_client()
    changed = 0
    rows = list(
        Recording.select().where(Recording.status.in_(UNFINISHED)).order_by(Recording.created_at).limit(limit)
    )
    for row in rows:
        try:
            items = client.list_egress(egress_id=row.id)
        except Exception as err:
            if getattr(err, "code", None) != "not_found":
                raise
            items = []
        if not items:
            _finish_lost(row, "LiveKit no longer knows this egress (lost; its file may be missing)")
            changed += 1
            continue
        before = row.status
        _apply_info(row.account_id, items[0])
        changed += Recording.get_by_id(row.id).status != before
    return changed


# -- recordings -------------------------------------------------------------------------------------


def get_row(account_id: int, recording_id: str) -> Recording:
    """:raises NotFound: no such recording in this account."""
    row = Recording.get_or_none(Recording.id == recording_id, Recording.account_id == account_id)
    if row is None:
        raise NotFound("Recording not found")
    return row


def list_recordings(
    account_id: int, *, room_id: str | None, status: str | None, limit: int, offset: int
) -> dict:
    query = Recording.select().where(Recording.account_id == account_id)
    if room_id is not None:
        query = query.where(Recording.room_name == room_id)
    if status is not None:
        query = query.where(Recording.status == status)
    total = query.count()
    rows = query.order_by(Recording.created_at.desc(), Recording.id.desc()).limit(limit).offset(offset)
    return {"total": total, "limit": limit, "offset": offset, "recordings": [recording_json(r) for r in rows]}


def _complete(row: Recording) -> None:
    if row.status != COMPLETE:
        raise Conflict(f"Recording {row.id} is {row.status}: its file can be downloaded once it is complete")


def download_link(account_id: int, recording_id: str) -> dict:
    """{url, expiresAt}: a presigned GET of the recording's MP4 (S3 storage only).

    :raises NotFound, Conflict: no such recording; not complete.
    :raises core.storage.StorageUnavailable
    """
    row = get_row(account_id, recording_id)
    _complete(row)
    expiry = _settings()["download_url_expiry_seconds"]
    store = storage()
    filename = f"{row.id}.mp4"
    from core.storage import STORE_ERRORS

    try:
        url = store.presigned_get(row.file_key, expiry, filename=filename)
    except STORE_ERRORS() as err:  # presigning may ask the store for the bucket's region
        raise store._unavailable(err) from None
    return {"url": url, "expiresAt": iso(time.time() + expiry)}


def open_file(account_id: int, recording_id: str):
    """(stream, size) of the recording's MP4 from the storage (close the stream).

    :raises NotFound: no such recording, or its file is gone.
    :raises core.storage.StorageUnavailable
    """
    from core.storage import ObjectNotFound

    row = get_row(account_id, recording_id)
    store = storage()
    try:
        size = store.size(row.file_key)
        return store.open(row.file_key), size
    except ObjectNotFound:
        raise NotFound(f"Recording {row.id} has no file in the storage") from None


def delete_recording(account_id: int, recording_id: str) -> None:
    """Delete the recording's object, then its row (a failure leaves both: retry the delete).

    :raises NotFound, Conflict: no such recording; it is still running (stop it first).
    :raises core.storage.StorageUnavailable
    """
    row = get_row(account_id, recording_id)
    if row.status in UNFINISHED:
        raise Conflict(
            f"Recording {row.id} is {row.status}: stop it (and let it complete) before deleting it"
        )
    storage().delete(row.file_key)
    Recording.delete().where(Recording.id == row.id).execute()
    metrics.deleted()


def uses_presigned_urls() -> bool:
    return _storage_backend() == "s3"
