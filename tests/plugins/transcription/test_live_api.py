"""The live transcription routes (/v1/rooms/{roomId}/transcription...) on real PostgreSQL/SQLite and Redis.

LiveKit is the Twirp double (tests/livekit_double.py): rooms are created through the room plugin's API.
The worker's heartbeat is written with `live_service.beat`, the function the worker beats with, and
segments with `live_service.write_updates`, which it writes with; the real `mediaplane transcribe-live`
process is in test_live_worker_process.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from core.db import db
from plugins.room import service as room_service
from plugins.transcription import live_api, live_service
from plugins.transcription.live_models import LiveSegment, LiveTranscription
from plugins.transcription.live_recognizer import Retraction, SegmentUpdate
from tests.conftest import count_rows
from tests.plugins.transcription.test_api import problem

ROOM = "standup"


@pytest.fixture(autouse=True)
def forget_caches():
    room_service._clients.clear()
    live_api._capability.clear()
    yield
    room_service._clients.clear()
    live_api._capability.clear()


@pytest.fixture
def live_app(make_app, livekit, model_setting):
    return make_app(
        {
            "plugins": {
                "room": livekit.settings(),
                "transcription": {"model_path": model_setting, "capability_cache_seconds": 0},
            }
        }
    )


@pytest.fixture
def client(live_app):
    return live_app.test_client()


@pytest.fixture
def acme(live_app, new_key):
    headers = {"X-API-Key": new_key("transcription:admin", "room:admin", account="acme")}
    response = live_app.test_client().post("/v1/rooms", json={"name": ROOM}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return headers


@pytest.fixture
def globex(live_app, new_key):
    return {"X-API-Key": new_key("transcription:admin", "room:admin", account="globex")}


def beat(app, ttl: float = 30) -> None:
    live_service.beat(app.extensions["mediaplane"].redis, "test-worker", ttl)


def write(app, transcription_id: str, updates: list, started_at: float, name: str) -> None:
    with app.app_context(), db.connection_context():
        live_service.write_updates(transcription_id, updates, track_started_at=started_at, speaker_name=name)


def update(track, speaker, utterance, part, final, start, end, text, confidence=None):
    words = text.split()
    step = (end - start) / len(words)
    return SegmentUpdate(
        track_sid=track,
        speaker_id=speaker,
        utterance=utterance,
        part=part,
        final=final,
        start=start,
        end=end,
        text=text,
        confidence=confidence,
        words=[
            {"word": w, "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3)}
            for i, w in enumerate(words)
        ],
    )


def started_at(app, transcription_id: str) -> float:
    """The stored start (the answer's startedAt is cut to the millisecond)."""
    with app.app_context(), db.connection_context():
        return LiveTranscription.get_by_id(transcription_id).started_at


def capability(client) -> bool:
    return client.get("/v1/health").get_json()["capabilities"]["transcriptionLive"]


def test_without_a_worker_heartbeat_start_is_503_and_the_capability_false(client, acme):
    answer = problem(
        client.post(f"/v1/rooms/{ROOM}/transcription/start", json={}, headers=acme), 503, "unavailable"
    )
    assert "transcribe-live" in answer["detail"]
    response = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert capability(client) is False


def test_an_expired_heartbeat_counts_as_no_worker(live_app, client, acme):
    redis_conn = live_app.extensions["mediaplane"].redis
    live_service.beat(redis_conn, "old", 10, now=dt.datetime.now().timestamp() - 20)  # expired 10 s ago
    assert live_service.live_workers(redis_conn) == 0
    problem(client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme), 503, "unavailable")
    assert capability(client) is False
    beat(live_app)
    assert capability(client) is True


