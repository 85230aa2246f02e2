"""Domain metrics of the transcription plugin on /metrics: transcriptions queued and finished, audio
seconds recognised and job durations; live segments written and rooms joined by transcribe-live.

Kept in Redis (core.shared_metrics): jobs run in RQ work horses forked per job on any machine, and
/metrics must show the sum of all of them."""

from __future__ import annotations

from core.shared_metrics import SharedCounter, SharedHistogram

QUEUED = SharedCounter(
    "mediaplane_transcription_queued", "Post-call transcriptions queued (API and auto-transcribe)"
)
FINISHED = SharedCounter(
    "mediaplane_transcription_finished", "Post-call transcription jobs finished", ["outcome"]
)
AUDIO_SECONDS = SharedCounter(
    "mediaplane_transcription_audio_seconds", "Seconds of audio recognised by completed jobs"
)
JOB_SECONDS = SharedHistogram(
    "mediaplane_transcription_job_seconds",
    "Wall time of finished transcription jobs",
    ["outcome"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)


def queued() -> None:
    QUEUED.inc()


def finished(outcome: str, audio_seconds: float, job_seconds: float) -> None:
    FINISHED.inc(outcome=outcome)
    if audio_seconds:
        AUDIO_SECONDS.inc(audio_seconds)
    JOB_SECONDS.observe(job_seconds, outcome=outcome)


LIVE_SEGMENTS = SharedCounter(
    "mediaplane_transcription_live_segments",
    "Live segments written by transcribe-live workers, by kind (partial: a revision, final: an utterance)",
    ["kind"],
)
LIVE_JOINS = SharedCounter(
    "mediaplane_transcription_live_joins",
    "Rooms joined by transcribe-live workers, by outcome (ok, failed: retried after a pause)",
    ["outcome"],
)


def live_segments_written(finals: int, partials: int) -> None:
    if finals:
        LIVE_SEGMENTS.inc(finals, kind="final")
    if partials:
        LIVE_SEGMENTS.inc(partials, kind="partial")


def live_joined(outcome: str) -> None:
    LIVE_JOINS.inc(outcome=outcome)
