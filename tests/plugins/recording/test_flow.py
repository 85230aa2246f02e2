"""The recording flow through the /v1 routes, on SQLite and PostgreSQL: start, LiveKit's egress webhooks
(signed as LiveKit signs them, posted to /v1/livekit/webhook), stop, the file in S3, download, delete.

LiveKit is tests/livekit_double.py and S3 is moto's server on loopback (see conftest.py); the double's
egress really uploads the file to the S3 output our start request named.
"""

from __future__ import annotations

import concurrent.futures
import re
import urllib.request

import pytest
from minio import Minio
from minio.error import S3Error

from core.db import db
from tests.plugins.recording.conftest import (
    MP4,
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    account_id,
    create_room,
)


def recording_row(app, recording_id: str):
    from plugins.recording.models import Recording

    with app.app_context(), db.connection_context():
        return Recording.get_or_none(Recording.id == recording_id)


def start(client, headers, room: str = "standup"):
    return client.post(f"/v1/rooms/{room}/recording/start", headers=headers)


def test_a_recording_lands_in_s3_and_is_downloaded_and_deleted(
    rec_app, client, admin, livekit, webhooks, listener, s3_server, bucket
):
    create_room(client, admin)
    assert webhooks.deliver() == ["room_started"]
    acme = account_id(rec_app, "acme")

    answer = start(client, admin)
    assert answer.status_code == 201, answer.get_json()
    started = answer.get_json()
    egress_id = started["egressId"]
    assert started["status"] == "recording" and started["roomId"] == "standup"
    assert re.match(r"^EG_\w+$", egress_id) and started["recordingId"] == egress_id
    assert started["startedAt"].endswith("Z")

    # What LiveKit was asked: a room-composite MP4 to our bucket, path-style, our credentials.
    request = livekit.egress_request(egress_id)
    assert request.room_name == f"mp{acme}_standup"
    (output,) = request.file_outputs
    assert output.file_type == 1  # MP4
    assert re.match(rf"^recordings/{acme}/standup/\d{{8}}T\d{{6}}Z-[0-9a-f]{{8}}\.mp4$", output.filepath)
    assert output.s3.endpoint == f"http://{s3_server}"
    assert (output.s3.bucket, output.s3.access_key, output.s3.secret) == (
        bucket,
        S3_ACCESS_KEY,
        S3_SECRET_KEY,
    )
    assert output.s3.force_path_style is True and output.s3.region == "us-east-1"

    assert webhooks.deliver() == ["egress_started"]
    status = client.get("/v1/rooms/standup/recording", headers=admin).get_json()
    assert status == {
        "isRecording": True,
        "egressId": egress_id,
        "recordingId": egress_id,
        "status": "starting",
        "startedAt": started["startedAt"],
    }

    # Idempotent: a second start answers the running one.
    again = start(client, admin)
    assert again.status_code == 200
    assert again.get_json()["status"] == "already_recording" and again.get_json()["egressId"] == egress_id
    assert len(livekit.egresses) == 1

    livekit.activate_egress(egress_id)
    assert webhooks.deliver() == ["egress_updated"]
    assert recording_row(rec_app, egress_id).status == "active"
    assert listener.names() == ["recording_started"]
    assert listener.of("recording_started")[0]["recording_id"] == egress_id

    stopped = client.post("/v1/rooms/standup/recording/stop", headers=admin)
    assert stopped.status_code == 200
    assert stopped.get_json()["status"] == "stopped" and stopped.get_json()["egressId"] == egress_id
    assert client.get("/v1/rooms/standup/recording", headers=admin).get_json()["isRecording"] is False
    # Not complete yet: no download, no delete.
    assert client.get(f"/v1/recordings/{egress_id}/download", headers=admin).status_code == 409
    assert client.delete(f"/v1/recordings/{egress_id}", headers=admin).status_code == 409

    livekit.finish_egress(egress_id, duration=42.5, content=MP4)
    webhooks.deliver()
    got = client.get(f"/v1/recordings/{egress_id}", headers=admin).get_json()
    assert got["status"] == "complete"
    assert got["size"] == len(MP4) and got["duration"] == 42.5 and got["fileKey"] == output.filepath
    assert got["error"] is None and got["endedAt"].endswith("Z")
    assert listener.names() == ["recording_started", "recording_stopped", "recording_ready"]
    assert listener.of("recording_stopped")[0]["status"] == "complete"
    ready = listener.of("recording_ready")[0]
    assert (ready["recording_id"], ready["file_key"], ready["size"], ready["duration"]) == (
        egress_id,
        output.filepath,
        len(MP4),
        42.5,
    )

    listed = client.get("/v1/recordings", headers=admin).get_json()
    assert listed["total"] == 1 and listed["recordings"][0]["recordingId"] == egress_id

    # S3: a redirect to a presigned URL that works over plain HTTP without credentials.
    download = client.get(f"/v1/recordings/{egress_id}/download", headers=admin)
    assert download.status_code == 302
    url = download.headers["Location"]
    assert url == download.get_json()["url"] and "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == MP4

    assert client.delete(f"/v1/recordings/{egress_id}", headers=admin).status_code == 204
    s3 = Minio(s3_server, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False)
    with pytest.raises(S3Error) as gone:
        s3.stat_object(bucket, output.filepath)
    assert gone.value.code == "NoSuchKey"
    assert client.get(f"/v1/recordings/{egress_id}", headers=admin).status_code == 404
    assert client.get("/v1/recordings", headers=admin).get_json()["total"] == 0


