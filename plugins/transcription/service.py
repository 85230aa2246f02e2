"""Post-call transcriptions: queueing, the job (fetch, decode, recognise, store), reads, phrase lists."""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from core.db import db
from plugins.transcription import engine
from plugins.transcription.models import PhraseList, Segment, Transcription

log = logging.getLogger("plugins.transcription")

ID_PREFIX = "tr_"
QUEUE = "transcription"  # its own RQ queue: long recognitions never hold up the default queue
# The row's progress is written at most this often (seconds) while a job runs: enough for a client
# polling GET, and a few cheap UPDATEs per minute of audio.
PROGRESS_INTERVAL_SECONDS = 1.0


class NotFound(LookupError):
    """No such transcription or recording in the caller's account."""


class NotReady(Exception):
    """The recording exists but its file is not complete yet (409)."""


class NotCompleted(Exception):
    """A transcript rendering of a transcription that has not completed (409)."""


class PermanentFailure(Exception):
    """The job cannot succeed by retrying (corrupt file, recording gone, too long)."""


# -- the recording plugin, through its interface --------------------------------------------------


class Recordings:
    """The recording plugin's interface (pull), as this plugin needs it. A separate object so that the
    job's source of recordings is in one place."""

    def _interface(self):
        from core.plugins import current_plugins

        if not current_plugins().is_enabled("recording"):
            return None
        from plugins.recording import interface

        return interface

    def get(self, account_id: int, recording_id: str) -> dict:
        """:raises NotFound: no such recording in this account (or no recording plugin)."""
        interface = self._interface()
        if interface is None:
            raise NotFound("Recording not found (the recording plugin is not enabled)")
        try:
            return interface.get_recording(account_id, recording_id)
        except interface.NotFound:
            raise NotFound("Recording not found") from None

    def fetch(self, account_id: int, recording_id: str, target: Path) -> None:
        """Copy the recording's file to `target`, streamed in chunks.

        :raises NotFound: the recording or its file is gone.
        """
        interface = self._interface()
        if interface is None:
            raise NotFound("Recording not found (the recording plugin is not enabled)")
        try:
            stream = interface.open_recording(account_id, recording_id)
        except interface.NotFound:
            raise NotFound("Recording not found") from None
        try:
            with open(target, "wb") as out:
                shutil.copyfileobj(stream, out, 1024 * 1024)
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
            release = getattr(stream, "release_conn", None)  # urllib3 responses of the minio client
            if release:
                release()


recordings = Recordings()


def _recording_room(recording: dict) -> str | None:
    return recording.get("roomId") or recording.get("roomName") or recording.get("room_name")


def _recording_ready(recording: dict) -> bool:
    return str(recording.get("status", "complete")).lower() in ("complete", "completed", "ready")


# -- settings --------------------------------------------------------------------------------------


def model_cache_dir(settings: dict, data_dir: str) -> Path:
    return Path(settings["model_cache_dir"] or Path(data_dir) / "transcription" / "models")


def check_model(settings: dict) -> Path:
    """The configured model directory (cheap: no model is loaded in the web tier).

    :raises engine.ModelUnavailable: none configured, or it is not a model directory.
    """
    return engine.resolve_model_path(settings["model_path"])


# -- times and shapes -----------------------------------------------------------------------------


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def summary(row: Transcription) -> dict:
    return {
        "transcriptionId": row.id,
        "recordingId": row.recording_id,
        "roomId": row.room_name,
        "status": row.status,
        "progress": row.progress,
        "language": row.language,
        "queuedAt": iso(row.queued_at),
        "startedAt": iso(row.started_at),
        "completedAt": iso(row.completed_at),
        "duration": row.duration,
        "segmentCount": row.segment_count,
        "phrases": json.loads(row.phrases) if row.phrases is not None else None,
        "ignoredWords": json.loads(row.ignored_words),
        "error": row.error,
    }


def segment_dicts(row: Transcription) -> list[dict]:
    return [
        {
            "start": s.start,
            "end": s.end,
            "text": s.text,
            "confidence": s.confidence,
            "speaker": s.speaker,
            "words": json.loads(s.words),
        }
        for s in Segment.select().where(Segment.transcription == row).order_by(Segment.position)
    ]