def test_start_is_idempotent_and_stop_reports_the_final_segments(live_app, client, acme):
    beat(live_app)
    first = client.post(
        f"/v1/rooms/{ROOM}/transcription/start",
        json={"language": "ko-KR", "participants": {"alice": "Alice"}, "options": {"partialResults": True}},
        headers=acme,
    )
    assert first.status_code == 201, first.get_data(as_text=True)
    body = first.get_json()
    assert body["roomId"] == ROOM and body["status"] == "active" and body["language"] == "ko-KR"
    assert body["transcriptionId"].startswith("tr_") and body["startedAt"].endswith("Z")
    again = client.post(f"/v1/rooms/{ROOM}/transcription/start", json={}, headers=acme)
    assert again.status_code == 200 and again.get_json() == body
    assert count_rows(live_app, LiveTranscription) == 1

    started = dt.datetime.fromisoformat(body["startedAt"].replace("Z", "+00:00")).timestamp()
    tid = body["transcriptionId"]
    write(
        live_app,
        tid,
        [update("TR_a", "alice", 0, 0, True, 1.0, 2.0, "안녕하세요 여러분", 0.9)],
        started,
        "alice",
    )
    write(live_app, tid, [update("TR_a", "alice", 1, 0, False, 3.0, 3.5, "오늘")], started, "alice")

    stopped = client.post(f"/v1/rooms/{ROOM}/transcription/stop", headers=acme)
    assert stopped.status_code == 200
    answer = stopped.get_json()
    assert answer["transcriptionId"] == tid and answer["status"] == "stopped" and answer["segmentCount"] == 1
    assert client.post(f"/v1/rooms/{ROOM}/transcription/stop", headers=acme).get_json() == answer
    assert client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()["status"] == "stopped"
    # a new start after a stop is a new transcription
    restarted = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme)
    assert restarted.status_code == 201 and restarted.get_json()["transcriptionId"] != tid


def test_segments_per_speaker_partials_replaced_by_finals_since_and_text(live_app, client, acme):
    beat(live_app)
    body = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme).get_json()
    tid = body["transcriptionId"]
    t0 = started_at(live_app, tid)
    with live_app.app_context(), db.connection_context():
        live_service.write_updates(
            tid,
            [update("TR_a", "alice", 0, 0, False, 0.5, 1.0, "안녕하세요")],
            track_started_at=t0,
            speaker_name="Alice Kim",
            now=t0 + 1,
        )
        live_service.write_updates(
            tid,
            [update("TR_b", "bob", 0, 0, False, 0.2, 0.8, "오늘 회의")],
            track_started_at=t0 + 2,
            speaker_name="bob",
            now=t0 + 2,
        )
    answer = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()
    assert [(s["speakerId"], s["final"], s["text"]) for s in answer["segments"]] == [
        ("alice", False, "안녕하세요"),
        ("bob", False, "오늘 회의"),
    ]
    alice, bob = answer["segments"]
    assert alice["speakerName"] == "Alice Kim" and alice["startMs"] == 500 and alice["confidence"] is None
    assert bob["startMs"] == 2200 and bob["endMs"] == 2800  # times from the transcription's start
    until = answer["until"]
    # the final replaces the partial under the same id, and comes again after `since`
    with live_app.app_context(), db.connection_context():
        new = live_service.write_updates(
            tid,
            [
                update("TR_a", "alice", 0, 0, True, 0.5, 2.0, "안녕하세요 여러분", 0.95),
                update("TR_a", "alice", 0, 1, True, 2.8, 3.4, "만나서 정말", 0.9),
            ],
            track_started_at=t0,
            speaker_name="Alice Kim",
            now=t0 + 3,
        )
        assert new == 2
        # a late partial never overwrites a final
        live_service.write_updates(
            tid,
            [update("TR_a", "alice", 0, 0, False, 0.5, 1.0, "안녕")],
            track_started_at=t0,
            speaker_name="Alice Kim",
            now=t0 + 4,
        )
        # an utterance that ended as noise retracts its partial
        live_service.write_updates(tid, [Retraction("TR_b", 0)], track_started_at=t0 + 2, speaker_name="bob")
    later = client.get(
        f"/v1/rooms/{ROOM}/transcription", query_string={"since": until}, headers=acme
    ).get_json()
    assert [(s["segmentId"], s["final"], s["text"]) for s in later["segments"]] == [
        (alice["segmentId"], True, "안녕하세요 여러분"),
        ("TR_a-0-1", True, "만나서 정말"),
    ]
    assert later["segments"][0]["words"][0]["word"] == "안녕하세요"
    assert later["segmentCount"] == 2
    assert {s["sid"]: s["name"] for s in later["speakers"]} == {"alice": "Alice Kim"}

    text = client.get(f"/v1/rooms/{ROOM}/transcription", query_string={"format": "text"}, headers=acme)
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert (
        text.get_data(as_text=True)
        == "[00:00:00] Alice Kim: 안녕하세요 여러분\n[00:00:02] Alice Kim: 만나서 정말\n"
    )

    # PATCH speakers renames past segments (by identity or track sid)
    renamed = client.patch(
        f"/v1/rooms/{ROOM}/transcription/speakers", json={"participants": {"alice": "Alice"}}, headers=acme
    )
    assert renamed.status_code == 204
    text = client.get(f"/v1/rooms/{ROOM}/transcription?format=text", headers=acme).get_data(as_text=True)
    assert text.splitlines()[0] == "[00:00:00] Alice: 안녕하세요 여러분"
    client.patch(
        f"/v1/rooms/{ROOM}/transcription/speakers", json={"participants": {"TR_a": "A."}}, headers=acme
    )
    answer = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()
    assert {s["speakerName"] for s in answer["segments"]} == {"Alice"}  # identity wins over track sid


