"""Sessions built through the public ingest paths, for the analytics tests (and the Agora ones)."""

from __future__ import annotations

import time

from rq import SimpleWorker

from core.db import db
from core.queue import set_worker_app

# Test config: no rate limit in the way of hundreds of reports; a wide slack so that samples dated
# minutes before the first report (the server time a call starts) still belong to the call.
CONFIG = {
    "plugins": {
        "report": {"ingest_rate_limit": "100000/second"},
        "analytics": {"call_match_slack_seconds": 3600},
    }
}


def aligned_base(minutes_ago: int = 10) -> int:
    """A minute boundary some minutes before now: report times of a call that just happened."""
    return int(time.time()) // 60 * 60 - minutes_ago * 60


def report(user: str, room: str, t: int, streams: list[dict], **top) -> dict:
    return {
        "user_id": user,
        "room_id": room,
        "sdk_version": "2.4.1",
        "report_time": t,
        "metrics": [{"user_id": user, "streams": streams}],
        **top,
    }


def send_stream(fps=30, video_kbps=1000, audio_kbps=32, loss=0.0, rtt=40, jitter=5) -> dict:
    return {
        "stream_id": "camera",
        "direction": "send",
        "video": {"frame_rate": fps, "width": 1280, "height": 720, "bitrate": video_kbps},
        "audio": {"sample_rate": 48000, "channels": 1, "bitrate": audio_kbps},
        "network": {"rtt": rtt, "packet_loss": loss, "jitter": jitter},
    }


def recv_stream(fps=30, video_kbps=2000, audio_kbps=64, loss=0.0, rtt=40, jitter=5, **extra) -> dict:
    video = {"frame_rate": fps, "width": 1280, "height": 720, "bitrate": video_kbps}
    audio = {"sample_rate": 48000, "channels": 1, "bitrate": audio_kbps}
    video.update(extra.pop("video", {}))
    audio.update(extra.pop("audio", {}))
    return {
        "stream_id": "remote",
        "direction": "recv",
        "video": video,
        "audio": audio,
        "network": {"rtt": rtt, "packet_loss": loss, "jitter": jitter},
        **extra,
    }


def post_reports(client, key: str, reports: list[dict]) -> None:
    for body in reports:
        response = client.post("/report/metrics", json=body, headers={"X-API-Key": key})
        assert response.status_code == 200, response.get_json()


def run_worker(app) -> None:
    """Run the queued jobs (e.g. analytics.ingest_rtcstats) through a real RQ worker on real Redis."""
    set_worker_app(app)
    SimpleWorker(["default", "analysis"], connection=app.extensions["mediaplane"].redis).work(burst=True)


def rollup(app, now: float | None = None) -> dict:
    """One scheduled rollup run as of `now` (default: the clock); a later `now` lets idle calls end."""
    from plugins.analytics import rollup as rollups

    with app.app_context(), db.connection_context():
        return rollups.rollup_all(time.time() if now is None else now)


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)