def detail(row: Transcription) -> dict:
    segments = segment_dicts(row)
    participants = json.loads(row.participants)
    return {
        **summary(row),
        "speakers": [{"sid": sid, "name": name} for sid, name in participants.items()],
        "text": "\n".join(s["text"] for s in segments),
        "segments": segments,
    }


# -- API operations --------------------------------------------------------------------------------


def phrase_list(account_id: int) -> dict:
    row = PhraseList.get_or_none(PhraseList.account_id == account_id)
    if row is None:
        return {"phrases": [], "updatedAt": None}
    return {"phrases": json.loads(row.phrases), "updatedAt": iso(row.updated_at)}


def set_phrase_list(account_id: int, phrases: list[str]) -> dict:
    cleaned = _clean_phrases(phrases)
    now = time.time()
    with db.atomic():
        if not cleaned:
            PhraseList.delete().where(PhraseList.account_id == account_id).execute()
            return {"phrases": [], "updatedAt": None}
        text = json.dumps(cleaned, ensure_ascii=False)
        updated = (
            PhraseList.update(phrases=text, updated_at=now)
            .where(PhraseList.account_id == account_id)
            .execute()
        )
        if not updated:
            PhraseList.create(account_id=account_id, phrases=text, updated_at=now)
    return {"phrases": cleaned, "updatedAt": iso(now)}


def _clean_phrases(phrases: list[str]) -> list[str]:
    """One space between words, lower case (the model's words are), duplicates dropped, order kept."""
    return list(dict.fromkeys(" ".join(p.lower().split()) for p in phrases if p.strip()))


def queue_transcription(
    settings: dict,
    account_id: int,
    recording_id: str,
    *,
    language: str | None,
    participants: dict[str, str] | None,
    phrases: list[str] | None,
    enqueue,
) -> dict:
    """Create a queued transcription of a recording and enqueue its job.

    `phrases` None means the account's phrase list; [] means free recognition.

    :raises NotFound: no such recording in this account.
    :raises NotReady: the recording's file is not complete yet.
    :raises engine.ModelUnavailable: no usable model is configured.
    """
    check_model(settings)
    recording = recordings.get(account_id, recording_id)
    if not _recording_ready(recording):
        raise NotReady(
            f"Recording {recording_id} is {recording.get('status')!r}, not complete: transcribe it once "
            "its file is complete"
        )
    if phrases is None:
        phrases = phrase_list(account_id)["phrases"]
    cleaned = _clean_phrases(phrases)
    row = Transcription.create(
        id=ID_PREFIX + secrets.token_hex(12),
        account_id=account_id,
        recording_id=recording_id,
        room_name=_recording_room(recording),
        language=language or settings["default_language"],
        phrases=json.dumps(cleaned, ensure_ascii=False) if cleaned else None,
        participants=json.dumps(participants or {}, ensure_ascii=False),
        queued_at=time.time(),
    )
    try:
        enqueue(row.id)
    except Exception:
        # Nothing was acknowledged: no row without a job behind it.
        Transcription.delete().where(Transcription.id == row.id).execute()
        raise
    from plugins.transcription import metrics

    metrics.queued()
    return {
        "transcriptionId": row.id,
        "recordingId": row.recording_id,
        "status": row.status,
        "queuedAt": iso(row.queued_at),
    }


def auto_transcribe(settings: dict, account_id: int, recording_id: str) -> dict | None:
    """Queue a transcription of a recording that just became ready (auto_transcribe), with the
    account's phrase list. Returns the queued answer, or None when no model is usable (logged: the
    recording stays transcribable on request once one is).

    :raises Exception: the database or Redis failed (the event's caller logs it).
    """
    from core.queue import enqueue

    try:
        return queue_transcription(
            settings,
            account_id,
            recording_id,
            language=None,
            participants=None,
            phrases=None,
            enqueue=lambda transcription_id: enqueue("transcription.transcribe_recording", transcription_id),
        )
    except engine.ModelUnavailable as error:
        log.warning("recording %s not transcribed automatically: %s", recording_id, error)
        return None


def get_row(account_id: int, transcription_id: str) -> Transcription:
    """:raises NotFound: no such transcription in this account."""
    row = Transcription.get_or_none(
        (Transcription.id == transcription_id) & (Transcription.account_id == account_id)
    )
    if row is None:
        raise NotFound("Transcription not found")
    return row


