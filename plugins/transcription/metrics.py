"""Domain metrics of the transcription plugin on /metrics: transcriptions queued and finished, audio
seconds recognised and job durations (from the workers, in multi-process mode)."""

from __future__ import annotations

_instruments = None


def _get():
    # Created on first use, as core.metrics does: prometheus_client reads PROMETHEUS_MULTIPROC_DIR
    # when imported, and the CLI must not import it at all.
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter, Histogram

        _instruments = {
            "queued": Counter(
                "mediaplane_transcription_queued_total", "Post-call transcriptions queued through the API"
            ),
            "finished": Counter(
                "mediaplane_transcription_finished_total",
                "Post-call transcription jobs finished",
                ["outcome"],
            ),
            "audio": Counter(
                "mediaplane_transcription_audio_seconds_total",
                "Seconds of audio recognised by completed jobs",
            ),
            "duration": Histogram(
                "mediaplane_transcription_job_seconds",
                "Wall time of finished transcription jobs",
                ["outcome"],
                buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
            ),
        }
    return _instruments


def queued() -> None:
    _get()["queued"].inc()


def finished(outcome: str, audio_seconds: float, job_seconds: float) -> None:
    instruments = _get()
    instruments["finished"].labels(outcome).inc()
    if audio_seconds:
        instruments["audio"].inc(audio_seconds)
    instruments["duration"].labels(outcome).observe(job_seconds)