def test_segments_are_paged(live_app, client, acme, make_app):
    beat(live_app)
    tid = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme).get_json()["transcriptionId"]
    t0 = 1_800_000_000.0
    with live_app.app_context(), db.connection_context():
        for n in range(5):
            live_service.write_updates(
                tid,
                [update("TR_a", "alice", n, 0, True, n, n + 0.5, f"말 {n}", 1.0)],
                track_started_at=t0,
                speaker_name=None,
                now=t0 + n,
            )
        page = live_service.transcript(
            live_service.LiveTranscription.get_by_id(tid).account_id, ROOM, None, 2
        )
    assert [s["text"] for s in page["segments"]] == ["말 0", "말 1"] and page["hasMore"] is True
    assert page["until"] == "2027-01-15T08:00:01.000Z"


def test_another_accounts_room_is_404_everywhere(live_app, client, acme, globex):
    beat(live_app)
    assert client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme).status_code == 201
    problem(client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=globex), 404, "not-found")
    problem(client.post(f"/v1/rooms/{ROOM}/transcription/stop", headers=globex), 404, "not-found")
    problem(client.get(f"/v1/rooms/{ROOM}/transcription", headers=globex), 404, "not-found")
    problem(
        client.patch(
            f"/v1/rooms/{ROOM}/transcription/speakers", json={"participants": {"a": "b"}}, headers=globex
        ),
        404,
        "not-found",
    )
    # acme's transcription is untouched
    assert client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()["status"] == "active"
    assert count_rows(live_app, LiveTranscription) == 1


def test_never_started_and_unknown_rooms_are_404(live_app, client, acme):
    beat(live_app)
    problem(client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme), 404, "not-found")
    problem(client.post(f"/v1/rooms/{ROOM}/transcription/stop", headers=acme), 404, "not-found")
    problem(client.post("/v1/rooms/nosuchroom/transcription/start", headers=acme), 404, "not-found")
    problem(client.get("/v1/rooms/bad%01room/transcription", headers=acme), 404, "not-found")


