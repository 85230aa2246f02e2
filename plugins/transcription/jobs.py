"""RQ jobs of the transcription plugin (queue `transcription`, so long recognitions never hold up
the default queue's short jobs)."""

from __future__ import annotations

from flask import current_app

from core.plugins import plugin_settings
from core.queue import job
from plugins.transcription import service
from plugins.transcription.service import QUEUE

# A job's time limit is fixed when it is registered; max_duration_seconds (at most 6 h of audio)
# keeps the work inside it at any real-time factor up to 1.
TIMEOUT_SECONDS = 6 * 3600 + 600


def _final_attempt() -> bool:
    """Whether no retry follows this run if it fails (RQ counts the retries left)."""
    from rq import get_current_job

    current = get_current_job()
    return current is None or not current.retries_left


@job(queue=QUEUE, timeout=TIMEOUT_SECONDS)
def transcribe_recording(transcription_id: str) -> str:
    """Recognise one queued transcription's recording (idempotent: a rerun starts over)."""
    data_dir = current_app.extensions["mediaplane"].config["core"]["data_dir"]
    return service.run_transcription(
        transcription_id, plugin_settings("transcription"), data_dir, final_attempt=_final_attempt()
    )