def list_transcriptions(
    account_id: int,
    *,
    recording_id: str | None,
    room_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> dict:
    query = Transcription.select().where(Transcription.account_id == account_id)
    if recording_id is not None:
        query = query.where(Transcription.recording_id == recording_id)
    if room_id is not None:
        query = query.where(Transcription.room_name == room_id)
    if status is not None:
        query = query.where(Transcription.status == status)
    total = query.count()
    rows = query.order_by(Transcription.queued_at.desc(), Transcription.id.desc()).limit(limit).offset(offset)
    return {"total": total, "limit": limit, "offset": offset, "transcriptions": [summary(r) for r in rows]}


def render(row: Transcription, form: str) -> tuple[str, str]:
    """The transcript as text, srt or vtt: (body, content type).

    :raises NotCompleted: the transcription is still queued or running, or failed.
    """
    from plugins.transcription.formats import RENDERERS

    if row.status != "completed":
        detail_text = f": {row.error}" if row.error else ""
        raise NotCompleted(
            f"Transcription {row.id} is {row.status}{detail_text}; format={form} is available once it has "
            "completed (format=json shows its status and progress)"
        )
    renderer, content_type = RENDERERS[form]
    return renderer(segment_dicts(row)), content_type


def delete_transcription(account_id: int, transcription_id: str) -> None:
    """:raises NotFound: no such transcription in this account."""
    row = get_row(account_id, transcription_id)
    with db.atomic():
        Segment.delete().where(Segment.transcription == row.id).execute()
        Transcription.delete().where(Transcription.id == row.id).execute()


# -- the job ---------------------------------------------------------------------------------------


def _speaker_for(row: Transcription, recording: dict) -> str | None:
    """Vosk does not separate speakers. A per-participant recording (track egress) names its
    participant; a mixed recording has one speaker only when the request's map names exactly one."""
    participants = json.loads(row.participants)
    identity = recording.get("participantIdentity") or recording.get("participant_identity")
    if identity:
        return participants.get(identity, identity)
    if len(participants) == 1:
        return next(iter(participants.values()))
    return None


def _update(transcription_id: str, **fields) -> bool:
    """Update the row; False when it was deleted meanwhile (the job then stops)."""
    return bool(Transcription.update(**fields).where(Transcription.id == transcription_id).execute())


def run_transcription(transcription_id: str, settings: dict, data_dir: str, final_attempt: bool) -> str:
    """The job: fetch the recording, decode it, recognise it, store the segments, fire the event.

    Idempotent: a second run (retry, crashed worker) starts over and replaces the segments; a
    completed or deleted transcription is left alone. Returns the resulting status.

    :raises Exception: a transient failure (model or ffmpeg missing, storage down) that a retry may
        fix; the row says "queued" with the error while retries remain, "failed" after the last.
    """
    from plugins.transcription import decode, metrics

    row = Transcription.get_or_none(Transcription.id == transcription_id)
    if row is None or row.status == "completed":
        return "gone" if row is None else row.status
    started = time.time()
    if not _update(
        transcription_id, status="processing", progress=0, started_at=started, attempts=row.attempts + 1
    ):
        return "gone"
    work = Path(tempfile.mkdtemp(prefix="transcription-", dir=_temp_dir(data_dir)))
    try:
        recording = recordings.get(row.account_id, row.recording_id)
        audio = work / "recording"
        recordings.fetch(row.account_id, row.recording_id, audio)
        duration = decode.probe_duration(audio)
        if duration is not None and duration > settings["max_duration_seconds"]:
            raise PermanentFailure(
                f"the recording lasts {duration:.0f} s, longer than max_duration_seconds "
                f"({settings['max_duration_seconds']} s)"
            )
        model = engine.load_model(settings["model_path"], model_cache_dir(settings, data_dir))
        phrases = json.loads(row.phrases) if row.phrases else None
        transcriber = engine.Transcriber(
            model, phrases=phrases, speaker=_speaker_for(row, recording), gap=settings["segment_gap_seconds"]
        )
        segments: list[engine.Segment] = []
        last_write = time.monotonic()
        for chunk in decode.pcm_chunks(audio):
            segments += transcriber.feed(chunk)
            if duration and time.monotonic() - last_write >= PROGRESS_INTERVAL_SECONDS:
                last_write = time.monotonic()
                percent = min(99, int(100 * transcriber.seconds_fed / duration))
                if not _update(transcription_id, progress=percent):
                    return "gone"
        segments += transcriber.finish()
        if transcriber.seconds_fed > settings["max_duration_seconds"] + 1:
            raise PermanentFailure("the recording is longer than max_duration_seconds")
        completed = time.time()
        with db.atomic():
            if not Transcription.select().where(Transcription.id == transcription_id).exists():
                return "gone"
            Segment.delete().where(Segment.transcription == transcription_id).execute()
            if segments:
                Segment.insert_many(
                    [
                        {
                            "transcription": transcription_id,
                            "position": position,
                            "start": s.start,
                            "end": s.end,
                            "text": s.text,
                            "confidence": s.confidence,
                            "speaker": s.speaker,
                            "words": json.dumps(s.to_dict()["words"], ensure_ascii=False),
                        }
                        for position, s in enumerate(segments)
                    ]
                ).execute()
            _update(
                transcription_id,
                status="completed",
                progress=100,
                error=None,
                duration=round(transcriber.seconds_fed, 3),
                segment_count=len(segments),
                ignored_words=json.dumps(transcriber.ignored_words, ensure_ascii=False),
                completed_at=completed,
            )
        metrics.finished("completed", transcriber.seconds_fed, completed - started)
        log.info(
            "transcription %s: %d segments from %.1f s of audio in %.1f s",
            transcription_id,
            len(segments),
            transcriber.seconds_fed,
            completed - started,
        )
        from core.events import fire

        fire(
            "transcription_completed",
            account_id=row.account_id,
            transcription_id=transcription_id,
            recording_id=row.recording_id,
            room_name=row.room_name,
            completed_at=completed,
        )
        return "completed"
    except (PermanentFailure, decode.DecodeError, NotFound) as error:
        _update(transcription_id, status="failed", error=_reason(error), progress=0, completed_at=time.time())
        metrics.finished("failed", 0, time.time() - started)
        log.warning("transcription %s failed: %s", transcription_id, _reason(error))
        return "failed"
    except Exception as error:
        reason = _reason(error)
        if final_attempt:
            _update(transcription_id, status="failed", error=reason, progress=0, completed_at=time.time())
            metrics.finished("failed", 0, time.time() - started)
        else:
            _update(transcription_id, status="queued", error=f"{reason} (will be retried)", progress=0)
        log.warning(
            "transcription %s attempt failed (final: %s): %s", transcription_id, final_attempt, reason
        )
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _reason(error: Exception) -> str:
    if isinstance(error, NotFound):
        return "the recording no longer exists"
    if isinstance(error, engine.ModelUnavailable | PermanentFailure):
        return str(error)
    from plugins.transcription import decode

    if isinstance(error, decode.DecodeError | decode.DecoderUnavailable):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _temp_dir(data_dir: str) -> Path:
    # Under the data dir, not /tmp: recordings can be gigabytes, and the data volume is sized for them.
    path = Path(data_dir) / "transcription" / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- capability ------------------------------------------------------------------------------------

_capability: dict[str, tuple[float, bool]] = {}


def post_call_usable() -> bool:
    """transcriptionPost of GET /v1/health: a model is configured and present, and a worker listens
    on the transcription queue. Cached per process for capability_cache_seconds."""
    from flask import current_app

    from core.plugins import plugin_settings

    settings = plugin_settings("transcription")
    state = current_app.extensions["mediaplane"]
    key = f"{id(state)}"
    cached = _capability.get(key)
    now = time.monotonic()
    if cached and now - cached[0] < settings["capability_cache_seconds"]:
        return cached[1]
    try:
        check_model(settings)
        usable = transcription_worker_alive(state.redis)
    except engine.ModelUnavailable:
        usable = False
    except Exception as error:  # noqa: BLE001 - Redis down: not usable, and health still answers
        log.warning("transcriptionPost capability unknown: %s", error)
        usable = False
    _capability.clear()
    _capability[key] = (now, usable)
    return usable


def transcription_worker_alive(redis_conn) -> bool:
    """Whether a live RQ worker (registered, heartbeat not expired) listens on the transcription queue."""
    from rq import Queue, Worker

    return bool(Worker.all(connection=redis_conn, queue=Queue(QUEUE, connection=redis_conn)))