@pytest.mark.parametrize(
    "method, path, kwargs, field",
    [
        ("post", "start", {"json": {"language": "not a language"}}, "language"),
        ("post", "start", {"json": {"participants": ["alice"]}}, "participants"),
        ("post", "start", {"json": {"options": {"partialResults": "maybe"}}}, "partialResults"),
        ("post", "start", {"json": {"phrases": ["  "]}}, "phrases"),
        ("get", "", {"query_string": {"since": "yesterday"}}, "since"),
        ("get", "", {"query_string": {"format": "xml"}}, "format"),
        ("patch", "speakers", {"json": {}}, "participants"),
        ("patch", "speakers", {"json": {"participants": {"alice": ""}}}, "participants"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(live_app, client, acme, method, path, kwargs, field):
    beat(live_app)
    assert client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme).status_code == 201
    url = f"/v1/rooms/{ROOM}/transcription" + (f"/{path}" if path else "")
    answer = problem(getattr(client, method)(url, headers=acme, **kwargs), 400, "validation")
    assert field in answer["detail"]


def test_too_many_participants_is_a_400(make_app, livekit, model_setting, new_key):
    app = make_app(
        {
            "plugins": {
                "room": livekit.settings(),
                "transcription": {"model_path": model_setting, "max_participants": 2},
            }
        }
    )
    headers = {"X-API-Key": new_key("transcription:admin", "room:admin")}
    app.test_client().post("/v1/rooms", json={"name": ROOM}, headers=headers)
    beat(app)
    many = {"participants": {"a": "A", "b": "B", "c": "C"}}
    problem(
        app.test_client().post(f"/v1/rooms/{ROOM}/transcription/start", json=many, headers=headers),
        400,
        "validation",
    )


def test_the_scope_is_required(live_app, client, new_key, acme):
    beat(live_app)
    other = {"X-API-Key": new_key("room:admin", account="acme")}
    response = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=other)
    assert response.status_code == 403


def test_no_model_is_503_naming_the_setting(make_app, livekit, new_key):
    app = make_app({"plugins": {"room": livekit.settings()}})
    headers = {"X-API-Key": new_key("transcription:admin", "room:admin")}
    beat(app)
    answer = problem(
        app.test_client().post(f"/v1/rooms/{ROOM}/transcription/start", headers=headers), 503, "unavailable"
    )
    assert "model_path" in answer["detail"]


def test_livekit_not_configured_is_503(make_app, model_setting, new_key):
    app = make_app({"plugins": {"transcription": {"model_path": model_setting}}})
    headers = {"X-API-Key": new_key("transcription:admin")}
    beat(app)
    response = app.test_client().post(f"/v1/rooms/{ROOM}/transcription/start", headers=headers)
    answer = problem(response, 503, "unavailable")
    assert "livekit_url" in answer["detail"] and response.headers["Retry-After"]


def test_redis_down_is_503_and_reads_still_answer(make_app, livekit, model_setting, new_key):
    """Fault: the heartbeat lives in Redis. With Redis stopped, start answers 503 naming Redis; the stored
    transcription stays readable (the database holds it)."""
    from tests.faults import OwnRedis

    with OwnRedis() as own:
        app = make_app(
            {
                "core": {"redis_url": own.url},
                "plugins": {"room": livekit.settings(), "transcription": {"model_path": model_setting}},
            }
        )
        headers = {"X-API-Key": new_key("transcription:admin", "room:admin")}
        client = app.test_client()
        assert client.post("/v1/rooms", json={"name": ROOM}, headers=headers).status_code == 201
        beat(app)
        started = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=headers)
        assert started.status_code == 201
        own.stop()
        response = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=headers)
        live_api._capability.clear()
        health = client.get("/v1/health")
        read = client.get(f"/v1/rooms/{ROOM}/transcription", headers=headers)
    answer = problem(response, 503, "unavailable")
    assert "Redis" in answer["detail"] and response.headers["Retry-After"]
    assert health.status_code == 200 and health.get_json()["capabilities"]["transcriptionLive"] is False
    assert (
        read.status_code == 200
        and read.get_json()["transcriptionId"] == started.get_json()["transcriptionId"]
    )


def test_concurrent_starts_make_one_transcription(live_app, acme):
    """Two starts racing (threads, each its own connection): the unique active-room column lets one in."""
    import threading

    beat(live_app)
    answers = []

    def start():
        answers.append(live_app.test_client().post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers).count(201) == 1, [a.get_data(as_text=True) for a in answers]
    assert len({a.get_json()["transcriptionId"] for a in answers}) == 1
    assert count_rows(live_app, LiveTranscription) == 1
    assert count_rows(live_app, LiveSegment) == 0


def test_room_finished_stops_the_rooms_live_transcription(live_app, client, acme, globex):
    """The core event room_finished (fired by the room plugin on LiveKit's room_finished webhook)."""
    from core.events import fire
    from core.models import Account

    beat(live_app)
    tid = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme).get_json()["transcriptionId"]
    with live_app.app_context(), db.connection_context():
        acme_id = Account.get(Account.name == "acme").id
        globex_id = Account.get(Account.name == "globex").id
        fire("room_finished", account_id=globex_id, room_name=ROOM, finished_at=1_800_000_000.0)
    assert client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()["status"] == "active"
    with live_app.app_context(), db.connection_context():
        fire("room_finished", account_id=acme_id, room_name=ROOM, finished_at=1_800_000_000.0)
    answer = client.get(f"/v1/rooms/{ROOM}/transcription", headers=acme).get_json()
    assert answer["transcriptionId"] == tid and answer["status"] == "stopped"
    assert answer["stoppedAt"] == "2027-01-15T08:00:00.000Z"
    # a new start makes a new one
    assert client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=acme).status_code == 201