def test_concurrent_starts_make_one_egress(rec_app, client, admin, livekit):
    create_room(client, admin)
    livekit.delay(0.3)  # each LiveKit call takes a while: the starts overlap

    def one_start(_):
        with rec_app.test_client() as c:
            answer = start(c, admin)
            return answer.status_code, answer.get_json()["egressId"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one_start, range(4)))
    livekit.normal()
    assert sorted(code for code, _ in results) == [200, 200, 200, 201]
    assert len({egress for _, egress in results}) == 1
    assert len(livekit.egresses) == 1


def test_failed_egress_is_failed_with_its_error(rec_app, client, admin, livekit, webhooks, listener):
    create_room(client, admin)
    egress_id = start(client, admin).get_json()["egressId"]
    livekit.fail_egress(egress_id, error="S3 upload failed: 502")
    webhooks.deliver()
    got = client.get(f"/v1/recordings/{egress_id}", headers=admin).get_json()
    assert got["status"] == "failed" and got["error"] == "S3 upload failed: 502" and got["size"] is None
    assert listener.names() == ["recording_stopped"]
    assert listener.of("recording_stopped")[0]["status"] == "failed"
    assert client.get(f"/v1/recordings/{egress_id}/download", headers=admin).status_code == 409
    # A failed recording can be deleted (its object may not exist: nothing to remove).
    assert client.delete(f"/v1/recordings/{egress_id}", headers=admin).status_code == 204


def test_webhooks_out_of_order_and_repeated_move_only_forward(
    rec_app, client, admin, livekit, webhooks, listener
):
    create_room(client, admin)
    egress_id = start(client, admin).get_json()["egressId"]
    livekit.activate_egress(egress_id)
    livekit.finish_egress(egress_id, duration=3.0, content=MP4)
    # LiveKit does not order its webhooks: the end first, then the activation and the start.
    webhooks.deliver(reverse=True)
    assert recording_row(rec_app, egress_id).status == "complete"
    # A repeat of every event (new ids, as a retry after a lost answer may look) changes nothing.
    for event in list(livekit.events):
        livekit._emit(event.event, egress_info=event.egress_info)
    webhooks.deliver()
    assert recording_row(rec_app, egress_id).status == "complete"
    assert listener.names() == ["recording_started", "recording_stopped", "recording_ready"]


