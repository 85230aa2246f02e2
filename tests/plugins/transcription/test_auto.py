"""Auto-transcribe, end to end: a recording started through the recording plugin's API is uploaded by the
LiveKit double's egress to the S3 server (moto, loopback), LiveKit's signed webhooks make it ready, the
transcription plugin (implementing recording_ready) queues a transcription with the account's phrase
list, and a real RQ worker recognises the real speech it holds. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.plugins.recording.conftest import Webhooks, create_room, s3_storage
from tests.plugins.transcription.conftest import MODEL, run_worker
from tests.plugins.transcription.speech import SENTENCES, make_recording, require_model, require_tools

TOLERANCE = 0.25  # seconds, as test_api.py


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    require_tools()
    return make_recording(tmp_path_factory.mktemp("speech"))


def make(make_app, livekit, s3_server, tmp_path_factory, auto: bool):
    require_model()
    cache = tmp_path_factory.getbasetemp() / "vosk-models"
    return make_app(
        {
            "core": {"storage": s3_storage(s3_server, f"auto-{uuid.uuid4().hex[:12]}")},
            "plugins": {
                "room": livekit.settings(),
                "transcription": {
                    "model_path": MODEL,
                    "model_cache_dir": str(cache),
                    "auto_transcribe": auto,
                },
            },
        }
    )


def record(client, headers, livekit, content: bytes, duration: float) -> str:
    """A recording of room "standup" made through the API, its file uploaded by the egress, made ready
    by LiveKit's webhooks."""
    webhooks = Webhooks(client, livekit)
    create_room(client, headers)
    started = client.post("/v1/rooms/standup/recording/start", headers=headers)
    assert started.status_code == 201, started.get_json()
    recording_id = started.get_json()["recordingId"]
    livekit.activate_egress(recording_id)
    livekit.finish_egress(recording_id, duration=duration, content=content)
    webhooks.deliver()
    assert client.get(f"/v1/recordings/{recording_id}", headers=headers).get_json()["status"] == "complete"
    return recording_id


def test_a_ready_recording_is_transcribed_automatically(
    make_app, new_key, livekit, s3_server, tmp_path_factory, speech
):
    app = make(make_app, livekit, s3_server, tmp_path_factory, auto=True)
    client = app.test_client()
    headers = {"X-API-Key": new_key("recording:admin", "room:admin", "transcription:admin", account="acme")}
    assert (
        client.put("/v1/transcription/phrases", json={"phrases": SENTENCES}, headers=headers).status_code
        == 200
    )

    recording_id = record(client, headers, livekit, speech.path.read_bytes(), speech.duration)

    listed = client.get(f"/v1/transcriptions?recordingId={recording_id}", headers=headers).get_json()
    assert listed["total"] == 1
    queued = listed["transcriptions"][0]
    assert (queued["status"], queued["roomId"], queued["phrases"]) == ("queued", "standup", SENTENCES)

    run_worker(app)

    done = client.get(f"/v1/transcriptions/{queued['transcriptionId']}", headers=headers).get_json()
    assert done["status"] == "completed", done["error"]
    assert [s["text"] for s in done["segments"]] == SENTENCES
    for segment, (start, end) in zip(done["segments"], speech.spoken, strict=True):
        assert abs(segment["start"] - start) <= TOLERANCE and abs(segment["end"] - end) <= TOLERANCE
    # One transcription per recording: recording_ready is fired once.
    assert client.get("/v1/transcriptions", headers=headers).get_json()["total"] == 1


def test_without_the_setting_nothing_is_queued(make_app, new_key, livekit, s3_server, tmp_path_factory):
    app = make(make_app, livekit, s3_server, tmp_path_factory, auto=False)
    client = app.test_client()
    headers = {"X-API-Key": new_key("recording:admin", "room:admin", "transcription:admin", account="acme")}
    record(client, headers, livekit, b"\x00\x00\x00\x18ftypmp42", 1.0)
    assert client.get("/v1/transcriptions", headers=headers).get_json()["total"] == 0
