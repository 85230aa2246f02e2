"""The live worker (plugins/transcription/live_worker.py) end to end in this process, on real speech.

Real: PostgreSQL / SQLite, Redis (heartbeat, claims, wake-ups), the API, the worker's loop, the room
adapter (live_room.LiveKitRoom), Vosk on espeak-ng speech. Faked: the LiveKit SDK's Room and
AudioStream, at their own surface (tests/plugins/transcription/fake_rtc.py says how and why), which
also checks the join token's grants. Alice's track is published before the worker joins (16 kHz mono),
Bob's after it (48 kHz stereo), as LiveKit announces both.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from core.db import db
from plugins.room import service as room_service
from plugins.transcription import engine, live_api, live_service
from plugins.transcription.live_models import LiveSegment
from plugins.transcription.live_room import LiveKitRoom
from plugins.transcription.live_worker import LiveWorker
from tests.plugins.transcription.fake_rtc import FakeRtc, FakeServer, FakeTrack
from tests.plugins.transcription.live_speech import ALICE, BOB, PHRASES, pcm, speakers
from tests.plugins.transcription.speech import require_model

ROOM = "standup"


@pytest.fixture(autouse=True)
def forget_caches():
    room_service._clients.clear()
    live_api._capability.clear()
    yield
    room_service._clients.clear()


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speakers(tmp_path_factory.mktemp("live-worker-speech"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return engine.load_model(require_model(), tmp_path_factory.mktemp("models"))


@pytest.fixture
def live_app(make_app, livekit, model_setting):
    return make_app(
        {
            "plugins": {
                "room": livekit.settings(),
                "transcription": {
                    "model_path": model_setting,
                    "capability_cache_seconds": 0,
                    # Claims last a heartbeat: 3 s lapsed on a loaded CI machine (a stalled refresh made
                    # the worker leave and rejoin the room), so the tests give them 10 s.
                    "live_heartbeat_seconds": 10,
                    "live_poll_seconds": 0.5,
                    "live_partial_interval_seconds": 0.3,
                    "live_retry_seconds": 1,
                },
            }
        }
    )


@pytest.fixture
def acme(live_app, new_key):
    headers = {"X-API-Key": new_key("transcription:admin", "room:admin", account="acme")}
    assert live_app.test_client().post("/v1/rooms", json={"name": ROOM}, headers=headers).status_code == 201
    return headers


def livekit_room(app, account="acme") -> str:
    from core.models import Account

    with app.app_context(), db.connection_context():
        return f"mp{Account.get(Account.name == account).id}_{ROOM}"


class Running:
    """A LiveWorker on its own event loop in a thread, as `transcribe-live` runs it; stop() is SIGTERM's
    path (the same `stopping` event)."""

    def __init__(self, worker: LiveWorker):
        self.worker = worker
        self.loop = asyncio.new_event_loop()
        self.stopping = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.stopping = asyncio.Event()
            await self.worker.run(self.stopping)

        try:
            self.loop.run_until_complete(main())
        except BaseException as error:  # noqa: BLE001 - reported by stop()
            self.error = error
        finally:
            self.loop.close()

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.stopping is not None, 10, "worker loop")
        return self

    def stop(self):
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(60)
        assert not self.thread.is_alive(), "the worker did not stop"
        if self.error:
            raise self.error

    def __exit__(self, *exc):
        self.stop()


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s")


def worker_for(app, server: FakeServer, model) -> LiveWorker:
    return LiveWorker(app, room_factory=lambda: LiveKitRoom(rtc=FakeRtc(server)), model=model)


def fake_server(app, livekit, **kwargs) -> FakeServer:
    return FakeServer(livekit.api_key, livekit.api_secret, livekit_room(app), **kwargs)


def test_tracks_give_partial_and_final_segments_per_speaker(live_app, livekit, acme, speech, model):
    client = live_app.test_client()
    server = fake_server(live_app, livekit)
    server.publish("alice", "Alice Kim", FakeTrack("TR_alice", pcm(speech["alice"].path, 16000, 1), 16000, 1))
    with Running(worker_for(live_app, server, model)) as running:
        wait_for(
            lambda: client.get("/v1/health").get_json()["capabilities"]["transcriptionLive"], 10, "heartbeat"
        )
        started = client.post(
            f"/v1/rooms/{ROOM}/transcription/start", json={"phrases": PHRASES}, headers=acme
        )
        assert started.status_code == 201
        wait_for(lambda: server.rooms, 10, "the worker joined")
        server.publish("bob", "bob", FakeTrack("TR_bob", pcm(speech["bob"].path, 48000, 2), 48000, 2))
        seen_partials: dict[str, set[str]] = {"alice": set(), "bob": set()}
        last = []

        def finals_done():
            answer = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()
            for segment in answer["segments"]:
                if not segment["final"]:
                    seen_partials[segment["speakerId"]].add(segment["text"])
            last.append(answer)
            return answer if answer["segmentCount"] == len(ALICE) + len(BOB) else None

        try:
            answer = wait_for(finals_done, 60, "final segments of both speakers")
        except AssertionError as error:
            raise AssertionError(f"{error}; last answer: {last[-1] if last else None}") from None
        # the worker joined once, hidden and subscribe-only (fake_rtc checks the grants)
        assert len(server.claims) == 1 and server.claims[0][0].startswith("ws://")
        assert server.claims[0][1].identity.startswith("mediaplane-transcriber-")
        stopped = client.post(f"/v1/rooms/{ROOM}/transcription/stop", headers=acme)
        assert stopped.status_code == 200 and stopped.get_json()["segmentCount"] == 4
        wait_for(lambda: not server.rooms, 10, "the worker left the room")
        assert running.worker.sessions == {}

    finals = [s for s in answer["segments"] if s["final"]]
    by_speaker = {
        who: [s["text"] for s in sorted(finals, key=lambda s: s["startMs"]) if s["speakerId"] == who]
        for who in ("alice", "bob")
    }
    assert by_speaker == {"alice": ALICE, "bob": BOB}
    names = {s["speakerId"]: s["speakerName"] for s in finals}
    assert names == {"alice": "Alice Kim", "bob": "bob"}
    assert {s["trackSid"] for s in finals} == {"TR_alice", "TR_bob"}
    # counted in Redis by the worker process's side, read back by the web tier's /metrics
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, 'mediaplane_transcription_live_segments_total{kind="final"}') == 4
    assert _sample(text, 'mediaplane_transcription_live_segments_total{kind="partial"}') >= 2
    assert _sample(text, 'mediaplane_transcription_live_joins_total{outcome="ok"}') == 1
    for who in ("alice", "bob"):
        assert seen_partials[who], f"no partial segment of {who} was seen while speaking"
        spoken = speech[who].spoken
        mine = sorted((s for s in finals if s["speakerId"] == who), key=lambda s: s["startMs"])
        # times are wall clock: the gap between a speaker's two sentences is the spoken one
        gap = (mine[1]["startMs"] - mine[0]["startMs"]) / 1000
        assert abs(gap - (spoken[1][0] - spoken[0][0])) <= 0.3, (gap, spoken)
        duration = (mine[0]["endMs"] - mine[0]["startMs"]) / 1000
        assert abs(duration - (spoken[0][1] - spoken[0][0])) <= 0.3
        assert [w["word"] for w in mine[0]["words"]] == mine[0]["text"].split()


def test_sigterm_path_flushes_the_utterance_in_progress_and_leaves(live_app, livekit, acme, speech, model):
    """A live mic that stops mid-stream with no trailing silence: its words are final only because
    shutdown flushes them; the heartbeat and the claim go with the worker."""
    client = live_app.test_client()
    redis_conn = live_app.extensions["mediaplane"].redis
    server = fake_server(live_app, livekit)
    audio = pcm(speech["alice"].path, 16000, 1, trailing_silence=0)[: int(3.2 * 16000) * 2]  # first sentence
    server.publish("carol", "Carol", FakeTrack("TR_carol", audio, 16000, 1, hold_open=True))
    running = Running(worker_for(live_app, server, model)).__enter__()
    try:
        wait_for(lambda: live_service.live_workers(redis_conn), 10, "heartbeat")
        tid = client.post(f"/v1/rooms/{ROOM}/transcription/start", json={"phrases": PHRASES}, headers=acme)
        tid = tid.get_json()["transcriptionId"]
        wait_for(lambda: redis_conn.get(live_service.CLAIM_PREFIX + tid), 10, "claim")

        def partial_written():
            segments = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()["segments"]
            return segments and time.sleep(4) is None  # and the audio has played out meanwhile

        wait_for(partial_written, 20, "a partial")
        before = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()
        assert before["segmentCount"] == 0 and not any(s["final"] for s in before["segments"])
    finally:
        running.stop()
    after = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()
    assert [(s["speakerId"], s["final"], s["text"]) for s in after["segments"]] == [("carol", True, ALICE[0])]
    assert after["status"] == "active"  # shutdown is not a stop: another worker takes the room over
    assert live_service.live_workers(redis_conn) == 0
    assert redis_conn.get(live_service.CLAIM_PREFIX + tid) is None
    assert not server.rooms


def test_one_worker_per_room_and_a_failed_join_is_recorded_and_retried(
    live_app, livekit, acme, speech, model
):
    client = live_app.test_client()
    server = fake_server(live_app, livekit)
    server.refuse = ConnectionError("signal connection refused")
    with (
        Running(worker_for(live_app, server, model)) as first,
        Running(worker_for(live_app, server, model)) as second,
    ):
        wait_for(
            lambda: live_service.live_workers(live_app.extensions["mediaplane"].redis) == 2,
            10,
            "two heartbeats",
        )
        client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme)
        answer = wait_for(
            lambda: client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()["error"],
            10,
            "error",
        )
        assert "cannot join" in answer and "signal connection refused" in answer
        server.refuse = None
        wait_for(lambda: server.rooms, 15, "joined on a retry")
        wait_for(
            lambda: client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()["error"] is None,
            10,
            "error cleared",
        )
        time.sleep(1.5)  # a few more reconcile rounds of both workers
        assert len(server.rooms) == 1
        assert len(first.worker.sessions) + len(second.worker.sessions) == 1
        text = client.get("/metrics").get_data(as_text=True)
        assert _sample(text, 'mediaplane_transcription_live_joins_total{outcome="failed"}') >= 1
        assert _sample(text, 'mediaplane_transcription_live_joins_total{outcome="ok"}') == 1


def _sample(text: str, series: str) -> float:
    """The value of one series in a /metrics exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_room_closed_by_livekit_is_rejoined(live_app, livekit, acme, speech, model):
    client = live_app.test_client()
    server = fake_server(live_app, livekit)
    with Running(worker_for(live_app, server, model)):
        wait_for(
            lambda: client.get("/v1/health").get_json()["capabilities"]["transcriptionLive"], 10, "heartbeat"
        )
        client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme)
        wait_for(lambda: server.rooms, 10, "joined")
        server.close()
        wait_for(lambda: len(server.claims) == 2 and server.rooms, 15, "rejoined")


def test_partial_results_off_writes_only_finals(live_app, livekit, acme, speech, model):
    client = live_app.test_client()
    server = fake_server(live_app, livekit, speed=4.0)
    server.publish("alice", "Alice", FakeTrack("TR_alice", pcm(speech["alice"].path, 16000, 1), 16000, 1))
    with Running(worker_for(live_app, server, model)):
        wait_for(
            lambda: client.get("/v1/health").get_json()["capabilities"]["transcriptionLive"], 10, "heartbeat"
        )
        body = {"phrases": PHRASES, "options": {"partialResults": False}}
        client.post(f"/v1/rooms/{ROOM}/transcription/start", json=body, headers=acme)
        seen = []

        def done():
            answer = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()
            seen.extend(s["final"] for s in answer["segments"])
            return answer["segmentCount"] == 2

        wait_for(done, 60, "finals")
    assert seen and all(seen)
    from tests.conftest import count_rows

    assert count_rows(live_app, LiveSegment, LiveSegment.final == False) == 0  # noqa: E712