def test_reconcile_job_catches_lost_webhooks(rec_app, client, admin, livekit, webhooks, listener):
    from rq import SimpleWorker

    from core.queue import enqueue, set_worker_app

    create_room(client, admin)
    done = start(client, admin).get_json()["egressId"]
    livekit.activate_egress(done)
    livekit.finish_egress(done, duration=5.0, content=MP4)
    create_room(client, admin, "retro")
    lost = start(client, admin, "retro").get_json()["egressId"]
    del livekit.egresses[lost]  # LiveKit lost it (restarted without its Redis)
    create_room(client, admin, "daily")
    running = start(client, admin, "daily").get_json()["egressId"]
    livekit.activate_egress(running)
    webhooks.skip()  # none of these webhooks arrive

    with rec_app.app_context():
        enqueue("recording.reconcile_recordings")
    set_worker_app(rec_app)
    SimpleWorker(["default"], connection=rec_app.extensions["mediaplane"].redis).work(burst=True)

    assert recording_row(rec_app, done).status == "complete"
    assert recording_row(rec_app, done).size == len(MP4)
    assert recording_row(rec_app, lost).status == "failed"
    assert "LiveKit no longer knows" in recording_row(rec_app, lost).error
    assert recording_row(rec_app, running).status == "active"
    assert sorted(listener.names()) == sorted(
        [
            "recording_started",
            "recording_stopped",
            "recording_ready",
            "recording_stopped",
            "recording_started",
        ]
    )
    # A second run finds nothing new to say.
    listener.calls.clear()
    with rec_app.app_context(), db.connection_context():
        from plugins.recording import service

        assert service.reconcile() == 0
    assert listener.calls == []


def test_stop_when_it_ended_meanwhile_takes_livekits_word(rec_app, client, admin, livekit, webhooks):
    create_room(client, admin)
    egress_id = start(client, admin).get_json()["egressId"]
    livekit.finish_egress(egress_id, duration=2.0, content=MP4)  # webhook not delivered yet
    answer = client.post("/v1/rooms/standup/recording/stop", headers=admin)
    assert answer.status_code == 200
    assert recording_row(rec_app, egress_id).status == "complete"


def test_stop_without_a_recording_and_start_without_a_room_are_404(client, admin):
    answer = client.post("/v1/rooms/standup/recording/stop", headers=admin)
    assert answer.status_code == 404
    assert answer.get_json()["type"] == "https://rtcstack.dev/errors/not-found"
    assert answer.headers["Content-Type"] == "application/problem+json"
    missing = start(client, admin, "nowhere")
    assert missing.status_code == 404 and missing.get_json()["detail"] == "Room not found"
    assert client.get("/v1/rooms/standup/recording", headers=admin).get_json()["isRecording"] is False


def test_another_accounts_recording_is_not_found(rec_app, client, admin, other_admin, livekit, webhooks):
    create_room(client, admin)
    egress_id = start(client, admin).get_json()["egressId"]
    livekit.finish_egress(egress_id, content=MP4)
    webhooks.deliver()
    for method, url in (
        ("GET", f"/v1/recordings/{egress_id}"),
        ("GET", f"/v1/recordings/{egress_id}/download"),
        ("DELETE", f"/v1/recordings/{egress_id}"),
        ("POST", "/v1/rooms/standup/recording/stop"),
    ):
        answer = client.open(url, method=method, headers=other_admin)
        assert answer.status_code == 404, (method, url)
    assert client.get("/v1/recordings", headers=other_admin).get_json()["total"] == 0
    assert client.get("/v1/rooms/standup/recording", headers=other_admin).get_json()["isRecording"] is False
    assert client.get(f"/v1/recordings/{egress_id}", headers=admin).status_code == 200


def test_list_filters_and_pages(rec_app, client, admin, livekit, webhooks):
    ids = []
    for room in ("a", "b", "a"):
        create_room(client, admin, room)
        egress_id = start(client, admin, room).get_json()["egressId"]
        livekit.finish_egress(egress_id, content=MP4)
        webhooks.deliver()
        ids.append(egress_id)
    create_room(client, admin, "c")
    running = start(client, admin, "c").get_json()["egressId"]

    everything = client.get("/v1/recordings", headers=admin).get_json()
    assert everything["total"] == 4 and len(everything["recordings"]) == 4
    assert everything["recordings"][0]["recordingId"] == running  # newest first
    of_a = client.get("/v1/recordings?roomId=a", headers=admin).get_json()
    assert {r["recordingId"] for r in of_a["recordings"]} == {ids[0], ids[2]}
    starting = client.get("/v1/recordings?status=starting", headers=admin).get_json()
    assert [r["recordingId"] for r in starting["recordings"]] == [running]
    page = client.get("/v1/recordings?limit=2&offset=1", headers=admin).get_json()
    assert (page["total"], page["limit"], page["offset"], len(page["recordings"])) == (4, 2, 1, 2)
    assert [r["recordingId"] for r in page["recordings"]] == [
        r["recordingId"] for r in everything["recordings"][1:3]
    ]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "offset=-1", "status=paused", "limit=x", "roomId=a%2Fb"]
)
def test_bad_list_queries_are_4xx_naming_the_field(client, admin, query):
    answer = client.get(f"/v1/recordings?{query}", headers=admin)
    assert answer.status_code in (400, 422)
    assert query.split("=")[0] in answer.get_data(as_text=True)


