"""What other plugins (transcription) may use of the recording plugin.

Call inside an app context (requests and jobs have one). Ids are the recording ids of the API
(LiveKit egress ids, EG_...); another account's recording is not found.
"""

from __future__ import annotations

from typing import BinaryIO

from core.storage import StorageUnavailable
from plugins.recording import service
from plugins.recording.service import NotFound

__all__ = ["NotFound", "StorageUnavailable", "get_recording", "open_recording"]


def get_recording(account_id: int, recording_id: str) -> dict:
    """The recording as GET /v1/recordings/{id} shows it: {recordingId, egressId, roomId, status
    ("starting", "active", "stopping", "complete", "failed"), fileKey, size, duration, error, createdAt,
    startedAt, endedAt}.

    :raises NotFound: no such recording in this account.
    """
    return service.recording_json(service.get_row(account_id, recording_id))


def open_recording(account_id: int, recording_id: str) -> BinaryIO:
    """The recording's MP4 as a binary stream read from the object storage as it is consumed (close it).

    :raises NotFound: no such recording in this account, or its file is not (or no longer) stored.
    :raises StorageUnavailable: the object storage cannot be reached (a retry may succeed).
    """
    stream, _size = service.open_file(account_id, recording_id)
    return stream