def test_impossible_ids_are_not_found(client, admin):
    for url in ("/v1/recordings/a.b", f"/v1/recordings/{'x' * 65}", "/v1/recordings/EG%00x/download"):
        assert client.get(url, headers=admin).status_code == 404, url
    assert client.post("/v1/rooms/a%00b/recording/start", headers=admin).status_code == 404


def test_scope_is_required(client, new_key):
    room_only = {"X-API-Key": new_key("room:admin", account="acme")}
    assert client.get("/v1/recordings", headers=room_only).status_code == 403
    assert client.post("/v1/rooms/standup/recording/start", headers=room_only).status_code == 403
    assert client.get("/v1/recordings").status_code == 401


def test_metrics_count_recordings(rec_app, client, admin, livekit, webhooks):
    create_room(client, admin)
    egress_id = start(client, admin).get_json()["egressId"]
    livekit.finish_egress(egress_id, content=MP4)
    webhooks.deliver()
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^mediaplane_recording_started_total [1-9]", text, re.M)
    assert re.search(r'^mediaplane_recording_finished_total\{status="complete"\} [1-9]', text, re.M)


def test_an_egress_started_but_not_stored_is_adopted_by_the_next_start(
    rec_app, client, admin, livekit, webhooks
):
    """The database failed right after LiveKit started the egress: the next start finds it in LiveKit
    (its file is under this account's key prefix), stores it and answers already_recording; it can then
    be stopped and completes as any other."""
    from plugins.recording.models import Recording

    create_room(client, admin)
    egress_id = start(client, admin).get_json()["egressId"]
    with rec_app.app_context(), db.connection_context():
        Recording.delete().where(Recording.id == egress_id).execute()
    again = start(client, admin)
    assert again.status_code == 200 and again.get_json()["egressId"] == egress_id
    assert (
        recording_row(rec_app, egress_id).file_key
        == livekit.egress_request(egress_id).file_outputs[0].filepath
    )
    assert client.post("/v1/rooms/standup/recording/stop", headers=admin).status_code == 200
    livekit.finish_egress(egress_id, content=MP4)
    webhooks.deliver()
    assert recording_row(rec_app, egress_id).status == "complete"


def test_the_webhooks_plugin_delivers_the_recording_events(make_app, new_key, livekit, s3_server, bucket):
    """A customer's webhook subscribed to recording_started and recording_stopped gets one delivery of
    each, in the contract's payload shape (the deliveries are queued; their HTTP sending is the webhooks
    plugin's, tested there)."""
    import json

    from plugins.webhooks.models import Delivery
    from tests.plugins.recording.conftest import Webhooks, s3_storage

    app = make_app(
        {
            "core": {"storage": s3_storage(s3_server, bucket)},
            "plugins": {"room": livekit.settings(), "webhooks": {"allow_private_cidrs": ["127.0.0.1/32"]}},
        }
    )
    client = app.test_client()
    headers = {"X-API-Key": new_key("recording:admin", "room:admin", "webhooks:admin", account="acme")}
    subscribed = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["recording_started", "recording_stopped"]},
        headers=headers,
    )
    assert subscribed.status_code == 201, subscribed.get_json()
    create_room(client, headers)
    egress_id = start(client, headers).get_json()["egressId"]
    livekit.activate_egress(egress_id)
    livekit.finish_egress(egress_id, content=MP4)
    Webhooks(client, livekit).deliver()

    with app.app_context(), db.connection_context():
        rows = list(Delivery.select().order_by(Delivery.seq))
    assert [r.event for r in rows] == ["recording_started", "recording_stopped"]
    started, stopped = (json.loads(r.payload)["data"] for r in rows)
    assert started["recordingId"] == started["egressId"] == egress_id and started["roomId"] == "standup"
    assert stopped["recordingId"] == egress_id and stopped["status"] == "complete"
